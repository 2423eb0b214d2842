"""Key resolution, merge rules, sweep order and output_dir handling (docs/contract.md §3-5), through the Python API."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import write
from ttgen.errors import ExperimentError
from ttgen.plan.merge import compatible
from ttgen.plan.build import plan_experiment
from ttgen.plan.runs import Plan
from ttgen.tree import MAPPING, PathTable

BASE = """\
output_dir: /tmp/out
model:
  _component_: torchtune.models.llama3_2.lora_llama3_2_1b
  lora_rank: 64
  lora_alpha: 128
  lora_attn_modules: [q_proj, v_proj]
tokenizer:
  _component_: torchtune.models.llama3.llama3_tokenizer
  path: /tmp/tok.model
  max_seq_len: null
dataset:
  _component_: torchtune.datasets.alpaca_dataset
  packed: false
optimizer:
  _component_: torch.optim.AdamW
  lr: 3e-4
  weight_decay: 0.01
metric_logger:
  _component_: torchtune.training.metric_logging.DiskLogger
  log_dir: ${output_dir}/logs
batch_size: 4
epochs: 1
compile: false
profiler:
  enabled: false
"""


def experiment(tmp_path: Path, body: str, base: str = BASE) -> Path:
    write(tmp_path / "base.yaml", base)
    return write(tmp_path / "experiment.yaml",
                 "experiment: {name: t, framework: torchtune}\n"
                 "framework_config: {base_config_file: base.yaml, recipe: lora_finetune_single_device}\n" + body)


def plan(tmp_path: Path, body: str, base: str = BASE, output_folder: Path | None = None) -> Plan:
    return plan_experiment(experiment(tmp_path, body, base), output_folder=output_folder)


def errors(tmp_path: Path, body: str, base: str = BASE) -> str:
    with pytest.raises(ExperimentError) as info:
        plan(tmp_path, body, base)
    return str(info.value)


def run_trees(p: Plan) -> list[dict]:
    return [p.merged(r).tree for r in p.runs()]


def test_table_is_ordered_preorder_with_mappings_and_list_leaves() -> None:
    table = PathTable.from_tree({"a": {"b": 1, "c": [1, 2]}, "d": None})
    assert list(table.entries) == [("a",), ("a", "b"), ("a", "c"), ("d",)]
    assert table.entries[("a",)] is MAPPING and table.entries[("a", "c")] == [1, 2]
    assert table.by_last["c"] == [("a", "c")]
    assert table.deepest_ancestor(("a", "x", "y")) == ("a",)


def test_resolution_exact_alias_bare_name_and_new_keys(tmp_path: Path) -> None:
    p = plan(tmp_path, "controls:\n  learning_rate: 1e-4\n  lora_alpha: 16\n  model.lora_rank: 8\n"
                       "  dataset: {data_files: /d.json, column_map: {input: q}}\n  +my_flag: true\n")
    paths = [c.path for c in p.resolved.controls]
    assert paths == [("optimizer", "lr"), ("model", "lora_alpha"), ("model", "lora_rank"),
                     ("dataset", "data_files"), ("dataset", "column_map", "input"), ("my_flag",)]
    tree = p.controlled.tree
    assert tree["optimizer"]["lr"] == 1e-4 and tree["model"]["lora_alpha"] == 16
    assert tree["dataset"] == {"_component_": "torchtune.datasets.alpaca_dataset", "packed": False,
                               "data_files": "/d.json", "column_map": {"input": "q"}}
    assert list(tree)[-2:] == ["my_flag", "ttgen"]  # new keys follow the base's keys in written order, then ttgen's


def test_ambiguous_bare_name_lists_every_match(tmp_path: Path) -> None:
    msg = errors(tmp_path, "controls: {_component_: x}\n")
    assert "ambiguous" in msg and "model._component_" in msg and "optimizer._component_" in msg


def test_unknown_top_level_name_errors_with_suggestion_and_plus_hint(tmp_path: Path) -> None:
    msg = errors(tmp_path, "controls:\n  lora_rnak: 8\n")
    assert "experiment.yaml:4:3: controls.lora_rnak: unknown key" in msg
    assert "lora_rank (model.lora_rank)" in msg and "+lora_rnak" in msg


def test_near_miss_new_key_warns(tmp_path: Path) -> None:
    p = plan(tmp_path, "controls:\n  dataset.packd: true\n")
    assert any("did you mean 'dataset.packed'" in w.message for w in p.warnings)


def test_type_rules(tmp_path: Path) -> None:
    assert compatible(1, 2.5) and compatible(2.5, 1) and compatible(None, {"a": 1}) and compatible([1], None)
    assert not compatible(True, 1) and not compatible(1, True) and not compatible("1", 1)
    assert not compatible([1], "a") and not compatible({"a": 1}, 3) and not compatible(3, {"a": 1})
    msg = errors(tmp_path, "controls:\n  batch_size: '8'\n  compile: 1\n  lora_attn_modules: q_proj\n  model: 3\n")
    assert msg.count("type mismatch") == 4  # all reported together
    assert "cannot set string '8' over integer 4" in msg and "cannot set integer 1 over boolean false" in msg
    assert "experiment.yaml:4:15: controls.batch_size" in msg


def test_int_float_and_null_mix_are_allowed(tmp_path: Path) -> None:
    p = plan(tmp_path, "controls:\n  learning_rate: 1\n  epochs: 2.5\n  tokenizer.max_seq_len: 512\n  compile: null\n")
    t = p.controlled.tree
    assert t["optimizer"]["lr"] == 1 and t["epochs"] == 2.5 and t["tokenizer"]["max_seq_len"] == 512
    assert t["compile"] is None


def test_mappings_merge_and_delete_then_set_replaces(tmp_path: Path) -> None:
    p = plan(tmp_path, "delete: [metric_logger]\ncontrols:\n  metric_logger:\n"
                       "    _component_: torchtune.training.metric_logging.WandBLogger\n    project: p\n"
                       "  optimizer: {lr: 2e-5}\n")
    t = p.controlled.tree
    # ... and the run's name, group and tags, filled per run (docs/output.md, "Run identity")
    assert t["metric_logger"] == {"_component_": "torchtune.training.metric_logging.WandBLogger", "project": "p",
                                  "name": None, "group": None, "tags": None}
    assert t["optimizer"] == {"_component_": "torch.optim.AdamW", "lr": 2e-5, "weight_decay": 0.01}
    assert list(t).index("metric_logger") == len(t) - 2  # deleted then set again: now a new key (ttgen: follows)


def test_component_swap_warns_about_kept_keys(tmp_path: Path) -> None:
    p = plan(tmp_path, "controls:\n  metric_logger._component_: torchtune.training.metric_logging.WandBLogger\n")
    assert any("log_dir" in w.message and "_component_ changes" in w.message for w in p.warnings)


def test_delete_missing_path_warns(tmp_path: Path) -> None:
    p = plan(tmp_path, "delete: [profiler, nothere]\n")
    assert "profiler" not in p.controlled.tree
    assert any("nothere" in w.message for w in p.warnings)


def test_null_is_a_value_not_a_deletion(tmp_path: Path) -> None:
    p = plan(tmp_path, "controls:\n  profiler: null\n")
    assert "profiler" in p.controlled.tree and p.controlled.tree["profiler"] is None


def test_adding_under_a_scalar_is_an_error(tmp_path: Path) -> None:
    assert "model.lora_rank is integer 64, not a mapping" in errors(tmp_path, "controls:\n  model.lora_rank.x: 1\n")


def test_path_cannot_be_variable_and_control(tmp_path: Path) -> None:
    msg = errors(tmp_path, "variables:\n  lora_rank: [8, 16]\ncontrols:\n  model.lora_rank: 4\n")
    assert "set twice" in msg


def test_grid_order_last_variable_fastest_and_run_ids(tmp_path: Path) -> None:
    p = plan(tmp_path, "variables:\n  lora_rank: [8, 16]\n  learning_rate: [1e-4, 2e-4, 3e-4]\n")
    runs = list(p.runs())
    assert [r.run_id for r in runs] == [f"run_{i:03d}" for i in range(6)]
    assert [(r.variables["lora_rank"], r.variables["learning_rate"]) for r in runs] == [
        (8, 1e-4), (8, 2e-4), (8, 3e-4), (16, 1e-4), (16, 2e-4), (16, 3e-4)]
    trees = run_trees(p)
    assert trees[4]["model"]["lora_rank"] == 16 and trees[4]["optimizer"]["lr"] == 2e-4
    assert trees[0]["optimizer"]["weight_decay"] == 0.01


def test_run_id_width_grows_past_999(tmp_path: Path) -> None:
    p = plan(tmp_path, "variables:\n  seed: [" + ", ".join(str(i) for i in range(1001)) + "]\n"
             , base=BASE + "seed: 0\n")
    ids = [r.run_id for r in p.runs()]
    assert ids[0] == "run_0000" and ids[-1] == "run_1000"


def test_no_variables_is_one_run_keeping_output_dir(tmp_path: Path) -> None:
    p = plan(tmp_path, "controls: {epochs: 2, output_dir: /tmp/out}\n")
    (run,) = list(p.runs())
    assert run.run_id == "run_000" and run.output_dir == "/tmp/out" and not run.output_dir_auto


def test_without_output_dir_each_run_writes_in_the_output_folder(tmp_path: Path) -> None:
    p = plan(tmp_path, "variables:\n  lora_rank: [8, 16]\n", output_folder=tmp_path / "out")
    folder = (tmp_path / "out").resolve()
    assert [(r.output_dir, r.output_dir_auto) for r in p.runs()] == [(f"{folder}/runs/run_000", True),
                                                                     (f"{folder}/runs/run_001", True)]
    assert run_trees(p)[1]["metric_logger"]["log_dir"] == "${output_dir}/logs"  # follows via interpolation


def test_shared_output_dir_becomes_per_run(tmp_path: Path) -> None:
    p = plan(tmp_path, "controls: {output_dir: /tmp/out}\nvariables:\n  lora_rank: [8, 16]\n")
    assert [(r.output_dir, r.output_dir_auto) for r in p.runs()] == [("/tmp/out/run_000", True),
                                                                     ("/tmp/out/run_001", True)]
    assert run_trees(p)[1]["metric_logger"]["log_dir"] == "${output_dir}/logs"  # follows via interpolation


def test_distinct_output_dirs_stay_and_only_shared_ones_change(tmp_path: Path) -> None:
    p = plan(tmp_path, "variables:\n  output_dir: [/a, /b]\n  lora_rank: [8, 16]\n")
    dirs = [r.output_dir for r in p.runs()]
    assert dirs == ["/a/run_000", "/a/run_001", "/b/run_002", "/b/run_003"]
    p = plan(tmp_path, "variables:\n  output_dir: [/a, /b]\n")
    assert [r.output_dir for r in p.runs()] == ["/a", "/b"]


def test_variable_values_may_be_lists_and_mappings(tmp_path: Path) -> None:
    p = plan(tmp_path, "variables:\n  lora_attn_modules: [[q_proj, v_proj], [q_proj, k_proj, v_proj]]\n"
                       "  dataset:\n    - {packed: true}\n    - {_component_: torchtune.datasets.alpaca_dataset, "
                       "new_field: 1}\n")
    trees = run_trees(p)
    assert trees[0]["model"]["lora_attn_modules"] == ["q_proj", "v_proj"]
    assert trees[0]["dataset"]["packed"] is True
    assert trees[3]["dataset"] == {"_component_": "torchtune.datasets.alpaca_dataset", "packed": False,
                                   "new_field": 1}
    assert trees[2]["model"]["lora_attn_modules"] == ["q_proj", "k_proj", "v_proj"]


def test_duplicate_values_empty_lists_and_max_runs(tmp_path: Path) -> None:
    assert "duplicate value 8" in errors(tmp_path, "variables:\n  lora_rank: [8, 16, 8]\n")
    assert "empty list" in errors(tmp_path, "variables:\n  lora_rank: []\n")
    msg = errors(tmp_path, "variables:\n  lora_rank: [1, 2, 3]\n  batch_size: [1, 2]\nsweep: {max_runs: 5}\n")
    assert "6 runs (3 x 2), more than max_runs 5" in msg
    with pytest.raises(ExperimentError, match="more than max_runs 2"):
        plan_experiment(experiment(tmp_path, "variables:\n  lora_rank: [1, 2, 3]\n"), max_runs=2)


def test_zip_and_exclude(tmp_path: Path) -> None:
    p = plan(tmp_path, "variables:\n  lora_rank: [8, 16, 32]\n  batch_size: [2, 4]\n  lora_alpha: [16, 32, 64]\n"
                       "sweep:\n  zip: [[lora_rank, lora_alpha]]\n  exclude: [{lora_rank: 32, batch_size: 4}]\n")
    got = [(r.run_id, r.variables["lora_rank"], r.variables["lora_alpha"], r.variables["batch_size"]) for r in p.runs()]
    assert got == [("run_000", 8, 16, 2), ("run_001", 8, 16, 4), ("run_002", 16, 32, 2), ("run_003", 16, 32, 4),
                   ("run_004", 32, 64, 2)]
    msg = errors(tmp_path, "variables:\n  lora_rank: [8, 16]\n  lora_alpha: [16]\nsweep: {zip: [[lora_rank, lora_alpha]]}\n")
    assert "'lora_rank' has 2 values but 'lora_alpha' has 1" in msg
    msg = errors(tmp_path, "variables:\n  lora_rank: [8, 16]\nsweep: {exclude: [{lora_rank: 12}]}\n")
    assert "not a value of 'lora_rank'" in msg


def test_a_mapping_may_be_set_over_null_even_written_flat(tmp_path: Path) -> None:
    # null fits anything (docs/contract.md §4), also when the control is flattened into dotted keys
    p = plan(tmp_path, "controls:\n  tokenizer.max_seq_len: {a: 1}\n  +extra: null\n")
    assert p.controlled.tree["tokenizer"]["max_seq_len"] == {"a": 1}
    base = BASE.replace("profiler:\n  enabled: false\n", "profiler: null\n")
    p = plan(tmp_path, "controls:\n  profiler: {enabled: true, steps: 3}\n", base=base)
    assert p.controlled.tree["profiler"] == {"enabled": True, "steps": 3}
