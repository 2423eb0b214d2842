"""How the SLURM scripts start training and report on it (docs/slurm.md, "What a script does"):
arguments passed on to `tune run`, the run offset of chained arrays, the started/ended markers
in slurm/state/, and torchtune's srun + rendezvous launch of distributed recipes on one node or
several. The cluster tests run on the real one-node cluster of test_slurm.py (same rules: they
skip without SLURM unless TTGEN_REQUIRE_SLURM=1).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from helpers import require, run_cli
from snapshot_yaml import text_extension
from test_slurm import (CPU_OVERRIDES, HOSTILE, SETUP, experiment, expected_args, fake_slurm_tools,
                        read_records, render, run_script, sbatch_wait, slurm_cluster, slurm_node, stand_in)
from ttgen.layout import ENDED, STARTED, marker_file
from ttgen.render.output import render_experiment

__all__ = ["slurm_cluster"]  # the cluster fixture, shared with test_slurm.py

TWO_NODES = """\
  partition: gpu
  time: "02:00:00"
  nodes: 2
  gpus_per_node: 4
  cpus_per_task: 16
  mem: 200G
""" + SETUP
SINGLE = "base_config: llama3_2/1B_lora_single_device"
MARKER = re.compile(r"time=(?P<time>[0-9]+) (?P<rest>.*)\n")


def marker(out: Path, run_id: str, job: str, what: str) -> str:
    """A marker's text after ``time=<now>`` (the time is checked to be recent)."""
    m = MARKER.fullmatch((out / marker_file(run_id, job, what)).read_text())
    assert m, f"{run_id}@{job}.{what} is not one line of time=... key=value"
    assert abs(int(m["time"]) - time.time()) < 600
    return m["rest"]


def state_files(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "slurm" / "state").iterdir())


def controlled_stand_in(folder: Path) -> tuple[Path, Path]:
    """Like test_slurm's stand-in, and it exits 3 for the config named by TTGEN_TEST_FAIL_RUN,
    after sleeping TTGEN_TEST_SLEEP seconds (a job to cancel while it trains)."""
    tune, records = stand_in(folder)
    text = tune.read_text()
    tune.write_text(text + 'sleep "${TTGEN_TEST_SLEEP:-0}"\n'
                           '[[ " $* " != *"/${TTGEN_TEST_FAIL_RUN:-none}.yaml "* ]] || exit 3\n')
    return tune, records


# --- what the scripts say -------------------------------------------------------------------


def test_golden_two_node_scripts(tmp_path: Path, snapshot) -> None:
    exp = experiment(tmp_path, TWO_NODES)
    render_experiment(exp, out=tmp_path / "o", final_dir=Path("/ttgen-golden/two_nodes"))
    sh = text_extension("sh")
    for name in ("submit_array.sh", "submit_run_001.sh"):
        text = (tmp_path / "o" / "slurm" / name).read_text()
        assert "#SBATCH --nodes=2\n#SBATCH --ntasks-per-node=1\n#SBATCH --gres=gpu:4\n" in text
        assert text == snapshot(name=name, extension_class=sh)


