"""torchtune's metric logs, as DiskLogger writes them: ``Step N | name:value name:value ...``.

DiskLogger opens ``<log_dir>/log_<unix time>.txt`` (or ``filename``) each time a run
starts, so a resumed or rerun run has several; the newest is the current one.
`last_step` reads only a log's tail (fast for `ttgen status` over 1,000 runs);
`read_metric_log` reads every step (for results and plots).

Examples:
    >>> parse_line("Step 4 | loss:2.5 lr:0.0003 tokens_per_second_per_gpu:812.5 ")
    (4, {'loss': 2.5, 'lr': 0.0003, 'tokens_per_second_per_gpu': 812.5})
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

_LINE = re.compile(r"^Step (\d+) \| (.*)$")
_TAIL_BYTES = 8192


@dataclass(frozen=True)
class Step:
    """One logged step: its number and every value logged with it."""

    step: int
    values: dict[str, float]


def parse_line(line: str) -> tuple[int, dict[str, float]] | None:
    """A DiskLogger line's step and values; None for any other line. Non-numbers are skipped."""
    m = _LINE.match(line.strip())
    if m is None:
        return None
    values: dict[str, float] = {}
    for item in m.group(2).split():
        name, sep, text = item.rpartition(":")
        if not sep or not name:
            continue
        try:
            values[name] = float(text)
        except ValueError:
            continue
    return int(m.group(1)), values


def log_files(log_dir: Path) -> list[Path]:
    """A run's metric log files, oldest first (by modification time, then name)."""
    try:
        entries = [e for e in os.scandir(log_dir) if e.name.endswith(".txt") and e.is_file()]
    except OSError:
        return []
    return [Path(e.path) for e in sorted(entries, key=lambda e: (e.stat().st_mtime, e.name))]


def read_metric_log(path: Path) -> list[Step]:
    """Every step logged in *path*, in order; lines of other kinds are skipped.

    Steps logged by separate ``log`` calls (one name per line) are merged into one
    `Step` per step number.
    """
    steps: dict[int, dict[str, float]] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                parsed = parse_line(line)
                if parsed is not None:
                    steps.setdefault(parsed[0], {}).update(parsed[1])
    except OSError:
        return []
    return [Step(step, values) for step, values in steps.items()]


def last_step(path: Path) -> Step | None:
    """The last step logged in *path*, reading only the end of the file."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - _TAIL_BYTES))
            tail = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    merged: Step | None = None
    for line in tail.splitlines()[::-1]:
        parsed = parse_line(line)
        if parsed is None:
            continue
        if merged is None:
            merged = Step(parsed[0], dict(parsed[1]))
        elif parsed[0] == merged.step:
            merged.values.update({k: v for k, v in parsed[1].items() if k not in merged.values})
        else:
            break
    return merged


def finite(value: float | None) -> bool:
    """Is *value* a real number (not None, NaN or infinite)?"""
    return value is not None and math.isfinite(value)
