"""Everything ttgen knows about an experiment before writing a file: the `Plan`.

`plan_experiment` runs the front of the pipeline — load, schema, base config,
resolve, sweep, controls merge — collecting every problem it can find before
raising, and returns a `Plan` whose runs are produced lazily, one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from .base import BaseConfig, load_base_config
from .derive import Derivation, DeriveError, compile_value, is_template, make_sandbox
from .errors import ExperimentError, Problem, ProblemCollector
from .experiment import Experiment, load_experiment
from .merge import MergedConfig, MergeConflict, compatible, component_warnings, merge_collecting, merge_overrides
from .load import display_path
from .resolve import Override, ResolvedExperiment, Variable, near_miss, resolve_deletes, resolve_experiment
from .sweep import RunPoint, Sweep, build_sweep, value_key
from .table import ConfigPath, PathTable, dotted, get_path, has_path, paths_written

if TYPE_CHECKING:
    from .slurm import SlurmSettings

OUTPUT_DIR: ConfigPath = ("output_dir",)


@dataclass(frozen=True)
class RunConfig:
    """One run before rendering: its id, variable values and the overrides to apply."""

    point: RunPoint
    variables: dict[str, Any]  # as written (a templated value stays its template text)
    overrides: tuple[Override, ...]
    output_dir: Any
    output_dir_auto: bool
    derived: dict[str, Any] = field(default_factory=dict)  # written key -> evaluated value

    @property
    def run_id(self) -> str:
        return self.point.run_id

    @property
    def index(self) -> int:
        return self.point.index


@dataclass
class Plan:
    """A checked experiment, ready to render run by run."""

    experiment: Experiment
    base: BaseConfig
    resolved: ResolvedExperiment
    controlled: MergedConfig  # base after deletes and controls: shared by every run
    sweep: Sweep
    warnings: list[Problem] = field(default_factory=list)
    slurm: SlurmSettings | None = None  # the checked slurm: section (None without one, or when not asked)
    _shared_output_dirs: frozenset[Any] = frozenset()
    # Controls whose values are {{ ... }} templates: evaluated per run, in written order.
    derived_controls: tuple[tuple[Override, Derivation], ...] = ()
    # Per variable, per value: the compiled template when the value is one, else None.
    _variable_templates: tuple[tuple[Derivation | None, ...], ...] = ()
    _static: tuple[tuple[Override, ...], ...] = ()  # per variable, per value: its Override, built once

    @property
    def variables(self) -> tuple[Variable, ...]:
        return self.resolved.variables

    @property
    def derived_names(self) -> list[str]:
        """Names of derived values (templated controls, then templated variables) in written order."""
        names = [ov.key for ov, _ in self.derived_controls]
        names += [v.name for v, t in zip(self.variables, self._variable_templates) if any(t)]
        return names

    def __len__(self) -> int:
        return len(self.sweep)

    def _scope(self, point: RunPoint, values: dict[str, Any]) -> dict[str, Any]:
        scope = {"run_id": point.run_id, "run_index": point.index, "experiment": self.experiment.metadata,
                 "variables": values}
        for name, value in values.items():
            scope.setdefault(name, value)
        return scope

    @property
    def has_derived(self) -> bool:
        """Whether runs evaluate {{ ... }} values (templated controls or variable values)."""
        return bool(self.derived_controls) or any(any(t) for t in self._variable_templates)

    @property
    def output_dir_per_run(self) -> bool:
        """Whether a run may set output_dir itself (a variable or a derived value), not only the controls."""
        return self.has_derived or any(v.path == OUTPUT_DIR for v in self.variables)

    def static_overrides(self) -> frozenset[int]:
        """ids of the Override objects shared by every run that uses them (safe cache keys)."""
        return frozenset(id(ov) for row in self._static for ov in row)

    def _iter(self, shared: frozenset[Any] | None) -> Iterator[RunConfig]:
        """Runs with derived values evaluated; *shared* output_dirs get <dir>/<run_id> (None: never)."""
        variables = self.variables
        names = [v.name for v in variables]
        values_of = [v.values for v in variables]
        static = self._static
        dynamic = self.has_derived
        base_dir = self.controlled.tree.get("output_dir")
        root_pos = self.experiment.doc.pos(())
        # Most sweeps never set output_dir per run: then whether it is shared is known once.
        may_set_output_dir = self.output_dir_per_run
        base_auto = shared is not None and isinstance(base_dir, str) and value_key(base_dir) in shared
        for point in self.sweep:
            choices = point.choices
            values = {name: vals[c] for name, vals, c in zip(names, values_of, choices)}
            if dynamic:
                overrides, derived = self._derive(point, values)
            else:
                # Almost every sweep: each run picks Overrides built once per value.
                overrides, derived = [row[c] for row, c in zip(static, choices)], {}
            out = base_dir
            if may_set_output_dir:
                for ov in overrides:
                    if ov.path == OUTPUT_DIR:
                        out = ov.value
                auto = shared is not None and isinstance(out, str) and value_key(out) in shared
            else:
                auto = base_auto
            if auto:
                assert isinstance(out, str)  # only a text output_dir is ever shared
                out = f"{out.rstrip('/')}/{point.run_id}"
                overrides.append(Override(key="output_dir", path=OUTPUT_DIR, value=out, origin="auto",
                                          pos=root_pos, doc_path=()))
            yield RunConfig(point=point, variables=values, overrides=tuple(overrides), output_dir=out,
                            output_dir_auto=auto, derived=derived)

    def _derive(self, point: RunPoint, values: dict[str, Any]) -> tuple[list[Override], dict[str, Any]]:
        """A run's overrides with its {{ ... }} values evaluated, and those values by name."""
        scope = self._scope(point, values)
        overrides = []
        derived: dict[str, Any] = {}
        for vi, c in enumerate(point.choices):
            ov = self._static[vi][c]
            tpl = self._variable_templates[vi][c]
            if tpl is not None:
                value = tpl.evaluate(scope)
                derived[ov.key] = value
                ov = Override(key=ov.key, path=ov.path, value=value, origin=ov.origin, pos=ov.pos,
                              doc_path=ov.doc_path, positions=ov.positions)
            overrides.append(ov)
        for ctl, tpl in self.derived_controls:
            value = tpl.evaluate(scope)
            derived[ctl.key] = value
            overrides.append(Override(key=ctl.key, path=ctl.path, value=value, origin="control", pos=ctl.pos,
                                      doc_path=ctl.doc_path, positions=ctl.positions))
        return overrides, derived

    def runs(self) -> Iterator[RunConfig]:
        """The runs in order; each is small: the configs themselves are built when rendered."""
        return self._iter(self._shared_output_dirs)

    def merged(self, run: RunConfig) -> MergedConfig:
        """The run's full config tree (copies only the mappings its overrides touch)."""
        return merge_overrides(self.controlled, run.overrides)


