"""Fixtures shared by every test, and the test markers' rules (helpers live in helpers.py).

Markers (registered in pyproject.toml): ``slow`` (seconds each: training, real SLURM
jobs, benchmarks, builds), ``needs_torch`` and ``needs_slurm``. A test that needs
torch or SLURM is slow too, so ``python -m pytest -m "not slow"`` is the quick loop.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_traceback_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """TTGEN_TRACEBACK=1 makes ttgen print tracebacks; the tests check the plain error output."""
    monkeypatch.delenv("TTGEN_TRACEBACK", raising=False)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("needs_torch") or item.get_closest_marker("needs_slurm"):
            item.add_marker(pytest.mark.slow)
