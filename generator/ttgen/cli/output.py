"""Everything the command line prints, in one place: problems, paths, JSON documents, exit codes.

Every ``--json`` prints one document in the same envelope (docs/json.md)::

    {"format": "ttgen.<command>", "version": N, "ok": true, "errors": [...], "warnings": [...], ...}

described for each command by ``schemas/output/ttgen.<command>.schema.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any, Sequence

from ..errors import Problem
from ..text import plural, shown_path

__all__ = ["EXIT_OK", "EXIT_INVALID", "EXIT_USAGE", "EXIT_INTERRUPTED", "print_problems", "shown_path", "plural",
           "positive_int", "envelope", "print_json"]

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

# The version of each command's JSON document; raise one when its shape changes.
# diff and check are at 2: version 1 was their shape before the common envelope.
JSON_VERSIONS = {"render": 1, "diff": 2, "check": 2, "validate": 1, "ls": 1, "status": 1}


def print_problems(problems: Sequence[Problem]) -> None:
    """Errors and warnings to stderr, one ``file:line:col: path: message`` each."""
    for p in problems:
        print(p.format(), file=sys.stderr)


def positive_int(text: str) -> int:
    """argparse type of ``--max-runs``: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def envelope(command: str, *, ok: bool, errors: Sequence[Problem] = (), warnings: Sequence[Problem] = (),
             **data: Any) -> dict[str, Any]:
    """One command's JSON document: format, version, verdict and problems, then the command's data."""
    return {
        "format": f"ttgen.{command}",
        "version": JSON_VERSIONS[command],
        "ok": ok,
        "errors": [p.to_json() for p in errors],
        "warnings": [p.to_json() for p in warnings],
        **data,
    }


def _strict_json(value: Any) -> Any:
    """*value* with the floats JSON cannot hold written as YAML spells them (``.nan``, ``.inf``, ``-.inf``)."""
    if isinstance(value, float) and not math.isfinite(value):
        from ..yamlio.dump import flow_text  # here: PyYAML is not needed for `ttgen --help`

        return flow_text(value)
    if isinstance(value, dict):
        return {k: _strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict_json(v) for v in value]
    return value


def print_json(document: dict[str, Any]) -> None:
    """The document on stdout: indented, non-ASCII kept, paths as text, and strict JSON (no NaN)."""
    print(json.dumps(_strict_json(document), indent=2, ensure_ascii=False, default=str, allow_nan=False))


def format_columns(rows: list[list[str]], *, width: int | None) -> str:
    """Rows (header first) aligned in columns; beyond *width*, the last column (a path) keeps its end.

    Examples:
        >>> print(format_columns([["RUN", "LOG"], ["run_000", "/a/very/long/path.out"]], width=20))
        RUN      LOG
        run_000  ...g/path.out
    """
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    if width is not None:
        room = width - sum(widths[:-1]) - 2 * (len(widths) - 1)
        widths[-1] = max(8, min(widths[-1], room))
    lines = []
    for row in rows:
        *first, last = row
        if len(last) > widths[-1]:
            last = "..." + last[-(widths[-1] - 3):]
        lines.append("  ".join([*(cell.ljust(w) for cell, w in zip(first, widths)), last]).rstrip())
    return "\n".join(lines)
