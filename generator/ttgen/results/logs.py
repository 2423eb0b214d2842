"""One metric log file, summarised: how far the run got, each metric's final, lowest, highest
and best value, and the loss curve (thinned to at most `CURVE_POINTS` points for plotting).

The log is torchtune's DiskLogger text (``Step N | name:value ...``, one line per logged
step; `ttgen.jobs.metrics.parse_line` reads a line). "Best" has a direction: the lowest
loss, the highest tokens per second, the highest peak memory (what the run needed at its
worst); a metric with no direction (``lr``, ``grad_norm``) has none.

Examples:
    >>> direction("loss"), direction("tokens_per_second_per_gpu"), direction("lr")
    ('min', 'max', None)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..jobs.metrics import parse_line

CURVE_METRIC = "loss"  # the metric whose curve the report draws for every run
CURVE_POINTS = 400  # enough for a smooth line at report size; 1,000 runs stay light

# Name fragments that say which way is better (checked in order; the first match wins).
_DIRECTIONS: tuple[tuple[str, str], ...] = (
    ("tokens_per_second", "max"), ("throughput", "max"), ("accuracy", "max"), ("peak_memory", "max"),
    ("loss", "min"), ("perplexity", "min"),
)


def direction(metric: str) -> str | None:
    """'min' when lower is better, 'max' when higher is (or, for peak memory, what matters), else None."""
    for fragment, way in _DIRECTIONS:
        if fragment in metric:
            return way
    return None


@dataclass
class MetricSummary:
    """One metric over a run: its last value, extremes, best (by `direction`) and how many steps logged it.

    NaN values count in ``count`` and may be ``final``; they never become ``min``/``max``/``best``.
    """

    final: float
    final_step: int
    min: float | None = None
    max: float | None = None
    min_step: int | None = None
    max_step: int | None = None
    count: int = 0

    def best(self, metric: str) -> float | None:
        """The best value by the metric's direction, None when it has none."""
        way = direction(metric)
        return self.min if way == "min" else self.max if way == "max" else None

    def to_json(self, metric: str) -> dict[str, Any]:
        return {"final": self.final, "final_step": self.final_step, "best": self.best(metric),
                "min": self.min, "max": self.max, "count": self.count}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MetricSummary:
        return cls(final=data["final"], final_step=data["final_step"], min=data["min"], max=data["max"],
                   min_step=data.get("min_step"), max_step=data.get("max_step"), count=data["count"])


@dataclass
class LogSummary:
    """What one log file (or a run's several, merged) says."""

    first_step: int | None = None
    last_step: int | None = None
    lines: int = 0  # step lines read
    metrics: dict[str, MetricSummary] = field(default_factory=dict)
    curve: list[tuple[int, float]] = field(default_factory=list)  # (step, loss), thinned

    def to_json(self) -> dict[str, Any]:
        return {"first_step": self.first_step, "last_step": self.last_step, "lines": self.lines,
                "metrics": {name: {**m.to_json(name), "min_step": m.min_step, "max_step": m.max_step}
                            for name, m in self.metrics.items()},
                "curve": [[s, v] for s, v in self.curve]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LogSummary:
        return cls(first_step=data["first_step"], last_step=data["last_step"], lines=data["lines"],
                   metrics={n: MetricSummary.from_json(m) for n, m in data["metrics"].items()},
                   curve=[(int(s), float(v)) for s, v in data["curve"]])


def thin(points: list[tuple[int, float]], limit: int = CURVE_POINTS) -> list[tuple[int, float]]:
    """At most *limit* evenly spaced points, always keeping the first and the last.

    Examples:
        >>> thin([(i, float(i)) for i in range(10)], 4)
        [(0, 0.0), (3, 3.0), (6, 6.0), (9, 9.0)]
    """
    if len(points) <= limit:
        return list(points)
    last = len(points) - 1
    picks = sorted({round(i * last / (limit - 1)) for i in range(limit)})
    return [points[i] for i in picks]


def _summary(steps: list[int], columns: dict[str, tuple[list[int], list[float]]]) -> LogSummary:
    """A summary from the steps and, per metric, (indexes into steps, values) in log order."""
    summary = LogSummary(first_step=steps[0] if steps else None, last_step=steps[-1] if steps else None,
                         lines=len(steps))
    for name, (where, values) in columns.items():
        finite = [v for v in values if v == v]  # NaN never becomes a min, max or best
        m = MetricSummary(final=values[-1], final_step=steps[where[-1]], count=len(values))
        if finite:
            m.min, m.max = min(finite), max(finite)
            m.min_step = steps[where[values.index(m.min)]]
            m.max_step = steps[where[values.index(m.max)]]
        summary.metrics[name] = m
    if CURVE_METRIC in columns:
        where, values = columns[CURVE_METRIC]
        summary.curve = thin([(steps[i], v) for i, v in zip(where, values)])
    return summary


def summarize_lines(lines: Iterable[str]) -> LogSummary:
    """Summarise DiskLogger lines; lines of other kinds are skipped.

    Examples:
        >>> s = summarize_lines(["Step 1 | loss:2.5 lr:0.1", "Step 2 | loss:2.0 lr:0.1", "Step 3 | loss:2.2 lr:0.1"])
        >>> s.last_step, s.metrics["loss"].final, s.metrics["loss"].best("loss"), s.metrics["lr"].best("lr")
        (3, 2.2, 2.0, None)
    """
    steps: list[int] = []
    columns: dict[str, tuple[list[int], list[float]]] = {}
    for line in lines:
        parsed = parse_line(line)
        if parsed is None:
            continue
        index = len(steps)
        steps.append(parsed[0])
        for name, value in parsed[1].items():
            column = columns.get(name)
            if column is None:
                columns[name] = column = ([], [])
            column[0].append(index)
            column[1].append(value)
    return _summary(steps, columns)


def summarize_log(path: Path) -> LogSummary:
    """Summarise one log file (an unreadable one gives an empty summary).

    A last line without its line break is being written right now: it is left out.
    """
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return LogSummary()
    data = data[:data.rfind(b"\n") + 1]
    return summarize_lines(data.decode("utf-8", errors="replace").splitlines())


def merge(summaries: list[LogSummary]) -> LogSummary:
    """One run's logs, oldest first, as one summary: a resumed run logs on in a new file.

    The final values come from the newest log that has a step; extremes from all of them;
    the curve joins the logs in step order, a newer log's steps replacing an older one's.
    """
    summaries = [s for s in summaries if s.lines]
    if not summaries:
        return LogSummary()
    if len(summaries) == 1:
        return summaries[0]
    merged = LogSummary(first_step=min(s.first_step for s in summaries if s.first_step is not None),
                        last_step=summaries[-1].last_step, lines=sum(s.lines for s in summaries))
    for s in summaries:
        for name, m in s.metrics.items():
            known = merged.metrics.get(name)
            if known is None:
                merged.metrics[name] = MetricSummary(**vars(m))
                continue
            known.final, known.final_step, known.count = m.final, m.final_step, known.count + m.count
            if m.min is not None and (known.min is None or m.min < known.min):
                known.min, known.min_step = m.min, m.min_step
            if m.max is not None and (known.max is None or m.max > known.max):
                known.max, known.max_step = m.max, m.max_step
    points: dict[int, float] = {}
    for s in summaries:
        if s.curve:
            start = s.curve[0][0]
            points = {k: v for k, v in points.items() if k < start}  # the newer log takes over from here
            points.update(s.curve)
    merged.curve = thin(sorted(points.items()))
    return merged
