"""SLURM submit scripts, written into the output folder while rendering (docs/slurm.md).

`write_slurm_scripts` renders ``slurm/submit_array.sh`` (one array task per
run) and ``slurm/submit_run_<id>.sh`` per run through Jinja templates, creates
``slurm/logs/`` (sbatch does not create log folders; a missing one makes every
task fail without a trace) and ``slurm/state/`` (where the jobs write their
start and end markers), and marks the scripts executable. The slurm:
section itself was checked while planning (`ttgen.plan.slurm`).

Every path written into a script is absolute and points at the *final* output
folder, never the temporary one the files are assembled in. Every value is
written inert (docs/slurm.md, "What is quoted"): quoted as one bash word (``sh``),
escaped inside double quotes (``sh_dq``) or quoted for sbatch (``sbatch_quote``);
only the setup lines are shell, by design.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator, Sequence

import jinja2
import jinja2.sandbox

from ..errors import OutputError, Problem, SourcePos
from ..layout import (ARRAY_SCRIPT, BASE_FILE, BASELINE, CONFIGS_DIR, ENDED, EVAL_ARRAY_SCRIPT, EVAL_BASELINE_SCRIPT,
                      EVAL_MARK, LOG_DIR, STARTED, STATE_DIR, array_log, config_file, group_array_script, run_script)
from ..plan.evaluation import Evaluation
from ..plan.runs import Plan
from ..plan.slurm import SlurmSettings, sbatch_unfit
from ..plan.sweep import RunPoint, run_id_width
from ..resources import SLURM_ARRAY_TEMPLATE, SLURM_EVAL_BASELINE_TEMPLATE, SLURM_EVAL_TEMPLATE, SLURM_RUN_TEMPLATE
from .environment import load_template, sbatch_quote, shell_quote
from .folder import AtomicFolder


def sbatch_command(output_dir: Path) -> str:
    """The exact command that submits a rendered folder's array."""
    return "sbatch " + shell_quote(Path(output_dir).resolve() / ARRAY_SCRIPT)


def log_path(log_dir: Path, name: str) -> str:
    """A log file path for ``--output``/``--error``: ``%`` in the folder is literal (``%%``)."""
    return str(log_dir).replace("%", "%%") + "/" + name


def _directives(settings: SlurmSettings, *, job_name: str, first: list[tuple[str, str]]) -> list[str]:
    lines = [f"--job-name={sbatch_quote(job_name)}"]
    lines += [f"--{option}={sbatch_quote(value)}" for option, value in first]
    lines += [f"--{option}={sbatch_quote(value)}" for option, value in settings.options]
    lines += list(settings.extra_directives)
    return lines


