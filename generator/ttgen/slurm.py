"""SLURM submit scripts for a sweep (SPEC §8).

`slurm_settings` runs inside `plan_experiment`, which keeps the result as
``Plan.slurm``, so ``--dry-run`` reports a SLURM mistake (a file base without a
recipe, several GPUs for a single-device recipe, several nodes, a missing own
template) with its position like any other.
`write_slurm_scripts` then renders ``slurm/submit_array.sh`` (one array task per
run) and ``slurm/submit_run_<id>.sh`` per run through Jinja templates, creates
``slurm/logs/`` (sbatch does not create log folders; a missing one makes every
task fail without a trace) and marks the scripts executable.

Every path written into a script is absolute and points at the *final* output
folder, never the temporary one the files are assembled in.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from .errors import BaseConfigError, OutputError, Problem, ProblemCollector, SourcePos
from .load import display_path
from .sweep import run_id_width

if TYPE_CHECKING:  # plan.py imports this module lazily; keep the import one-way at run time
    from .base import BaseConfig
    from .experiment import Experiment
    from .plan import Plan
    from .write import AtomicFolder

SLURM_DIR = "slurm"
LOG_DIR = "slurm/logs"
ARRAY_SCRIPT = "slurm/submit_array.sh"
ARRAY_TEMPLATE = "slurm_array.sh.j2"
RUN_TEMPLATE = "slurm_run.sh.j2"
TUNE_ENV = "TTGEN_TUNE"  # names the program run instead of `tune` (a stand-in for tests)
# SLURM's default MaxArraySize: array indices must stay below it unless the cluster raises it.
DEFAULT_MAX_ARRAY_SIZE = 1001
_SECTION = ("slurm",)

# `#SBATCH` option, the slurm: field it comes from, in the order scripts list them.
_OPTIONS = (
    ("partition", "partition"), ("account", "account"), ("qos", "qos"), ("time", "time"),
    ("nodes", "nodes"), ("gpus_per_node", "gres"), ("cpus_per_task", "cpus-per-task"), ("mem", "mem"),
    ("constraint", "constraint"), ("mail_user", "mail-user"), ("mail_type", "mail-type"),
)
# sbatch reads `#SBATCH` lines with its own small parser: quotes and backslashes are
# special and an unquoted `#` starts a comment, so such values are written quoted.
_SBATCH_SPECIAL = re.compile(r"[\s\"'\\#]")


@dataclass(frozen=True)
class Launch:
    """How a run is started: ``tune run [--nproc_per_node N] RECIPE --config CFG``."""

    recipe: str  # a registry name, or an absolute path to a recipe file
    distributed: bool
    nproc_per_node: int | None  # None for a single-device recipe (one process, no torchrun)

    @property
    def tune_args(self) -> list[str]:
        """The words after the tune program, before ``--config``."""
        if self.nproc_per_node is None:
            return ["run", self.recipe]
        return ["run", "--nproc_per_node", str(self.nproc_per_node), self.recipe]


@dataclass(frozen=True)
class SlurmSettings:
    """The slurm: section, checked, with everything scripts of one experiment share."""

    section: dict[str, Any]
    job_name: str
    options: tuple[tuple[str, str], ...]  # (sbatch option, value) from the section's fields
    extra_directives: tuple[str, ...]  # as written, without a leading "#SBATCH"
    setup: tuple[str, ...]
    launch: Launch
    template: Path | None  # the user's own template file


def shell_quote(value: Any) -> str:
    """*value* as one bash word (single-quoted when it needs quoting)."""
    return shlex.quote(str(value))


def sbatch_quote(value: str) -> str:
    """*value* as one argument of an ``#SBATCH`` line, as sbatch's own parser reads it."""
    if "\n" in value or "\r" in value:
        raise ValueError("an #SBATCH line cannot hold a line break")
    if not _SBATCH_SPECIAL.search(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def sbatch_command(output_dir: Path) -> str:
    """The exact command that submits a rendered folder's array."""
    return "sbatch " + shell_quote(Path(output_dir).resolve() / ARRAY_SCRIPT)


def _registry_recipes() -> dict[str, bool] | None:
    """torchtune's recipes by name -> supports_distributed, or None without torchtune."""
    from .catalog import load_catalog

    try:
        return load_catalog().recipes
    except BaseConfigError:
        return None


def _distributed_hint(recipe: str, base: BaseConfig) -> str:
    """How to run on several GPUs instead: the matching distributed recipe (and shipped config)."""
    candidate = recipe.replace("_single_device", "_distributed")
    recipes = _registry_recipes() or {}
    if candidate == recipe or not recipes.get(candidate):
        return ("use a recipe that supports several processes (its name ends in _distributed), "
                "or set gpus_per_node: 1")
    if base.kind == "shipped":
        from .catalog import load_catalog

        config = base.source.replace("_single_device", "")
        shipped = load_catalog().configs.get(config)
        if shipped is not None and shipped.recipe == candidate:
            return (f"use the distributed recipe: base_config: {config} (recipe {candidate}), "
                    "or set gpus_per_node: 1")
        return f"use the distributed recipe {candidate} with a config written for it, or set gpus_per_node: 1"
    return f"set framework_config.recipe: {candidate} (with a base config written for it), or gpus_per_node: 1"


def _launch(exp: Experiment, base: BaseConfig, problems: ProblemCollector) -> Launch | None:
    """The recipe to run and whether it is distributed; reports a missing recipe."""
    section = exp.slurm or {}
    recipe = base.recipe
    if not recipe:
        problems.error("a recipe is needed: the SLURM scripts run `tune run <recipe>`, and ttgen cannot tell "
                       "which recipe a base_config_file is for",
                       pos=exp.doc.key_pos(("framework_config", "base_config_file")), path="framework_config.recipe",
                       hint="add recipe: under framework_config, e.g. recipe: lora_finetune_single_device "
                            "(`ttgen ls` lists each shipped config's recipe)")
        return None
    if recipe.endswith(".py"):
        # A recipe file of the user's: a path relative to experiment.yaml, like every path there.
        target = str((exp.folder / recipe).resolve())
        distributed = "_distributed" in Path(recipe).stem
    else:
        target = recipe
        known = _registry_recipes() or {}
        if exp.recipe is None and base.supports_distributed is not None:
            distributed = base.supports_distributed  # a shipped config's own recipe
        elif recipe in known:
            distributed = known[recipe]
        else:
            distributed = "_distributed" in recipe  # torchtune's naming convention
    gpus = section.get("gpus_per_node")
    if not distributed and gpus is not None and gpus > 1:
        where = ("slurm", "gpus_per_node")
        problems.error(f"recipe {recipe} runs on a single device, but gpus_per_node is {gpus}",
                       pos=exp.doc.pos(where), path=display_path(where), hint=_distributed_hint(recipe, base))
    # A distributed recipe needs torchrun even on one GPU: `--nproc_per_node 1`.
    return Launch(recipe=target, distributed=distributed, nproc_per_node=max(1, gpus or 0) if distributed else None)


def _own_template(exp: Experiment, written: str, problems: ProblemCollector) -> Path | None:
    where = ("slurm", "template")
    path = (exp.folder / written).resolve()
    if not path.is_file():
        problems.error(f"template {written!r} not found (looked at {path})" if not path.exists()
                       else f"template {written!r} is not a file", pos=exp.doc.pos(where), path=display_path(where),
                       hint="the path is relative to the folder of experiment.yaml; start from the shipped "
                            f"templates/{ARRAY_TEMPLATE}")
        return None
    try:
        jinja2.Environment().parse(path.read_text(encoding="utf-8"))
    except jinja2.TemplateSyntaxError as exc:
        problems.error(f"template syntax error: {exc.message}", pos=SourcePos(str(path), exc.lineno or 0, 1),
                       hint="fix the Jinja syntax of your slurm template")
    except (OSError, UnicodeDecodeError) as exc:
        problems.error(f"cannot read template {written!r}: {exc}", pos=exp.doc.pos(where), path=display_path(where))
    return path


def _extra_directives(exp: Experiment, section: dict[str, Any], problems: ProblemCollector) -> tuple[str, ...]:
    """extra_directives without their optional ``#SBATCH`` prefix; reports items (and fields) not fit for one line."""
    out: list[str] = []
    for i, raw in enumerate(section.get("extra_directives") or []):
        where: tuple[Any, ...] = ("slurm", "extra_directives", i)
        text = re.sub(r"^\s*#SBATCH\s+", "", raw).strip()
        if "\n" in text or "\r" in text or not text.startswith("-"):
            problems.error(f"{raw!r} is not one #SBATCH option", pos=exp.doc.pos(where), path=display_path(where),
                           hint="write one option per item, e.g. --exclusive or --signal=USR1@90")
        out.append(text)
    for field_name, _ in _OPTIONS:
        value = section.get(field_name)
        if isinstance(value, str) and ("\n" in value or "\r" in value):
            where = ("slurm", field_name)
            problems.error("a line break cannot be written into an #SBATCH line", pos=exp.doc.pos(where),
                           path=display_path(where), hint="write the value on one line")
    return tuple(out)


def slurm_settings(exp: Experiment, base: BaseConfig, *, problems: ProblemCollector,
                   run_count: int | None = None) -> SlurmSettings | None:
    """Check the slurm: section against the recipe; None when there is none or it has errors."""
    section = exp.slurm
    if section is None:
        return None
    errors_before = len(problems.errors)
    nodes = section.get("nodes")
    if nodes is not None and nodes > 1:
        where = ("slurm", "nodes")
        problems.error(f"nodes: {nodes} is not supported yet: ttgen's scripts start `tune run` on one node "
                       "(multi-node launch is not implemented)", pos=exp.doc.pos(where), path=display_path(where),
                       hint="set nodes: 1 (or remove it) and use gpus_per_node for several GPUs on one node")
    launch = _launch(exp, base, problems)
    template = _own_template(exp, section["template"], problems) if "template" in section else None
    extra = _extra_directives(exp, section, problems)
    if run_count is not None and run_count > DEFAULT_MAX_ARRAY_SIZE:
        problems.warn(f"{run_count} runs make array indices up to {run_count - 1}; SLURM's default MaxArraySize "
                      f"({DEFAULT_MAX_ARRAY_SIZE}) only allows up to {DEFAULT_MAX_ARRAY_SIZE - 1}",
                      pos=exp.doc.key_pos(_SECTION), path="slurm",
                      hint="check `scontrol show config | grep MaxArraySize` on your cluster; split the sweep "
                           "or submit slurm/submit_run_<id>.sh scripts if it is lower")
    if launch is None or len(problems.errors) > errors_before:
        return None
    options = []
    for field_name, option in _OPTIONS:
        value = section.get(field_name)
        if value is None or (field_name == "gpus_per_node" and value == 0):
            continue
        options.append((option, f"gpu:{value}" if field_name == "gpus_per_node" else str(value)))
    return SlurmSettings(section=dict(section), job_name=section.get("job_name", exp.name), options=tuple(options),
                         extra_directives=extra, setup=tuple(section.get("setup") or ()), launch=launch,
                         template=template)


def _log_path(log_dir: Path, name: str) -> str:
    """A log file path for ``--output``/``--error``: ``%`` in the folder is literal (``%%``)."""
    return str(log_dir).replace("%", "%%") + "/" + name


def _directives(settings: SlurmSettings, *, job_name: str, first: list[tuple[str, str]]) -> list[str]:
    lines = [f"--job-name={sbatch_quote(job_name)}"]
    lines += [f"--{option}={sbatch_quote(value)}" for option, value in first]
    lines += [f"--{option}={sbatch_quote(value)}" for option, value in settings.options]
    lines += list(settings.extra_directives)
    return lines


def write_slurm_scripts(plan: Plan, folder: AtomicFolder, *, final_dir: Path, env: jinja2.Environment) -> None:
    """Write slurm/submit_array.sh and slurm/submit_run_<id>.sh into *folder*, and slurm/logs/."""
    exp = plan.experiment
    settings = plan.slurm
    assert settings is not None, "a plan with a slurm: section, made with slurm=True (the default)"
    if any(c in str(final_dir) for c in "\n\r\\"):
        raise OutputError([Problem("the output folder's path holds a line break or a backslash, which SLURM's "
                                   "#SBATCH lines and log file names cannot carry", pos=SourcePos(str(final_dir)),
                                   hint="choose another folder with --out")])
    env.filters.setdefault("sh", shell_quote)
    env.filters.setdefault("sbatch_quote", sbatch_quote)
    array_template, run_template = _templates(env, settings)

    folder.mkdir(LOG_DIR)
    configs_dir, log_dir = final_dir / "configs", final_dir / LOG_DIR
    # From the sweep's points, not plan.runs(): scripts need ids and written values only,
    # so no run's derived values are evaluated a third time.
    runs: list[dict[str, Any]] = [
        {"run_id": p.run_id, "index": p.index, "config": str(configs_dir / f"{p.run_id}.yaml"),
         "variables": p.values(plan.variables)} for p in plan.sweep]
    id_width = run_id_width(len(runs))
    context: dict[str, Any] = {
        "experiment_name": exp.name,
        "experiment": exp.metadata,
        "slurm": settings.section,
        "job_name": settings.job_name,
        "run_count": len(runs),
        "runs": runs,
        "id_width": id_width,
        "output_dir": str(final_dir),
        "configs_dir": str(configs_dir),
        "log_dir": str(log_dir),
        "recipe": settings.launch.recipe,
        "distributed": settings.launch.distributed,
        "nproc_per_node": settings.launch.nproc_per_node,
        "tune_args": settings.launch.tune_args,
        "setup": list(settings.setup),
        "sbatch_command": sbatch_command(final_dir),
    }
    throttle = f"%{settings.section['max_parallel']}" if "max_parallel" in settings.section else ""
    array_context = dict(
        context, array=True, run=None, script=str(final_dir / ARRAY_SCRIPT),
        directives=_directives(settings, job_name=settings.job_name, first=[
            ("array", f"0-{len(runs) - 1}{throttle}"),
            ("output", _log_path(log_dir, f"run_%{id_width}a-%A.out")),
            ("error", _log_path(log_dir, f"run_%{id_width}a-%A.err"))]))
    _write_script(folder, ARRAY_SCRIPT, array_template, array_context)
    for run in runs:
        rel = f"{SLURM_DIR}/submit_run_{run['run_id'].removeprefix('run_')}.sh"
        run_context = dict(
            context, array=False, run=run, script=str(final_dir / rel),
            directives=_directives(settings, job_name=f"{settings.job_name}_{run['run_id']}", first=[
                ("output", _log_path(log_dir, f"{run['run_id']}-%j.out")),
                ("error", _log_path(log_dir, f"{run['run_id']}-%j.err"))]))
        _write_script(folder, rel, run_template, run_context)


def _templates(env: jinja2.Environment, settings: SlurmSettings) -> tuple[jinja2.Template, jinja2.Template]:
    """The array and per-run templates: the user's own file renders both (``array`` tells them apart)."""
    from .render import load_template

    if settings.template is None:
        return load_template(env, ARRAY_TEMPLATE), load_template(env, RUN_TEMPLATE)
    try:
        own = env.from_string(settings.template.read_text(encoding="utf-8"))
    except jinja2.TemplateSyntaxError as exc:
        raise OutputError([Problem(f"template syntax error: {exc.message}",
                                   pos=SourcePos(str(settings.template), exc.lineno or 0, 1))]) from None
    except OSError as exc:
        raise OutputError([Problem(f"cannot read template: {exc.strerror or exc}",
                                   pos=SourcePos(str(settings.template)))]) from None
    own.filename = str(settings.template)
    return own, own


def _write_script(folder: AtomicFolder, rel: str, template: jinja2.Template, context: dict[str, Any]) -> None:
    try:
        text = template.render(context)
    except jinja2.TemplateError as exc:
        name = template.filename or template.name or rel
        raise OutputError([Problem(f"SLURM template failed: {exc}", pos=SourcePos(str(name)),
                                   hint="README, 'Submitting to SLURM', lists the variables a template receives")
                           ]) from None
    folder.write_text(rel, text)
    path = folder.path(rel)
    mode = path.stat().st_mode
    path.chmod(mode | ((mode & 0o444) >> 2))  # executable for whoever may read it


__all__ = ["Launch", "SlurmSettings", "slurm_settings", "write_slurm_scripts", "sbatch_command",
           "shell_quote", "sbatch_quote", "TUNE_ENV", "ARRAY_SCRIPT", "LOG_DIR"]
