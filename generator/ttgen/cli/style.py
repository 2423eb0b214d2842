"""Colour on a terminal: when to use it, and the few styles ttgen prints (docs/editors-and-shells.md).

Colour is on only when the stream is a terminal, ``TERM`` is not ``dumb`` and
``NO_COLOR`` is unset or empty (https://no-color.org). ``FORCE_COLOR`` (non-empty, not
``0``) turns it on for a stream that is not a terminal, e.g. a CI log that shows colour;
``NO_COLOR`` still wins, as the reader's own choice. Files and pipes never get escapes,
so ``ttgen diff > table.txt`` and ``2> errors.log`` stay plain text.
"""

from __future__ import annotations

import os
from typing import IO, Any

# SGR codes (ECMA-48): the basic eight colours every terminal has, and dim.
RED, GREEN, YELLOW, DIM = "31", "32", "33", "2"
RESET = "\033[0m"


def colour_enabled(stream: IO[Any]) -> bool:
    """Whether text printed to *stream* may carry colour escapes."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR", "") not in ("", "0"):
        return True
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):  # a closed or file-less stream
        return False


def paint(text: str, code: str, *, on: bool) -> str:
    """*text* in the style *code* when *on*; each line on its own, so no colour runs into the next line.

    Examples:
        >>> paint("added", GREEN, on=True)
        '\\x1b[32madded\\x1b[0m'
        >>> paint("added", GREEN, on=False)
        'added'
    """
    if not on or not text:
        return text
    return "\n".join(f"\033[{code}m{line}{RESET}" if line else line for line in text.split("\n"))
