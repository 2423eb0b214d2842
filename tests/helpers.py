"""Shared test helpers: the repository's folders, an in-process CLI runner, and small checks.

Test modules import these (``from helpers import run_cli``); conftest.py keeps the fixtures.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from ttgen.cli import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
CASES = REPO / "tests" / "cases"  # input files of the tests, one folder per kind


def example_names() -> list[str]:
    """The folders under examples/ that hold an experiment.yaml."""
    return sorted(p.name for p in EXAMPLES.iterdir() if (p / "experiment.yaml").exists())


def shipped_configs() -> list[str]:
    """The names of the configs the installed torchtune ships (the registry entries whose file exists)."""
    from ttgen import load_catalog

    return sorted(name for name, cfg in load_catalog().configs.items() if cfg.exists)


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_cli(*args: str | os.PathLike[str], cwd: Path | None = None) -> CliResult:
    """Run ``ttgen ARGS`` in this process, capturing stdout, stderr and the exit code."""
    out, err = io.StringIO(), io.StringIO()
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:  # argparse usage errors
                code = int(exc.code or 0)
    finally:
        os.chdir(old)
    return CliResult(code, out.getvalue(), err.getvalue())


def assert_clean_failure(result: CliResult, *, errors: int) -> None:
    """Exit 1, no traceback, nothing on stdout, and the error count as the last line of stderr."""
    assert result.code == 1, result.err
    assert "Traceback" not in result.err, result.err
    assert result.out == "", "results go to stdout, errors to stderr only"
    summary = f"ttgen: {errors} error{'s' if errors != 1 else ''}; nothing was written"
    assert result.err.splitlines()[-1] == summary, result.err


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types in equal key order (bool is not int, int is not float, -0.0 is not 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return bool(a == b)


def problem_block(err: str, prefix: str) -> list[str]:
    """The problem line of stderr starting with *prefix*, and its indented hint lines."""
    lines = err.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(prefix):
            block = [line]
            for more in lines[i + 1:]:
                if not more.startswith("    "):
                    break
                block.append(more)
            return block
    raise AssertionError(f"no problem starting with {prefix!r} in stderr:\n{err}")


def load_omegaconf(path: Path) -> Any:
    """A YAML file as OmegaConf reads it, as plain containers, interpolations left unresolved."""
    return OmegaConf.to_container(OmegaConf.load(path), resolve=False)


def folder_state(folder: Path) -> dict[str, str]:
    """Every file below *folder* (relative path -> sha256), and every folder (-> "dir")."""
    return {p.relative_to(folder).as_posix(): ("dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*"))}
