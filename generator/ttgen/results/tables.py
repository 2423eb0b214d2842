"""Results as tables: plain records (for CSV, pandas), and header + rows for the terminal,
Markdown and the report. Numbers shown to people keep 4 significant digits; CSV keeps
every digit (it is read by programs).

Column names are `collect.metric_columns`'s.

Examples:
    >>> print(to_markdown([["run", "loss"], ["run_000", "5.379"]]), end="")
    | run | loss |
    |---|---:|
    | run_000 | 5.379 |
"""

from __future__ import annotations

import csv
import io
from typing import Any, Sequence

from ..text import elapsed_text, number, plural
from ..yamlio.dump import flow_text
from .collect import SweepResults, metric_columns, metric_value


def run_table(results: SweepResults, *, metrics: Sequence[str] | None = None) -> list[list[str]]:
    """Header and one row per run, as shown in the terminal, Markdown and the report."""
    metrics = list(results.metric_names if metrics is None else metrics)
    header = ["run", *results.variable_names, "state", "steps", "elapsed",
              *(c for c, _, _ in metric_columns(metrics)), *results.score_names]
    rows = [header]
    for run in results.runs:
        rows.append([run.run_id, *(flow_text(run.variables[n]) if n in run.variables else "-"
                                   for n in results.variable_names),
                     run.state, "-" if run.steps is None else str(run.steps), elapsed_text(run.elapsed),
                     *(number(metric_value(run, m, w)) for _, m, w in metric_columns(metrics)),
                     *(number(run.scores.get(s)) for s in results.score_names)])
    return rows


def to_csv(records: list[dict[str, Any]]) -> str:
    """CSV with a header row; every digit of a float kept, empty cells for missing values."""
    if not records:
        return ""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(records[0]), lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: "" if v is None else flow_text(v) if isinstance(v, (list, dict)) else v
                         for k, v in record.items()})
    return out.getvalue()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(rows: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table of header + rows (numbers right-aligned)."""
    header, body = rows[0], rows[1:]
    numeric = [all(_is_number(r[i]) for r in body) and bool(body) for i in range(len(header))]
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |",
             "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def _is_number(text: str) -> bool:
    if text in ("-", "nan"):
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def count_line(results: SweepResults) -> str:
    """``4 runs: 3 COMPLETED, 1 FAILED`` in the order runs first show each state."""
    counts: dict[str, int] = {}
    for run in results.runs:
        counts[run.state] = counts.get(run.state, 0) + 1
    return plural(len(results.runs), "run") + ": " + ", ".join(f"{n} {s}" for s, n in counts.items())


def baseline_line(results: SweepResults) -> str:
    """``baseline (the untouched base model): qa/accuracy 0.2``: the control the runs' scores compare with."""
    return "baseline (the untouched base model): " + ", ".join(f"{name} {number(value)}"
                                                              for name, value in results.baseline.items())
