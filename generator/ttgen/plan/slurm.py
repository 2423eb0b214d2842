"""The slurm: section, checked while planning (docs/contract.md §8).

`slurm_settings` runs inside `plan_experiment`, which keeps the result as
``Plan.slurm``, so ``--dry-run`` reports a SLURM mistake (a file base without a
recipe, several GPUs or nodes for a single-device recipe, a missing own template)
with its position like any other. The scripts themselves are written
while rendering (`ttgen.render.slurm_scripts`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import jinja2

from ..errors import BaseConfigError, ProblemCollector, SourcePos
from ..inputs.base import BaseConfig
from ..inputs.catalog import load_catalog
from ..inputs.experiment import Experiment
from ..resources import SLURM_ARRAY_TEMPLATE
from ..tree import display_path

# SLURM's default MaxArraySize: array indices must stay below it unless the cluster raises it.
DEFAULT_MAX_ARRAY_SIZE = 1001
# The head node's port for torchrun's c10d rendezvous when slurm.rdzv_port is not set (torchtune's
# multi-node example uses it too).
DEFAULT_RDZV_PORT = 29500
_SECTION = ("slurm",)

# What ends a line for bash, for sbatch's #SBATCH parser, or for an editor showing the script
# (str.splitlines): none of it may be written into an #SBATCH line.
_LINE_BREAK = re.compile(r"[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


def sbatch_unfit(value: str) -> str | None:
    """Why *value* cannot be written into an ``#SBATCH`` line, or None when it can (then quote it).

    Examples:
        >>> sbatch_unfit("gpu"), sbatch_unfit("gpu\\n")
        (None, 'a line break cannot be written into an #SBATCH line')
    """
    if _LINE_BREAK.search(value):
        return "a line break cannot be written into an #SBATCH line"
    control = _CONTROL.search(value)
    if control:
        return f"the control character U+{ord(control.group()):04X} cannot be written into an #SBATCH line"
    return None


# `#SBATCH` option, the slurm: field it comes from, in the order scripts list them.
_OPTIONS = (
    ("partition", "partition"), ("account", "account"), ("qos", "qos"), ("time", "time"),
    ("nodes", "nodes"), ("gpus_per_node", "gres"), ("cpus_per_task", "cpus-per-task"), ("mem", "mem"),
    ("constraint", "constraint"), ("mail_user", "mail-user"), ("mail_type", "mail-type"),
)


@dataclass(frozen=True)
class Launch:
    """How a run is started: ``tune run RECIPE --config CFG`` for a single-device recipe; a
    distributed one goes through ``srun`` and torchrun's rendezvous (the templates write that command)."""

    recipe: str  # a registry name, or an absolute path to a recipe file
    distributed: bool
    nproc_per_node: int | None  # None for a single-device recipe (one process, no torchrun)
    rdzv_port: int | None = None  # the head node's rendezvous port; None for a single-device recipe

    @property
    def tune_args(self) -> list[str]:
        """The words after the tune program, before ``--config``, of a launch on one node without srun.

        The shipped templates use them for single-device recipes only; own templates may still use
        the one-node torchrun form they give for a distributed recipe.
        """
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


def _registry_recipes() -> dict[str, bool] | None:
    """torchtune's recipes by name -> supports_distributed, or None without torchtune."""
    try:
        return load_catalog().recipes
    except BaseConfigError:
        return None


def _distributed_hint(recipe: str, base: BaseConfig, *, field: str) -> str:
    """How to run on several GPUs or nodes instead: the matching distributed recipe (and shipped
    config), or *field* (gpus_per_node, nodes) set back to 1."""
    candidate = recipe.replace("_single_device", "_distributed")
    recipes = _registry_recipes() or {}
    if candidate == recipe or not recipes.get(candidate):
        return f"use a recipe that supports several processes (its name ends in _distributed), or set {field}: 1"
    if base.kind == "shipped":
        config = base.source.replace("_single_device", "")
        shipped = load_catalog().configs.get(config)
        if shipped is not None and shipped.recipe == candidate:
            return f"use the distributed recipe: base_config: {config} (recipe {candidate}), or set {field}: 1"
        return f"use the distributed recipe {candidate} with a config written for it, or set {field}: 1"
    return f"set framework_config.recipe: {candidate} (with a base config written for it), or {field}: 1"


def _launch(exp: Experiment, base: BaseConfig, problems: ProblemCollector,
            section: dict[str, Any]) -> Launch | None:
    """The recipe to run and whether it is distributed; reports a missing recipe."""
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
    if not distributed:
        for field_name in ("gpus_per_node", "nodes"):
            count = section.get(field_name)
            if count is not None and count > 1:
                where = ("slurm", field_name)
                problems.error(f"recipe {recipe} runs on a single device, but {field_name} is {count}",
                               pos=exp.doc.pos(where), path=display_path(where),
                               hint=_distributed_hint(recipe, base, field=field_name))
        return Launch(recipe=target, distributed=False, nproc_per_node=None)
    # A distributed recipe needs torchrun even on one GPU (`--nproc_per_node 1`), and always starts
    # through srun and a rendezvous, one node or several: one code path, which a one-node test cluster runs.
    return Launch(recipe=target, distributed=True, nproc_per_node=max(1, section.get("gpus_per_node") or 0),
                  rdzv_port=section.get("rdzv_port", DEFAULT_RDZV_PORT))


