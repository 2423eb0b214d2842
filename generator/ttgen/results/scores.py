"""Evaluation scores on the runs' records: the score of each run's newest evaluated epoch by
``<task>/<metric>`` (``<task>/<scorer>/<metric>`` when two scorers of a task share a metric
name), every evaluation in full, and the base model's scores as the control.

Examples:
    >>> from types import SimpleNamespace as S
    >>> found = [S(run_id="run_000", task="qa", epoch=0, scorer="match", metric="accuracy", value=0.2, log_path="a"),
    ...          S(run_id="run_000", task="qa", epoch=1, scorer="match", metric="accuracy", value=0.4, log_path="b"),
    ...          S(run_id="baseline", task="qa", epoch=None, scorer="match", metric="accuracy", value=0.1, log_path="c")]
    >>> latest, evaluations, baseline = arrange(found)
    >>> latest, baseline, len(evaluations["run_000"])
    ({'run_000': {'qa/accuracy': 0.4}}, {'qa/accuracy': 0.1}, 2)
"""

from __future__ import annotations

from typing import Any, Iterable

from ..jobs.evaluation import EvalScore
from ..layout import BASELINE

def _names(scores: list[EvalScore]) -> dict[tuple[str, str, str], str]:
    """The column name of each (task, scorer, metric)."""
    scorers: dict[tuple[str, str], set[str]] = {}
    for s in scores:
        scorers.setdefault((s.task, s.metric), set()).add(s.scorer)
    return {(s.task, s.scorer, s.metric): f"{s.task}/{s.metric}" if len(scorers[(s.task, s.metric)]) == 1
            else f"{s.task}/{s.scorer}/{s.metric}" for s in scores}


def arrange(found: Iterable[EvalScore]) -> tuple[dict[str, dict[str, float]], dict[str, list[dict[str, Any]]],
                                              dict[str, float]]:
    """(each run's newest-epoch scores by column, each run's every evaluation, the baseline's scores)."""
    scores = list(found)
    names = _names(scores)
    latest: dict[str, dict[str, float]] = {}
    newest: dict[tuple[str, str], int] = {}  # (run, column) -> the epoch its value came from
    evaluations: dict[str, list[dict[str, Any]]] = {}
    baseline: dict[str, float] = {}
    for s in sorted(scores, key=lambda s: (s.run_id, -1 if s.epoch is None else s.epoch, s.task, s.scorer, s.metric)):
        column = names[(s.task, s.scorer, s.metric)]
        if s.run_id == BASELINE:
            baseline[column] = s.value
            continue
        evaluations.setdefault(s.run_id, []).append(
            {"task": s.task, "epoch": s.epoch, "scorer": s.scorer, "metric": s.metric, "value": s.value,
             "log": str(s.log_path)})
        epoch = -1 if s.epoch is None else s.epoch
        if epoch >= newest.get((s.run_id, column), -1):
            newest[(s.run_id, column)] = epoch
            latest.setdefault(s.run_id, {})[column] = s.value
    return latest, evaluations, baseline
