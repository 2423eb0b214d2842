"""The markers job scripts write into ``slurm/state/``: when a run started, how it ended.

``<run_id>@<job>.started`` and ``<run_id>@<job>.ended`` (`ttgen.layout.marker_file`),
each one line of ``key=value`` pairs. They tell a run's state where SLURM keeps no
accounting, and its exit code and times everywhere. One folder listing reads all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..layout import ENDED, STARTED, STATE_DIR


@dataclass
class Attempt:
    """One job's run of one run: what its markers say."""

    run_id: str
    job: str
    started: float | None = None  # epoch seconds
    host: str = ""
    ended: float | None = None
    exit_code: int | None = None
    signal: str = ""  # "TERM" when the job was stopped

    def elapsed(self, now: float) -> float | None:
        """Seconds from start to end, or to *now* while it runs."""
        if self.started is None:
            return None
        return max(0.0, (self.ended if self.ended is not None else now) - self.started)


def _fields(text: str) -> dict[str, str]:
    pairs = (item.partition("=") for item in text.split())
    return {key: value for key, sep, value in pairs if sep}


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def read_markers(folder: Path) -> dict[tuple[str, str], Attempt]:
    """Every attempt of every run, by ``(run id, job)``."""
    found: dict[tuple[str, str], Attempt] = {}
    try:
        entries = list(os.scandir(folder / STATE_DIR))
    except OSError:
        return found
    for entry in entries:
        stem, dot, what = entry.name.rpartition(".")
        run_id, at, job = stem.partition("@")
        if not (dot and at and what in (STARTED, ENDED)):
            continue
        try:
            with open(entry.path, encoding="utf-8", errors="replace") as fh:
                values = _fields(fh.read(4096))
        except OSError:
            continue
        attempt = found.setdefault((run_id, job), Attempt(run_id, job))
        if what == STARTED:
            attempt.started = _number(values.get("time"))
            attempt.host = values.get("host", "")
        else:
            attempt.ended = _number(values.get("time"))
            code = values.get("exit")
            attempt.exit_code = int(code) if code is not None and code.lstrip("-").isdigit() else None
            attempt.signal = values.get("signal", "")
    return found