def write_slurm_scripts(plan: Plan, folder: AtomicFolder, *, final_dir: Path, env: jinja2.Environment,
                        evaluations: dict[str, list[Evaluation]] | None = None) -> None:
    """Write slurm/submit_array.sh and slurm/submit_run_<id>.sh into *folder*, and slurm/logs/;
    with *evaluations* (run id -> its evaluations, ``baseline`` included when asked) also
    slurm/evaluate_array.sh and slurm/evaluate_baseline.sh.

    Runs whose SLURM settings differ (a base axis with different recipes, presets with their own
    slurm: resources) cannot share one array: each group of runs with the same settings gets its
    own ``slurm/submit_array_<group>.sh`` listing its runs' array indices (docs/comparing-models.md).
    The evaluation scripts take the first group's settings (docs/evaluating.md).
    """
    exp = plan.experiment
    assert plan.slurm is not None, "a plan with a slurm: section, made with slurm=True (the default)"
    if "\\" in str(final_dir) or sbatch_unfit(str(final_dir)):
        raise OutputError([Problem("the output folder's path holds a line break, a control character or a "
                                   "backslash, which SLURM's #SBATCH lines and log file names cannot carry",
                                   pos=SourcePos(str(final_dir)), hint="choose another folder with --out")])
    array_template, run_template = _templates(env, plan.slurm)

    # Both created empty: `ttgen check` ignores what the jobs later write into them.
    folder.mkdir(LOG_DIR)
    folder.mkdir(STATE_DIR)
    configs_dir, log_dir = final_dir / CONFIGS_DIR, final_dir / LOG_DIR
    # From the sweep's points, not plan.runs(): scripts need ids and written values only,
    # so no run's derived values are evaluated a third time.
    groups: dict[str, tuple[SlurmSettings, list[dict[str, Any]]]] = {}
    for label, settings, p in _grouped(plan):
        groups.setdefault(label, (settings, []))[1].append(
            {"run_id": p.run_id, "index": p.index, "config": str(final_dir / config_file(p.run_id)),
             "variables": p.values(plan.variables)})
    runs = [run for _, members in groups.values() for run in members]
    runs.sort(key=lambda run: run["index"])
    id_width = run_id_width(len(runs))

    def context(settings: SlurmSettings, script: str) -> dict[str, Any]:
        return {
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
            # The marker contract lives in ttgen.layout (marker_file); the scripts get it from there.
            "state_dir": str(final_dir / STATE_DIR),
            "started_suffix": STARTED,
            "ended_suffix": ENDED,
            "recipe": settings.launch.recipe,
            "distributed": settings.launch.distributed,
            "nproc_per_node": settings.launch.nproc_per_node,
            "tune_args": settings.launch.tune_args,
            "rdzv_port": settings.launch.rdzv_port,
            "setup": list(settings.setup),
            "sbatch_command": "sbatch " + shell_quote(final_dir / script),
        }

    for label, (settings, members) in groups.items():
        throttle = f"%{settings.section['max_parallel']}" if "max_parallel" in settings.section else ""
        script = ARRAY_SCRIPT if len(groups) == 1 else group_array_script(label)
        indices = [run["index"] for run in members]
        array_context = dict(
            context(settings, script), array=True, run=None, script=str(final_dir / script),
            directives=_directives(settings, job_name=settings.job_name, first=[
                ("array", (f"0-{len(runs) - 1}" if len(groups) == 1 else array_spec(indices)) + throttle),
                ("output", log_path(log_dir, Path(array_log(id_width)).name)),
                ("error", log_path(log_dir, Path(array_log(id_width, suffix="err")).name))]))
        _write_script(folder, script, array_template, array_context)
        for run in members:
            rel = run_script(run["run_id"])
            run_context = dict(
                context(settings, ARRAY_SCRIPT if len(groups) == 1 else script), array=False, run=run,
                script=str(final_dir / rel),
                directives=_directives(settings, job_name=f"{settings.job_name}_{run['run_id']}", first=[
                    ("output", log_path(log_dir, f"{run['run_id']}-%j.out")),
                    ("error", log_path(log_dir, f"{run['run_id']}-%j.err"))]))
            _write_script(folder, rel, run_template, run_context)
    if evaluations is not None:
        first_settings = next(iter(groups.values()))[0]
        first_throttle = f"%{first_settings.section['max_parallel']}" if "max_parallel" in first_settings.section else ""
        _write_eval_scripts(first_settings, folder, context=context(first_settings, EVAL_ARRAY_SCRIPT),
                            evaluations=evaluations, env=env, throttle=first_throttle)


def _grouped(plan: Plan) -> Iterator[tuple[str, SlurmSettings, RunPoint]]:
    """Every run's point with its SLURM settings and the label of its group: runs with equal
    settings share a group, named after the first of them."""
    labels: list[tuple[SlurmSettings, str]] = []
    for part in plan.bases:
        for p in part.sweep:
            settings = part.slurm_for(p)[1]
            assert settings is not None
            label = next((name for known, name in labels if known == settings), None)
            if label is None:
                label = _group_label(plan, part, p)
                labels.append((settings, label))
            yield label, settings, p


def array_scripts(plan: Plan) -> list[str]:
    """The array scripts a render of *plan* writes, relative to the output folder: submit_array.sh,
    or one per group of runs with their own SLURM settings."""
    labels = list(dict.fromkeys(label for label, _, _ in _grouped(plan)))
    return [ARRAY_SCRIPT] if len(labels) <= 1 else [group_array_script(label) for label in labels]


def _group_label(plan: Plan, part: Plan, point: RunPoint) -> str:
    """A group's name in its script's file name: the base (of a base axis) and the presets whose
    slurm: resources its runs take, e.g. ``qwen2_5-0.5B_lora_single_device_qwen05b``."""
    words = [Path(part.base.source).stem if part.base.kind == "file" else part.base.source.replace("/", "-")] \
        if plan.parts else []
    words += [str(v.values[c]) for v, c in zip(part.variables, point.choices)
              if v.presets is not None and any(v.preset_slurm)]
    return re.sub(r"[^A-Za-z0-9._-]+", "-", "_".join(words)) or "default"


