"""`ttgen check`: an output folder against a fresh render of its experiment (docs/contract.md §7), for a user's CI.

Passes on a fresh render of every example (whatever its created_at); fails, with a
unified diff or a list, on a hand-edited config, a deleted run, an extra file, an
edited experiment.yaml copy or manifest, and a changed base config. The validation
report of `render --validate` and files inside folders a render creates empty
(written while jobs run) are not compared.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from helpers import EXAMPLES, run_cli, write
from snapshot_yaml import text_extension
from ttgen.review.check import compare_folders
from ttgen.render.output import render_experiment

OLD_NOW = dt.datetime(2024, 6, 1, 8, 0, 0, tzinfo=dt.timezone.utc)  # any render now has another created_at
EXAMPLE_NAMES = ["grid_custom_base", "lora_rank_sweep", "swap_logger_dataset"]


def copy_example(example: str, tmp_path: Path) -> Path:
    """The example's files in tmp_path/exp (so tests may edit them); returns its experiment.yaml."""
    shutil.copytree(EXAMPLES / example, tmp_path / "exp")
    return tmp_path / "exp" / "experiment.yaml"


def rendered(example: str, tmp_path: Path) -> Path:
    exp = copy_example(example, tmp_path)
    render_experiment(exp, out=tmp_path / "out", now=OLD_NOW)
    return exp


def check(tmp_path: Path, *extra: str):
    return run_cli("check", "exp/experiment.yaml", "--against", "out", *extra, cwd=tmp_path)


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_fresh_render_passes(example: str, tmp_path: Path) -> None:
    rendered(example, tmp_path)
    manifest = (tmp_path / "out" / "manifest.yaml").read_text()
    assert "created_at: '2024-06-01T08:00:00+00:00'" in manifest
    files = sorted(p for p in (tmp_path / "out").rglob("*") if p.is_file())
    snapshot_before = {p: p.read_bytes() for p in files}
    result = check(tmp_path)
    assert result.code == 0, result.out + result.err
    assert result.out == f"ok: out is exactly what exp/experiment.yaml renders ({len(files)} files compared)\n"
    assert result.err == ""
    # The folder is only read, and no temporary folder is left beside it.
    assert {p: p.read_bytes() for p in sorted((tmp_path / "out").rglob("*")) if p.is_file()} == snapshot_before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp", "out"]


def test_hand_edited_deleted_and_extra_files_fail(tmp_path: Path, snapshot) -> None:
    rendered("lora_rank_sweep", tmp_path)
    out = tmp_path / "out"
    config = out / "configs" / "run_001.yaml"
    config.write_text(config.read_text().replace("lora_rank: 16  # variable", "lora_rank: 17  # variable"))
    (out / "configs" / "run_003.yaml").unlink()
    write(out / "notes.txt", "my notes\n")
    result = check(tmp_path)
    assert result.code == 1
    assert "--- out/configs/run_001.yaml\n+++ configs/run_001.yaml (rendered now)\n" in result.out
    assert "\n-  lora_rank: 17  # variable: lora_rank\n+  lora_rank: 16  # variable: lora_rank\n" in result.out
    assert "missing from out (rendered now, not in the folder):\n  configs/run_003.yaml\n" in result.out
    assert "extra in out (not rendered now):\n  notes.txt\n" in result.out
    assert result.err == ("check failed: out differs from what exp/experiment.yaml renders now "
                          "(1 changed, 1 missing, 1 extra; 7 files compared)\n")
    assert result.out == snapshot(name="text", extension_class=text_extension("txt"))


@pytest.mark.parametrize("damage", ["edit", "delete", "extra"])
def test_each_kind_of_damage_alone_fails(damage: str, tmp_path: Path) -> None:
    rendered("grid_custom_base", tmp_path)
    out = tmp_path / "out"
    if damage == "edit":
        path = out / "configs" / "run_004.yaml"
        path.write_text(path.read_text().replace("epochs: 1", "epochs: 2"))
    elif damage == "delete":
        (out / "configs" / "run_005.yaml").unlink()
    else:
        write(out / "configs" / "run_006.yaml", "seed: 1\n")
    result = check(tmp_path, "--json")
    assert result.code == 1
    doc = json.loads(result.out)
    assert doc["ok"] is False
    got = {"edit": [c["file"] for c in doc["changed"]], "delete": doc["missing"], "extra": doc["extra"]}
    assert got == {"edit": ["configs/run_004.yaml"] if damage == "edit" else [],
                   "delete": ["configs/run_005.yaml"] if damage == "delete" else [],
                   "extra": ["configs/run_006.yaml"] if damage == "extra" else []}


