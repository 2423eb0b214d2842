"""Rows grouped by one variable: for each of its values, the mean, standard deviation and
count of a metric's final and best value (and of each score) over the runs with that value,
that is across the other variables (seeds, for example).

The standard deviation is the sample one (n - 1); with one value it is None. Runs without
a value (not started, failed before logging) are counted in ``runs`` but not in ``n``.

Examples:
    >>> spread([1.0, 2.0, 3.0])
    (2.0, 1.0, 3)
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any, Sequence

from ..errors import Problem, ResultsError
from ..text import did_you_mean
from ..tree import value_key
from ..yamlio.dump import flow_text
from .collect import SweepResults
from .logs import direction
from .tables import number


def spread(values: Sequence[float]) -> tuple[float | None, float | None, int]:
    """(mean, sample standard deviation, count) of the finite values; NaN and infinities are left out."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return None, None, 0
    mean = statistics.fmean(finite)
    return mean, (statistics.stdev(finite) if len(finite) > 1 else None), len(finite)


@dataclass
class Group:
    """One value of the grouping variable and its statistics."""

    value: Any
    runs: list[str] = field(default_factory=list)
    stats: dict[str, tuple[float | None, float | None, int]] = field(default_factory=dict)  # column -> (mean, std, n)

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "runs": self.runs,
                "stats": {k: {"mean": m, "std": s, "n": n} for k, (m, s, n) in self.stats.items()}}


def check_variable(results: SweepResults, variable: str) -> None:
    """Raise ResultsError when *variable* is not one of the experiment's variables."""
    names = results.variable_names
    if variable in names:
        return
    hint = did_you_mean(variable, names) or ("the variables are " + ", ".join(names) if names
                                             else "this experiment has no variables: it has one run")
    raise ResultsError([Problem(f"--by {variable}: not a variable of this experiment", hint=hint)])


def group_by(results: SweepResults, variable: str, *, metric: str = "loss") -> list[Group]:
    """Groups of runs by *variable*'s value, in sweep order, with the statistics of *metric*
    (columns ``<metric>`` for the final value and ``<metric>_<min|max>`` for the best) and of every score."""
    check_variable(results, variable)
    groups: dict[Any, Group] = {}
    values: dict[Any, dict[str, list[float]]] = {}
    way = direction(metric)
    columns = [metric] + ([f"{metric}_{way}"] if way else []) + results.score_names
    for run in results.runs:
        if variable not in run.variables:
            continue
        value = run.variables[variable]
        key = value_key(value)
        group = groups.setdefault(key, Group(value))
        group.runs.append(run.run_id)
        found = values.setdefault(key, {c: [] for c in columns})
        m = run.metrics.get(metric)
        if m is not None:
            found[metric].append(m.final)
            best = m.best(metric)
            if way and best is not None:
                found[f"{metric}_{way}"].append(best)
        for score in results.score_names:
            if score in run.scores:
                found[score].append(run.scores[score])
    for key, group in groups.items():
        group.stats = {c: spread(values[key][c]) for c in columns}
    return list(groups.values())


def group_records(groups: list[Group], *, variable: str) -> list[dict[str, Any]]:
    """One flat dict per group (for CSV): the value, runs, then ``<column>_mean``, ``_std``, ``_n``."""
    records = []
    for g in groups:
        record: dict[str, Any] = {variable: g.value, "runs": len(g.runs)}
        for column, (mean, std, n) in g.stats.items():
            record.update({f"{column}_mean": mean, f"{column}_std": std, f"{column}_n": n})
        records.append(record)
    return records


def group_table(groups: list[Group], *, variable: str) -> list[list[str]]:
    """Header and rows: the value, runs, then mean ± std (n) per column."""
    columns = list(groups[0].stats) if groups else []
    rows = [[variable, "runs", *columns]]
    for g in groups:
        cells = []
        for c in columns:
            mean, std, n = g.stats[c]
            cells.append("-" if mean is None else f"{number(mean)} ± {number(std)} (n={n})" if std is not None
                         else f"{number(mean)} (n={n})")
        rows.append([flow_text(g.value), str(len(g.runs)), *cells])
    return rows
