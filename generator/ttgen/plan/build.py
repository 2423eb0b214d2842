"""Build a `Plan`: the front of the pipeline, checked as a whole before anything is written.

`plan_experiment` loads experiment.yaml and its base config, resolves every
key, compiles derived values, merges the controls, checks each variable's
values against the controlled tree, builds the sweep and checks the slurm:
section, collecting every problem it finds before raising. Then it evaluates
every run's derived values once (`_prepass`), so a failure in run 37 is
reported before run 0 is written.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import os
from dataclasses import replace as dc_replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import ExperimentError, Problem, ProblemCollector, SourcePos, UserError, ValueProblem
from ..inputs.base import BaseConfig, load_base_configs
from ..inputs.experiment import Experiment, load_experiment
from ..layout import free_output_folder
from ..tree import MISSING, ConfigPath, Key, PathTable, display_path, dotted, lookup, paths_written, value_key
from ..yamlio.dump import flow_text
from .command_line import COMMAND_LINE, parse_overrides
from .derive import Derivation, compile_value, is_template, make_sandbox
from .identity import IDENTITY_KEY, METRIC_LOGGER, identity_block, tracker_fields
from .merge import MergedConfig, compatible, component_warnings, merge_collecting, merge_overrides
from .origins import AUTO_RUN_IDENTITY, AUTO_TRACKER
from .outputs import (OUTPUT_DIR, RUNS_DIR, RunFolders, WriteCollisions, compile_run_dir, follows_output_dir,
                      resolve_text, same_folder, shared_by_all, write_paths)
from .resolve import Override, ResolvedExperiment, Variable, near_miss, resolve_deletes, resolve_experiment
from .random_search import draw_variables
from .runs import Plan
from .evaluation import evaluation_settings
from .slurm import SlurmSettings, slurm_settings
from .sweep import build_sweep


def _check_derived(plan: Plan, problems: ProblemCollector, *, limit: int = 20) -> None:
    """Evaluate every run's derived values, each on its own, and report every failure (up to *limit*)."""
    if not plan.has_derived:
        return
    seen: set[str] = set()
    for point in plan.sweep:
        values = {v.name: v.values[c] for v, c in zip(plan.variables, point.choices)}
        scope = plan._scope(point, values)
        templates = [t for row, c in zip(plan._variable_templates, point.choices) if (t := row[c]) is not None]
        for template in [*templates, *(t for _, t in plan.derived_controls)]:
            try:
                template.evaluate(scope)
            except ValueProblem as err:
                if err.problem.format() not in seen:
                    seen.add(err.problem.format())
                    problems.add(err.problem)
                    if len(seen) >= limit:
                        return


def _prepass(plan: Plan, problems: ProblemCollector) -> frozenset[Any]:
    """Check every run's final values before anything is written (derived values evaluate: `_check_derived`).

    Reports type mismatches of derived values (each once), and returns the output_dir
    values two or more runs would share (docs/contract.md §5: those runs get
    <dir>/<run_id>), computed on final values, derived ones included.
    """
    if not plan.output_dir_per_run:
        if plan.folders is not None:
            return frozenset()  # each run has its own folder (output.run_dir): checked with the other write keys
        value = plan.controlled.tree.get("output_dir")
        return frozenset([value_key(same_folder(value))]) if isinstance(value, str) and len(plan) > 1 \
            else frozenset()
    counts: dict[Any, int] = {}
    seen: set[str] = set()
    tree = plan.controlled.tree
    for run in plan.iter_runs(None):
        for ov in run.overrides:
            if ov.origin == "variable" and ov.key not in run.derived or ov.origin == "auto":
                continue  # plain variable values were checked once, value by value; ttgen's own fit by design
            current = lookup(tree, ov.path)
            if not (isinstance(ov.value, dict) or current is MISSING or not compatible(current, ov.value)):
                continue
            for p in merge_collecting(plan.controlled, [ov])[1]:
                p = Problem(f"{run.run_id}: {p.message}", pos=p.pos, path=p.path, hint=p.hint)
                if p.message not in seen:
                    seen.add(p.message)
                    problems.add(p)
        if isinstance(run.output_dir, str):
            key = value_key(same_folder(run.output_dir))
            counts[key] = counts.get(key, 0) + 1
    if plan.folders is not None:
        return frozenset()  # output.run_dir places every run, whatever its derived values
    return frozenset(k for k, n in counts.items() if n > 1)


