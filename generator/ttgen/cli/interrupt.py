"""Telling Ctrl-C apart from other failures, also where Python has wrapped it.

Kept apart and tiny: the entry point (`ttgen.cli`) imports it before anything else.
"""

from __future__ import annotations


def interrupted(exc: BaseException) -> bool:
    """Is *exc* Ctrl-C? Also when Python wrapped it: a KeyboardInterrupt that lands in a class's
    ``__set_name__`` while a module is imported comes out as RuntimeError, caused by it."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__cause__
    return False
