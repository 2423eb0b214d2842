"""The package's type hints hold: ttgen ships py.typed, so users type-check against them.

Runs mypy with the settings in pyproject.toml ([tool.mypy]) over the whole package.
"""

from __future__ import annotations

import pytest

import subprocess
import sys

from helpers import REPO

pytestmark = pytest.mark.slow


def test_package_type_checks() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy"], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success: no issues found" in proc.stdout