def _prepass(plan: Plan, problems: ProblemCollector) -> frozenset[Any]:
    """Evaluate every run's derived values once, before anything is written.

    Reports evaluation errors and type mismatches (each once), and returns the
    output_dir values two or more runs would share (SPEC §5: those runs get
    <dir>/<run_id>), computed on final values, derived ones included.
    """
    if not plan.output_dir_per_run:
        value = plan.controlled.tree.get("output_dir")
        return frozenset([value_key(value)]) if isinstance(value, str) and len(plan) > 1 else frozenset()
    counts: dict[Any, int] = {}
    seen: set[str] = set()
    tree = plan.controlled.tree
    runs = plan._iter(None)
    while True:
        try:
            run = next(runs)
        except StopIteration:
            break
        except DeriveError as err:
            if err.problem.format() not in seen:
                seen.add(err.problem.format())
                problems.add(err.problem)
            if len(seen) >= 20:
                break
            continue
        for ov in run.overrides:
            if ov.origin == "variable" and ov.key not in run.derived:
                continue  # plain variable values were checked once, value by value
            if isinstance(ov.value, dict) or not has_path(tree, ov.path):
                _, conflicts = merge_collecting(plan.controlled, [ov])
            elif not compatible(get_path(tree, ov.path), ov.value):
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
        except DeriveError as err:
            problems.add(err.problem)
    variable_templates: list[tuple[Derivation | None, ...]] = []
    for var in resolved.variables:
        compiled: list[Derivation | None] = []
        for i, value in enumerate(var.values):
            try:
                compiled.append(compile_value(env, value, pos=var.value_positions[i],
                                              where=display_path(var.doc_path + (i,))) if is_template(value) else None)
            except DeriveError as err:
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
                container = get_path(controlled.tree, path[:-1]) if path[:-1] else controlled.tree
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
        from .slurm import slurm_settings  # lazily: slurm.py works on a Plan

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


__all__ = ["Plan", "RunConfig", "plan_experiment", "MergeConflict"]
