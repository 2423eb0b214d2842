"""Build a `Plan`: the front of the pipeline, checked as a whole before anything is written.

`plan_experiment` loads experiment.yaml and its base config, resolves every
key, compiles derived values, merges the controls, checks each variable's
values against the controlled tree, builds the sweep and checks the slurm:
section, collecting every problem it finds before raising. Then it evaluates
every run's derived values once (`_prepass`), so a failure in run 37 is
reported before run 0 is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ExperimentError, Problem, ProblemCollector, ValueProblem
from ..inputs.base import BaseConfig, load_base_config
from ..inputs.experiment import load_experiment
from ..tree import MISSING, ConfigPath, PathTable, display_path, dotted, lookup, paths_written, value_key
from .derive import Derivation, compile_value, is_template, make_sandbox
from .merge import MergedConfig, compatible, component_warnings, merge_collecting, merge_overrides
from .resolve import Override, near_miss, resolve_deletes, resolve_experiment
from .runs import Plan
from .slurm import slurm_settings
from .sweep import build_sweep


def _prepass(plan: Plan, problems: ProblemCollector) -> frozenset[Any]:
    """Evaluate every run's derived values once, before anything is written.

    Reports evaluation errors and type mismatches (each once), and returns the
    output_dir values two or more runs would share (docs/contract.md §5: those runs get
    <dir>/<run_id>), computed on final values, derived ones included.
    """
    if not plan.output_dir_per_run:
        value = plan.controlled.tree.get("output_dir")
        return frozenset([value_key(value)]) if isinstance(value, str) and len(plan) > 1 else frozenset()
    counts: dict[Any, int] = {}
    seen: set[str] = set()
    tree = plan.controlled.tree
    runs = plan.iter_runs(None)
    while True:
        try:
            run = next(runs)
        except StopIteration:
            break
        except ValueProblem as err:
            if err.problem.format() not in seen:
                seen.add(err.problem.format())
                problems.add(err.problem)
            if len(seen) >= 20:
                break
            continue
        for ov in run.overrides:
            if ov.origin == "variable" and ov.key not in run.derived:
                continue  # plain variable values were checked once, value by value
            current = lookup(tree, ov.path)
            if isinstance(ov.value, dict) or current is MISSING:
                _, conflicts = merge_collecting(plan.controlled, [ov])
            elif not compatible(current, ov.value):
                _, conflicts = merge_collecting(plan.controlled, [ov])
            else:
                conflicts = []
            for p in conflicts:
                p = Problem(f"{run.run_id}: {p.message}", pos=p.pos, path=p.path, hint=p.hint)
                if p.message not in seen:
                    seen.add(p.message)
                    problems.add(p)
        if isinstance(run.output_dir, str):
            counts[value_key(run.output_dir)] = counts.get(value_key(run.output_dir), 0) + 1
    return frozenset(k for k, n in counts.items() if n > 1)


def plan_experiment(experiment_path: Path | str, *, max_runs: int | None = None,
                    base: BaseConfig | None = None, slurm: bool = True) -> Plan:
    """Load and check an experiment; raises a `UserError` listing every problem found.

    This is ``ttgen render --dry-run`` without the printing: nothing is written.

    Examples:
        >>> plan = plan_experiment("examples/lora_rank_sweep/experiment.yaml")
        >>> len(plan), [v.name for v in plan.variables]
        (4, ['lora_rank'])
        >>> [(run.run_id, run.variables) for run in plan.runs()][:2]
        [('run_000', {'lora_rank': 8}), ('run_001', {'lora_rank': 16})]

    *base*: use this base config instead of loading the one experiment.yaml names
    (``ttgen diff`` re-plans an output folder against the base_config.yaml recorded in it).
    *slurm*: False skips checking the slurm: section (``ttgen diff`` needs the configs only,
    and an output folder holds no copy of a user's own SLURM template).
    """
    exp = load_experiment(Path(experiment_path), display=str(experiment_path))
    base = base if base is not None else load_base_config(exp)
    problems = ProblemCollector()
    original = PathTable.from_tree(base.data)
    deletes = resolve_deletes(exp, original, problems)
    start = MergedConfig(tree=base.data, sources={p: t for p, t in base.doc.plain_text.items()
                                                  if all(isinstance(k, str) for k in p)})
    after_delete = merge_overrides(start, (), deletes=deletes)
    table = PathTable.from_tree(after_delete.tree)
    resolved = resolve_experiment(exp, table=table, original=original, deletes=deletes, problems=problems)

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
                                              where=display_path(var.doc_path + (i,))) if is_template(value) else None)
            except ValueProblem as err:
                problems.add(err.problem)
                compiled.append(None)
        variable_templates.append(tuple(compiled))

    controlled, conflicts = merge_collecting(after_delete, static_controls)
    problems.extend(conflicts)
    control_paths = {c.path: c for c in resolved.controls}
    variable_paths = {v.path for v in resolved.variables}
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

    seen_warnings: set[tuple[ConfigPath, str]] = set()
    for vi, var in enumerate(resolved.variables):
        for i in range(len(var.values)):
            if variable_templates[vi][i] is not None:
                continue  # checked per run, once evaluated
            ov = var.override(i)
            merged, conflicts = merge_collecting(controlled, [ov])
            problems.extend(conflicts)
            touched = [p for p, label in merged.origins.items() if controlled.origins.get(p) != label]
            added = merged.new - controlled.new
            for path in sorted(p for p in added if p[:-1] not in added):
                container = lookup(controlled.tree, path[:-1])
                close = near_miss(path[-1], list(container)) if isinstance(container, dict) else None
                if close:
                    where = ov.doc_path + path[len(var.path):]
                    problems.warn(f"{dotted(path)!r} is a new key; did you mean {dotted(path[:-1] + (close,))!r}?",
                                  pos=exp.doc.key_pos(where), path=display_path(where),
                                  hint="fix the key if it is a typo; new keys are added as written")
            for path in touched:
                if path in control_paths and path != var.path:
                    problems.error(f"variable {var.name!r} sets {dotted(path)}, which control "
                                   f"{control_paths[path].key!r} also sets", pos=ov.pos, path=var.name,
                                   hint="a path may be a variable or a control, not both")
            for parent, old, new, kept in component_warnings(merged):
                if (parent, str(new)) in seen_warnings:
                    continue
                seen_warnings.add((parent, str(new)))
                problems.warn(f"{dotted(parent)}._component_ changes from {old} to {new} (variable {var.name}); "
                              f"kept from the base: {', '.join(kept)}; the new component may not accept them",
                              pos=ov.pos, path=var.name,
                              hint="set those keys in the variable's value, or delete the mapping first")

    sweep = build_sweep(exp, resolved.variables, max_runs=max_runs, problems=problems)
    checked_slurm = None
    if exp.slurm is not None and slurm:
        checked_slurm = slurm_settings(exp, base, problems=problems,
                                       run_count=len(sweep) if sweep is not None else None)
    problems.raise_if_errors(ExperimentError)
    assert sweep is not None
    plan = Plan(experiment=exp, base=base, resolved=resolved, controlled=controlled, sweep=sweep,
                slurm=checked_slurm,
                derived_controls=tuple(derived_controls), _variable_templates=tuple(variable_templates),
                _static=tuple(tuple(v.override(i) for i in range(len(v.values))) for v in resolved.variables))
    plan._shared_output_dirs = _prepass(plan, problems)
    problems.raise_if_errors(ExperimentError)
    plan.warnings = sorted(problems.warnings, key=Problem.sort_key)
    return plan

