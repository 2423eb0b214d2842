"""Printing helpers shared by the subcommands (the only place besides them that prints)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def print_problems(problems: Sequence[Any]) -> None:
    """Errors and warnings to stderr, one ``file:line:col: path: message`` each."""
    for p in problems:
        print(p.format(), file=sys.stderr)


def rel(path: Path) -> str:
    """*path* relative to the current folder when it is below it, else as given."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