def array_spec(tasks: Sequence[int]) -> str:
    """Sorted task ids as SLURM's ``--array`` ranges.

    Examples:
        >>> array_spec([0, 1, 2, 5, 7, 8])
        '0-2,5,7-8'
    """
    parts: list[str] = []
    start = prev = tasks[0]
    for t in [*tasks[1:], None]:
        if t is not None and t == prev + 1:
            prev = t
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if t is not None:
            start = prev = t
    return ",".join(parts)


def _write_eval_scripts(settings: SlurmSettings, folder: AtomicFolder, *, context: dict[str, Any],
                        evaluations: dict[str, list[Evaluation]], env: jinja2.Environment, throttle: str) -> None:
    """The evaluation array (task i evaluates run i) and, with a baseline, its own job; always the shipped
    templates (a slurm.template of the user's shapes the training scripts only)."""
    final_dir = Path(context["output_dir"])
    log_dir, id_width = Path(context["log_dir"]), context["id_width"]
    commands = [(run_id, [(e.program, e.log_dir, e.argv) for e in found]) for run_id, found in evaluations.items()]
    eval_context = dict(context, eval_mark=EVAL_MARK, base_file=str(final_dir / BASE_FILE),
                        eval_programs=sorted({e.program for found in evaluations.values() for e in found}),
                        evaluations=[c for c in commands if c[0] != BASELINE])
    name = f"{settings.job_name}_eval"
    array_context = dict(
        eval_context, array=True, run=None, script=str(final_dir / EVAL_ARRAY_SCRIPT),
        directives=_directives(settings, job_name=name, first=[
            ("array", f"0-{context['run_count'] - 1}{throttle}"),
            ("output", log_path(log_dir, Path(array_log(id_width, prefix=EVAL_MARK)).name)),
            ("error", log_path(log_dir, Path(array_log(id_width, suffix="err", prefix=EVAL_MARK)).name))]))
    _write_script(folder, EVAL_ARRAY_SCRIPT, load_template(env, SLURM_EVAL_TEMPLATE), array_context)
    if BASELINE in evaluations:
        baseline_context = dict(
            eval_context, array=False, run=None, script=str(final_dir / EVAL_BASELINE_SCRIPT),
            evaluations=[c for c in commands if c[0] == BASELINE],
            directives=_directives(settings, job_name=f"{name}_{BASELINE}", first=[
                ("output", log_path(log_dir, f"eval_{BASELINE}-%j.out")),
                ("error", log_path(log_dir, f"eval_{BASELINE}-%j.err"))]))
        _write_script(folder, EVAL_BASELINE_SCRIPT, load_template(env, SLURM_EVAL_BASELINE_TEMPLATE), baseline_context)


def _templates(env: jinja2.Environment, settings: SlurmSettings) -> tuple[jinja2.Template, jinja2.Template]:
    """The array and per-run templates: the user's own file renders both (``array`` tells them apart).

    Like every template, the user's own renders in *env*'s sandbox (`make_environment`).
    """
    if not isinstance(env, jinja2.sandbox.SandboxedEnvironment):  # not an assert: it must hold under -O too
        raise TypeError("SLURM templates render in the sandbox: pass an environment from make_environment")
    if settings.template is None:
        return load_template(env, SLURM_ARRAY_TEMPLATE), load_template(env, SLURM_RUN_TEMPLATE)
    try:
        own = env.from_string(settings.template.read_text(encoding="utf-8"))
    except jinja2.TemplateSyntaxError as exc:
        raise OutputError([Problem(f"template syntax error: {exc.message}",
                                   pos=SourcePos(str(settings.template), exc.lineno or 0, 1),
                                   hint="fix the Jinja syntax at that line (docs/slurm.md, Your own template)")]) from None
    except OSError as exc:
        raise OutputError([Problem(f"cannot read template: {exc.strerror or exc}",
                                   pos=SourcePos(str(settings.template)),
                                   hint="check the path of slurm.template and the file's permissions")]) from None
    own.filename = str(settings.template)
    return own, own


def _write_script(folder: AtomicFolder, rel: str, template: jinja2.Template, context: dict[str, Any]) -> None:
    try:
        text = template.render(context)
    except jinja2.TemplateError as exc:
        name = template.filename or template.name or rel
        raise OutputError([Problem(f"SLURM template failed: {exc}", pos=SourcePos(str(name)),
                                   hint="docs/slurm.md lists the variables a template receives")
                           ]) from None
    folder.write_text(rel, text)
    path = folder.path(rel)
    mode = path.stat().st_mode
    path.chmod(mode | ((mode & 0o444) >> 2))  # executable for whoever may read it