def plan_experiment(experiment_path: Path | str | Experiment, *, max_runs: int | None = None,
                    base: BaseConfig | None = None, bases: Sequence[BaseConfig] | None = None,
                    slurm: bool = True, output_folder: Path | str | None = None,
                    now: _dt.datetime | None = None,
                    run_changes: Mapping[str, Mapping[str, object]] | None = None,
                    overrides: Sequence[str] = (), evaluation: bool = True,
                    eval_tasks: Mapping[str, str] | None = None) -> Plan:
    """Load and check an experiment (a path, or an `Experiment` already loaded); raises a
    `UserError` listing every problem found.

    This is ``ttgen render --dry-run`` without the printing: nothing is written.

    Examples:
        >>> plan = plan_experiment("examples/lora_rank_sweep/experiment.yaml")
        >>> len(plan), [v.name for v in plan.variables]
        (4, ['lora_rank'])
        >>> [(run.run_id, run.variables) for run in plan.runs()][:2]
        [('run_000', {'lora_rank': 8}), ('run_001', {'lora_rank': 16})]

    *base*: use this base config instead of loading the one experiment.yaml names
    (``ttgen diff`` re-plans an output folder against the base_config.yaml recorded in it);
    *bases*: every base of a base axis, in order (a folder's recorded copies).
    *slurm*: False skips checking the slurm: section (``ttgen diff`` needs the configs only,
    and an output folder holds no copy of a user's own SLURM template).
    *output_folder*: the folder the configs will be written to (runs' own output folders are
    inside it by default); None: the default ``<output.base_dir>/<name>_<timestamp>`` at *now*,
    the first such name not taken yet.
    *run_changes*: values `ttgen resubmit` set in some runs, ``{run_id: {dotted key: value}}``
    (a key starting with ``+`` may be new); they are applied last, with origin "resubmit".
    *overrides*: command-line overrides (``epochs=1``, ``+new.key=1``, ``~profiler``,
    `ttgen.plan.command_line`), resolved and checked like controls, with origin "command line".
    *evaluation*: False skips the evaluation: section (``ttgen diff`` compares configs only).
    *eval_tasks*: task files as rendered before, ``{as written: absolute target}`` (an output
    folder's copy of experiment.yaml is not beside the task files it names; ``ttgen resubmit``).
    """
    exp = experiment_path if isinstance(experiment_path, Experiment) else \
        load_experiment(Path(experiment_path), display=str(experiment_path))
    if bases is None:
        bases = [base] if base is not None else load_base_configs(exp)
    folder = Path(output_folder).resolve() if output_folder is not None else \
        free_output_folder(exp.output_base_dir, exp.name, (now or _dt.datetime.now(_dt.timezone.utc)).astimezone())
    drawing = ProblemCollector()  # reported with every other problem; a distribution that fails is left out
    drawn = draw_variables(exp, drawing)
    options: dict[str, Any] = dict(max_runs=max_runs, slurm=slurm, folder=folder, run_changes=run_changes or {},
                                   overrides=overrides, drawn=drawn, base_total=len(bases), evaluation=evaluation,
                                   eval_tasks=eval_tasks)
    if len(bases) == 1:
        problems = ProblemCollector()
        problems.extend(drawing.errors + drawing.warnings)
        plan = _plan_base(exp, bases[0], problems=problems, index=0, **options)
        _check_write_folders(plan, problems, runs=len(plan))
        problems.raise_if_errors(ExperimentError)
        plan.warnings = sorted(problems.warnings, key=Problem.sort_key)
        return plan
    return _plan_bases(exp, bases, drawing=drawing, options=options)


def by_base(bases: Sequence[BaseConfig], found: Sequence[Sequence[Problem]]) -> list[Problem]:
    """The problems of every base: one found with every base is said once; one found with some
    bases only names them (``with base qwen2_5/0.5B_lora_single_device: ...``)."""
    def key(p: Problem) -> tuple[Any, ...]:
        return p.message, p.pos, p.path, p.severity

    everywhere = set.intersection(*(set(key(p) for p in group) for group in found)) if found else set()
    out: list[Problem] = []
    said: dict[tuple[Any, ...], int] = {}  # a problem said once -> its place in out
    for base, group in zip(bases, found):
        for p in group:
            if key(p) not in everywhere:
                out.append(dc_replace(p, message=f"with base {base.source}: {p.message}"))
            elif key(p) not in said:
                said[key(p)] = len(out)
                out.append(p)
            elif p.runs:  # the runs it concerns, of every base
                first = out[said[key(p)]]
                out[said[key(p)]] = dc_replace(first, runs=first.runs + p.runs)
    return out