def test_two_node_scripts_are_shellcheck_clean(tmp_path: Path) -> None:
    shellcheck = require("shellcheck", "TTGEN_REQUIRE_SHELLCHECK", "apt-get install -y shellcheck")
    out = render(experiment(tmp_path, TWO_NODES + "  rdzv_port: 29555\n"), tmp_path / HOSTILE)
    scripts = [str(p) for p in sorted((out / "slurm").glob("*.sh"))]
    assert len(scripts) == 5
    done = subprocess.run([shellcheck, "--shell=bash", "--severity=style", *scripts], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_rdzv_port_sets_the_rendezvous_port(tmp_path: Path) -> None:
    out = render(experiment(tmp_path, "  nodes: 2\n  rdzv_port: 29555\n" + SETUP), tmp_path / "o")
    tune, records = stand_in(tmp_path)
    slurm = fake_slurm_tools(tmp_path, "n1", "n2")
    done = run_script(out / "slurm" / "submit_run_000.sh", tune, SLURM_JOB_ID="9", **slurm)
    assert done.returncode == 0, done.stderr
    assert read_records(records)["none"] == [expected_args(out, "run_000", distributed="1", job="9", head="n1",
                                                           nnodes="2", port=29555, recipe="lora_finetune_distributed")]


# --- running the scripts with bash -----------------------------------------------------------


def test_arguments_are_passed_on_to_tune(tmp_path: Path) -> None:
    """`sbatch submit_run_003.sh optimizer.lr=1e-4` reruns a run with an override: each argument stays one word."""
    out = render(experiment(tmp_path, SETUP, base=SINGLE), tmp_path / HOSTILE)
    tune, records = stand_in(tmp_path)
    extra = ["optimizer.lr=1e-4", "a b", "$(touch PWNED)"]
    single = run_script(out / "slurm" / "submit_run_003.sh", tune, *extra)
    array = run_script(out / "slurm" / "submit_array.sh", tune, *extra, SLURM_ARRAY_TASK_ID="1")
    assert single.returncode == 0 and array.returncode == 0, single.stderr + array.stderr
    assert "ttgen: starting run_003: " in single.stdout and " optimizer.lr=1e-4 a b $(touch PWNED)\n" in single.stdout
    got = read_records(records)
    for task, run_id in [("none", "run_003"), ("1", "run_001")]:
        [args] = got[task]
        config = str(out.resolve() / "configs" / f"{run_id}.yaml")
        assert args == ["run", "lora_finetune_single_device", "--config", config, *extra, "setup=yes", "job=none"]
    assert not list(tmp_path.rglob("PWNED"))


def test_markers_record_start_and_exit_code(tmp_path: Path) -> None:
    out = render(experiment(tmp_path, SETUP, base=SINGLE), tmp_path / HOSTILE)
    tune, _ = controlled_stand_in(tmp_path)
    ok = run_script(out / "slurm" / "submit_array.sh", tune, SLURM_ARRAY_TASK_ID="0", SLURM_ARRAY_JOB_ID="500",
                    SLURM_JOB_ID="501")
    failed = run_script(out / "slurm" / "submit_run_002.sh", tune, TTGEN_TEST_FAIL_RUN="run_002")
    assert ok.returncode == 0, ok.stderr
    assert failed.returncode == 3, failed.stderr  # the script exits with the training command's code
    host = socket.gethostname()
    assert state_files(out) == ["run_000@500_0.ended", "run_000@500_0.started",
                                "run_002@none.ended", "run_002@none.started"]
    assert marker(out, "run_000", "500_0", STARTED) == f"host={host} job=500_0"
    assert marker(out, "run_000", "500_0", ENDED) == "exit=0"
    assert marker(out, "run_002", "none", STARTED) == f"host={host} job=none"
    assert marker(out, "run_002", "none", ENDED) == "exit=3"


def test_unwritable_state_folder_warns_and_still_trains(tmp_path: Path) -> None:
    out = render(experiment(tmp_path, SETUP, base=SINGLE), tmp_path / "o")
    state = out / "slurm" / "state"
    state.rmdir()
    state.write_text("not a folder\n")  # unwritable even for root, unlike chmod
    tune, records = controlled_stand_in(tmp_path)
    done = run_script(out / "slurm" / "submit_run_001.sh", tune, TTGEN_TEST_FAIL_RUN="run_001")
    assert done.returncode == 3
    assert done.stderr.count("ttgen: warning: cannot write the marker ") == 2, done.stderr
    assert f"{state}/run_001@none.started; the run goes on without it" in done.stderr
    assert list(read_records(records)) == ["none"]  # training ran


def test_check_ignores_markers_the_jobs_wrote(tmp_path: Path) -> None:
    exp = experiment(tmp_path, SETUP, base=SINGLE)
    out = render(exp, tmp_path / "o")
    tune, _ = stand_in(tmp_path)
    for task in range(2):
        assert run_script(out / "slurm" / "submit_array.sh", tune, SLURM_ARRAY_TASK_ID=str(task),
                          SLURM_ARRAY_JOB_ID="77", SLURM_JOB_ID=f"7{task}").returncode == 0
    assert len(state_files(out)) == 4
    result = run_cli("check", exp, "--against", out)
    assert result.code == 0, result.out + result.err


@pytest.mark.parametrize(("offset", "task", "run_id"), [("2", "1", "run_003"), ("02", "0", "run_002"),
                                                         ("0", "3", "run_003")])
def test_run_offset_picks_the_run(tmp_path: Path, offset: str, task: str, run_id: str) -> None:
    """Array task i runs run i + TTGEN_RUN_OFFSET (a leading zero is not octal)."""
    out = render(experiment(tmp_path, SETUP, base=SINGLE), tmp_path / "o")
    tune, records = stand_in(tmp_path)
    done = run_script(out / "slurm" / "submit_array.sh", tune, SLURM_ARRAY_TASK_ID=task, TTGEN_RUN_OFFSET=offset)
    assert done.returncode == 0, done.stderr
    assert f"{run_id} (array task {task}, TTGEN_RUN_OFFSET={offset})" in done.stdout
    assert read_records(records)[task] == [expected_args(out, run_id, distributed=None,
                                                         recipe="lora_finetune_single_device")]


# --- on the real cluster ---------------------------------------------------------------------------


def job_id(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout.strip().split(";")[0]


@pytest.mark.needs_slurm
def test_arguments_reach_tune_on_slurm(tmp_path: Path, slurm_cluster: None) -> None:
    out = render(experiment(tmp_path, SETUP, base=SINGLE), tmp_path / "o").resolve()
    tune, records = stand_in(tmp_path)
    done = sbatch_wait(out / "slurm" / "submit_run_000.sh", tune, tmp_path, args=("a.b=1",))
    assert done.returncode == 0, done.stdout + done.stderr
    job = job_id(done)
    [args] = read_records(records)["none"]
    assert args[-4:] == [str(out / "configs" / "run_000.yaml"), "a.b=1", "setup=yes", f"job={job}"]


@pytest.mark.needs_slurm
def test_markers_on_slurm(tmp_path: Path, slurm_cluster: None) -> None:
    """A failing run's ended marker holds its exit code, and the array fails; a good one's exit=0."""
    out = render(experiment(tmp_path, SETUP, base=SINGLE, variables="lora_rank: [8, 16]"), tmp_path / "o").resolve()
    tune, _ = controlled_stand_in(tmp_path)
    done = sbatch_wait(out / "slurm" / "submit_array.sh", tune, tmp_path, env={"TTGEN_TEST_FAIL_RUN": "run_001"})
    assert done.returncode != 0, done.stdout + done.stderr
    job, node = job_id(done), slurm_node()
    assert state_files(out) == [f"run_000@{job}_0.ended", f"run_000@{job}_0.started",
                                f"run_001@{job}_1.ended", f"run_001@{job}_1.started"]
    for task in range(2):
        assert marker(out, f"run_00{task}", f"{job}_{task}", STARTED) == f"host={node} job={job}_{task}"
    assert marker(out, "run_000", f"{job}_0", ENDED) == "exit=0"
    assert marker(out, "run_001", f"{job}_1", ENDED) == "exit=3"


@pytest.mark.needs_slurm
def test_run_offset_on_slurm(tmp_path: Path, slurm_cluster: None) -> None:
    """The second array of a split sweep: tasks 0-1 with TTGEN_RUN_OFFSET=2 run runs 2 and 3."""
    out = render(experiment(tmp_path, SETUP, base=SINGLE), tmp_path / "o").resolve()
    tune, records = stand_in(tmp_path)
    done = sbatch_wait(out / "slurm" / "submit_array.sh", tune, tmp_path,
                       options=("--export=ALL,TTGEN_RUN_OFFSET=2", "--array=0-1"))
    assert done.returncode == 0, done.stdout + done.stderr
    job = job_id(done)
    got = read_records(records)
    assert sorted(got) == ["0", "1"]
    for task in range(2):
        run_id = f"run_00{task + 2}"
        [args] = got[str(task)]
        assert args == expected_args(out, run_id, distributed=None, job=args[-1].removeprefix("job="),
                                     recipe="lora_finetune_single_device")
        assert marker(out, run_id, f"{job}_{task}", ENDED) == "exit=0"
    assert len(state_files(out)) == 4


@pytest.mark.needs_slurm
def test_distributed_recipe_starts_through_srun_on_slurm(tmp_path: Path, slurm_cluster: None) -> None:
    """nodes: 1 takes the multi-node code path: srun, one torchrun per node, rendezvous at the head node."""
    out = render(experiment(tmp_path, "  nodes: 1\n" + SETUP, variables="lora_rank: [8]"), tmp_path / "o").resolve()
    tune, records = stand_in(tmp_path)
    done = sbatch_wait(out / "slurm" / "submit_run_000.sh", tune, tmp_path, args=("x.y=2",))
    assert done.returncode == 0, done.stdout + done.stderr
    job, node = job_id(done), slurm_node()
    [args] = read_records(records)["none"]
    assert args == [*expected_args(out, "run_000", distributed="1", job=job, head=node,
                                   recipe="lora_finetune_distributed")[:-2], "x.y=2", "setup=yes", f"job={job}"]
    assert args[:11] == ["run", "--nnodes", "1", "--nproc_per_node", "1", "--rdzv_id", job,
                         "--rdzv_backend", "c10d", "--rdzv_endpoint", f"{node}:29500"]
    assert marker(out, "run_000", job, ENDED) == "exit=0"


@pytest.mark.needs_slurm
def test_scancel_leaves_signal_term(tmp_path: Path, slurm_cluster: None) -> None:
    out = render(experiment(tmp_path, SETUP, base=SINGLE), tmp_path / "o").resolve()
    tune, records = controlled_stand_in(tmp_path)
    env = dict(os.environ, TTGEN_TUNE=str(tune), TTGEN_TEST_SLEEP="300")
    submitted = subprocess.run(["sbatch", "--parsable", *CPU_OVERRIDES, "--time=5",
                                str(out / "slurm" / "submit_run_002.sh")],
                               env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert submitted.returncode == 0, submitted.stderr
    job = job_id(submitted)
    try:
        deadline = time.monotonic() + 60
        while not list(records.iterdir()):  # the stand-in has started: training is under way
            assert time.monotonic() < deadline, "the job did not start within 60 s"
            time.sleep(0.5)
        assert marker(out, "run_002", job, STARTED).endswith(f" job={job}")
        subprocess.run(["scancel", job], check=True, timeout=30)
        while subprocess.run(["squeue", "--noheader", "--jobs", job], capture_output=True, text=True,
                             timeout=30).stdout.strip():
            assert time.monotonic() < deadline + 60, "the cancelled job did not end within 60 s"
            time.sleep(0.5)
    finally:
        subprocess.run(["scancel", job], capture_output=True, timeout=30)
    assert marker(out, "run_002", job, ENDED) == "signal=TERM"
