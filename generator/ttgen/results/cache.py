"""Summaries of metric logs, kept in the output folder (``results/cache/<run_id>.json``) so
that looking at 1,000 finished runs again reads 1,000 small files, not every log line.

An entry is used only while its log file has the same size and modification time as when
it was summarised; a log that grew (a run still training, or resumed) is read again. A
folder that cannot be written (a read-only copy) simply is not cached.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

from ..layout import results_cache
from .files import write_atomic
from .logs import LogSummary

FORMAT = "ttgen.results-cache"
VERSION = 1


def _key(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _read(file: Path) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION:
        return {}  # another version's cache: made again
    logs = data.get("logs")
    return logs if isinstance(logs, dict) else {}


def summaries(folder: Path, run_id: str, logs: list[Path], *,
              summarize: Callable[[Path], LogSummary], write: bool = True) -> list[LogSummary]:
    """The summary of each of *logs* (in order), from the cache where it is current, else by *summarize*.

    The cache file is rewritten only when something in it changed.
    """
    file = folder / results_cache(run_id)
    cached = _read(file)
    fresh: dict[str, Any] = {}
    out: list[LogSummary] = []
    changed = set(cached) - {str(p) for p in logs}  # entries of logs that are gone
    for path in logs:
        key = _key(path)
        entry = cached.get(str(path))
        summary: LogSummary | None = None
        if key is not None and isinstance(entry, dict) and entry.get("size") == key[0] \
                and entry.get("mtime_ns") == key[1]:
            try:
                summary = LogSummary.from_json(entry["summary"])
            except (KeyError, TypeError, ValueError):
                summary = None
        if summary is None:
            summary = summarize(path)
            changed.add(str(path))
            after = _key(path)
            if key is None or after != key:
                out.append(summary)  # written to while read: use it, but do not keep it
                continue
        out.append(summary)
        fresh[str(path)] = {"size": key[0], "mtime_ns": key[1], "summary": summary.to_json()}  # type: ignore[index]
    if write and changed:
        text = json.dumps({"format": FORMAT, "version": VERSION, "logs": fresh}, sort_keys=True, allow_nan=True)
        try:
            write_atomic(file, text.encode("utf-8"))
        except OSError:
            pass  # a read-only folder: the next look reads the logs again
    return out