def _plan_bases(exp: Experiment, bases: Sequence[BaseConfig], *, drawing: ProblemCollector,
                options: dict[str, Any]) -> Plan:
    """A base axis: one plan per base config, each for its own runs, checked together
    (*drawing*: the problems that concern no base in particular)."""
    parts: list[Plan | None] = []
    collectors: list[ProblemCollector] = []
    for index, base in enumerate(bases):
        problems = ProblemCollector()
        collectors.append(problems)
        try:
            parts.append(_plan_base(exp, base, problems=problems, index=index, **options))
        except UserError as err:
            if not problems.errors:  # raised by a stage that reports without the collector
                problems.extend(err.problems)
            parts.append(None)

    def raise_if_errors() -> None:
        errors = drawing.errors + by_base(bases, [c.errors for c in collectors])
        if errors:
            raise ExperimentError(errors + drawing.warnings + by_base(bases, [c.warnings for c in collectors]))

    raise_if_errors()
    ready = [p for p in parts if p is not None]
    total = sum(len(p.sweep) for p in ready)
    changes = options["run_changes"]
    ids = {point.run_id for p in ready for point in p.sweep}
    for run_id in changes:
        if run_id not in ids:
            drawing.error(f"resubmit change for {run_id!r}, which is not a run of this sweep",
                                pos=exp.doc.pos(()), hint="render the experiment again")
    # Runs must not share an output_dir across bases either (docs/contract.md §5).
    counts: dict[Any, int] = {}
    for part in ready:
        if part.folders is not None:
            continue
        if part.output_dir_per_run:
            dirs = [run.output_dir for run in part.iter_runs(None)]
        else:
            dirs = [part.controlled.tree.get("output_dir")] * len(part)
        for value in dirs:
            if isinstance(value, str):
                counts[value_key(same_folder(value))] = counts.get(value_key(same_folder(value)), 0) + 1
    shared = frozenset(k for k, n in counts.items() if n > 1)
    for part, problems in zip(ready, collectors):
        if part.folders is None:
            part._shared_output_dirs = shared
        _check_write_folders(part, problems, runs=total)
    raise_if_errors()
    warnings = drawing.warnings + by_base(bases, [c.warnings for c in collectors])
    first = ready[0]
    return dc_replace(first, parts=tuple(ready), warnings=sorted(warnings, key=Problem.sort_key),
                      _shared_output_dirs=shared)


