"""`ttgen diff`: every difference of a run against the recorded base config, or another run (docs/contract.md §6-7).

Golden files under __snapshots__/test_diff/ hold the text table and the JSON document
for each example (base -> last run, and first run -> last run). The other tests build
small experiments on a base file of their own to pin down each rule: lists are one
row, null is told apart from a missing key, types and interpolations are shown as
written, every origin kind, the recorded base is used even after the original changes,
and how the output folder is found.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from helpers import EXAMPLES, example_names, run_cli, write
from snapshot_yaml import text_extension
from ttgen.layout import timestamped_folders
from ttgen.render.output import render_experiment

FIXED_NOW = dt.datetime(2025, 1, 31, 12, 34, 56, tzinfo=dt.timezone.utc)

# (example, diff arguments): the last run against the base, and the first run against the last.
def _golden_cases() -> list[tuple[str, tuple[str, ...]]]:
    """Every example: its last run against the base, and its first against its last."""
    from ttgen.plan.build import plan_experiment

    cases: list[tuple[str, tuple[str, ...]]] = []
    for example in example_names():
        ids = [run.run_id for run in plan_experiment(EXAMPLES / example / "experiment.yaml").runs()]
        cases.append((example, (ids[-1],)))
        if len(ids) > 1:
            cases.append((example, (ids[0], ids[-1])))
    return cases


GOLDEN_CASES = _golden_cases()

BASE = """\
output_dir: /scratch/study
name: "8"
warmup: 2  # a key no recipe rule checks: diff tests may give it a float
seed: null
log_dir: ${output_dir}/logs
model:
  _component_: torchtune.models.llama3_2.lora_llama3_2_1b
  lora_attn_modules: [q_proj, v_proj]
  lora_rank: 8
  dropout: 0.1
optimizer:
  _component_: torch.optim.AdamW
  lr: 2e-5
profiler:
  _component_: torchtune.training.setup_torch_profiler
  enabled: false
clip: 1.0
"""

EXPERIMENT = """\
experiment:
  name: edge
  framework: torchtune
framework_config:
  base_config_file: base.yaml
  recipe: lora_finetune_single_device
variables:
  lora_attn_modules: [[q_proj, v_proj], [q_proj, k_proj, v_proj]]
  seed: [1, 2]
controls:
  learning_rate: 3e-4
  name: "16"
  warmup: 2.0
  model:
    dropout: null
  +notes: hello
  log_dir: ${output_dir}/tb
