"""Training outputs never collide, and every run is findable in its tracker (docs/output.md, "Where runs write").

Checked through `ttgen render` (and `--dry-run`) on real shipped configs: each run's own
output_dir, every key a recipe writes to differing between runs (or a positioned error),
a warning for run folders that already hold files, the tracker's names, and the ttgen:
block every config carries.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import problem_block, run_cli, write
from ttgen.plan.outputs import is_write_key, resolve_text, same_folder
from ttgen.tree import iter_paths

LORA_BASE = "llama3_2/1B_lora_single_device"


def experiment(folder: Path, body: str, *, name: str = "study", base: str = LORA_BASE) -> Path:
    return write(folder / "experiment.yaml", f"experiment: {{name: {name}, framework: torchtune}}\n"
                                             f"framework_config: {{base_config: {base}}}\n" + body)


def configs(out: Path) -> list[dict[str, Any]]:
    files = sorted(p for p in (out / "configs").glob("run_*.yaml") if p.stem[4:].isdigit())
    return [yaml.safe_load(p.read_text(encoding="utf-8")) for p in files]


def written_folders(config: dict[str, Any]) -> set[str]:
    """Every folder a run writes to, resolved as OmegaConf would resolve ${...} references to its own keys."""
    return {same_folder(resolve_text(value, config)) for path, value in iter_paths(config)
            if is_write_key(path) and isinstance(value, str) and path[0] != "ttgen"}


def test_two_experiments_on_one_base_share_no_written_path(tmp_path: Path) -> None:
    """The reported bug: two studies on one shipped base both trained into /tmp/torchtune/.../run_000."""
    folders: list[set[str]] = []
    for name in ("first", "second"):
        exp = experiment(tmp_path / name, "variables: {lora_rank: [8, 16]}\n", name=name)
        result = run_cli("render", exp)
        assert result.code == 0, result.err
        (out,) = (tmp_path / name / "outputs").iterdir()
        runs = configs(out)
        assert [c["output_dir"] for c in runs] == [f"{out.resolve()}/runs/run_000", f"{out.resolve()}/runs/run_001"]
        per_run = [written_folders(c) for c in runs]
        assert per_run[0] and not per_run[0] & per_run[1], "two runs of one experiment share a folder"
        assert all(f.startswith(str(out.resolve())) for run in per_run for f in run), "a run writes outside its folder"
        folders.append(set().union(*per_run))
    assert not folders[0] & folders[1], "two experiments share a written path"


def test_a_control_fixing_the_checkpointer_folder_for_every_run_is_an_error(tmp_path: Path) -> None:
    exp = experiment(tmp_path, "variables: {lora_rank: [8, 16, 32]}\n"
                               "controls:\n  output_dir: /scratch/shared_ckpt\n"
                               "  checkpointer: {output_dir: /project/ckpts/shared_ckpt}\n",
                     base="llama3_1/8B_lora_single_device")
    for extra in ((), ("--dry-run",)):
        result = run_cli("render", exp, "--out", tmp_path / "o", *extra)
        assert result.code == 1 and "Traceback" not in result.err
        block = problem_block(result.err, f"{exp}:6:30: checkpointer.output_dir: ")
        assert "all 3 runs would write to the same folder /project/ckpts/shared_ckpt" in block[0]
        assert "checkpointer.output_dir: ${output_dir}" in block[1] and "{{ run_id }}" in block[1]
        assert not (tmp_path / "o").exists()


def test_a_fixed_log_folder_in_the_base_is_an_error_at_the_base_line(tmp_path: Path) -> None:
    base = write(tmp_path / "base.yaml", "output_dir: /tmp/x\nmetric_logger:\n"
                                         "  _component_: torchtune.training.metric_logging.DiskLogger\n"
                                         "  log_dir: /tmp/shared_logs\nseed: null\n")
    exp = write(tmp_path / "experiment.yaml", "experiment: {name: s, framework: torchtune}\n"
                                              "framework_config: {base_config_file: base.yaml}\n"
                                              "variables: {seed: [1, 2]}\n")
    result = run_cli("render", exp, "--dry-run")
    assert result.code == 1
    block = problem_block(result.err, f"{base}:4:12: metric_logger.log_dir: ")
    assert "both runs would write to the same folder /tmp/shared_logs" in block[0]
    assert "metric_logger.log_dir: ${output_dir}/logs" in block[1]


def test_write_folders_are_compared_as_folders(tmp_path: Path) -> None:
    """/a/x/ and /a//x are one folder: two runs writing there collide."""
    exp = experiment(tmp_path, "variables:\n  checkpointer.output_dir: [/a/x/, /a//x, /a/y]\n")
    result = run_cli("render", exp, "--dry-run")
    assert result.code == 1
    block = problem_block(result.err, f"{exp}:4:3: checkpointer.output_dir: ")
    assert "2 runs would write to the same folder /a/x through checkpointer.output_dir (run_000, run_001)" in block[0]


def test_a_disabled_profiler_writes_nothing(tmp_path: Path) -> None:
    """phi3's shipped config points profiler.output_dir at a fixed folder, but the profiler is off."""
    exp = experiment(tmp_path, "variables: {seed: [1, 2]}\n", base="phi3/mini_lora_single_device")
    assert run_cli("render", exp, "--dry-run").code == 0
    on = experiment(tmp_path, "variables: {seed: [1, 2]}\ncontrols: {profiler.enabled: true}\n",
                    base="phi3/mini_lora_single_device")
    result = run_cli("render", on, "--dry-run")
    assert result.code == 1 and "profiler.output_dir" in result.err