def _plan_base(exp: Experiment, base: BaseConfig, *, problems: ProblemCollector, index: int, base_total: int,
               max_runs: int | None, slurm: bool, folder: Path, run_changes: Mapping[str, Mapping[str, object]],
               overrides: Sequence[str], drawn: Mapping[Key, tuple[Any, ...]], evaluation: bool,
               eval_tasks: Mapping[str, str] | None) -> Plan:
    """The plan of one base config's runs (all of them, without a base axis), checked up to the
    runs' final values; raises `ExperimentError` with what *problems* collected."""
    command_line = parse_overrides(overrides, problems)
    original = PathTable.from_tree(base.data)
    deletes = resolve_deletes(exp, original, problems, command_line=command_line.deletes,
                              command_line_pos=COMMAND_LINE)
    start = MergedConfig(tree=base.data, sources={p: t for p, t in base.doc.plain_text.items()
                                                  if all(isinstance(k, str) for k in p)})
    after_delete = merge_overrides(start, (), deletes=deletes)
    table = PathTable.from_tree(after_delete.tree)
    resolved = resolve_experiment(exp, table=table, original=original, deletes=deletes, problems=problems,
                                  command_line=command_line.sets, command_line_pos=COMMAND_LINE, drawn=drawn)

    env = make_sandbox()
    derived_controls: list[tuple[Override, Derivation]] = []
    static_controls: list[Override] = []
    for ctl in resolved.controls:
        if not is_template(ctl.value):
            static_controls.append(ctl)
            continue
        try:
            derived_controls.append((ctl, compile_value(env, ctl.value, pos=ctl.pos, where=display_path(ctl.doc_path))))
        except ValueProblem as err:
            problems.add(err.problem)
    variable_templates: list[tuple[Derivation | None, ...]] = []
    for var in resolved.variables:
        compiled: list[Derivation | None] = []
        for i, value in enumerate(var.values):
            try:
                compiled.append(compile_value(env, value, pos=var.value_positions[i],
                                              where=display_path(var.doc_path + (i,)))
                                if var.presets is None and is_template(value) else None)
            except ValueProblem as err:
                problems.add(err.problem)
                compiled.append(None)
        variable_templates.append(tuple(compiled))

    # Each derivation knows the others' names, to say why one of them is undefined in another.
    names = tuple(ctl.key for ctl, _ in derived_controls) + tuple(
        var.name for var, compiled in zip(resolved.variables, variable_templates) if any(compiled))
    for derivation in [d for _, d in derived_controls] + [d for t in variable_templates for d in t if d]:
        derivation.derived_names = names
    controlled, conflicts = merge_collecting(after_delete, static_controls)
    problems.extend(conflicts)
    folders = _run_folders(exp, resolved, base_has_output_dir=OUTPUT_DIR in table, folder=folder,
                           problems=problems)
    control_paths = {c.path: c for c in resolved.controls}
    variable_paths = {p for v in resolved.variables for p in v.paths}
    for parent, old, new, kept in component_warnings(controlled):
        kept = [k for k in kept if parent + (k,) not in variable_paths]  # a variable sets it in every run
        if not kept:
            continue
        setter = next(c for c in resolved.controls if parent + ("_component_",) in paths_written(c.path, c.value))
        where: tuple[Any, ...] = setter.doc_path + (parent + ("_component_",))[len(setter.path):]
        problems.warn(f"{dotted(parent)}._component_ changes from {old} to {new}; these keys are kept from the "
                      f"base and may not fit the new component: {', '.join(kept)}",
                      pos=exp.doc.pos(where), path=display_path(where),
                      hint=f"set them too, or delete {dotted(parent)} and set it again to start from an empty mapping")

    controlled, tracker, placeholders = _with_identity(exp, resolved, controlled, derived=bool(derived_controls))
    seen_warnings: set[tuple[ConfigPath, str]] = set()
    for vi, var in enumerate(resolved.variables):
        if _flat_list_variable(var, controlled, problems):
            continue
        for i in range(len(var.values)):
            if variable_templates[vi][i] is not None:
                continue  # checked per run, once evaluated
            group = var.overrides(i)
            if group:
                _check_value(exp, var, group, controlled, control_paths, seen_warnings, problems,
                             set_elsewhere=frozenset(control_paths) | frozenset(
                                 p for other in resolved.variables if other is not var for p in other.paths))

    sweep = build_sweep(exp, resolved.variables, max_runs=max_runs, problems=problems, bases=base_total)
    if sweep is not None and base_total > 1:
        sweep = dc_replace(sweep, offset=index * len(sweep), id_count=len(sweep) * base_total)
    checked_slurm = None
    if exp.slurm is not None and slurm:
        checked_slurm = slurm_settings(exp, base, problems=problems,
                                       run_count=len(sweep) * base_total if sweep is not None else None)
    preset_slurm = _preset_slurm(exp, base, resolved, problems, slurm=slurm) if checked_slurm is not None else {}
    checked_evaluation = evaluation_settings(exp, base, problems=problems, recorded=eval_tasks) \
        if evaluation else None
    problems.raise_if_errors(ExperimentError)
    assert sweep is not None
    plan = Plan(preset_slurm=preset_slurm, experiment=exp, base=base, resolved=resolved, controlled=controlled, sweep=sweep,
                slurm=checked_slurm, evaluation=checked_evaluation, folders=folders, tracker=tracker,
                placeholders=placeholders, _output_folder=folder, base_index=index,
                derived_controls=tuple(derived_controls), _variable_templates=tuple(variable_templates),
                _static=tuple(tuple(v.overrides(i) for i in range(len(v.values))) for v in resolved.variables))
    plan.run_changes = _run_changes(plan, run_changes, problems, strict=base_total == 1)
    plan.command_line = tuple(overrides)
    _check_derived(plan, problems)
    problems.raise_if_errors(ExperimentError)
    plan._shared_output_dirs = _prepass(plan, problems)
    problems.raise_if_errors(ExperimentError)
    return plan