def _own_template(exp: Experiment, written: str, problems: ProblemCollector) -> Path | None:
    where = ("slurm", "template")
    path = (exp.folder / written).resolve()
    if not path.is_file():
        problems.error(f"template {written!r} not found (looked at {path})" if not path.exists()
                       else f"template {written!r} is not a file", pos=exp.doc.pos(where), path=display_path(where),
                       hint="the path is relative to the folder of experiment.yaml; start from the shipped "
                            f"templates/{SLURM_ARRAY_TEMPLATE}")
        return None
    try:
        jinja2.Environment().parse(path.read_text(encoding="utf-8"))
    except jinja2.TemplateSyntaxError as exc:
        problems.error(f"template syntax error: {exc.message}", pos=SourcePos(str(path), exc.lineno or 0, 1),
                       hint="fix the Jinja syntax of your slurm template")
    except (OSError, UnicodeDecodeError) as exc:
        problems.error(f"cannot read template {written!r}: {exc}", pos=exp.doc.pos(where), path=display_path(where),
                       hint="the path is relative to experiment.yaml; check it and the file's permissions")
    return path


def _extra_directives(exp: Experiment, section: dict[str, Any], problems: ProblemCollector) -> tuple[str, ...]:
    """extra_directives without their optional ``#SBATCH`` prefix; reports items (and fields) not fit for one line."""
    out: list[str] = []
    for i, raw in enumerate(section.get("extra_directives") or []):
        where: tuple[Any, ...] = ("slurm", "extra_directives", i)
        text = re.sub(r"^\s*#SBATCH\s+", "", raw).strip()
        if sbatch_unfit(text) or not text.startswith("-"):
            problems.error(f"{raw!r} is not one #SBATCH option", pos=exp.doc.pos(where), path=display_path(where),
                           hint="write one option per item, e.g. --exclusive or --signal=USR1@90")
        out.append(text)
    # Every field written into an #SBATCH line (job_name as --job-name). JSON Schema's `$`
    # also matches before a final newline, so even a field with a pattern may end in one.
    for field_name in ("job_name", *(name for name, _ in _OPTIONS)):
        value = section.get(field_name)
        unfit = sbatch_unfit(value) if isinstance(value, str) else None
        if unfit:
            where = ("slurm", field_name)
            problems.error(unfit, pos=exp.doc.pos(where), path=display_path(where),
                           hint="write the value on one line, without control characters")
    return tuple(out)


def slurm_settings(exp: Experiment, base: BaseConfig, *, problems: ProblemCollector,
                   run_count: int | None = None, resources: Sequence[dict[str, Any]] = ()) -> SlurmSettings | None:
    """Check the slurm: section against the recipe; None when there is none or it has errors.

    *resources*: the slurm: resources of the presets a group of runs takes, in written order;
    each replaces the section's fields of the same names for those runs.
    """
    if exp.slurm is None:
        return None
    section = dict(exp.slurm)
    for extra in resources:
        section.update(extra)
    errors_before = len(problems.errors)
    launch = _launch(exp, base, problems, section)
    template = _own_template(exp, section["template"], problems) if "template" in section else None
    extra_lines = _extra_directives(exp, section, problems)
    if run_count is not None and run_count > DEFAULT_MAX_ARRAY_SIZE:
        problems.warn(f"{run_count} runs make array indices up to {run_count - 1}; SLURM's default MaxArraySize "
                      f"({DEFAULT_MAX_ARRAY_SIZE}) only allows up to {DEFAULT_MAX_ARRAY_SIZE - 1}",
                      pos=exp.doc.key_pos(_SECTION), path="slurm",
                      hint="check `scontrol show config | grep MaxArraySize` on your cluster; if it is lower, "
                           "submit several arrays with TTGEN_RUN_OFFSET (docs/slurm.md) or the per-run scripts")
    if launch is None or len(problems.errors) > errors_before:
        return None
    options = []
    for field_name, option in _OPTIONS:
        value = section.get(field_name)
        if field_name == "nodes" and launch.distributed:
            # srun starts one `tune run` (torchrun) per node, which starts the node's processes.
            options += [("nodes", str(value or 1)), ("ntasks-per-node", "1")]
            continue
        if value is None or (field_name == "gpus_per_node" and value == 0):
            continue
        options.append((option, f"gpu:{value}" if field_name == "gpus_per_node" else str(value)))
    return SlurmSettings(section=dict(section), job_name=section.get("job_name", exp.name), options=tuple(options),
                         extra_directives=extra_lines, setup=tuple(section.get("setup") or ()), launch=launch,
                         template=template)
