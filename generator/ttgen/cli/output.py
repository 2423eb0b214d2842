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
from pathlib import Path
from typing import Any, Sequence

from ..errors import Problem
from ..layout import DEFAULT_EXPERIMENT
from ..text import plural, shown_path

__all__ = ["EXIT_OK", "EXIT_INVALID", "EXIT_USAGE", "EXIT_INTERRUPTED", "print_problems", "shown_path", "plural",
           "positive_int", "envelope", "print_json"]

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

# The version of each command's JSON document; raise one when its shape changes.
# diff and check are at 2: version 1 was their shape before the common envelope.
JSON_VERSIONS = {"render": 1, "diff": 2, "check": 2, "validate": 1, "ls": 1, "status": 2, "results": 1}


def print_problems(problems: Sequence[Problem]) -> None:
    """Errors and warnings to stderr, one ``file:line:col: path: message`` each.

    On a terminal an error's line is red, a warning's yellow and its hint dim
    (`ttgen.cli.style`: never into a file or a pipe, nor with ``NO_COLOR``).
    """
    from .style import colour_enabled

    on = colour_enabled(sys.stderr)
    for p in problems:
        print(problem_text(p, colour=on), file=sys.stderr)


def problem_text(problem: Problem, *, colour: bool) -> str:
    """`Problem.format`'s text, the problem red (an error) or yellow (a warning) and the hint dim when *colour*."""
    from .style import DIM, RED, YELLOW, paint

    text = problem.format()
    if not colour:
        return text
    head, sep, hint = text.partition("\n    hint: ")
    head = paint(head, YELLOW if problem.severity == "warning" else RED, on=True)
    return head + ("\n" + paint("    hint: " + hint, DIM, on=True) if sep else "")


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


FOLDER_HELP = ("the output folder ttgen render wrote (default: the current folder when it is one, else the newest "
               "output folder of ./experiment.yaml, else the newest under ./outputs)")


def add_folder_argument(p: argparse.ArgumentParser) -> None:
    """The optional DIR of the commands that read an output folder (docs/commands.md, "Defaults")."""
    p.add_argument("dir", type=Path, nargs="?", metavar="DIR", help=FOLDER_HELP)


def add_experiment_and_overrides(p: argparse.ArgumentParser) -> None:
    """The ``[EXPERIMENT] [KEY=VALUE | +KEY=VALUE | ~KEY ...]`` words of render and check."""
    p.add_argument("words", nargs="*", metavar="[EXPERIMENT] [KEY=VALUE ...]",
                   help=f"the experiment file (default: ./{DEFAULT_EXPERIMENT}), then overrides as for `tune run`: "
                        "KEY=VALUE sets a key for every run, +KEY=VALUE adds a new key, ~KEY deletes one")
    p.set_defaults(takes_overrides=True)


def experiment_and_overrides(words: Sequence[str]) -> tuple[Path, list[str]]:
    """Split render's and check's words into the experiment file and the overrides."""
    from ..errors import ExperimentError, SourcePos
    from ..plan.command_line import is_override

    words = list(words)
    if words and not is_override(words[0]):
        experiment, overrides = Path(words[0]), words[1:]
    else:
        experiment, overrides = Path(DEFAULT_EXPERIMENT), words
        if not experiment.is_file():
            raise ExperimentError([Problem(f"no EXPERIMENT given, and there is no {DEFAULT_EXPERIMENT} here",
                                           pos=SourcePos(str(Path.cwd())),
                                           hint="name the file (ttgen render path/to/experiment.yaml), or write "
                                                "one with `ttgen init BASE_CONFIG`")])
    stray = [w for w in overrides if not is_override(w)]
    if stray:
        raise ExperimentError([Problem(f"{stray[0]!r} is not an override (KEY=VALUE, +KEY=VALUE or ~KEY)",
                                       pos=SourcePos("command line"),
                                       hint="give one EXPERIMENT file first, then overrides")])
    return experiment, overrides