def _preset_slurm(exp: Experiment, base: BaseConfig, resolved: ResolvedExperiment, problems: ProblemCollector, *,
                  slurm: bool) -> dict[tuple[int, ...], SlurmSettings]:
    """The SLURM settings of every combination of presets that carries slurm: resources, by the
    presets' value indices (`Plan.slurm_for`), each checked against the recipe."""
    carriers = [v for v in resolved.variables if v.presets is not None and any(v.preset_slurm)]
    out: dict[tuple[int, ...], SlurmSettings] = {}
    for combo in itertools.product(*(range(len(v.values)) for v in carriers)):
        resources = [r for v, c in zip(carriers, combo) if (r := v.preset_slurm[c])]
        if not resources:
            continue
        settings = slurm_settings(exp, base, problems=problems, resources=resources)
        if settings is not None:
            out[combo] = settings
    return out


def _check_value(exp: Experiment, var: Variable, group: Sequence[Override], controlled: MergedConfig,
                 control_paths: dict[ConfigPath, Override], seen_warnings: set[tuple[ConfigPath, str]],
                 problems: ProblemCollector, set_elsewhere: frozenset[ConfigPath] = frozenset()) -> None:
    """One value of a variable (or the keys of one preset, together) against the controlled tree."""
    merged, conflicts = merge_collecting(controlled, list(group))
    problems.extend(conflicts)
    touched = [p for p, label in merged.origins.items() if controlled.origins.get(p) != label]
    added = merged.new - controlled.new
    for path in sorted(p for p in added if p[:-1] not in added and var.presets is None):  # a preset's keys
        container = lookup(controlled.tree, path[:-1])  # were resolved one by one, with their own warnings
        close = near_miss(path[-1], list(container)) if isinstance(container, dict) else None
        setter = next((ov for ov in group if path[:len(ov.path)] == ov.path), None)
        if close and setter is not None:
            where = setter.doc_path + path[len(setter.path):]
            problems.warn(f"{dotted(path)!r} is a new key; did you mean {dotted(path[:-1] + (close,))!r}?",
                          pos=exp.doc.key_pos(where), path=display_path(where),
                          hint="fix the key if it is a typo; new keys are added as written")
    for path in touched:
        setter = next((ov for ov in group if path[:len(ov.path)] == ov.path), group[0])
        if path in control_paths and path != setter.path:
            problems.error(f"variable {var.name!r} sets {dotted(path)}, which control "
                           f"{control_paths[path].key!r} also sets", pos=setter.pos, path=var.name,
                           hint="a path may be a variable or a control, not both")
    for parent, old, new, kept in component_warnings(merged):
        kept = [k for k in kept if parent + (k,) not in set_elsewhere]  # set in every run anyway
        if (parent, str(new)) in seen_warnings or not kept:
            continue
        seen_warnings.add((parent, str(new)))
        setter = next((ov for ov in group if (parent + ("_component_",))[:len(ov.path)] == ov.path), group[0])
        what = f"preset {setter.key}" if var.presets is not None else f"variable {var.name}"
        problems.warn(f"{dotted(parent)}._component_ changes from {old} to {new} ({what}); "
                      f"kept from the base: {', '.join(kept)}; the new component may not accept them",
                      pos=setter.pos, path=display_path(setter.doc_path) if var.presets is not None else var.name,
                      hint="set those keys in the " + ("preset" if var.presets is not None else "variable's value")
                           + ", or delete the mapping first")


def _flat_list_variable(var: Variable, controlled: MergedConfig, problems: ProblemCollector) -> bool:
    """A variable whose values are plain items of a key that holds a list ([q_proj, v_proj] for
    lora_attn_modules): each item would replace the whole list. One error, with the fix."""
    if var.presets is not None:
        return False
    base_value = lookup(controlled.tree, var.path)
    if not isinstance(base_value, list) or not var.values or \
            any(isinstance(v, (list, dict)) or is_template(v) for v in var.values):
        return False
    problems.error(f"variable {var.name!r} gives {len(var.values)} values for {dotted(var.path)}, which holds a list: "
                   "each value would replace the whole list in its own run", pos=var.pos, path=display_path(var.doc_path),
                   hint=f"to sweep over lists, write a list of lists, e.g. {var.name}: [{flow_text(list(var.values))}] "
                        "(one run with that list); to set one list in every run, make it a control")
    return True


