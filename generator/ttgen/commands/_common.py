"""Printing helpers shared by the subcommands (the only place besides them that prints)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from ..errors import plural

__all__ = ["EXIT_OK", "EXIT_INVALID", "EXIT_USAGE", "EXIT_INTERRUPTED", "print_problems", "rel", "plural",
           "positive_int"]

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


def positive_int(text: str) -> int:
    """argparse type of ``--max-runs``: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value
