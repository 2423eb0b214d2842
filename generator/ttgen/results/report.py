"""One self-contained HTML report of a sweep (docs/results.md): the question and hypothesis,
the design, every run's loss curve, the chosen metric against each variable, evaluation
scores, the table of runs and the failed runs with their logs.

Images are embedded as data URIs and the page loads nothing else, so the file opens
offline, can be mailed, and prints. Same results, same bytes.

Examples:
    >>> html = build_report(collect_results(Path("outputs/study")))  # doctest: +SKIP
    >>> write_report(Path("outputs/study"))  # doctest: +SKIP
    PosixPath('outputs/study/results/report.html')
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Callable

from ..errors import Problem, ResultsError
from ..layout import REPORT_HTML
from ..resources import read_template
from ..version import __version__
from ..yamlio.dump import flow_text
from .collect import RunResult, SweepResults, collect_results
from .files import write_atomic
from .logs import direction
from .plots import Plot, by_variable, loss_curves
from .tables import count_line, number, run_table

REPORT_TEMPLATE = "report.html.j2"
FAILED = ("FAILED", "OUT_OF_MEMORY", "TIMEOUT", "CANCELLED", "UNFINISHED")


def _score_table(results: SweepResults) -> list[list[str]]:
    """Header and rows of every score: the base model first (the control), then each run's newest epoch."""
    if not results.score_names:
        return []
    rows = [["run", "epoch", *results.score_names]]
    if results.baseline:
        rows.append(["baseline (base model)", "-", *(number(results.baseline.get(s)) for s in results.score_names)])
    for run in results.runs:
        if run.scores:
            epochs = sorted({e["epoch"] for e in run.evaluations if e["epoch"] is not None})
            rows.append([run.run_id, str(epochs[-1]) if epochs else "-",
                         *(number(run.scores.get(s)) for s in results.score_names)])
    return rows


def _score(name: str) -> Callable[[RunResult], float | None]:
    return lambda run: run.scores.get(name)


def _embed(plot: Plot | None) -> list[dict[str, str]]:
    if plot is None:
        return []
    return [{"title": plot.title, "caption": plot.caption, "data": base64.b64encode(plot.png).decode("ascii")}]


def build_report(results: SweepResults, *, metric: str = "loss", colour_by: str | None = None) -> str:
    """The report's HTML text. *metric* is plotted against each variable; *colour_by* colours the
    loss curves (default: the first variable).

    Examples:
        >>> results = collect_results("tests/data/results_sweep/folder", workdir="tests/data/results_sweep",
        ...                           use_cache=False)
        >>> html = build_report(results, colour_by="seed")
        >>> html.startswith("<!DOCTYPE html>"), html.count("<img ")
        (True, 5)
    """
    if colour_by is not None and colour_by not in results.variable_names:
        from .group import check_variable

        check_variable(results, colour_by)
    import jinja2

    env = jinja2.Environment(autoescape=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    template = env.from_string(read_template(REPORT_TEMPLATE))
    way = direction(metric)
    metric_plots: list[dict[str, str]] = []
    score_plots: list[dict[str, str]] = []
    for variable in results.variable_names:
        metric_plots += _embed(by_variable(results, variable, label=f"final {metric}",
                                           value=lambda r: r.final(metric)))
        if way is not None:
            metric_plots += _embed(by_variable(results, variable, label=f"best {metric} ({way})",
                                               value=lambda r: r.best(metric)))
        for score in results.score_names:
            score_plots += _embed(by_variable(results, variable, label=score, value=_score(score),
                                              reference=results.baseline.get(score)))
    table = run_table(results)
    numeric = [i >= 4 + len(results.variable_names) for i in range(len(table[0]))]
    failed = [{"run_id": r.run_id, "state": r.state, "exit_code": r.exit_code, "reason": r.reason,
               "logs": [p for p in (r.log, *r.metric_logs) if p]}
              for r in results.runs if r.state in FAILED]
    runs = len(results.runs)
    return template.render(
        design=results.design, run_count=f"{runs} run{'s' if runs != 1 else ''}",
        counts=count_line(results).split(": ", 1)[1],
        controls=[(path, flow_text(value)) for path, value in results.design.controls.items()],
        curve_plots=_embed(loss_curves(results, colour_by=colour_by)), metric=metric, metric_plots=metric_plots,
        score_plots=score_plots, score_names=results.score_names, table=table,
        score_table=_score_table(results),
        state_column=1 + len(results.variable_names), numeric=numeric, failed=failed,
        version=__version__, folder=str(results.folder))


def write_report(folder: str | os.PathLike[str], *, out: str | os.PathLike[str] | None = None, results: SweepResults | None = None,
                 metric: str = "loss", colour_by: str | None = None) -> Path:
    """Build the report of the output folder *folder* and write it to *out* (default
    ``<folder>/results/report.html``), whole or not at all. Returns where it was written.

    Examples:
        >>> write_report("outputs/study_20261204_101500", out="report.html")  # doctest: +SKIP
        PosixPath('report.html')
    """
    results = collect_results(folder) if results is None else results
    html = build_report(results, metric=metric, colour_by=colour_by)
    target = Path(folder) / REPORT_HTML if out is None else Path(out)
    if target.is_dir():
        raise ResultsError([Problem(f"--out {target}: is a folder", hint="name the report file, e.g. report.html")])
    try:
        write_atomic(target, html.encode("utf-8"))
    except OSError as exc:
        raise ResultsError([Problem(f"cannot write the report to {target}: {exc.strerror or exc}",
                                    hint="choose another place with --out")]) from None
    return target