def _run_changes(plan: Plan, changes: Mapping[str, Mapping[str, object]],
                 problems: ProblemCollector, *, strict: bool = True) -> dict[str, tuple[Override, ...]]:
    """The recorded resubmit changes as overrides; an unknown run or key is an error (*strict*
    False: a run of another base's plan is left to it)."""
    ids = {point.run_id for point in plan.sweep} if changes else set()
    root = plan.experiment.doc.pos(())
    out: dict[str, tuple[Override, ...]] = {}
    for run_id, values in changes.items():
        if run_id not in ids:
            if not strict:
                continue
            problems.error(f"resubmit change for {run_id!r}, which is not a run of this sweep", pos=root,
                           hint="render the experiment again")
            continue
        overrides = []
        for key, value in values.items():
            path = tuple(key.lstrip("+").split("."))
            if not all(path) or (not key.startswith("+") and lookup(plan.controlled.tree, path) is MISSING):
                container = lookup(plan.controlled.tree, path[:-1]) if all(path) else MISSING
                close = near_miss(path[-1], list(container)) if isinstance(container, dict) else None
                problems.error(f"{key!r} is not a key of {run_id}'s config", pos=root, path=key,
                               hint=f"did you mean {dotted(path[:-1] + (close,))!r}?" if close else
                               "give a dotted config path (optimizer.lr), or +key=value to add a new key")
                continue
            overrides.append(Override(key=key, path=path, value=value, origin="resubmit", pos=root, doc_path=()))
        out[run_id] = tuple(overrides)
    return out


def _sets(resolved: ResolvedExperiment, path: ConfigPath) -> bool:
    """Does experiment.yaml set *path* (a control, a variable, or a mapping value holding it)?"""
    items: list[tuple[ConfigPath, Any]] = [(c.path, c.value) for c in resolved.controls]
    items += [(v.path, value) for v in resolved.variables if v.presets is None for value in v.values]
    items += [(ov.path, ov.value) for v in resolved.variables for group in v.presets or () for ov in group]
    return any(path in paths_written(p, value) for p, value in items if p == path[: len(p)])


def _run_folders(exp: Experiment, resolved: ResolvedExperiment, *, base_has_output_dir: bool, folder: Path,
                 problems: ProblemCollector) -> RunFolders | None:
    """Each run's own output_dir when experiment.yaml sets none (docs/output.md, "Where runs write")."""
    written = (exp.doc.data.get("output") or {}).get("run_dir")
    where = ("output", "run_dir")
    if _sets(resolved, OUTPUT_DIR):
        if written is not None:
            problems.error("output.run_dir and output_dir are both set: it is not clear where runs write",
                           pos=exp.doc.pos(where), path="output.run_dir",
                           hint="keep one: output.run_dir (a path with {{ run_id }}) or output_dir under controls")
        return None
    if not base_has_output_dir:
        return None  # a base of the user's without output_dir: nothing to place
    try:
        return compile_run_dir(written, pos=exp.doc.pos(where), output_folder=folder, experiment_folder=exp.folder)
    except ValueProblem as err:
        problems.add(err.problem)
        return None


def _with_identity(exp: Experiment, resolved: ResolvedExperiment, controlled: MergedConfig, *,
                   derived: bool) -> tuple[MergedConfig, tuple[Any, tuple[str, ...]], tuple[Override, ...]]:
    """The controlled tree with the ``ttgen:`` block and the tracker's name keys in place.

    Their values here are the first run's; every run sets its own (`Plan._identity`), so
    each run only replaces lines, as for any other per-run value.
    """
    root = exp.doc.pos(())
    # null fits any type (docs/contract.md §4): each run's values, of whatever type, replace it.
    blank = identity_block(exp.name, None, {v.name: None for v in resolved.variables})
    placeholders = [Override(key=AUTO_RUN_IDENTITY, path=(IDENTITY_KEY,), value=blank, origin="auto", pos=root,
                             doc_path=())]
    component = lookup(controlled.tree, METRIC_LOGGER + ("_component_",))
    per_run = [p for v in resolved.variables for p in v.paths] + [c.path for c in resolved.controls if derived]
    swapped = any(p[:1] == METRIC_LOGGER for p in per_run)  # a logger chosen per run: leave its keys alone
    fields = {} if swapped else tracker_fields(component, experiment=exp.name, run_id="", values={})
    keys = tuple(k for k in fields if not _sets(resolved, METRIC_LOGGER + (k,)))
    placeholders += [Override(key=AUTO_TRACKER, path=METRIC_LOGGER + (k,), value=None, origin="auto", pos=root,
                              doc_path=()) for k in keys]
    if IDENTITY_KEY in controlled.tree:  # a base of the user's with a ttgen: key of its own: leave it alone
        return controlled, (component, ()), ()
    merged, conflicts = merge_collecting(controlled, placeholders)
    assert not conflicts, conflicts  # null placeholders fit anything
    return merged, (component, keys), tuple(placeholders)