def test_run_dir_places_runs_and_must_tell_them_apart(tmp_path: Path) -> None:
    exp = experiment(tmp_path, "variables: {lora_rank: [8, 16]}\n"
                               "output: {run_dir: 'scratch/{{ experiment.name }}/{{ folder_name }}/{{ run_id }}'}\n")
    result = run_cli("render", exp, "--out", tmp_path / "o")
    assert result.code == 0, result.err
    assert [c["output_dir"] for c in configs(tmp_path / "o")] == [
        f"{tmp_path}/scratch/study/o/run_000", f"{tmp_path}/scratch/study/o/run_001"]  # relative to experiment.yaml
    same = experiment(tmp_path, "variables: {lora_rank: [8, 16]}\noutput: {run_dir: /scratch/one}\n")
    result = run_cli("render", same, "--dry-run")
    assert result.code == 1
    block = problem_block(result.err, f"{same}:4:19: output_dir: ")
    assert "2 runs would write to the same folder /scratch/one" in block[0] and "{{ run_id }}" in block[1]
    both = experiment(tmp_path, "controls: {output_dir: /x}\noutput: {run_dir: '/y/{{ run_id }}'}\n")
    result = run_cli("render", both, "--dry-run")
    assert result.code == 1 and "output.run_dir and output_dir are both set" in result.err


def test_run_folders_that_already_hold_files_are_a_warning(tmp_path: Path) -> None:
    write(tmp_path / "scratch" / "run_001" / "adapter_model.pt", "someone else's results")
    exp = experiment(tmp_path, "variables: {lora_rank: [8, 16]}\n"
                               "output: {run_dir: '" + str(tmp_path / "scratch") + "/{{ run_id }}'}\n")
    result = run_cli("render", exp, "--dry-run")
    assert result.code == 0
    assert "warning: the output folders of 1 run(s) already hold files (run_001)" in result.err


TRACKERS = {
    "WandBLogger": {"name": "study_run_001", "group": "study", "tags": ["study", "lora_rank=16"]},
    "MLFlowLogger": {"experiment_name": "study", "run_name": "study_run_001"},
    "CometLogger": {"experiment_name": "study_run_001", "tags": ["study", "lora_rank=16"]},
}


@pytest.mark.parametrize("logger", sorted(TRACKERS))
def test_tracker_names_the_run(tmp_path: Path, logger: str) -> None:
    exp = experiment(tmp_path, "variables: {lora_rank: [8, 16]}\ncontrols:\n  metric_logger:\n"
                               f"    _component_: torchtune.training.metric_logging.{logger}\n")
    assert run_cli("render", exp, "--out", tmp_path / "o").code == 0
    config = configs(tmp_path / "o")[1]
    assert {k: config["metric_logger"][k] for k in TRACKERS[logger]} == TRACKERS[logger]
    assert config["ttgen"] == {"experiment": "study", "run_id": "run_001", "variables": {"lora_rank": 16}}


def test_the_experiment_names_its_runs_itself_when_it_wants(tmp_path: Path) -> None:
    exp = experiment(tmp_path, "variables: {lora_rank: [8, 16]}\ncontrols:\n  metric_logger:\n"
                               "    _component_: torchtune.training.metric_logging.WandBLogger\n"
                               "    group: my_group\n")
    assert run_cli("render", exp, "--out", tmp_path / "o").code == 0
    logger = configs(tmp_path / "o")[0]["metric_logger"]
    assert logger["group"] == "my_group" and logger["name"] == "study_run_000"


@pytest.mark.needs_torch
def test_wandb_config_binds_at_level_2_and_tune_validate_accepts_it(tmp_path: Path) -> None:
    """No network: level 2 binds name/group/tags against the real WandBLogger signature; tune validate agrees."""
    exp = experiment(tmp_path, "variables: {lora_rank: [8, 16]}\ncontrols:\n  metric_logger:\n"
                               "    _component_: torchtune.training.metric_logging.WandBLogger\n"
                               "    project: ttgen-test\n")
    assert run_cli("render", exp, "--out", tmp_path / "o").code == 0
    result = run_cli("validate", "--level", "2", tmp_path / "o")
    assert result.code == 0 and "all passed" in result.out, result.out + result.err
    tune = Path(sys.executable).with_name("tune")
    proc = subprocess.run([str(tune), "validate", str(tmp_path / "o" / "configs" / "run_001.yaml")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "Config is well-formed!" in proc.stdout, proc.stdout + proc.stderr


def test_force_never_deletes_what_runs_wrote(tmp_path: Path) -> None:
    """Re-rendering over a folder whose runs trained would throw their checkpoints away: refused."""
    exp = experiment(tmp_path, "variables: {lora_rank: [8, 16]}\n")
    out = tmp_path / "o"
    assert run_cli("render", exp, "--out", out).code == 0
    assert run_cli("render", exp, "--out", out, "--force").code == 0  # nothing trained yet: replaced
    write(out / "runs" / "run_000" / "epoch_0" / "adapter_model.pt", "weights")
    result = run_cli("render", exp, "--out", out, "--force")
    assert result.code == 1 and "holds what its runs wrote while training" in result.err
    assert (out / "runs" / "run_000" / "epoch_0" / "adapter_model.pt").read_text() == "weights"


def test_run_dir_expands_the_home_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    exp = experiment(tmp_path, "variables: {lora_rank: [8, 16]}\noutput: {run_dir: '~/runs/{{ run_id }}'}\n")
    assert run_cli("render", exp, "--out", tmp_path / "o").code == 0
    assert configs(tmp_path / "o")[1]["output_dir"] == f"{tmp_path}/home/runs/run_001"