delete: [profiler, clip]
"""


@pytest.fixture(autouse=True)
def _plain_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Output is cut to COLUMNS when it is set; the tests choose the width themselves.
    monkeypatch.delenv("COLUMNS", raising=False)


def render_example(example: str, out: Path) -> Path:
    # As if rendered into one fixed folder, so goldens do not hold a temporary path (runs write below it).
    result = render_experiment(EXAMPLES / example / "experiment.yaml", out=out, now=FIXED_NOW,
                               final_dir=Path("/ttgen-golden") / example)
    assert result.output_dir == out
    return out


def edge_folder(tmp_path: Path, *, experiment: str = EXPERIMENT) -> Path:
    """Render the edge-case experiment into tmp_path/out (experiment files in tmp_path/exp)."""
    write(tmp_path / "exp" / "base.yaml", BASE)
    exp = write(tmp_path / "exp" / "experiment.yaml", experiment)
    render_experiment(exp, out=tmp_path / "out", now=FIXED_NOW)
    return tmp_path / "out"


def diff_json(tmp_path: Path, *args: str) -> dict[str, Any]:
    result = run_cli("diff", *args, "--dir", "out", "--json", cwd=tmp_path)
    assert result.code == 0, result.err
    return json.loads(result.out)


def by_path(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["path"]: row for row in doc["differences"]}


@pytest.mark.parametrize(("example", "runs"), GOLDEN_CASES, ids=lambda v: v if isinstance(v, str) else "-".join(v))
def test_diff_of_examples_matches_golden(example: str, runs: tuple[str, ...], tmp_path: Path, snapshot) -> None:
    render_example(example, tmp_path / "out")
    text = run_cli("diff", *runs, "--dir", "out", cwd=tmp_path)
    assert text.code == 0 and text.err == "", text.err
    assert text.out == snapshot(name="text", extension_class=text_extension("txt"))
    as_json = run_cli("diff", *runs, "--dir", "out", "--json", cwd=tmp_path)
    assert as_json.code == 0 and as_json.err == "", as_json.err
    doc = json.loads(as_json.out)
    assert as_json.out == snapshot(name="json", extension_class=text_extension("json"))
    # The JSON and the table list the same paths, in the same order.
    table_paths = [line.split()[0] for line in text.out.splitlines()[5:-2]]
    assert table_paths == [row["path"] for row in doc["differences"]]
    assert doc["count"] == len(doc["differences"]) > 0


def test_each_kind_of_difference_and_origin(tmp_path: Path) -> None:
    out = edge_folder(tmp_path).resolve()
    doc = diff_json(tmp_path, "run_002")
    assert doc["format"] == "ttgen.diff" and doc["version"] == 2 and doc["ok"] is True
    assert doc["before"] == {"kind": "base", "name": "base", "file": "base_config.yaml", "variables": None}
    assert doc["after"]["name"] == "run_002"
    assert doc["after"]["variables"] == {"lora_attn_modules": ["q_proj", "k_proj", "v_proj"], "seed": 1}
    rows = by_path(doc)
    # Config order: the base's keys in its order, then new keys.
    assert list(rows) == ["output_dir", "name", "warmup", "seed", "log_dir", "model.lora_attn_modules",
                          "model.dropout", "optimizer.lr", "profiler._component_", "profiler.enabled", "clip",
                          "notes", "ttgen.experiment", "ttgen.run_id", "ttgen.variables.lora_attn_modules",
                          "ttgen.variables.seed"]
    expect = {
        "output_dir": ("changed", "/scratch/study", f"{out}/runs/run_002",
                       {"kind": "auto", "key": "run output folder"}),
        "ttgen.run_id": ("added", None, "run_002", {"kind": "auto", "key": "run identity"}),
        "ttgen.variables.lora_attn_modules": ("added", None, "[q_proj, k_proj, v_proj]",
                                              {"kind": "auto", "key": "run identity"}),
        "name": ("changed", "8", "16", {"kind": "control", "key": "name"}),
        "warmup": ("type_changed", 2, 2.0, {"kind": "control", "key": "warmup"}),
        "seed": ("type_changed", None, 1, {"kind": "variable", "key": "seed"}),
        "log_dir": ("changed", "${output_dir}/logs", "${output_dir}/tb", {"kind": "control", "key": "log_dir"}),
        "model.lora_attn_modules": ("changed", ["q_proj", "v_proj"], ["q_proj", "k_proj", "v_proj"],
                                    {"kind": "variable", "key": "lora_attn_modules"}),
        "model.dropout": ("type_changed", 0.1, None, {"kind": "control", "key": "model.dropout"}),
        "optimizer.lr": ("changed", 2e-5, 3e-4, {"kind": "control", "key": "learning_rate"}),
    }
    for path, (change, before, after, origin) in expect.items():
        row = rows[path]
        assert (row["change"], row.get("before"), row["after"], row["origin"]) == (change, before, after, origin), path
    assert type(rows["warmup"]["before"]) is int and type(rows["warmup"]["after"]) is float
    assert (rows["warmup"]["before_type"], rows["warmup"]["after_type"]) == ("integer", "float")
    assert (rows["seed"]["before_type"], rows["seed"]["after_type"]) == ("null", "integer")
    assert rows["name"]["before_type"] == rows["name"]["after_type"] == "string"
    # Removed and added keys have no value on the missing side, which is not the same as null.
    for path in ("profiler._component_", "profiler.enabled", "clip"):
        assert rows[path]["change"] == "removed" and "after" not in rows[path] and "after_type" not in rows[path]
    assert rows["profiler.enabled"]["before"] is False
    assert rows["profiler.enabled"]["origin"] == {"kind": "delete", "key": "profiler"}
    assert rows["clip"]["origin"] == {"kind": "delete", "key": "clip"}
    assert rows["notes"] == {"path": "notes", "keys": ["notes"], "change": "added", "after": "hello",
                             "after_type": "string", "origin": {"kind": "control", "key": "+notes"}}
    assert "after" in rows["model.dropout"] and rows["model.dropout"]["after"] is None
    assert doc["warnings"] == []


def test_table_shows_yaml_text_as_written(tmp_path: Path) -> None:
    edge_folder(tmp_path)
    result = run_cli("diff", "run_002", "--dir", "out", cwd=tmp_path)
    assert result.code == 0, result.err
    table = {line.split()[0]: line.split() for line in result.out.splitlines()[5:-2]}
    # Quoted strings stay quoted ('8' is a string), floats as written, interpolations unresolved,
    # a list is one row, null is null and a missing side is "-".
    assert table["name"][2:4] == ["'8'", "'16'"]
    assert table["optimizer.lr"][2:] == ["2e-5", "3e-4", "control:", "learning_rate"]
    assert table["warmup"][1:4] == ["type", "2", "2.0"]
    assert table["log_dir"][2:4] == ["${output_dir}/logs", "${output_dir}/tb"]
    assert "model.lora_attn_modules  changed  [q_proj, v_proj]  [q_proj, k_proj, v_proj]" in \
        re.sub(r" {2,}", "  ", result.out)
    assert table["model.dropout"][1:4] == ["type", "0.1", "null"]
    assert table["clip"][1:] == ["removed", "1.0", "-", "delete:", "clip"]
    assert table["notes"][1:] == ["added", "-", "hello", "control"]
    assert table["profiler.enabled"][1:] == ["removed", "false", "-", "delete:", "profiler"]
    assert result.out.splitlines()[:3] == [
        "before: base config base.yaml (as recorded in base_config.yaml)",
        "after:  run_002 (configs/run_002.yaml) {lora_attn_modules: [q_proj, k_proj, v_proj], seed: 1}",
        "folder: out",
    ]
    assert result.out.endswith("\n16 differences\n")


def test_two_runs_before_is_the_first(tmp_path: Path) -> None:
    edge_folder(tmp_path)
    rows = by_path(diff_json(tmp_path, "run_000", "run_003"))
    assert list(rows) == ["output_dir", "seed", "model.lora_attn_modules", "ttgen.run_id",
                          "ttgen.variables.lora_attn_modules", "ttgen.variables.seed"]
    assert rows["seed"]["before"] == 1 and rows["seed"]["after"] == 2
    assert rows["model.lora_attn_modules"]["after"] == ["q_proj", "k_proj", "v_proj"]
    assert rows["output_dir"]["origin"] == {"kind": "auto", "key": "run output folder"}
    assert rows["ttgen.run_id"]["origin"] == {"kind": "auto", "key": "run identity"}
    swapped = by_path(diff_json(tmp_path, "run_003", "run_000"))
    assert swapped["seed"]["before"] == 2 and swapped["seed"]["after"] == 1
    same = run_cli("diff", "run_001", "run_001", "--dir", "out", cwd=tmp_path)
    assert same.code == 0 and same.out.endswith("\nno differences\n")


def test_variable_adding_keys_between_runs(tmp_path: Path) -> None:
    """A variable whose values are mappings: keys one run adds are 'added' against the other run."""
    exp = EXPERIMENT.replace("  seed: [1, 2]\n", "  model.extra: [{a: 1}, {a: 1, b: [x, y]}]\n")
    edge_folder(tmp_path, experiment=exp)
    doc = diff_json(tmp_path, "run_000", "run_001")
    # The run's entry of run_mapping.yaml is read alone, block values and all.
    assert doc["after"]["variables"] == {"lora_attn_modules": ["q_proj", "v_proj"],
                                         "model.extra": {"a": 1, "b": ["x", "y"]}}
    rows = by_path(doc)
    assert rows["model.extra.b"] == {"path": "model.extra.b", "keys": ["model", "extra", "b"], "change": "added",
                                     "after": ["x", "y"], "after_type": "list",
                                     "origin": {"kind": "variable", "key": "model.extra"}}
    assert "model.extra.a" not in rows


def test_run_ids_may_be_written_as_numbers(tmp_path: Path) -> None:
    edge_folder(tmp_path)
    assert diff_json(tmp_path, "2")["after"]["name"] == "run_002"
    assert diff_json(tmp_path, "run_2")["after"]["name"] == "run_002"


def test_unknown_run_lists_the_available_ones(tmp_path: Path) -> None:
    edge_folder(tmp_path)
    result = run_cli("diff", "run_007", "--dir", "out", cwd=tmp_path)
    assert result.code == 1 and result.out == ""
    assert "out: no run 'run_007' in this output folder" in result.err
    assert "hint: available: run_000, run_001, run_002, run_003" in result.err
    assert "Traceback" not in result.err
    other = run_cli("diff", "run_000", "nope", "--dir", "out", cwd=tmp_path)
    assert other.code == 1 and "no run 'nope'" in other.err


def test_diff_uses_the_recorded_base_not_the_current_one(tmp_path: Path) -> None:
    """Editing (or upgrading) the original base after rendering changes nothing in the diff."""
    edge_folder(tmp_path)
    before = diff_json(tmp_path, "run_001")
    # The original base loses keys and changes values; the recorded copy in the folder does not.
    write(tmp_path / "exp" / "base.yaml", BASE.replace("warmup: 2\n", "").replace("lr: 2e-5", "lr: 1e-3")
          .replace("clip: 1.0\n", ""))
    assert diff_json(tmp_path, "run_001") == before
    # Moving the experiment's folder away entirely does not matter either.
    shutil.rmtree(tmp_path / "exp")
    assert diff_json(tmp_path, "run_001") == before


def test_edited_recorded_base_is_warned_about(tmp_path: Path) -> None:
    out = edge_folder(tmp_path)
    base = out / "base_config.yaml"
    base.write_text(base.read_text().replace("warmup: 2", "warmup: 5"))
    result = run_cli("diff", "run_000", "--dir", "out", cwd=tmp_path)
    assert result.code == 0
    assert "base_config.yaml: warning: base_config.yaml does not match the sha256 recorded in manifest.yaml" \
        in result.err
    assert re.search(r"^warmup +type +5 +2\.0 ", result.out, re.M)


def test_hand_edited_config_has_unknown_origin(tmp_path: Path) -> None:
    out = edge_folder(tmp_path)
    config = out / "configs" / "run_001.yaml"
    text = config.read_text()
    assert "  lora_rank: 8\n" in text
    config.write_text(text.replace("  lora_rank: 8\n", "  lora_rank: 12\n").replace("seed: 2", "seed: 7"))
    result = run_cli("diff", "run_001", "--dir", "out", "--json", cwd=tmp_path)
    assert result.code == 0
    rows = by_path(json.loads(result.out))
    assert rows["model.lora_rank"]["origin"] == {"kind": "unknown", "key": None}
    assert rows["seed"]["after"] == 7 and rows["seed"]["origin"] == {"kind": "unknown", "key": None}
    assert rows["name"]["origin"] == {"kind": "control", "key": "name"}  # untouched rows keep theirs
    assert "is not what the folder's experiment.yaml renders" in result.err
    assert "ttgen check" in result.err


def test_experiment_that_no_longer_plans_gives_unknown_origins(tmp_path: Path) -> None:
    out = edge_folder(tmp_path)
    (out / "experiment.yaml").write_text(EXPERIMENT.replace("framework: torchtune", "framework: other"))
    result = run_cli("diff", "run_001", "--dir", "out", "--json", cwd=tmp_path)
    assert result.code == 0
    doc = json.loads(result.out)
    assert {row["origin"]["kind"] for row in doc["differences"]} == {"unknown"}
    assert len(doc["differences"]) == 15  # run_001 keeps the base's lora_attn_modules
    assert "warning: cannot tell where differences come from" in result.err


def test_table_fits_the_terminal_width(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    render_example("swap_logger_dataset", tmp_path / "out")
    wide = run_cli("diff", "run_001", "--dir", "out", cwd=tmp_path).out
    wide_rows = wide.splitlines()[5:-2]
    assert max(len(line) for line in wide_rows) > 100  # no limit when stdout is not a terminal
    paths = [line.split()[0] for line in wide_rows]

    # Narrower: the value columns shrink, values are cut with "...", paths and origins stay whole.
    monkeypatch.setenv("COLUMNS", "100")
    table = run_cli("diff", "run_001", "--dir", "out", cwd=tmp_path).out.splitlines()[4:-2]
    assert table[0].split() == ["PATH", "CHANGE", "BEFORE", "AFTER", "ORIGIN"]
    assert max(len(line) for line in table) <= 100
    assert [line.split()[0] for line in table[1:]] == paths
    assert re.match(r"output_dir +changed +/tmp/torchtune/\.\.\. +/scratch/ttgen_\.\.\. +auto: per-run output_dir$",
                    table[1])

    # Too narrow for a useful table: one block per difference, before as "-", after as "+".
    for columns in (80, 60):
        monkeypatch.setenv("COLUMNS", str(columns))
        lines = run_cli("diff", "run_001", "--dir", "out", cwd=tmp_path).out.splitlines()[4:-2]
        assert max(len(line) for line in lines) <= columns
        heads = [line.split()[0] for line in lines if not line.startswith(" ")]
        assert len(heads) == len(paths)
        assert all(h == p or (columns < 80 and h.startswith("...") and p.endswith(h[3:])) for h, p in zip(heads, paths))
        block = lines[:3]
        assert block[0].split()[:2] == ["output_dir", "changed"]
        assert block[1] == "    - /tmp/torchtune/llama3_2_1B/full_single_device"
        assert block[2].startswith("    + /scratch/ttgen_examples/wandb_instruct_s")
    added = lines[lines.index(next(line for line in lines if line.startswith("dataset.source"))) + 1]
    assert added == "    + json"  # an added key has no "-" line


def test_default_folder_is_the_current_one_when_it_is_an_output_folder(tmp_path: Path) -> None:
    out = edge_folder(tmp_path)
    result = run_cli("diff", "run_001", "--json", cwd=out)
    assert result.code == 0, result.err
    assert json.loads(result.out)["folder"] == "."


def test_default_folder_is_the_newest_by_name_under_outputs(tmp_path: Path) -> None:
    out = edge_folder(tmp_path)
    outputs = tmp_path / "proj" / "outputs"
    names = ["edge_20250101_120000", "edge_20250301_090000", "edge_20250301_090000_2", "edge_20241231_235959",
             "zzz_20250201_000000"]
    for name in names:
        shutil.copytree(out, outputs / name)
    # Hidden temporary folders of a render in progress and folders without a timestamp are ignored,
    # whatever their names or modification times.
    shutil.copytree(out, outputs / ".edge_20991231_235959.ttgen-tmp-1-abc")
    shutil.copytree(out, outputs / "mine")
    (outputs / "notes_20991231_235959").write_text("a file, not a folder")
    assert [p.name for p in timestamped_folders(outputs)] == [
        "edge_20241231_235959", "edge_20250101_120000", "zzz_20250201_000000", "edge_20250301_090000",
        "edge_20250301_090000_2"]
    result = run_cli("diff", "run_001", "--json", cwd=tmp_path / "proj")
    assert result.code == 0, result.err
    assert json.loads(result.out)["folder"] == "outputs/edge_20250301_090000_2"


def test_no_output_folder_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli("diff", "run_000", cwd=empty)
    assert result.code == 1 and result.out == ""
    assert result.err.startswith("no output folder here: the current folder has no configs/run_mapping.yaml")
    assert "hint: pass --dir DIR" in result.err
    (empty / "outputs").mkdir()
    result = run_cli("diff", "run_000", cwd=empty)
    assert result.code == 1 and "outputs: no output folders" in result.err


def test_dir_must_be_an_output_folder(tmp_path: Path) -> None:
    out = edge_folder(tmp_path)
    shutil.copytree(out, tmp_path / "outputs" / "edge_20250101_120000")
    result = run_cli("diff", "run_000", "--dir", "outputs", cwd=tmp_path)
    assert result.code == 1
    assert "outputs: not a ttgen output folder: configs/run_mapping.yaml is missing" in result.err
    assert "--dir outputs/edge_20250101_120000" in result.err
    missing = run_cli("diff", "run_000", "--dir", "nowhere", cwd=tmp_path)
    assert missing.code == 1 and "nowhere: no such folder" in missing.err


def test_deleted_run_config_is_a_clear_error(tmp_path: Path) -> None:
    out = edge_folder(tmp_path)
    (out / "configs" / "run_001.yaml").unlink()
    result = run_cli("diff", "run_001", "--dir", "out", cwd=tmp_path)
    assert result.code == 1 and "config configs/run_001.yaml is missing from the output folder" in result.err


def test_origins_of_a_slurm_experiment_with_its_own_template(tmp_path: Path) -> None:
    """The folder holds no copy of a user's SLURM template; origins come from the configs alone."""
    write(tmp_path / "exp" / "submit.sh.j2", "#!/bin/bash\n# {{ experiment_name }}\n")
    exp = EXPERIMENT + "slurm:\n  partition: gpu\n  gpus_per_node: 1\n  template: submit.sh.j2\n"
    out = edge_folder(tmp_path, experiment=exp)
    assert (out / "slurm" / "submit_array.sh").is_file()
    result = run_cli("diff", "run_002", "--dir", "out", "--json", cwd=tmp_path)
    assert result.code == 0 and result.err == "", result.err
    rows = by_path(json.loads(result.out))
    assert rows["seed"]["origin"] == {"kind": "variable", "key": "seed"}
    assert rows["output_dir"]["origin"] == {"kind": "auto", "key": "run output folder"}
