"""The whole render: plan an experiment, then stream every run's config into an output folder.

This is the Python API behind ``ttgen render``: `render_experiment` returns a
`RenderResult` and raises `UserError` subclasses; it never prints or exits.
`write_output` is the writing half, also used by ``ttgen check``.
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import jinja2

from ..version import __version__
from ..errors import ExperimentError, OutputError, Problem, SourcePos, ValueProblem
from ..inputs.base import BaseConfig
from ..inputs.experiment import Experiment
from ..layout import (BASE_FILE, CONFIGS_DIR, EVAL_LOG_DIR, EXPERIMENT_FILE, MANIFEST_FILE, MAPPING_FILE, REPORT_FILE,
                      base_file, config_file)
from ..plan.build import by_base, plan_experiment
from ..plan.identity import IDENTITY_KEY
from ..plan.outputs import RUNS_DIR, is_write_key
from ..plan.runs import Plan, RunConfig
from ..resources import CONFIG_TEMPLATE, MANIFEST_TEMPLATE, MAPPING_TEMPLATE, templates_dir
from ..tree import dotted, iter_paths
from ..validate.planned import check_plan
from ..validate.report import ValidationReport
from ..validate.validator import validate_output_folder
from .config_text import ConfigRenderer
from .environment import load_template, make_environment
from .evaluation import write_evaluations
from .folder import AtomicFolder, reserve_folder
from .mapping import mapping_rows
from .slurm_scripts import write_slurm_scripts


@dataclass
class RenderResult:
    """What a render did: where it wrote, how many runs, and the warnings found.

    Examples:
        >>> result = render_experiment("examples/lora_rank_sweep/experiment.yaml", out="/tmp/study")  # doctest: +SKIP
        >>> result.run_count, result.output_dir  # doctest: +SKIP
        (4, PosixPath('/tmp/study'))
    """

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


def _read_paths(plan: Plan, env: jinja2.Environment) -> list[tuple[str, Path]]:
    """What the render and the configs read: inputs, templates, and absolute paths the configs name."""
    exp = plan.experiment
    out: list[tuple[str, Path]] = [("experiment file", exp.path)]
    out += [("base config", part.base.path) for part in plan.bases]
    if plan.slurm is not None and plan.slurm.template is not None:
        out.append(("SLURM template", plan.slurm.template))
    out += [("recipe file", exp.folder / part.base.recipe) for part in plan.bases
            if part.base.recipe and part.base.recipe.endswith(".py")]
    loaders = env.loader.loaders if isinstance(env.loader, jinja2.ChoiceLoader) else [env.loader]
    shipped = Path(str(templates_dir())).resolve()
    for loader in loaders:
        if isinstance(loader, jinja2.FileSystemLoader):
            out += [("template folder", Path(p)) for p in loader.searchpath if Path(p).resolve() != shipped]
    for path, value in ((p, v) for part in plan.bases for p, v in iter_paths(part.controlled.tree)):
        if isinstance(value, str) and value.startswith("/") and "${" not in value and not is_write_key(path) \
                and path[0] != IDENTITY_KEY:
            out.append((f"{dotted(path)} of the configs", Path(value)))
    return out


def _refuse_replacing(plan: Plan, target: Path, env: jinja2.Environment) -> None:
    """--force replaces a folder as a whole: only an empty one or one ttgen rendered, never one that
    holds (or is inside) anything the render or its configs read, never /, a mount point, the home
    or the current folder, never a folder whose runs wrote results (docs/guarantees.md)."""
    if not target.is_dir():
        return
    resolved = target.resolve()

    def refuse(message: str, hint: str = "give the output a folder of its own with --out, e.g. outputs/<name>") -> None:
        raise OutputError([Problem(f"--force would delete {target}, {message}", pos=SourcePos(str(target)),
                                   hint=hint)])

    for what, place in _read_paths(plan, env):
        place = place.expanduser().resolve()
        if place == resolved or resolved in place.parents or place in resolved.parents:
            inside = "which holds" if place != resolved and resolved in place.parents else \
                "which is" if place == resolved else "which is inside"
            refuse(f"{inside} the {what} ({place})")
    if os.path.ismount(resolved):
        refuse("which is a mount point (or /)")
    for what, place in (("current folder", Path.cwd()), ("home folder", Path.home())):
        place = place.resolve()
        if place == resolved or resolved in place.parents:
            refuse(f"which holds the {what} ({place})")
    manifest = target / MANIFEST_FILE
    if any(target.iterdir()) and not (manifest.is_file() and b"ttgen_version:" in manifest.read_bytes()[:4096]):
        refuse("which ttgen did not render (it has no manifest.yaml of ttgen's) and is not empty",
               hint="--force replaces only an empty folder or an earlier render of ttgen's; choose another "
                    "folder with --out")
    runs = target / RUNS_DIR
    if runs.is_dir() and any(runs.iterdir()):
        # Training results (checkpoints, logs) of the folder's runs: never thrown away with the configs.
        refuse(f"whose {RUNS_DIR}/ holds what its runs wrote while training",
               hint="render into another folder with --out, or move the runs' results away first if you mean "
                    "to replace them")
    logs = target / EVAL_LOG_DIR
    if logs.is_dir() and any(logs.iterdir()):
        # Evaluation results (Inspect AI's logs) are results too.
        refuse(f"whose {EVAL_LOG_DIR}/ holds the logs of its evaluations",
               hint="render into another folder with --out, or move the evaluation logs away first if you mean "
                    "to replace them")


def _check_name_lengths(target: Path) -> None:
    """An output path the file system cannot hold is a clear error, before anything is tried."""
    absolute = Path(os.path.abspath(target))
    probe = absolute
    while not os.path.isdir(probe) and probe != probe.parent:
        probe = probe.parent  # the nearest folder that exists: it knows the file system's limits
    try:
        name_max, path_max = os.pathconf(probe, "PC_NAME_MAX"), os.pathconf(probe, "PC_PATH_MAX")
    except (OSError, ValueError):
        name_max, path_max = 255, 4096
    longest = max((len(os.fsencode(part)) for part in absolute.parts), default=0)
    # A run's folder and the temporary sibling add to the names: leave room for them.
    if longest > name_max - 40 or len(os.fsencode(str(absolute))) > path_max - 200:
        what = f"a name in it is {longest} bytes long" if longest > name_max - 40 else \
            f"it is {len(os.fsencode(str(absolute)))} bytes long"
        raise OutputError([Problem(f"the output folder's path is too long for the file system ({what}; the limits "
                                   f"here are {name_max} bytes a name and {path_max} a path, less room for the "
                                   "files inside)", pos=SourcePos(str(target)[:120] + "..."),
                                   hint="choose a shorter folder with --out")])


def _copy_mode(source_mode: int | None) -> int:
    """Permissions of a copied input: 0644, less whatever its source withholds."""
    return 0o644 if source_mode is None else 0o644 & source_mode


def _check_inputs_unchanged(plan: Plan) -> None:
    """Every file was rendered from one read of each input; refuse if one changed meanwhile.

    The copies in the output are the bytes actually used either way, but a file edited
    during a render means the researcher's intent is unclear: better to render again.
    """
    inputs = [("base config", part.base.path, part.base.doc.raw) for part in plan.bases]
    if not plan.experiment.in_memory:  # an experiment built from a dict has no file to change
        inputs.insert(0, ("experiment file", plan.experiment.path, plan.experiment.raw))
    for what, path, used in inputs:
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


def write_output(plan: Plan, target: Path, *, force: bool = False, reserved: bool = False,
                 env: jinja2.Environment | None = None, now: _dt.datetime | None = None,
                 final_dir: Path | None = None, validate: bool = False,
                 progress: Callable[[str, int, int], None] | None = None,
                 note: Callable[[str], None] | None = None) -> WrittenOutput:
    """Render every run into *target*, atomically; returns the final folder and file hashes.

    With *validate*, the configs are validated (`ttgen.validate`) in the temporary
    folder and ``validation_report.txt`` is written beside them; a failed validation
    does not stop the folder from being put in place (its configs can be inspected).

    *final_dir* is where the folder will be used from, when that is not *target*
    (``ttgen check`` renders into a temporary place as if into the user's folder):
    absolute paths written into files (SLURM scripts) point there.
    """
    _check_name_lengths(target)
    env = env or make_environment()
    now = now or _dt.datetime.now(_dt.timezone.utc)
    renderers = [ConfigRenderer(part, env=env, run_count=len(plan)) for part in plan.bases]
    mapping = load_template(env, MAPPING_TEMPLATE)
    manifest = load_template(env, MANIFEST_TEMPLATE)
    exp, base = plan.experiment, plan.base
    if force:
        _refuse_replacing(plan, target, env)
    with AtomicFolder(target, force=force, reserved=reserved) as folder:
        # The copies are never more readable than their sources (a 0600 base stays 0600).
        folder.write_bytes(EXPERIMENT_FILE, exp.raw, mode=_copy_mode(exp.doc.file_mode))
        for index, part in enumerate(plan.bases):
            folder.write_bytes(base_file(index), part.base.doc.raw, mode=_copy_mode(part.base.doc.file_mode))
        folder.mkdir(CONFIGS_DIR)
        current: list[RunConfig] = []
        total = len(plan)

        def written_runs() -> Iterator[RunConfig]:
            # One pass over the runs: each config is written just before the mapping
            # template streams that run's entry, so runs are generated once, never held.
            for done, run in enumerate(plan.runs(), 1):
                current[:] = [run]
                folder.write_text(config_file(run.run_id), renderers[run.base].render(run))
                if progress is not None:
                    progress("rendering", done, total)
                yield run

        try:
            folder.stream_text(MAPPING_FILE, mapping.generate(
                experiment_name=exp.name, run_count=len(plan), runs=mapping_rows(plan, written_runs()),
                seed=exp.sweep.get("seed") if exp.sweep.get("method") == "random" else None,
                command_line=list(plan.command_line)))
        except ValueProblem as conflict:
            p = conflict.problem
            run_id = current[0].run_id if current else "a run"
            raise ExperimentError([Problem(f"{run_id}: {p.message}", pos=p.pos, path=p.path, hint=p.hint)]) from None
        except jinja2.TemplateError as exc:
            raise OutputError([Problem(f"template failed: {exc}", pos=SourcePos(getattr(exc, "filename", None)
                                                                                or CONFIG_TEMPLATE),
                                       hint="docs/output.md lists the variables a template receives")]) from None
        evaluations = None
        if plan.evaluation is not None:
            evaluations = write_evaluations(plan, folder, final_dir=(final_dir or folder.target).resolve())
        if exp.slurm is not None:
            write_slurm_scripts(plan, folder, final_dir=(final_dir or folder.target).resolve(), env=env,
                                evaluations=evaluations)
        validation = None
        if validate:
            validation = validate_output_folder(folder.path(""), progress=progress, note=note)
            folder.write_text(REPORT_FILE, validation.text())
        # Shared, not copied, and streamed: with 10,000 runs the file list is the largest thing held.
        files = folder.files
        folder.stream_text(MANIFEST_FILE, manifest.generate(
            ttgen_version=__version__,
            torchtune_version=base.torchtune_version,
            created_at=now.isoformat(timespec="seconds"),
            experiment_name=exp.name,
            experiment_sha256=files[EXPERIMENT_FILE],
            base_source=base.source,
            base_kind=base.kind,
            recipe=base.recipe,
            base_sha256=files[BASE_FILE],
            # A base axis: every base config used, in written order, with the runs made from it.
            bases=[{"source": part.base.source, "kind": part.base.kind, "recipe": part.base.recipe,
                    "file": base_file(index), "sha256": files[base_file(index)],
                    "runs": _id_range(part)} for index, part in enumerate(plan.parts)],
            run_count=len(plan),
            output_folder=str((final_dir or folder.target).resolve()),
            files=sorted(files.items()),
            run_changes={run_id: {ov.key: ov.value for ov in changes}
                         for part in plan.bases for run_id, changes in sorted(part.run_changes.items()) if changes},
            command_line=list(plan.command_line),
        ))
        _check_inputs_unchanged(plan)  # last, inside the folder: a failure leaves nothing behind
    return WrittenOutput(folder.target, folder.files, validation)


def _id_range(plan: Plan) -> str:
    """``run_000-run_005``: the runs of one base's plan (consecutive ids)."""
    ids = [point.run_id for point in plan.sweep]
    return ids[0] if len(ids) == 1 else f"{ids[0]}-{ids[-1]}"


def _check_values(plan: Plan) -> list[Problem]:
    """Level 1's value checks on what experiment.yaml sets (`ttgen.validate.planned`): errors stop
    the render before anything is written, each at the place that set the value; returns warnings."""
    per_base: list[list[Problem]] = []
    for part in plan.bases:
        checked = check_plan(part)
        if part.base.recipe and part.base.recipe.endswith(".py"):
            # The rules describe torchtune's own recipes; a recipe file of the user's may read keys
            # its own way: said, not refused.
            checked = [replace(p, severity="warning") for p in checked]
        per_base.append(checked)
    # With a base axis: a finding of every base once, one of some bases naming them.
    found = by_base([part.base for part in plan.bases], per_base) if plan.parts else per_base[0]
    errors = [p for p in found if p.severity == "error"]
    if errors:
        raise ExperimentError(errors + list(plan.warnings))
    return found


def render_experiment(experiment_path: Path | str | Experiment, *, out: Path | str | None = None, force: bool = False,
                      dry_run: bool = False, max_runs: int | None = None, template_dir: Path | str | None = None,
                      now: _dt.datetime | None = None, final_dir: Path | str | None = None,
                      validate: bool = False, base: BaseConfig | None = None,
                      bases: Sequence[BaseConfig] | None = None,
                      run_changes: Mapping[str, Mapping[str, object]] | None = None,
                      overrides: Sequence[str] = (), progress: Callable[[str, int, int], None] | None = None,
                      note: Callable[[str], None] | None = None, check_values: bool = True,
                      eval_tasks: Mapping[str, str] | None = None) -> RenderResult:
    """Plan and render an experiment (docs/contract.md §6). Raises `UserError` on any input problem.

    Examples:
        >>> result = render_experiment("examples/lora_rank_sweep/experiment.yaml", out="/tmp/study")  # doctest: +SKIP
        >>> sorted(result.files)[:2]  # doctest: +SKIP
        ['base_config.yaml', 'configs/run_000.yaml']

    *final_dir*: see `write_output` (where absolute paths in SLURM scripts and runs' output
    folders point). *base* and *run_changes*: as for `plan_experiment` (``ttgen resubmit``
    re-renders a folder against its recorded base with the runs' changes); *bases*: every base of a
    base axis, in order, instead of the ones experiment.yaml names. *overrides*:
    command-line overrides (``["epochs=1", "~profiler"]``), recorded in the manifest.
    *progress*: called with the stage (``rendering``, ``validating``), the configs done so far and the
    total, after each config; *note*: called with a one-line note (while torch is imported).
    *eval_tasks*: task files as rendered before (`ttgen.plan.build.plan_experiment`).
    *check_values*: False skips level 1's value checks of what experiment.yaml sets
    (`ttgen.validate.planned`), rendering values they would refuse, as ttgen did before them;
    ``ttgen validate`` still reports those values in the configs.
    """
    local_now = (now or _dt.datetime.now(_dt.timezone.utc)).astimezone()
    if out is not None:
        _check_name_lengths(Path(out))
    # The folder is chosen before planning: runs' own output folders are inside it.
    where = final_dir if final_dir is not None else out
    plan = plan_experiment(experiment_path, max_runs=max_runs, output_folder=where, now=local_now, base=base,
                           bases=bases, run_changes=run_changes, overrides=overrides, eval_tasks=eval_tasks)
    checked = _check_values(plan) if check_values else []
    result = RenderResult(plan=plan, output_dir=None, warnings=list(plan.warnings) + checked)
    if dry_run:
        return result
    env = make_environment(Path(template_dir) if template_dir else None)
    reserved = out is None
    if out is None:
        # The default name is taken by creating the folder, so a render in the same second gets _2.
        assert plan.output_folder is not None
        target = reserve_folder(plan.output_folder)
        if target != plan.output_folder:  # another render took the name since planning: plan for this one
            plan = plan_experiment(experiment_path, max_runs=max_runs, output_folder=target, now=local_now,
                                   base=base, bases=bases, run_changes=run_changes, overrides=overrides,
                                   eval_tasks=eval_tasks)
            result.plan = plan
    else:
        target = Path(out)
    try:
        written = write_output(plan, target, force=force, env=env, now=local_now, reserved=reserved,
                               final_dir=Path(final_dir) if final_dir else None, validate=validate,
                               progress=progress, note=note)
    except BaseException:
        if reserved:  # failed before the folder took its place: give the name back
            try:
                os.rmdir(target)
            except OSError:
                pass
        raise
    result.output_dir, result.files, result.validation = written.folder, written.files, written.validation
    return result

