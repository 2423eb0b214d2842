"""Sweep: the runs of an experiment, in a fixed order, with their ids.

Full factorial grid over the variables in written order, last one varying
fastest. `zip` groups advance together and take the grid position of their
first-written variable; `exclude` drops matching runs, and the runs left are
numbered consecutively (SLURM arrays need contiguous ids). Runs are generated
lazily so a 10,000-run sweep is never held in memory as configs.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Iterator

from ..errors import ProblemCollector
from ..inputs.experiment import Experiment
from ..tree import display_path, value_key
from .resolve import Variable

DEFAULT_MAX_RUNS = 10_000


@dataclass(frozen=True)
class RunPoint:
    """One run: its index, id, and which value of each variable it takes."""

    index: int
    run_id: str
    choices: tuple[int, ...]  # per variable, index into Variable.values

    def values(self, variables: tuple[Variable, ...]) -> dict[str, Any]:
        return {v.name: v.values[c] for v, c in zip(variables, self.choices)}


def run_id_width(count: int) -> int:
    return max(3, len(str(max(count - 1, 0))))


@dataclass(frozen=True)
class Sweep:
    variables: tuple[Variable, ...]
    groups: tuple[tuple[int, ...], ...]  # grid axes: indices of variables advancing together
    excluded: frozenset[tuple[int, ...]]  # choices tuples dropped by `exclude`
    grid_size: int
    count: int
    # With a base axis (several base configs) each base's runs follow the previous bases':
    # run ids start at *offset*, and are as wide as *id_count* (every base's runs) needs.
    offset: int = 0
    id_count: int | None = None

    def __len__(self) -> int:
        return self.count

    def _grid(self) -> Iterator[tuple[int, ...]]:
        n = len(self.variables)
        lengths = [len(self.variables[g[0]].values) for g in self.groups]
        if all(group == (i,) for i, group in enumerate(self.groups)) and len(self.groups) == n:
            yield from itertools.product(*(range(k) for k in lengths))  # no zip: the grid is the product
            return
        for combo in itertools.product(*(range(k) for k in lengths)):
            choices = [0] * n
            for group, pick in zip(self.groups, combo):
                for var_index in group:
                    choices[var_index] = pick
            yield tuple(choices)

    def __iter__(self) -> Iterator[RunPoint]:
        run_id = f"run_{{:0{run_id_width(self.id_count or self.count)}d}}".format
        excluded = self.excluded
        index = self.offset
        for choices in self._grid():
            if excluded and choices in excluded:
                continue
            yield RunPoint(index=index, run_id=run_id(index), choices=choices)
            index += 1


def build_sweep(exp: Experiment, variables: tuple[Variable, ...], *, max_runs: int | None,
                problems: ProblemCollector, bases: int = 1) -> Sweep | None:
    """Check variables and the `sweep:` section; None when problems were found."""
    doc = exp.doc
    before = len(problems.errors)
    for var in variables:
        if var.drawn:
            continue  # a random draw may repeat a value (choice, int_range): each sample is its own run
        seen: dict[Any, int] = {}
        for i, value in enumerate(var.values):
            key = value_key(value)
            if key in seen:
                problems.error(f"duplicate value {value!r} in variable {var.name!r} (also item {seen[key]})",
                               pos=var.value_positions[i], path=display_path(var.doc_path + (i,)),
                               hint="each value of a variable must be different: remove the repeat")
            seen.setdefault(key, i)

    by_name = {v.name: i for i, v in enumerate(variables)}
    zipped: dict[int, tuple[int, ...]] = {}
    for gi, group in enumerate(exp.sweep.get("zip") or []):
        members: list[int] = []
        for j, name in enumerate(group):
            where: tuple[Any, ...] = ("sweep", "zip", gi, j)
            if name not in by_name:
                problems.error(f"zip names {name!r}, which is not a variable", pos=doc.pos(where),
                               path=display_path(where), hint="variables: " + ", ".join(by_name) if by_name else "add it under variables:")
                continue
            vi = by_name[name]
            if variables[vi].drawn:
                problems.error(f"variable {name!r} is drawn at random: the drawn variables already advance together",
                               pos=doc.pos(where), path=display_path(where),
                               hint="remove it from zip; sweep.samples sets how many values every distribution draws")
                continue
            if vi in zipped or vi in members:
                problems.error(f"variable {name!r} is in more than one zip group", pos=doc.pos(where),
                               path=display_path(where), hint="a variable can be zipped with others only once")
                continue
            first = variables[members[0]] if members else None
            if first is not None and len(first.values) != len(variables[vi].values):
                problems.error(f"zip group: {first.name!r} has {len(first.values)} values but {name!r} has "
                               f"{len(variables[vi].values)}", pos=doc.pos(where), path=display_path(where),
                               hint="zipped variables advance together, so they need equal lengths")
                continue
            members.append(vi)
        for vi in members:
            zipped[vi] = tuple(members)
    drawn = tuple(vi for vi, v in enumerate(variables) if v.drawn)
    for vi in drawn:  # the samples of a random search: one axis, at the first drawn variable's place
        zipped[vi] = drawn
    groups: list[tuple[int, ...]] = []
    for vi in range(len(variables)):
        group = zipped.get(vi, (vi,))
        if min(group) == vi:  # the group takes the position of its first-written variable
            groups.append(tuple(sorted(group)))

    grid_size = math.prod(len(variables[g[0]].values) for g in groups) if groups else 1
    limit = max_runs if max_runs is not None else exp.sweep.get("max_runs", DEFAULT_MAX_RUNS)
    if grid_size * bases > limit:
        where = ("sweep", "max_runs") if "max_runs" in exp.sweep and max_runs is None else ("variables",)
        sizes = " x ".join([f"{bases} bases"] * (bases > 1) + [str(len(variables[g[0]].values)) for g in groups])
        problems.error(f"the sweep has {grid_size * bases} runs ({sizes}), more than max_runs {limit}",
                       pos=doc.pos(where), path=display_path(where),
                       hint="check the variables, or raise sweep.max_runs (or --max-runs) if you mean it")
    if len(problems.errors) > before:
        return None

    excluded: set[tuple[int, ...]] = set()
    rules = exp.sweep.get("exclude") or []
    if rules:
        all_choices = list(Sweep(variables, tuple(groups), frozenset(), grid_size, grid_size)._grid())
        for ri, rule in enumerate(rules):
            where = ("sweep", "exclude", ri)
            want: dict[int, Any] = {}
            for name, value in rule.items():
                if name not in by_name:
                    problems.error(f"exclude names {name!r}, which is not a variable", pos=doc.key_pos(where + (name,)),
                                   path=display_path(where + (name,)), hint="variables: " + ", ".join(by_name))
                    continue
                var = variables[by_name[name]]
                keys = [value_key(v) for v in var.values]
                if value_key(value) not in keys:
                    problems.error(f"exclude: {value!r} is not a value of {name!r} (values: "
                                   f"{', '.join(repr(v) for v in var.values)})", pos=doc.pos(where + (name,)),
                                   path=display_path(where + (name,)), hint="an exclusion must name existing values")
                    continue
                want[by_name[name]] = keys.index(value_key(value))
            if len(want) != len(rule):
                continue
            matched = [c for c in all_choices if all(c[vi] == pick for vi, pick in want.items())]
            if not matched:
                problems.error("exclude matches no run (its combination never occurs, e.g. across a zip group)",
                               pos=doc.pos(where), path=display_path(where), hint="remove it or fix the values")
            excluded.update(matched)
        if len(problems.errors) > before:
            return None
        if len(excluded) == grid_size:
            problems.error("exclude removes every run", pos=doc.pos(("sweep", "exclude")), path="sweep.exclude",
                           hint="loosen the exclusions")
            return None
    return Sweep(variables=variables, groups=tuple(groups), excluded=frozenset(excluded), grid_size=grid_size,
                 count=grid_size - len(excluded))
