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

from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox

from ..errors import OutputError, Problem, SourcePos
from ..layout import (ARRAY_SCRIPT, BASE_FILE, BASELINE, CONFIGS_DIR, ENDED, EVAL_ARRAY_SCRIPT, EVAL_BASELINE_SCRIPT, EVAL_MARK,
                      LOG_DIR, STARTED, STATE_DIR, array_log, config_file, run_script)
from ..plan.evaluation import Evaluation
from ..plan.runs import Plan
from ..plan.slurm import SlurmSettings, sbatch_unfit
from ..plan.sweep import run_id_width
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
    slurm/evaluate_array.sh and slurm/evaluate_baseline.sh."""
    exp = plan.experiment
    settings = plan.slurm
    assert settings is not None, "a plan with a slurm: section, made with slurm=True (the default)"
    if "\\" in str(final_dir) or sbatch_unfit(str(final_dir)):
        raise OutputError([Problem("the output folder's path holds a line break, a control character or a "
                                   "backslash, which SLURM's #SBATCH lines and log file names cannot carry",
                                   pos=SourcePos(str(final_dir)), hint="choose another folder with --out")])
    array_template, run_template = _templates(env, settings)

    # Both created empty: `ttgen check` ignores what the jobs later write into them.
    folder.mkdir(LOG_DIR)
    folder.mkdir(STATE_DIR)
    configs_dir, log_dir = final_dir / CONFIGS_DIR, final_dir / LOG_DIR
    # From the sweep's points, not plan.runs(): scripts need ids and written values only,
    # so no run's derived values are evaluated a third time.
    runs: list[dict[str, Any]] = [
        {"run_id": p.run_id, "index": p.index, "config": str(final_dir / config_file(p.run_id)),
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
        "sbatch_command": sbatch_command(final_dir),
    }
    throttle = f"%{settings.section['max_parallel']}" if "max_parallel" in settings.section else ""
    array_context = dict(
        context, array=True, run=None, script=str(final_dir / ARRAY_SCRIPT),
        directives=_directives(settings, job_name=settings.job_name, first=[
            ("array", f"0-{len(runs) - 1}{throttle}"),
            ("output", log_path(log_dir, Path(array_log(id_width)).name)),
            ("error", log_path(log_dir, Path(array_log(id_width, suffix="err")).name))]))
    _write_script(folder, ARRAY_SCRIPT, array_template, array_context)
    for run in runs:
        rel = run_script(run["run_id"])
        run_context = dict(
            context, array=False, run=run, script=str(final_dir / rel),
            directives=_directives(settings, job_name=f"{settings.job_name}_{run['run_id']}", first=[
                ("output", log_path(log_dir, f"{run['run_id']}-%j.out")),
                ("error", log_path(log_dir, f"{run['run_id']}-%j.err"))]))
        _write_script(folder, rel, run_template, run_context)
    if evaluations is not None:
        _write_eval_scripts(settings, folder, context=context, evaluations=evaluations, env=env, throttle=throttle)


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
