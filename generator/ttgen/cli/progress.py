"""Progress on stderr for work that takes a while: count, rate and time left.

On a terminal, one line redrawn in place (``rendering 4200/20000 configs  3150/s  5 s left``),
at most ten times a second, and only once the work has run for ``delay`` seconds, so quick
commands show nothing. Not on a terminal: nothing, or with ``plain_every`` a plain line every
tenth of a long run (for logs of batch jobs). ``quiet`` turns it off. The core never
prints: it calls `Progress.update` through a callback.

Examples:
    >>> import io
    >>> p = Progress(total=10, label="validating", unit="configs", stream=io.StringIO(), plain_min=1)
    >>> p.update(10); p.stream.getvalue()
    'validating 10/10 configs\\n'
"""

from __future__ import annotations

import time
from typing import TextIO

BAR_WIDTH = 30
REDRAW_SECONDS = 0.1


class Progress:
    """A progress display for *total* items (the total may also come with each update)."""

    def __init__(self, total: int = 0, *, label: str, unit: str, stream: TextIO, quiet: bool = False,
                 delay: float = 1.0, plain_min: int | None = None) -> None:
        self.total = total
        self.label = label
        self.unit = unit
        self.stream = stream
        self.tty = stream.isatty() and not quiet
        self.plain = not quiet and not self.tty and plain_min is not None and total >= plain_min
        self.delay = delay if self.tty else 0.0
        self._start = time.monotonic()
        self._last_draw = 0.0
        self._shown = False
        self._next_plain = max(1, total // 10)

    def status(self, text: str) -> None:
        """A one-line note in place of the bar (e.g. while torch is imported)."""
        if self.tty:
            self.stream.write("\r\033[K" + text)
            self._shown = True
        elif self.plain:
            self.stream.write(text + "\n")
        else:
            return
        self.stream.flush()

    def update(self, done: int, total: int | None = None) -> None:
        """*done* items of *total* (or of the total given at the start) are finished."""
        if total is not None:
            self.total = total
        if self.tty:
            now = time.monotonic()
            # Cheap for every item: two comparisons unless a redraw is due.
            if now - self._start < self.delay or (done < self.total and now - self._last_draw < REDRAW_SECONDS):
                return
            self._last_draw = now
            self.status(self._line(done, now - self._start))
        elif self.plain and (done >= self._next_plain or done == self.total):
            self.status(f"{self.label} {done}/{self.total} {self.unit}")
            self._next_plain = done + max(1, self.total // 10)

    def _line(self, done: int, seconds: float) -> str:
        total = max(self.total, 1)
        filled = BAR_WIDTH * min(done, total) // total
        rate = done / seconds if seconds > 0 else 0.0
        left = (self.total - done) / rate if rate > 0 else None
        eta = f"  {_duration(left)} left" if left is not None and done < self.total else ""
        return (f"{self.label} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{self.total} {self.unit}"
                f"  {rate:.0f}/s{eta}")

    def clear(self) -> None:
        """Remove the line from the terminal (before printing anything else)."""
        if self.tty and self._shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._shown = False


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


# Without a terminal, validation reports plain progress lines only for runs this long.
PLAIN_PROGRESS_MIN = 100


class Stages:
    """Progress for the core's ``progress(stage, done, total)`` callback: one display per stage
    (``rendering``, then ``validating`` for ``render --validate``), each as its command shows it
    alone, and the core's one-line notes (``note``) in the same place."""

    def __init__(self, *, stream: TextIO, quiet: bool = False) -> None:
        self.stream = stream
        self.quiet = quiet
        self.stage: str | None = None
        self.current: Progress | None = None

    def _start(self, stage: str, total: int) -> Progress:
        self.clear()
        self.stage = stage
        # Rendering is often done in under a second: shown only past one. Validation, as
        # `ttgen validate` shows it: at once, and in plain lines in logs for long runs.
        rendering = stage == "rendering"
        self.current = Progress(total, label=stage, unit="configs", stream=self.stream, quiet=self.quiet,
                                delay=1.0 if rendering else 0.0, plain_min=None if rendering else PLAIN_PROGRESS_MIN)
        return self.current

    def update(self, stage: str, done: int, total: int) -> None:
        current = self.current if stage == self.stage and self.current is not None else self._start(stage, total)
        current.update(done, total)

    def note(self, text: str) -> None:
        (self.current or self._start("validating", 0)).status(text)

    def clear(self) -> None:
        if self.current is not None:
            self.current.clear()