def test_json_document(tmp_path: Path) -> None:
    rendered("lora_rank_sweep", tmp_path)
    ok = check(tmp_path, "--json")
    assert ok.code == 0, ok.err
    assert json.loads(ok.out) == {
        "format": "ttgen.check", "version": 2, "ok": True, "errors": [], "warnings": [],
        "experiment": "exp/experiment.yaml", "against": "out",
        "compared": 8, "changed": [], "missing": [], "extra": [], "ignored": []}
    path = tmp_path / "out" / "configs" / "run_000.yaml"
    path.write_text(path.read_text().replace("epochs: 3", "epochs: 4"))
    bad = check(tmp_path, "--json")
    assert bad.code == 1
    doc = json.loads(bad.out)
    assert doc["ok"] is False and [c["file"] for c in doc["changed"]] == ["configs/run_000.yaml"]
    assert "-epochs: 4  # control\n+epochs: 3  # control\n" in doc["changed"][0]["diff"]


def test_only_created_at_of_the_manifest_is_ignored(tmp_path: Path) -> None:
    rendered("lora_rank_sweep", tmp_path)
    manifest = tmp_path / "out" / "manifest.yaml"
    text = manifest.read_text()
    manifest.write_text(text.replace("created_at: '2024-06-01T08:00:00+00:00'", "created_at: 'whenever'"))
    assert check(tmp_path).code == 0
    manifest.write_text(text.replace("ttgen_version: 0.1.0", "ttgen_version: 0.0.9"))
    result = check(tmp_path)
    assert result.code == 1
    assert "--- out/manifest.yaml\n+++ manifest.yaml (rendered now)\n" in result.out
    assert "-ttgen_version: 0.0.9\n+ttgen_version: 0.1.0\n" in result.out
    assert "created_at: '" not in result.out  # the line itself is left out of the comparison


def test_experiment_copy_is_compared_byte_for_byte(tmp_path: Path) -> None:
    exp = rendered("lora_rank_sweep", tmp_path)
    exp.write_text(exp.read_text() + "# a new comment changes no config\n")
    result = check(tmp_path)
    assert result.code == 1
    assert "+++ experiment.yaml (rendered now)" in result.out
    assert "+# a new comment changes no config" in result.out
    assert "manifest.yaml" in result.out  # its sha256 of experiment.yaml changed too


def test_changed_base_config_fails(tmp_path: Path) -> None:
    """The original base edited after rendering (as a torchtune upgrade would): check says so."""
    exp = rendered("grid_custom_base", tmp_path)
    base = exp.parent / "base.yaml"
    base.write_text(base.read_text().replace("lora_dropout: 0.05", "lora_dropout: 0.1"))
    result = check(tmp_path, "--json")
    assert result.code == 1
    changed = [c["file"] for c in json.loads(result.out)["changed"]]
    assert changed == ["base_config.yaml", *(f"configs/run_00{i}.yaml" for i in range(6)), "manifest.yaml"]


def test_validation_report_is_ignored_unless_both_sides_have_it(tmp_path: Path) -> None:
    rendered("lora_rank_sweep", tmp_path)
    out = tmp_path / "out"
    write(out / "validation_report.txt", "all 4 configs valid\n")
    manifest = out / "manifest.yaml"
    # However render --validate records it, a manifest line for it is not held against the folder.
    manifest.write_text(manifest.read_text().replace("  experiment.yaml:", "  validation_report.txt: 0123abcd\n"
                                                     "  experiment.yaml:"))
    result = check(tmp_path)
    assert result.code == 0, result.out
    assert "not compared" in result.out and "  validation_report.txt\n" in result.out
    doc = json.loads(check(tmp_path, "--json").out)
    assert doc["ok"] is True and doc["ignored"] == ["validation_report.txt"]
    # Anywhere else it is just an extra file.
    write(out / "configs" / "validation_report.txt", "x\n")
    assert json.loads(check(tmp_path, "--json").out)["extra"] == ["configs/validation_report.txt"]


def test_files_in_folders_a_render_leaves_empty_are_not_compared(tmp_path: Path) -> None:
    """E.g. SLURM's log folder: created empty at render time, filled while jobs run."""
    fresh, mine = tmp_path / "fresh", tmp_path / "mine"
    for root in (fresh, mine):
        write(root / "configs" / "run_000.yaml", "seed: 1\n")
        (root / "slurm" / "logs").mkdir(parents=True)
    write(mine / "slurm" / "logs" / "job_17_0.out", "training...\n")
    write(mine / "slurm" / "logs" / "deeper" / "x.err", "\n")
    write(mine / "slurm" / "notes.txt", "mine\n")
    shutil.rmtree(fresh / "slurm" / "logs")
    (fresh / "slurm" / "logs").mkdir()
    result = compare_folders(mine, fresh)
    assert result.ignored == ["slurm/logs/deeper/x.err", "slurm/logs/job_17_0.out"]
    assert result.extra == ["slurm/notes.txt"]
    assert result.compared == ["configs/run_000.yaml"] and result.ok is False
    # An empty folder missing from the checked folder is not a difference (git does not keep them).
    shutil.rmtree(mine / "slurm")
    assert compare_folders(mine, fresh).ok


