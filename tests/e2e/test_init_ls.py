"""``ttgen init`` starters render as written; ``ttgen ls`` is fast and needs no torch."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import run_cli, shipped_configs
from ttgen.inputs.catalog import load_catalog

SHIPPED = shipped_configs()


@pytest.mark.parametrize("name", SHIPPED)
def test_starter_for_every_shipped_config_renders(name: str, tmp_path: Path) -> None:
    out = tmp_path / "experiment.yaml"
    made = run_cli("init", name, "--out", out)
    assert made.code == 0, made.err
    text = out.read_text()
    assert f"base_config: {name}" in text and "controls:" in text
    dry = run_cli("render", out, "--dry-run")
    assert dry.code == 0, dry.err
    assert dry.err == ""  # a starter must not raise warnings either


def test_starter_lists_common_knobs_with_base_values(tmp_path: Path) -> None:
    out = tmp_path / "e.yaml"
    assert run_cli("init", "llama3_2/1B_lora_single_device", "--out", out).code == 0
    text = out.read_text()
    assert "  lora_rank: [8, 16]  # model.lora_rank; base value: 64\n" in text
    assert "  # learning_rate: 3e-4  # optimizer.lr\n" in text
    assert "  # batch_size: 4\n" in text


def test_starter_for_a_base_file_uses_a_relative_path(tmp_path: Path) -> None:
    base = load_catalog().configs["llama3_2/1B_full_single_device"].path
    (tmp_path / "bases").mkdir()
    own = tmp_path / "bases" / "mine.yaml"
    own.write_bytes(base.read_bytes())
    out = tmp_path / "exp" / "experiment.yaml"
    assert run_cli("init", own, "--out", out).code == 0
    assert "base_config_file: ../bases/mine.yaml" in out.read_text()
    assert run_cli("render", out, "--dry-run").code == 0


def test_init_refuses_to_overwrite_and_reports_unknown_names(tmp_path: Path) -> None:
    out = tmp_path / "e.yaml"
    out.write_text("mine")
    refused = run_cli("init", "llama3_2/1B_lora_single_device", "--out", out)
    assert refused.code == 1 and "--force" in refused.err and out.read_text() == "mine"
    unknown = run_cli("init", "llama3_2/1B_lora_singl", "--out", tmp_path / "x.yaml")
    assert unknown.code == 1 and "did you mean llama3_2/1B_lora_single_device" in unknown.err
    assert not (tmp_path / "x.yaml").exists()


def test_ls_does_not_import_torch_and_starts_fast() -> None:
    code = ("import sys, time; t=time.perf_counter(); from ttgen.cli import main; import io, contextlib\n"
            "with contextlib.redirect_stdout(io.StringIO()): main(['ls'])\n"
            "print('torch' in sys.modules, 'torchtune' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.split() == ["False", "False"]
    t = time.perf_counter()
    subprocess.run(["ttgen", "ls"], capture_output=True, check=True)
    # Generous bound against a busy CI machine; benchmarks/bench_render.py reports the real figure.
    assert time.perf_counter() - t < 2.0


def test_torchtune_version_matches_importlib_metadata() -> None:
    """The manifest's torchtune version is read from the dist-info directly (faster); it must agree."""
    import importlib.metadata

    from ttgen.inputs.catalog import torchtune_version

    assert torchtune_version() == importlib.metadata.version("torchtune")
    assert load_catalog().torchtune_version == importlib.metadata.version("torchtune")