def _check_write_folders(plan: Plan, problems: ProblemCollector, *, runs: int) -> None:
    """No two runs write to one folder (*runs*: of every base); warn about run folders that already hold files."""
    tree = plan.controlled.tree
    per_run = {p for v in plan.variables for p in v.paths} | {c.path for c, _ in plan.derived_controls}
    paths = [p for p in write_paths(tree) if p[0] != IDENTITY_KEY]  # the ttgen: block only records values
    static = [p for p in paths if p != OUTPUT_DIR and not any(p[: len(q)] == q for q in per_run)]
    problems.extend(shared_by_all(static, tree, runs=runs, where={p: _where(plan, p) for p in static}))
    collisions = WriteCollisions.empty()
    watched = [p for p in paths if p not in static]
    folders = plan.folders
    if watched == [OUTPUT_DIR] and folders is not None and folders.template is None \
            and not _holds_files(str(folders.output_folder / RUNS_DIR)):
        return  # <new output folder>/runs/<run_id>: one per run, and none exists yet
    existing: list[str] = []
    merge_each = any(p != OUTPUT_DIR for p in watched)
    for run in plan.runs():
        run_tree = plan.merged(run).tree if merge_each else None
        for path in watched:
            if path == OUTPUT_DIR:
                value: Any = run.output_dir
            else:
                value = lookup(run_tree if run_tree is not None else tree, path)
                if follows_output_dir(value, run_tree if run_tree is not None else tree):
                    continue  # inside the run's own output_dir, which is checked itself
            if not isinstance(value, str) or not value.strip():
                continue  # not a folder: nothing is written through it
            text = resolve_text(value, run_tree if run_tree is not None else {**tree, "output_dir": run.output_dir})
            collisions.add(text, run.run_id, path=path, pos=_where(plan, path), written=str(value))
        if isinstance(run.output_dir, str) and os.path.isabs(run.output_dir) and _holds_files(run.output_dir):
            existing.append(run.run_id)
    problems.extend(collisions.problems())
    if existing:
        shown = ", ".join(existing[:6]) + (f" and {len(existing) - 6} more" if len(existing) > 6 else "")
        problems.warn(f"the output folders of {len(existing)} run(s) already hold files ({shown}): training would "
                      "mix its results with what is there", pos=_where(plan, OUTPUT_DIR), path="output_dir",
                      hint="choose another --out or output.run_dir, or move the old results away first")


def _holds_files(folder: str) -> bool:
    try:
        with os.scandir(folder) as entries:
            return any(True for _ in entries)
    except OSError:
        return False


def _where(plan: Plan, path: ConfigPath) -> SourcePos | None:
    """Where the value at *path* was set: the experiment's entry that sets it, else the base config's line."""
    exp = plan.experiment
    for ov in (*plan.resolved.controls, *(ov for v in plan.variables for ov in v.overrides(0))):
        if path[: len(ov.path)] == ov.path and path in paths_written(ov.path, ov.value):
            sub = path[len(ov.path):]
            return ov.positions.get(ov.doc_path + sub, ov.pos) if ov.origin == "control" else \
                exp.doc.key_pos(ov.doc_path[:-1])
    if path == OUTPUT_DIR and plan.folders is not None:
        return exp.doc.pos(("output", "run_dir")) if "run_dir" in (exp.doc.data.get("output") or {}) else exp.doc.pos(())
    return plan.base.doc.pos(path)