def test_difference_only_in_line_endings_is_explained(tmp_path: Path) -> None:
    rendered("lora_rank_sweep", tmp_path)
    path = tmp_path / "out" / "configs" / "run_002.yaml"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    result = check(tmp_path)
    assert result.code == 1
    assert "--- out/configs/run_002.yaml\n+++ configs/run_002.yaml (rendered now)\n" \
           "(the files differ only in line endings or in the newline at the end)\n" in result.out


def test_custom_templates_must_be_given_again(tmp_path: Path) -> None:
    exp = copy_example("lora_rank_sweep", tmp_path)
    templates = write(tmp_path / "tpl" / "config.yaml.j2", "# {{ run_id }} of {{ experiment_name }}\n{{ body }}")
    assert run_cli("render", exp, "--out", tmp_path / "out", "--templates", templates.parent).code == 0
    assert check(tmp_path).code == 1
    result = check(tmp_path, "--templates", "tpl")
    assert result.code == 0, result.out


def test_missing_folder_and_bad_experiment_are_errors(tmp_path: Path) -> None:
    copy_example("lora_rank_sweep", tmp_path)
    result = check(tmp_path)
    assert result.code == 1 and result.out == ""
    assert result.err.startswith("out: no such folder to check against\n    hint: pass --against")
    (tmp_path / "out").mkdir()
    (tmp_path / "exp" / "experiment.yaml").write_text("experiment: {name: x}\n")
    bad = check(tmp_path)
    assert bad.code == 1 and "missing required field 'framework'" in bad.err and "Traceback" not in bad.err
    usage = run_cli("check", "exp/experiment.yaml", cwd=tmp_path)
    assert usage.code == 2 and "--against" in usage.err


SLURM_EXPERIMENT = """\
experiment: {name: slurm_check, framework: torchtune}
framework_config: {base_config_file: base.yaml, recipe: lora_finetune_single_device}
variables:
  lora_rank: [8, 16]
slurm:
  partition: gpu
  gpus_per_node: 1
"""


def test_slurm_scripts_are_compared_as_if_rendered_into_the_folder(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "grid_custom_base" / "base.yaml", write(tmp_path / "exp" / "experiment.yaml",
                                                                   SLURM_EXPERIMENT).parent / "base.yaml")
    render_experiment(tmp_path / "exp" / "experiment.yaml", out=tmp_path / "out", now=OLD_NOW)
    array = (tmp_path / "out" / "slurm" / "submit_array.sh").read_text()
    assert str((tmp_path / "out").resolve()) in array  # absolute paths to the folder itself
    assert (tmp_path / "out" / "slurm" / "logs").is_dir()
    result = check(tmp_path, "--json")
    assert result.code == 0, result.out
    assert json.loads(result.out)["compared"] == 9  # 2 configs, mapping, 3 scripts, experiment, base, manifest
    # Logs written by jobs are not held against the folder.
    write(tmp_path / "out" / "slurm" / "logs" / "run_000-17.out", "step 1 loss 2.3\n")
    doc = json.loads(check(tmp_path, "--json").out)
    assert doc["ok"] is True and doc["ignored"] == ["slurm/logs/run_000-17.out"]
    # The same files elsewhere point at the old place: the scripts differ.
    shutil.move(tmp_path / "out", tmp_path / "moved")
    moved = run_cli("check", "exp/experiment.yaml", "--against", "moved", "--json", cwd=tmp_path)
    assert moved.code == 1
    changed = [c["file"] for c in json.loads(moved.out)["changed"]]
    # ... and so do the configs: each run's output_dir is inside the folder (runs/run_NNN).
    assert changed == ["configs/run_000.yaml", "configs/run_001.yaml", "configs/run_mapping.yaml", "manifest.yaml",
                       "slurm/submit_array.sh", "slurm/submit_run_000.sh", "slurm/submit_run_001.sh"]


@pytest.mark.needs_torch
def test_folder_rendered_with_validate_passes(tmp_path: Path) -> None:
    """The real `render --validate`: its report and manifest entry are not held against the folder."""
    exp = copy_example("lora_rank_sweep", tmp_path)
    result = render_experiment(exp, out=tmp_path / "out", now=OLD_NOW, validate=True)
    assert (tmp_path / "out" / "validation_report.txt").is_file()
    assert "validation_report.txt" in (tmp_path / "out" / "manifest.yaml").read_text()
    assert result.output_dir == tmp_path / "out"
    checked = check(tmp_path, "--json")
    assert checked.code == 0, checked.out
    assert json.loads(checked.out)["ignored"] == ["validation_report.txt"]
