"""The whole render: plan an experiment, then stream every run's config into an output folder.

This is the Python API behind ``ttgen render``: `render_experiment` returns a
`RenderResult` and raises `UserError` subclasses; it never prints or exits.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

import jinja2

from . import __version__
from .errors import ExperimentError, OutputError, Problem, SourcePos
from .experiment import Experiment
from .merge import MergeConflict
from .plan import Plan, RunConfig, plan_experiment
from .render import MANIFEST_TEMPLATE, MAPPING_TEMPLATE, ConfigRenderer, inline_text, load_template, make_environment
from .table import dotted
from .write import AtomicFolder
from .yamltext import key_text, value_text

if TYPE_CHECKING:
    from .validate_report import ValidationReport


@dataclass
class RenderResult:
    """What a render did: where it wrote, how many runs, and the warnings found."""

    plan: Plan
    output_dir: Path | None  # None for a dry run
    warnings: list[Problem] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256
    validation: ValidationReport | None = None  # with validate=True

    @property
    def run_count(self) -> int:
        return len(self.plan)


@dataclass
class WrittenOutput:
    """What `write_output` wrote; unpacks as ``folder, files = write_output(...)``."""

    folder: Path
    files: dict[str, str]
    validation: ValidationReport | None = None

    def __iter__(self) -> Iterator[Any]:
        return iter((self.folder, self.files))


def default_output_dir(exp: Experiment, now: _dt.datetime) -> Path:
    """``<output.base_dir>/<name>_<YYYYmmdd_HHMMSS>`` (local time, the researcher's clock)."""
    return exp.output_base_dir / f"{exp.name}_{now.strftime('%Y%m%d_%H%M%S')}"


@dataclass(slots=True)
class MappingRow:
    """One run's entry for the run_mapping template (``run.run_id``, ``run.variables_text``, ...).

    Attributes, not dict keys: Jinja resolves ``run.x`` with getattr first, and a failed
    getattr per field and run would be a third of the mapping's cost.
    """

    run_id: str
    variables: dict[str, Any]
    variables_text: str
    overrides_text: str
    derived_text: str
    output_dir: Any
    output_dir_auto: bool


def _mapping_rows(plan: Plan, runs: Iterable[RunConfig]) -> Iterator[MappingRow]:
    """Per-run rows for the run_mapping template; text of values shared by runs is built once."""
    static_ids = plan.static_overrides()
    variables = plan.variables
    variable_texts: dict[tuple[int, int], str] = {}
    override_texts: dict[int, str] = {}

    def entry(name: str, value: Any, source: str | None) -> str:
        inline, block = value_text(value, indent=4, source=source)
        return "    " + key_text(name) + ":" + (" " + inline if inline else "") + "\n" + block

    for run in runs:
        parts = []
        for vi, c in enumerate(run.point.choices):
            text = variable_texts.get((vi, c))
            if text is None:
                v = variables[vi]
                text = variable_texts[vi, c] = entry(v.name, v.values[c], v.source(c))
            parts.append(text)
        overrides = []
        for ov in run.overrides:
            if ov.origin == "auto":
                continue
            if id(ov) in static_ids:  # shared by every run taking this value: safe to key by identity
                text = override_texts.get(id(ov))
                if text is None:
                    text = override_texts[id(ov)] = entry(dotted(ov.path), ov.value, ov.source)
            else:
                text = entry(dotted(ov.path), ov.value, None)
            overrides.append(text)
        derived = "".join([entry(name, value, None) for name, value in run.derived.items()])
        yield MappingRow(run_id=run.run_id, variables=run.variables, variables_text="".join(parts),
                         overrides_text="".join(overrides), derived_text=derived, output_dir=run.output_dir,
                         output_dir_auto=run.output_dir_auto)


def _refuse_replacing_inputs(plan: Plan, target: Path) -> None:
    """--force replaces a folder as a whole: never one holding the inputs or the current folder."""
    if not target.exists():
        return
    resolved = target.resolve()
    for what, inside in (("experiment file", plan.experiment.path), ("base config", plan.base.path),
                         ("current folder", Path.cwd()), ("home folder", Path.home())):
        inside = inside.resolve()
        if inside == resolved or resolved in inside.parents:
            raise OutputError([Problem(f"--force would delete {target}, which holds the {what} ({inside})",
                                       pos=SourcePos(str(target)),
                                       hint="give the output a folder of its own with --out, e.g. outputs/<name>")])


def _check_inputs_unchanged(plan: Plan) -> None:
    """Every file was rendered from one read of each input; refuse if one changed meanwhile.

    The copies in the output are the bytes actually used either way, but a file edited
    during a render means the researcher's intent is unclear: better to render again.
    """
    for what, path, used in (("experiment file", plan.experiment.path, plan.experiment.raw),
                             ("base config", plan.base.path, plan.base.doc.raw)):
        try:
            now = path.read_bytes()
        except OSError as exc:
            now = None
            reason = f"became unreadable ({exc.strerror or exc})"
        else:
            reason = "changed on disk"
        if now != used:
            raise ExperimentError([Problem(f"{what} {reason} during the render",
                                           pos=SourcePos(str(path)),
                                           hint="save your edits, then render again (the output must come from one "
                                                "version of each file)")])


def write_output(plan: Plan, target: Path, *, force: bool = False, unique: bool = False,
                 env: jinja2.Environment | None = None, now: _dt.datetime | None = None,
                 final_dir: Path | None = None, validate: bool = False) -> WrittenOutput:
    """Render every run into *target*, atomically; returns the final folder and file hashes.

    With *validate*, the configs are validated (`ttgen.validate`) in the temporary
    folder and ``validation_report.txt`` is written beside them; a failed validation
    does not stop the folder from being put in place (its configs can be inspected).

    *final_dir* is where the folder will be used from, when that is not *target*
    (``ttgen check`` renders into a temporary place as if into the user's folder):
    absolute paths written into files (SLURM scripts) point there.
    """
    env = env or make_environment()
    now = now or _dt.datetime.now(_dt.timezone.utc)
    renderer = ConfigRenderer(plan, env=env)
    mapping = load_template(env, MAPPING_TEMPLATE)
    manifest = load_template(env, MANIFEST_TEMPLATE)
    exp, base = plan.experiment, plan.base
    if force:
        _refuse_replacing_inputs(plan, target)
    with AtomicFolder(target, force=force, unique=unique) as folder:
        folder.write_bytes("experiment.yaml", exp.raw)
        folder.write_bytes("base_config.yaml", base.doc.raw)
        folder.mkdir("configs")
        current: list[RunConfig] = []

        def written_runs() -> Iterator[RunConfig]:
            # One pass over the runs: each config is written just before the mapping
            # template streams that run's entry, so runs are generated once, never held.
            for run in plan.runs():
                current[:] = [run]
                folder.write_text(f"configs/{run.run_id}.yaml", renderer.render(run))
                yield run

        try:
            folder.stream_text("configs/run_mapping.yaml", mapping.generate(
                experiment_name=exp.name, run_count=len(plan), runs=_mapping_rows(plan, written_runs())))
        except MergeConflict as conflict:
            p = conflict.problem
            run_id = current[0].run_id if current else "a run"
            raise ExperimentError([Problem(f"{run_id}: {p.message}", pos=p.pos, path=p.path, hint=p.hint)]) from None
        except jinja2.TemplateError as exc:
            raise OutputError([Problem(f"template failed: {exc}", pos=SourcePos(getattr(exc, "filename", None)
                                                                                or "config.yaml.j2"))]) from None
        if exp.slurm is not None:
            from .slurm import write_slurm_scripts

            write_slurm_scripts(plan, folder, final_dir=(final_dir or folder.target).resolve(), env=env)
        validation = None
        if validate:
            from .validate import validate_output_folder
            from .validate_report import REPORT_FILE

            validation = validate_output_folder(folder.path(""))
            folder.write_text(REPORT_FILE, validation.text())
        # Shared, not copied, and streamed: with 10,000 runs the file list is the largest thing held.
        files = folder.files
        folder.stream_text("manifest.yaml", manifest.generate(
            ttgen_version=__version__,
            torchtune_version=base.torchtune_version,
            created_at=now.isoformat(timespec="seconds"),
            experiment_name=exp.name,
            experiment_sha256=files["experiment.yaml"],
            base_source=base.source,
            base_kind=base.kind,
            recipe=base.recipe,
            base_sha256=files["base_config.yaml"],
            run_count=len(plan),
            files=sorted(files.items()),
        ))
        _check_inputs_unchanged(plan)  # last, inside the folder: a failure leaves nothing behind
    return WrittenOutput(folder.target, folder.files, validation)


def render_experiment(experiment_path: Path | str, *, out: Path | str | None = None, force: bool = False,
                      dry_run: bool = False, max_runs: int | None = None, template_dir: Path | str | None = None,
                      now: _dt.datetime | None = None, final_dir: Path | str | None = None,
                      validate: bool = False) -> RenderResult:
    """Plan and render an experiment (SPEC §6). Raises `UserError` on any input problem.

    *final_dir*: see `write_output` (where absolute paths in SLURM scripts point).
    """
    plan = plan_experiment(experiment_path, max_runs=max_runs)
    result = RenderResult(plan=plan, output_dir=None, warnings=list(plan.warnings))
    if dry_run:
        return result
    env = make_environment(Path(template_dir) if template_dir else None)
    local_now = (now or _dt.datetime.now(_dt.timezone.utc)).astimezone()
    target = Path(out) if out is not None else default_output_dir(plan.experiment, local_now)
    written = write_output(plan, target, force=force, unique=out is None, env=env, now=local_now,
                           final_dir=Path(final_dir) if final_dir else None, validate=validate)
    result.output_dir, result.files, result.validation = written.folder, written.files, written.validation
    return result


__all__ = ["RenderResult", "render_experiment", "write_output", "default_output_dir", "inline_text"]
