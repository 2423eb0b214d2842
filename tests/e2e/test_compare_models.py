"""Comparing models and recipes in one sweep: a base axis, named presets, seeded random search.

Every generated config is checked against its own shipped base config, loaded with OmegaConf
independently of ttgen, plus exactly the overrides the experiment means (written out here by
hand), key order included. Goldens of both examples are in test_golden.py (every example
folder is a case).
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from test_slurm import slurm_cluster  # noqa: F401  (a fixture)
from test_training import workspace  # noqa: F401  (tiny CPU model assets and the training environment)
from helpers import EXAMPLES, assert_clean_failure, load_omegaconf, problem_block, run_cli, same, write
from ttgen.inputs.catalog import load_catalog

LLAMA = "llama3_2/1B_lora_single_device"
QWEN = "qwen2_5/0.5B_lora_single_device"
PRESETS = EXAMPLES / "compare_models" / "experiment.yaml"
BASES = EXAMPLES / "compare_bases" / "experiment.yaml"
# What seed 2026 draws for learning_rate (loguniform 1e-5..1e-3, 4 significant digits): the same on
# every machine, Python and hash seed.
DRAWN_LR = [1.731e-05, 0.0001012, 0.0001056]

# The qwen05b preset of examples/compare_models, written out as the config paths it sets.
QWEN_PRESET = {
    "model._component_": "torchtune.models.qwen2_5.lora_qwen2_5_0_5b",
    "model.lora_attn_modules": ["q_proj", "v_proj", "output_proj"],
    "model.apply_lora_to_mlp": True,
    "model.lora_dropout": 0.0,
    "tokenizer._component_": "torchtune.models.qwen2_5.qwen2_5_tokenizer",
    "tokenizer.path": "/models/Qwen2.5-0.5B-Instruct/vocab.json",
    "tokenizer.merges_file": "/models/Qwen2.5-0.5B-Instruct/merges.txt",
    "tokenizer.max_seq_len": None,
    "checkpointer.checkpoint_dir": "/models/Qwen2.5-0.5B-Instruct",
    "checkpointer.checkpoint_files": ["model.safetensors"],
    "checkpointer.model_type": "QWEN2",
}
LLAMA_PRESET = {
    "tokenizer.path": "/models/Llama-3.2-1B-Instruct/original/tokenizer.model",
    "checkpointer.checkpoint_dir": "/models/Llama-3.2-1B-Instruct/",
}


def shipped(name: str) -> dict[str, Any]:
    """A shipped config as OmegaConf reads it (interpolations unresolved)."""
    return load_omegaconf(load_catalog().configs[name].path)


def expected(base: str, sets: dict[str, Any], *, delete: tuple[str, ...] = ("profiler",)) -> dict[str, Any]:
    """*base* with *delete* removed and every dotted path of *sets* set (new keys after the base's)."""
    tree = copy.deepcopy(shipped(base))
    for key in delete:
        tree.pop(key)
    for dotted, value in sets.items():
        node = tree
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return tree


def generated(path: Path) -> dict[str, Any]:
    """A generated config as OmegaConf reads it, without ttgen's own record of the run."""
    data = load_omegaconf(path)
    assert set(data["ttgen"]) == {"experiment", "run_id", "variables"}
    data.pop("ttgen")
    return data


def render(experiment: Path, out: Path) -> dict[str, Any]:
    result = run_cli("render", experiment, "--out", out)
    assert result.code == 0, result.err
    return yaml.safe_load((out / "configs" / "run_mapping.yaml").read_text())


@pytest.fixture(scope="module")
def presets_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("presets") / "out"
    return out, render(PRESETS, out)


@pytest.fixture(scope="module")
def bases_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("bases") / "out"
    return out, render(BASES, out)


def test_presets_every_config_is_its_base_plus_the_intended_overrides(presets_folder) -> None:
    out, mapping = presets_folder
    assert len(mapping) == 6
    seen = []
    for run_id, entry in mapping.items():
        model, rank = entry["variables"]["model"], entry["variables"]["lora_rank"]
        seen.append((model, rank))
        preset = QWEN_PRESET if model == "qwen05b" else LLAMA_PRESET
        want = expected(LLAMA, {
            "output_dir": f"{out.resolve()}/runs/{model}_r{rank}", **preset,
            "model.lora_rank": rank, "model.lora_alpha": 2 * rank, "epochs": 1,
            "dataset.data_files": "/scratch/data/my_data.json"})
        assert same(generated(out / "configs" / f"{run_id}.yaml"), want), run_id
    assert seen == [(m, r) for m in ("llama1b", "qwen05b") for r in (8, 16, 32)]


def test_presets_name_the_runs(presets_folder) -> None:
    out, mapping = presets_folder
    assert mapping["run_004"]["variables"] == {"model": "qwen05b", "lora_rank": 16}
    config = (out / "configs" / "run_004.yaml").read_text()
    assert "#   model = qwen05b  (preset of presets.model)" in config
    assert "  model_type: QWEN2  # variable: model=qwen05b\n" in config
    assert load_omegaconf(out / "configs" / "run_004.yaml")["ttgen"]["variables"] == {"model": "qwen05b",
                                                                                     "lora_rank": 16}
    table = run_cli("render", PRESETS, "--dry-run")
    assert table.code == 0, table.err
    rows = [line.split() for line in table.out.splitlines()[1:7]]
    assert [row[:3] for row in rows] == [[f"run_00{i}", m, str(r)] for i, (m, r) in
                                         enumerate((m, r) for m in ("llama1b", "qwen05b") for r in (8, 16, 32))]
    assert rows[3][4].endswith("/runs/qwen05b_r8")


def test_preset_slurm_resources_apply_to_its_runs_only(presets_folder) -> None:
    out, _ = presets_folder
    slurm = out / "slurm"
    assert sorted(p.name for p in slurm.glob("submit_array*.sh")) == ["submit_array_llama1b.sh",
                                                                      "submit_array_qwen05b.sh"]

    def directives(script: Path) -> list[str]:
        return [line for line in script.read_text().splitlines() if line.startswith("#SBATCH")]

    llama, qwen = directives(slurm / "submit_array_llama1b.sh"), directives(slurm / "submit_array_qwen05b.sh")
    assert "#SBATCH --array=0-2" in llama and "#SBATCH --array=3-5" in qwen
    assert {"#SBATCH --time=04:00:00", "#SBATCH --mem=64G", "#SBATCH --gres=gpu:1"} <= set(llama)
    assert {"#SBATCH --time=02:00:00", "#SBATCH --mem=32G", "#SBATCH --gres=gpu:1"} <= set(qwen)
    for i in range(6):
        own = directives(slurm / f"submit_run_00{i}.sh")
        assert ("#SBATCH --time=02:00:00" in own) == (i >= 3), i
        assert ("#SBATCH --mem=32G" in own) == (i >= 3), i


def test_base_axis_every_config_is_its_own_base_plus_the_intended_overrides(bases_folder) -> None:
    out, mapping = bases_folder
    assert len(mapping) == 12
    for run_id, entry in mapping.items():
        index = int(run_id.removeprefix("run_"))
        base = LLAMA if index < 6 else QWEN
        assert entry["base_config"] == base
        rank, lr = entry["variables"]["lora_rank"], entry["variables"]["learning_rate"]
        assert rank == (8 if index % 6 < 3 else 16)
        assert lr == DRAWN_LR[index % 3] and entry["sample"] == index % 3
        want = expected(base, {"output_dir": f"{out.resolve()}/runs/{run_id}", "model.lora_rank": rank,
                               "optimizer.lr": lr, "model.lora_alpha": 2 * rank, "epochs": 1,
                               "dataset.data_files": "/scratch/data/my_data.json"})
        assert same(generated(out / "configs" / f"{run_id}.yaml"), want), run_id
    # A drawn float is written the way a researcher reads it: 4 significant digits, not 17.
    assert re.search(r"^  lr: 0\.0001012  # variable: learning_rate$", (out / "configs" / "run_007.yaml").read_text(),
                     re.M)


def test_base_axis_records_every_base(bases_folder) -> None:
    out, _ = bases_folder
    manifest = yaml.safe_load((out / "manifest.yaml").read_text())
    assert [(b["source"], b["file"], b["runs"]) for b in manifest["base_configs"]] == [
        (LLAMA, "base_config.yaml", "run_000-run_005"), (QWEN, "base_config_1.yaml", "run_006-run_011")]
    for entry in manifest["base_configs"]:
        assert (out / entry["file"]).read_bytes() == load_catalog().configs[entry["source"]].path.read_bytes()
        assert manifest["files"][entry["file"]] == entry["sha256"]
    config = (out / "configs" / "run_006.yaml").read_text()
    assert f"# Base config: {QWEN} (recipe: lora_finetune_single_device)" in config
    # Both bases run the same recipe with the same resources: one array, as without a base axis.
    assert sorted(p.name for p in (out / "slurm").glob("submit_array*.sh")) == ["submit_array.sh"]
    table = run_cli("render", BASES, "--dry-run")
    assert table.out.splitlines()[0].split()[:4] == ["run", "base_config", "lora_rank", "learning_rate"]
    assert table.out.splitlines()[7].split()[:4] == ["run_006", QWEN, "8", "1.731e-05"]


def test_diff_is_against_the_runs_own_base_and_check_reproduces(bases_folder) -> None:
    out, _ = bases_folder
    result = run_cli("diff", "run_007", "--dir", out, "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["before"]["file"] == "base_config_1.yaml"
    rows = {row["path"]: row for row in doc["differences"]}
    assert rows["optimizer.lr"]["before"] == 2e-3 and rows["optimizer.lr"]["after"] == DRAWN_LR[1]
    assert rows["optimizer.lr"]["origin"] == {"kind": "variable", "key": "learning_rate"}
    assert rows["model.lora_rank"]["before"] == 32  # Qwen's own value, not Llama's 64
    llama = json.loads(run_cli("diff", "run_001", "--dir", out, "--json").out)
    assert llama["before"]["file"] == "base_config.yaml"
    assert {r["path"]: r for r in llama["differences"]}["model.lora_rank"]["before"] == 64
    check = run_cli("check", BASES, "--against", out)
    assert check.code == 0, check.out + check.err


def test_check_reproduces_a_presets_folder(presets_folder) -> None:
    out, _ = presets_folder
    check = run_cli("check", PRESETS, "--against", out)
    assert check.code == 0, check.out + check.err


def _dry_run_json(experiment: Path, hash_seed: str) -> list[dict[str, Any]]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    proc = subprocess.run([sys.executable, "-m", "ttgen", "render", str(experiment), "--dry-run", "--json"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return [{k: run[k] for k in ("run_id", "variables", "base_config")} for run in json.loads(proc.stdout)["runs"]]


def test_random_search_is_the_same_in_every_process_and_hash_seed(tmp_path: Path) -> None:
    experiment = write(tmp_path / "experiment.yaml", f"""\
experiment: {{name: random_search, framework: torchtune}}
framework_config: {{base_config: [{LLAMA}, {QWEN}]}}
variables:
  learning_rate: {{distribution: loguniform, low: 1e-6, high: 1e-2, digits: 3}}
  lora_rank: {{distribution: choice, values: [4, 8, 16, 32]}}
  batch_size: {{distribution: int_range, low: 1, high: 8}}
  weight_decay: {{distribution: uniform, low: 0.0, high: 0.1}}
  lora_dropout: [0.0, 0.1]
sweep: {{method: random, samples: 5, seed: 7}}
""")
    runs = [_dry_run_json(experiment, seed) for seed in ("0", "1", "4242", "random")]
    assert all(r == runs[0] for r in runs[1:])
    assert len(runs[0]) == 2 * 5 * 2
    first = runs[0][0]["variables"]
    # Pinned: a change of how values are drawn would change every user's sweep.
    assert first == {"learning_rate": 1.97e-05, "lora_rank": 4, "batch_size": 6, "weight_decay": 0.007244,
                     "lora_dropout": 0.0}
    # The draws advance together, at the place of the first drawn variable, and form a grid with
    # the list variable (written last: it varies fastest), in each base.
    draws = [r["variables"] for r in runs[0][:10]]
    assert [d["lora_dropout"] for d in draws] == [0.0, 0.1] * 5
    assert [{k: v for k, v in d.items() if k != "lora_dropout"} for d in draws[0::2]] == \
        [{k: v for k, v in d.items() if k != "lora_dropout"} for d in draws[1::2]]
    assert len({d["learning_rate"] for d in draws}) == 5
    assert [r["variables"] for r in runs[0][10:]] == draws
    assert {r["base_config"] for r in runs[0][10:]} == {QWEN}
    # Another seed draws other values.
    other = write(tmp_path / "other" / "experiment.yaml", experiment.read_text().replace("seed: 7", "seed: 8"))
    assert _dry_run_json(other, "0")[0]["variables"] != first


def test_unknown_preset_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    experiment = write(tmp_path / "experiment.yaml", PRESETS.read_text().replace(
        "model: [llama1b, qwen05b]", "model: [llama1b, qwen05]"))
    result = run_cli("render", experiment, "--dry-run")
    assert_clean_failure(result, errors=1)
    block = problem_block(result.err, f"{experiment}:")
    assert "variables.model[1]: 'qwen05' is not a preset of 'model' (presets: llama1b, qwen05b)" in block[0]
    assert "did you mean 'qwen05b'?" in block[1]


def test_an_error_names_the_base_where_it_fails(tmp_path: Path) -> None:
    # save_adapter_weights_only is a key of the Llama config only.
    experiment = write(tmp_path / "experiment.yaml", BASES.read_text().replace(
        "  epochs: 1\n", "  epochs: 1\n  save_adapter_weights_only: true\n"))
    result = run_cli("render", experiment, "--dry-run")
    assert_clean_failure(result, errors=1)
    line = next(line for line in result.err.splitlines() if "save_adapter_weights_only" in line)
    assert f"with base {QWEN}: unknown key 'save_adapter_weights_only'" in line
    assert LLAMA not in line


@pytest.mark.parametrize("change, says", [
    ("  seed: 2026\n", "a random search needs sweep.seed"),
    ("  method: random\n", "a distribution is drawn only by a random search"),
    ("low: 1e-5, high: 1e-3", "loguniform needs low > 0"),
])
def test_random_search_misuse_is_reported(tmp_path: Path, change: str, says: str) -> None:
    text = BASES.read_text()
    text = text.replace(change, "") if change.startswith("  ") else text.replace(change, "low: 0.0, high: 1e-3")
    result = run_cli("render", write(tmp_path / "experiment.yaml", text), "--dry-run")
    assert result.code == 1 and "Traceback" not in result.err
    assert says in result.err


def test_a_preset_key_that_a_control_also_sets_is_an_error(tmp_path: Path) -> None:
    experiment = write(tmp_path / "experiment.yaml", PRESETS.read_text().replace(
        "  epochs: 1\n", "  epochs: 1\n  tokenizer.path: /x/tokenizer.model\n"))
    result = run_cli("render", experiment, "--dry-run")
    assert_clean_failure(result, errors=1)
    assert "a preset of 'model' sets tokenizer.path, which control 'tokenizer.path' also sets" in result.err


@pytest.mark.needs_torch
def test_tune_validate_passes_on_a_sample(presets_folder, bases_folder) -> None:
    tune = Path(sys.executable).with_name("tune")
    for folder, run_id in ((presets_folder[0], "run_000"), (presets_folder[0], "run_005"),
                           (bases_folder[0], "run_011")):
        proc = subprocess.run([str(tune), "validate", str(folder / "configs" / f"{run_id}.yaml")],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0 and "Config is well-formed!" in proc.stdout, (run_id, proc.stdout, proc.stderr)


@pytest.mark.needs_torch
def test_ttgen_validate_passes_on_every_run(presets_folder, bases_folder) -> None:
    for folder in (presets_folder[0], bases_folder[0]):
        result = run_cli("validate", folder)
        assert result.code == 0, result.out + result.err


def test_resubmit_changes_rerender_each_run_from_its_own_base(tmp_path: Path) -> None:
    from ttgen.jobs.resubmit import apply_changes

    out = tmp_path / "out"
    render(BASES, out)
    changed = apply_changes(out, {"run_007": {"optimizer.lr": 5e-5}})
    assert changed == ["configs/run_007.yaml", "configs/run_mapping.yaml"]
    assert same(generated(out / "configs" / "run_007.yaml"), expected(QWEN, {
        "output_dir": f"{out.resolve()}/runs/run_007", "model.lora_rank": 8, "optimizer.lr": 5e-5,
        "model.lora_alpha": 16, "epochs": 1, "dataset.data_files": "/scratch/data/my_data.json"}))
    assert run_cli("check", BASES, "--against", out).code == 0


def test_tracker_tags_show_the_preset_name(tmp_path: Path) -> None:
    # Without the derived lora_alpha: with derived controls, ttgen leaves a logger set by a control alone.
    experiment = write(tmp_path / "experiment.yaml", PRESETS.read_text().replace(
        '  lora_alpha: "{{ 2 * lora_rank }}"\n', "").replace(
        "  epochs: 1\n", "  epochs: 1\n  metric_logger:\n    _component_: torchtune.training.metric_logging.WandBLogger\n"
                         "    project: compare\n"))
    out = tmp_path / "out"
    render(experiment, out)
    logger = load_omegaconf(out / "configs" / "run_004.yaml")["metric_logger"]
    assert logger["tags"] == ["llama_vs_qwen_lora", "model=qwen05b", "lora_rank=16"]
    assert logger["name"] == "llama_vs_qwen_lora_run_004"


@pytest.mark.slow
@pytest.mark.needs_slurm
def test_submit_sends_each_preset_group_with_its_own_resources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                slurm_cluster: None) -> None:
    import time

    stand_in = write(tmp_path / "stand_in", "#!/bin/bash\necho \"stand-in tune $*\"\n")
    stand_in.chmod(0o755)
    monkeypatch.setenv("TTGEN_TUNE", str(stand_in))
    experiment = write(tmp_path / "experiment.yaml", f"""\
experiment: {{name: groups, framework: torchtune}}
framework_config: {{base_config: {LLAMA}}}
presets:
  size:
    small: {{batch_size: 2, slurm: {{time: "00:03:00"}}}}
    large: {{batch_size: 8}}
variables:
  size: [small, large]
  lora_rank: [8, 16]
controls: {{output_dir: {tmp_path / "runs"}}}
slurm:
  time: "00:07:00"
  gpus_per_node: 0
""")
    out = tmp_path / "out"
    render(experiment, out)
    cpu = ["--partition=debug", "--mem=100M", "--cpus-per-task=1"]
    dry = run_cli("submit", out, "--dry-run", "--", *cpu, cwd=tmp_path)
    assert dry.code == 0, dry.err
    lines = dry.out.splitlines()
    assert lines[0].startswith("sbatch --parsable --array=0-1 ") and lines[0].endswith("/slurm/submit_array_small.sh")
    assert lines[1].startswith("sbatch --parsable --array=2-3 ") and lines[1].endswith("/slurm/submit_array_large.sh")
    sub = run_cli("submit", out, "--", *cpu, cwd=tmp_path)
    assert sub.code == 0, sub.err
    records = [json.loads(line) for line in (out / "slurm" / "state" / "submissions.jsonl").read_text().splitlines()]
    assert [(r["array"], Path(r["command"][-1]).name) for r in records] == [
        ("0-1", "submit_array_small.sh"), ("2-3", "submit_array_large.sh")]
    limits = {}
    for record in records:
        done = subprocess.run(["scontrol", "-o", "show", "job", record["job"]], capture_output=True, text=True,
                              timeout=30)
        limits[record["array"]] = set(re.findall(r"\bTimeLimit=(\S+)", done.stdout))
    assert limits == {"0-1": {"00:03:00"}, "2-3": {"00:07:00"}}, limits
    deadline = time.monotonic() + 240
    while len(list((out / "slurm" / "state").glob("*.ended"))) < 4:
        assert time.monotonic() < deadline, sorted(p.name for p in (out / "slurm" / "state").iterdir())
        time.sleep(2)
    ended = sorted(p.name.split("@")[0] for p in (out / "slurm" / "state").glob("*.ended"))
    assert ended == ["run_000", "run_001", "run_002", "run_003"]
    status = run_cli("status", out, "--json", cwd=tmp_path)
    assert status.code == 0, status.err
    runs = json.loads(status.out)["runs"]
    assert [(r["run_id"], r["state"]) for r in runs] == [(f"run_00{i}", "COMPLETED") for i in range(4)], runs


def test_an_unused_preset_is_a_warning_and_exclude_names_presets(tmp_path: Path) -> None:
    experiment = write(tmp_path / "experiment.yaml", PRESETS.read_text().replace(
        "model: [llama1b, qwen05b]", "model: [qwen05b]").replace(
        "delete: [profiler]", "delete: [profiler]\nsweep:\n  exclude: [{model: qwen05b, lora_rank: 32}]"))
    result = run_cli("render", experiment, "--dry-run")
    assert result.code == 0, result.err
    assert "presets.model.llama1b: warning: preset 'llama1b' of 'model' is not used" in result.err
    assert [line.split()[:3] for line in result.out.splitlines()[1:3]] == [["run_000", "qwen05b", "8"],
                                                                           ["run_001", "qwen05b", "16"]]
    assert result.out.splitlines()[3] == "2 runs (dry run: nothing written)"


def test_bases_with_different_recipes_get_their_own_array_and_launch(tmp_path: Path) -> None:
    experiment = write(tmp_path / "experiment.yaml", f"""\
experiment: {{name: recipes, framework: torchtune}}
framework_config:
  base_config: [llama3_2/1B_lora, {QWEN}]
variables: {{lora_rank: [8, 16]}}
slurm: {{time: "01:00:00", gpus_per_node: 1}}
""")
    out = tmp_path / "out"
    mapping = render(experiment, out)
    assert [e["base_config"] for e in mapping.values()] == ["llama3_2/1B_lora"] * 2 + [QWEN] * 2
    slurm = out / "slurm"
    scripts = sorted(p.name for p in slurm.glob("submit_array*.sh"))
    assert scripts == ["submit_array_llama3_2-1B_lora.sh", "submit_array_qwen2_5-0.5B_lora_single_device.sh"]
    distributed = (slurm / scripts[0]).read_text()
    single = (slurm / scripts[1]).read_text()
    assert "#SBATCH --array=0-1" in distributed and "lora_finetune_distributed" in distributed
    assert "#SBATCH --array=2-3" in single and "lora_finetune_single_device" in single
    assert "lora_finetune_distributed" not in single
    assert "lora_finetune_single_device" in (slurm / "submit_run_003.sh").read_text()
    assert "lora_finetune_distributed" in (slurm / "submit_run_000.sh").read_text()
    assert "# Base config: llama3_2/1B_lora (recipe: lora_finetune_distributed)" in \
        (out / "configs" / "run_000.yaml").read_text()


def test_a_problem_of_every_base_is_said_once(tmp_path: Path) -> None:
    experiment = write(tmp_path / "experiment.yaml", BASES.read_text().replace(
        "delete: [profiler]", "delete: [profiler, profilr]"))
    result = run_cli("render", experiment, "--dry-run")
    assert result.code == 0, result.err
    lines = [line for line in result.err.splitlines() if "profilr" in line and "warning" in line]
    assert len(lines) == 1 and "with base" not in lines[0], result.err


def test_json_documents_of_a_base_axis_match_their_schemas(bases_folder) -> None:
    from test_json_schemas import assert_valid

    out, _ = bases_folder
    render_doc = json.loads(run_cli("render", BASES, "--dry-run", "--json").out)
    assert_valid("render", render_doc)
    assert [r["base_config"] for r in render_doc["runs"]] == [LLAMA] * 6 + [QWEN] * 6
    diff_doc = json.loads(run_cli("diff", "run_000", "run_011", "--dir", out, "--json").out)
    assert_valid("diff", diff_doc)
    origins = {row["path"]: row["origin"] for row in diff_doc["differences"]}
    assert origins["model._component_"] == {"kind": "base", "key": QWEN}
    assert origins["optimizer.lr"] == {"kind": "variable", "key": "learning_rate"}


def test_problems_of_presets_draws_and_base_lists_are_reported_together(tmp_path: Path) -> None:
    experiment = write(tmp_path / "experiment.yaml", f"""\
experiment: {{name: e, framework: torchtune}}
framework_config: {{base_config: {LLAMA}}}
presets:
  model:
    a: {{lora_rnk: 3}}
    b: {{tokenizer: {{pathh: x}}}}
variables:
  model: [a, b]
  learning_rate: {{distribution: uniform, low: 1, high: 0.5}}
sweep: {{method: random, samples: 2, seed: 1}}
""")
    result = run_cli("render", experiment, "--dry-run")
    assert_clean_failure(result, errors=2)
    assert "presets.model.a.lora_rnk: unknown key 'lora_rnk'" in result.err
    assert "did you mean lora_rank (model.lora_rank)" in result.err
    assert "variables.learning_rate.low: low (1) must be below high (0.5)" in result.err
    assert result.err.count("'tokenizer.pathh' is a new key; did you mean 'tokenizer.path'?") == 1
    listed_twice = write(tmp_path / "twice" / "experiment.yaml", f"""\
experiment: {{name: e, framework: torchtune}}
framework_config: {{base_config: [{LLAMA}, {LLAMA}]}}
""")
    result = run_cli("render", listed_twice, "--dry-run")
    assert_clean_failure(result, errors=1)
    assert f"framework_config.base_config[1]: '{LLAMA}' is listed twice" in result.err


@pytest.mark.slow
@pytest.mark.needs_torch
def test_a_base_axis_with_presets_trains_on_cpu(workspace) -> None:
    """Two shipped bases x two presets on the tiny CPU model: each config trains with its own base's recipe."""
    from test_training import RUN_TIMEOUT, Run, check_finished

    folder = workspace.example("tiny_cpu")
    text = (folder / "experiment.yaml").read_text()
    text = text.replace("  base_config: llama3_2/1B_lora_single_device",
                        "  base_config: [llama3_2/1B_lora_single_device, llama3_2/3B_lora_single_device]")
    text = text.replace("variables:\n  lora_rank: [4, 8]", "presets:\n  lr:\n    fast: {learning_rate: 3e-3}\n"
                        "    slow: {learning_rate: 1e-5, batch_size: 1}\nvariables:\n  lr: [fast, slow]")
    text = text.replace("  batch_size: 2\n", "")
    # The 3B base names two checkpoint shards: the tiny model is one file, in either base.
    text = text.replace("    checkpoint_dir: assets/model\n",
                        "    checkpoint_dir: assets/model\n    checkpoint_files: [model.safetensors]\n")
    experiment = write(folder / "compare.yaml", text)
    out = folder / "outputs" / "compare"
    result = run_cli("render", experiment, "--out", out)
    assert result.code == 0, result.err
    mapping = yaml.safe_load((out / "configs" / "run_mapping.yaml").read_text())
    recipes = {b["source"]: b["recipe"] for b in yaml.safe_load((out / "manifest.yaml").read_text())["base_configs"]}
    assert [(e["base_config"], e["variables"]["lr"]) for e in mapping.values()] == [
        ("llama3_2/1B_lora_single_device", "fast"), ("llama3_2/1B_lora_single_device", "slow"),
        ("llama3_2/3B_lora_single_device", "fast"), ("llama3_2/3B_lora_single_device", "slow")]
    for run_id, entry in mapping.items():
        config = out / "configs" / entry["config"]
        proc = subprocess.run([sys.executable, "-m", "torchtune._cli.tune", "run", recipes[entry["base_config"]],
                               "--config", str(config)], cwd=folder, env=workspace.env, capture_output=True,
                              text=True, timeout=RUN_TIMEOUT)
        run = Run(run_id=run_id, mapping=entry, output_dir=folder / entry["output_dir"], proc=proc, seconds=0.0)
        check_finished(run)
        saved = yaml.safe_load((run.output_dir / "torchtune_config.yaml").read_text())
        assert saved["optimizer"]["lr"] == (3e-3 if entry["variables"]["lr"] == "fast" else 1e-5)
        assert saved["batch_size"] == (1 if entry["variables"]["lr"] == "slow" else
                                       shipped(entry["base_config"])["batch_size"])
