"""``ttgen validate``: placeholder until its issue lands; registers no parser yet."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    """Not available yet: the command is added by its own issue."""
