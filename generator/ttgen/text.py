"""Shared text helpers for messages: short value text, suggestions, plurals, comment-safe text.

Every message that shows a value, counts things or says "did you mean" goes
through here, so they all read alike.

Examples:
    >>> plural(1, "config"), plural(3, "config")
    ('1 config', '3 configs')
    >>> short_repr("fast"), short_repr([8, 16])
    ("'fast'", '[8, 16]')
    >>> close_matches("lerning_rate", ["learning_rate", "seed"])
    ['learning_rate']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable


def plural(n: int, word: str) -> str:
    """``1 config``, ``2 configs``: for the counts in messages and summaries."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def short_repr(value: Any, limit: int = 60) -> str:
    """A value as YAML would show it (``true``, ``[a, b]``, ``'8'``), cut to *limit* characters."""
    from .yamlio.dump import flow_text  # here: PyYAML costs start-up time that `ttgen --help` need not pay

    # Strings always quoted, so `string 'fast'` reads as a value, not as part of the sentence.
    # Line breaks and control characters are escaped (double quotes): a message stays one line.
    if isinstance(value, str):
        text = "'" + value.replace("'", "''") + "'" if value.isprintable() else flow_text(value)
    else:
        text = flow_text(value)
    return text if len(text) <= limit else text[: limit - 4] + " ..."


def close_matches(word: str, candidates: Iterable[str], *, n: int = 1, cutoff: float = 0.6) -> list[str]:
    """The candidates *word* is most probably a misspelling of, best first (difflib's ratio >= *cutoff*)."""
    import difflib  # here: only a problem needs it, and ``ttgen --help`` should not pay for it

    return difflib.get_close_matches(word, list(candidates), n=n, cutoff=cutoff)


def did_you_mean(word: str, candidates: Iterable[str], *, n: int = 1, cutoff: float = 0.6,
                 prefix: str = "") -> str | None:
    """``did you mean a, b?`` for the close matches of *word* (each after *prefix*), or None."""
    close = close_matches(word, candidates, n=n, cutoff=cutoff)
    if not close:
        return None
    return "did you mean " + ", ".join(prefix + c for c in close) + "?"


def comment_text(text: Any) -> str:
    """Make text safe inside a ``#`` comment: no line breaks or control characters."""
    s = str(text)
    return s if s.isprintable() else s.encode("unicode_escape").decode("ascii")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (or its type name), for one-line problems."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def shown_path(path: Path) -> str:
    """*path* as a user should see it: relative to the current folder when below it, else as given."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def elapsed_text(seconds: float | None) -> str:
    """A duration as SLURM shows it: ``1:02:03`` (``2-01:00:00`` past a day), '-' when unknown.

    Examples:
        >>> elapsed_text(3723.9), elapsed_text(90000), elapsed_text(None)
        ('1:02:03', '1-01:00:00', '-')
    """
    if seconds is None:
        return "-"
    s = int(seconds)
    days, rest = divmod(s, 86400)
    clock = f"{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}-{rest // 3600:02d}:{clock}" if days else f"{rest // 3600:d}:{clock}"


def number(value: float | None) -> str:
    """A measured value as people read it: 4 significant digits, '-' when there is none.

    Examples:
        >>> number(0.000123456), number(None), number(float("nan"))
        ('0.0001235', '-', 'nan')
    """
    if value is None:
        return "-"
    if value != value:  # NaN
        return "nan"
    return f"{value:.4g}"
