"""Which metrics to show: the ones asked for, checked against what the runs logged."""

from __future__ import annotations

from typing import Sequence

from ..errors import Problem, ResultsError
from ..text import did_you_mean
from .collect import SweepResults


def check_metrics(results: SweepResults, asked: Sequence[str] | None) -> list[str] | None:
    """*asked* (None: every logged metric) after checking each name is a metric some run logged.

    Before any run has logged anything every name is accepted: there is nothing to check against.
    """
    if not asked:
        return None
    known = results.metric_names
    if not known:
        return list(asked)
    problems = []
    for name in asked:
        if name not in known:
            hint = did_you_mean(name, known) or "the runs logged " + ", ".join(known)
            problems.append(Problem(f"--metric {name}: no run logged this metric", hint=hint))
    if problems:
        raise ResultsError(problems)
    return list(dict.fromkeys(asked))
