"""Golden tests: every example renders to exactly the files recorded under __snapshots__/.

Each folder of examples/ is a case (a new example is picked up automatically).
Every output file is its own readable golden file, named after its path:
``__snapshots__/test_golden/test_example_output[<example>][configs-run_000].yaml``.
After an intended change: ``pytest tests/e2e/test_golden.py --snapshot-update``, then
read the changed goldens before committing them. The manifest's golden records the
ttgen and torchtune versions, so it changes when either is upgraded.
"""

from __future__ import annotations

import hashlib

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import EXAMPLES
from snapshot_yaml import extension_for, text_extension
from ttgen.render.output import render_experiment

EXAMPLE_NAMES = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
FIXED_NOW = dt.datetime(2025, 1, 31, 12, 34, 56, tzinfo=dt.timezone.utc)
# Where goldens say the folder lives: absolute paths in SLURM scripts point at the final
# folder, so every render of an example is told the same one (render_experiment's final_dir).
GOLDEN_FINAL_DIR = Path("/ttgen-golden")


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch):
    """Local time is UTC, so the manifest's created_at is the same on every machine."""
    monkeypatch.setenv("TZ", "UTC")
    if hasattr(time, "tzset"):
        time.tzset()
    yield
    monkeypatch.undo()
    if hasattr(time, "tzset"):
        time.tzset()


def experiment_file(example: str) -> Path:
    path = EXAMPLES / example / "experiment.yaml"
    assert path.is_file(), f"examples/{example}/ has no experiment.yaml: every example folder needs one"
    return path


def render(example: str, out: Path):
    """Render one example with the Python API; returns the result and {relative path: bytes}."""
    result = render_experiment(experiment_file(example), out=out, now=FIXED_NOW, final_dir=GOLDEN_FINAL_DIR / example)
    assert result.output_dir == out
    return result, read_tree(out)


def read_tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def snapshot_name(rel: str) -> str:
    """configs/run_000.yaml -> configs-run_000 (the extension is the golden file's own)."""
    return rel.rsplit(".", 1)[0].replace("/", "-")


def without_created_at(text: bytes) -> bytes:
    return b"".join(line for line in text.splitlines(keepends=True) if not line.startswith(b"created_at:"))


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_example_output(example: str, tmp_path: Path, snapshot, utc) -> None:
    result, files = render(example, tmp_path / "out")

    # The list of files first, so an added or missing file shows up as such.
    assert "\n".join(files) + "\n" == snapshot(name="files", extension_class=text_extension("txt"))
    # Task files of an evaluation: section are written as absolute paths of the checkout: shown as
    # /ttgen-examples, and the manifest lists such a file's sha256 as of that text, so the goldens
    # hold wherever the repository is checked out.
    texts = {rel: data.decode("utf-8").replace(str(EXAMPLES.resolve()), "/ttgen-examples") for rel, data in files.items()}
    for rel, data in files.items():
        if texts[rel].encode("utf-8") != data and "manifest.yaml" in texts:
            texts["manifest.yaml"] = texts["manifest.yaml"].replace(
                hashlib.sha256(data).hexdigest(), hashlib.sha256(texts[rel].encode("utf-8")).hexdigest())
    for rel, text in texts.items():
        assert text == snapshot(name=snapshot_name(rel), extension_class=extension_for(rel)), rel

    # Warnings are part of what an example shows (most should have none).
    shown = "".join(w.format() + "\n" for w in result.warnings).replace(str(EXAMPLES), "examples") or "no warnings\n"
    assert shown == snapshot(name="warnings", extension_class=text_extension("txt"))

    assert files["experiment.yaml"] == experiment_file(example).read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["out"], "no temporary folder may be left behind"


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_render_is_deterministic(example: str, tmp_path: Path, utc) -> None:
    _, first = render(example, tmp_path / "first")
    _, second = render(example, tmp_path / "elsewhere" / "second")
    assert list(first) == list(second)
    for rel in first:
        assert first[rel] == second[rel], f"{rel} differs between two renders of examples/{example}"


def test_render_is_independent_of_hash_seed(tmp_path: Path, utc) -> None:
    """A separate interpreter with another PYTHONHASHSEED writes the same bytes."""
    example = "swap_logger_dataset" if "swap_logger_dataset" in EXAMPLE_NAMES else EXAMPLE_NAMES[0]
    _, here = render(example, tmp_path / "here")
    seed = "4242" if os.environ.get("PYTHONHASHSEED") != "4242" else "17"
    env = dict(os.environ, PYTHONHASHSEED=seed)  # TTGEN_TRACEBACK: removed by the autouse fixture in conftest
    # As if into the same final folder: runs' output folders (and SLURM paths) name it.
    code = ("from ttgen import render_experiment; "
            f"render_experiment({str(experiment_file(example))!r}, out={str(tmp_path / 'there')!r}, "
            f"final_dir={str(GOLDEN_FINAL_DIR / example)!r})")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    there = read_tree(tmp_path / "there")
    assert list(here) == list(there)
    for rel in here:
        assert without_created_at(here[rel]) == without_created_at(there[rel]), \
            f"{rel} differs with PYTHONHASHSEED={seed}"
