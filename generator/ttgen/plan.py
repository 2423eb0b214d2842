"""Everything ttgen knows about an experiment before writing a file: the `Plan`.

`plan_experiment` runs the front of the pipeline — load, schema, base config,
resolve, sweep, controls merge — collecting every problem it can find before
raising, and returns a `Plan` whose runs are produced lazily, one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from .base import BaseConfig, load_base_config
from .errors import ExperimentError, Problem, ProblemCollector
from .experiment import Experiment, load_experiment
from .merge import MergedConfig, MergeConflict, component_warnings, merge_collecting, merge_overrides
from .load import display_path
from .resolve import Override, ResolvedExperiment, Variable, near_miss, resolve_deletes, resolve_experiment
from .sweep import RunPoint, Sweep, build_sweep, value_key
from .table import ConfigPath, PathTable, dotted, get_path

OUTPUT_DIR: ConfigPath = ("output_dir",)


@dataclass(frozen=True)
class RunConfig:
    """One run before rendering: its id, variable values and the overrides to apply."""

    point: RunPoint
    variables: dict[str, Any]
    overrides: tuple[Override, ...]
    output_dir: Any
    output_dir_auto: bool

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
    _shared_output_dirs: frozenset[Any] = frozenset()

    @property
    def variables(self) -> tuple[Variable, ...]:
        return self.resolved.variables

    def __len__(self) -> int:
        return len(self.sweep)

    def runs(self) -> Iterator[RunConfig]:
        """The runs in order; each is small: the configs themselves are built when rendered."""
        variables = self.variables
        base_dir = self.controlled.tree.get("output_dir")
        var_out = next((v for v in variables if v.path == OUTPUT_DIR), None)
        for point in self.sweep:
            overrides = [v.override(c) for v, c in zip(variables, point.choices)]
            out = var_out.values[point.choices[variables.index(var_out)]] if var_out else base_dir
            auto = value_key(out) in self._shared_output_dirs
            if auto:
                new_dir = f"{out.rstrip('/')}/{point.run_id}"
                overrides.append(Override(key="output_dir", path=OUTPUT_DIR, value=new_dir, origin="auto",
                                          pos=self.experiment.doc.pos(()), doc_path=()))
                out = new_dir
            yield RunConfig(point=point, variables=point.values(variables), overrides=tuple(overrides),
                            output_dir=out, output_dir_auto=auto)

    def merged(self, run: RunConfig) -> MergedConfig:
        """The run's full config tree (copies only the mappings its overrides touch)."""
        return merge_overrides(self.controlled, run.overrides)


def _paths_set(ov: Override) -> set[ConfigPath]:
    """Config paths an override writes (its path, and every key below a mapping value)."""
    out = {ov.path}
    stack = [(ov.path, ov.value)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            for k, v in value.items():
                out.add(path + (k,))
                stack.append((path + (k,), v))
    return out


def _shared_output_dirs(controlled: MergedConfig, variables: tuple[Variable, ...], sweep: Sweep) -> frozenset[Any]:
    """output_dir values two or more runs would share (SPEC §5): those runs get <dir>/<run_id>."""
    var_out = next((i for i, v in enumerate(variables) if v.path == OUTPUT_DIR), None)
    if var_out is None:
        value = controlled.tree.get("output_dir")
        return frozenset([value_key(value)]) if isinstance(value, str) and len(sweep) > 1 else frozenset()
    counts: dict[Any, int] = {}
    for point in sweep:
        value = variables[var_out].values[point.choices[var_out]]
        if isinstance(value, str):
            counts[value_key(value)] = counts.get(value_key(value), 0) + 1
    return frozenset(k for k, n in counts.items() if n > 1)


def plan_experiment(experiment_path: Path | str, *, max_runs: int | None = None) -> Plan:
    """Load and check an experiment; raises a `UserError` listing every problem found."""
    exp = load_experiment(Path(experiment_path), display=str(experiment_path))
    base = load_base_config(exp)
    problems = ProblemCollector()
    original = PathTable.from_tree(base.data)
    deletes = resolve_deletes(exp, original, problems)
    start = MergedConfig(tree=base.data, sources={p: t for p, t in base.doc.plain_text.items()
                                                  if all(isinstance(k, str) for k in p)})
    after_delete = merge_overrides(start, (), deletes=deletes)
    table = PathTable.from_tree(after_delete.tree)
    resolved = resolve_experiment(exp, table=table, original=original, deletes=deletes, problems=problems)

    controlled, conflicts = merge_collecting(after_delete, resolved.controls)
    problems.extend(conflicts)
    control_paths = {c.path: c for c in resolved.controls}
    for parent, old, new, kept in component_warnings(controlled):
        setter = next(c for c in resolved.controls if parent + ("_component_",) in _paths_set(c))
        where = setter.doc_path + (parent + ("_component_",))[len(setter.path):]
        problems.warn(f"{dotted(parent)}._component_ changes from {old} to {new}; these keys are kept from the "
                      f"base and may not fit the new component: {', '.join(kept)}",
                      pos=exp.doc.pos(where), path=display_path(where),
                      hint=f"set them too, or delete {dotted(parent)} and set it again to start from an empty mapping")

    seen_warnings: set[tuple[ConfigPath, str]] = set()
    for var in resolved.variables:
        for i in range(len(var.values)):
            ov = var.override(i)
            merged, conflicts = merge_collecting(controlled, [ov])
            problems.extend(conflicts)
            touched = [p for p, label in merged.origins.items() if controlled.origins.get(p) != label]
            added = merged.new - controlled.new
            for path in sorted(p for p in added if p[:-1] not in added):
                parent = get_path(controlled.tree, path[:-1]) if path[:-1] else controlled.tree
                close = near_miss(path[-1], list(parent)) if isinstance(parent, dict) else None
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
    problems.raise_if_errors(ExperimentError)
    assert sweep is not None
    return Plan(experiment=exp, base=base, resolved=resolved, controlled=controlled, sweep=sweep,
                warnings=sorted(problems.warnings, key=Problem.sort_key),
                _shared_output_dirs=_shared_output_dirs(controlled, resolved.variables, sweep))


__all__ = ["Plan", "RunConfig", "plan_experiment", "MergeConflict"]
