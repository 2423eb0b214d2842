"""The render command end to end: folders, flags, aliases, atomicity (docs/contract.md §6-7)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import EXAMPLES, REPO, example_names, run_cli, write
from ttgen.render.output import render_experiment

LORA = EXAMPLES / "lora_rank_sweep" / "experiment.yaml"


def copy_example(tmp_path: Path) -> Path:
    target = tmp_path / "exp" / "experiment.yaml"
    write(target, LORA.read_text(encoding="utf-8"))
    return target


def test_default_folder_is_timestamped_beside_experiment_and_never_reused(tmp_path: Path) -> None:
    exp = copy_example(tmp_path)
    now = dt.datetime(2026, 1, 2, 3, 4, 5).astimezone()
    first = render_experiment(exp, now=now).output_dir
    second = render_experiment(exp, now=now).output_dir
    assert first == exp.parent / "outputs" / "lora_rank_study_20260102_030405"
    assert second == exp.parent / "outputs" / "lora_rank_study_20260102_030405_2"
    assert sorted(p.name for p in (exp.parent / "outputs").iterdir()) == [first.name, second.name]


def test_output_folder_contents(tmp_path: Path) -> None:
    result = run_cli("render", LORA, "--out", tmp_path / "o")
    assert result.code == 0, result.err
    assert "Rendered 4 configs of lora_rank_study" in result.out
    out = tmp_path / "o"
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == [
        "base_config.yaml", "configs", "configs/run_000.yaml", "configs/run_001.yaml", "configs/run_002.yaml",
        "configs/run_003.yaml", "configs/run_mapping.yaml", "experiment.yaml", "manifest.yaml"]
    assert (out / "experiment.yaml").read_bytes() == LORA.read_bytes()
    run = (out / "configs" / "run_002.yaml").read_text()
    assert "  lora_rank: 32  # variable: lora_rank\n" in run
    assert "  lr: 3e-4  # control: learning_rate\n" in run
    # No output_dir in experiment.yaml: each run writes in its own folder inside the output folder.
    assert f"output_dir: {out.resolve()}/runs/run_002  # auto: run output folder" in run
    assert run.rstrip("\n").endswith("ttgen:  # auto: run identity, new key\n  experiment: lora_rank_study  # auto: run identity, "
                        "new key\n  run_id: run_002  # auto: run identity, new key\n  variables:  # auto: run identity, "
                        "new key\n    lora_rank: 32  # auto: run identity, new key")
    assert "profiler" not in run


def test_force_replaces_whole_folder_and_without_it_nothing_changes(tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert run_cli("render", LORA, "--out", out).code == 0
    (out / "stale.txt").write_text("old")
    refused = run_cli("render", LORA, "--out", out)
    assert refused.code == 1 and "--force" in refused.err and (out / "stale.txt").exists()
    assert run_cli("render", LORA, "--out", out, "--force").code == 0
    assert not (out / "stale.txt").exists() and (out / "configs" / "run_003.yaml").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["o"]  # no temporary or old folder left behind


def test_failed_render_leaves_no_folder_and_keeps_the_old_one(tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert run_cli("render", LORA, "--out", out).code == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    templates = write(tmp_path / "tpl" / "config.yaml.j2", "{{ run_id }}{{ no_such_name }}\n").parent
    failed = run_cli("render", LORA, "--out", out, "--force", "--templates", templates)
    assert failed.code == 1 and "Traceback" not in failed.err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o", "tpl"]


def test_dry_run_prints_table_and_writes_nothing(tmp_path: Path) -> None:
    exp = copy_example(tmp_path)
    result = run_cli("render", exp, "--dry-run")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].split() == ["run", "lora_rank", "output_dir"]
    assert lines[1].split()[:2] == ["run_000", "8"] and "(auto)" in lines[1]
    assert lines[-1] == "4 runs (dry run: nothing written)"
    assert not (exp.parent / "outputs").exists()


def test_json_output_is_one_document(tmp_path: Path) -> None:
    result = run_cli("render", LORA, "--out", tmp_path / "o", "--json")
    doc = json.loads(result.out)
    assert doc["run_count"] == 4 and doc["recipe"] == "lora_finetune_single_device"
    assert doc["runs"][1] == {"run_id": "run_001", "config": "configs/run_001.yaml", "variables": {"lora_rank": 16}, "derived": {},
                              "output_dir": f"{(tmp_path / 'o').resolve()}/runs/run_001",
                              "output_dir_auto": True}


def test_generate_alias_module_entry_points_and_compat_name(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONHASHSEED="123")
    configs = []
    for argv in (["-m", "ttgen", "generate"], ["-m", "torchtune_config_writer", "generate"]):
        out = tmp_path / "o"  # the same folder: runs' output folders are inside it
        proc = subprocess.run([sys.executable, *argv, str(LORA), "--out", str(out), "--force"], capture_output=True,
                              text=True, env=env, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        configs.append({p.name: p.read_bytes() for p in sorted((out / "configs").iterdir())})
    assert configs[0] == configs[1] and len(configs[0]) == 5


def test_console_script_help_and_usage_errors() -> None:
    proc = subprocess.run(["ttgen", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "render" in proc.stdout
    assert run_cli("diff").code == 2  # RUN is required
    assert run_cli("render", LORA, "--max-runs", "zero").code == 2
    assert run_cli("frobnicate").code == 2


def test_ls_lists_configs_with_recipes_and_marks_missing_files() -> None:
    result = run_cli("ls", "llama3_2/1B")
    assert result.code == 0
    assert any(line.split() == ["llama3_2/1B_lora_single_device", "lora_finetune_single_device"]
               for line in result.out.splitlines())
    missing = run_cli("ls", "early_exit")
    assert "llama2/7B_full_early_exit" in missing.out and "missing" in missing.out
    assert run_cli("ls", "no_such_thing_xyz").code == 1


def test_missing_registry_file_is_a_clear_render_error(tmp_path: Path) -> None:
    exp = write(tmp_path / "e.yaml", "experiment: {name: x, framework: torchtune}\n"
                "framework_config: {base_config: llama2/7B_full_early_exit}\n")
    result = run_cli("render", exp, "--out", tmp_path / "o")
    assert result.code == 1 and "missing from the installed package" in result.err
    assert "e.yaml:2:33: framework_config.base_config" in result.err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("example", example_names())
def test_every_example_renders_without_warnings(example: str, tmp_path: Path) -> None:
    result = run_cli("render", EXAMPLES / example / "experiment.yaml", "--out", tmp_path / "o")
    assert result.code == 0, result.err
    assert result.err == ""


def test_repo_layout_ships_templates_and_schemas() -> None:
    from ttgen.resources import load_schema, read_template

    assert "{{ body }}" in read_template("config.yaml.j2")
    assert load_schema()["title"].startswith("ttgen")
    assert (REPO / "templates" / "__init__.py").exists() and (REPO / "schemas" / "__init__.py").exists()


def test_json_errors_are_one_document_on_stdout(tmp_path: Path) -> None:
    exp = write(tmp_path / "e.yaml", "experiment: {name: x, framework: torchtune}\n"
                "framework_config: {base_config: llama3_2/1B_lora_single_device}\ncontrols: {lora_rnak: 8}\n")
    result = run_cli("render", exp, "--out", tmp_path / "o", "--json")
    assert result.code == 1 and "e.yaml:3:12: controls.lora_rnak" in result.err
    doc = json.loads(result.out)
    assert doc["ok"] is False and doc["errors"][0]["line"] == 3 and doc["errors"][0]["path"] == "controls.lora_rnak"


def test_json_is_strict_even_for_nan_and_infinity(tmp_path: Path) -> None:
    """jq and JSON.parse reject NaN: such floats are written as YAML spells them."""
    exp = write(tmp_path / "e.yaml", "experiment: {name: x, framework: torchtune}\n"
                "framework_config: {base_config: llama3_2/1B_lora_single_device}\n"
                # A key no rule checks (a NaN dropout would be refused, rightly, before the JSON).
                "variables: {loss.ignore_scale: [.nan, .inf, 0.1]}\n")

    def refuse(constant: str) -> None:
        raise AssertionError(f"not strict JSON: {constant}")

    result = run_cli("render", exp, "--dry-run", "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out, parse_constant=refuse)
    assert [r["variables"]["loss.ignore_scale"] for r in doc["runs"]] == [".nan", ".inf", 0.1]
