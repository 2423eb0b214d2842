"""`ttgen submit`, `status` and `resubmit` on the real one-node SLURM cluster, training for real.

The tiny CPU LoRA sweep (examples/tiny_cpu, two runs) gets a slurm: section and is
submitted with ``ttgen submit``. Run run_001 goes through a stand-in for `tune` that
prints PyTorch's CUDA out-of-memory error and exits 1 while its batch_size is 2, and
runs the real `tune` otherwise; run_000 always trains for real. So: status shows
run_000 COMPLETED with its last step and a finite loss, run_001 OUT_OF_MEMORY with its
log; ``resubmit --failed --oom-retry`` reruns only run_001 with the batch halved (the
change recorded in the config, run mapping, manifest and record of submissions), and
it completes; ``ttgen check`` still passes and ``ttgen diff`` names the origin.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from helpers import run_cli
from test_slurm import slurm_cluster  # noqa: F401  (the cluster fixture)
from test_training import Workspace, workspace  # noqa: F401  (tiny assets and the training environment)

CPU = ["--partition=debug", "--gres=none", "--mem=2G", "--cpus-per-task=1", "--time=00:10:00"]
SLURM_SECTION = 'slurm:\n  time: "00:20:00"\n  gpus_per_node: 0\n'
OOM_STAND_IN = """#!/bin/bash
# run_001 runs out of memory while its batch is 2; everything else is the real tune.
config=""
prev=""
for arg in "$@"; do
    if [[ $prev == --config ]]; then config=$arg; fi
    prev=$arg
done
if [[ $config == *run_001.yaml ]] && grep -q '^batch_size: 2' "$config"; then
    echo "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.15 GiB total)" >&2
    exit 1
fi
exec tune "$@"
"""


def wait_finished(out: Path, cwd: Path, *, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        done = run_cli("status", out, "--json", cwd=cwd)
        assert done.code == 0, done.err
        doc = json.loads(done.out)
        if all(r["state"] not in ("PENDING", "RUNNING", "NOT_SUBMITTED") for r in doc["runs"]):
            return doc
        assert time.monotonic() < deadline, f"runs did not finish in {timeout} s:\n{done.out}"
        time.sleep(2)


@pytest.mark.needs_slurm
@pytest.mark.needs_torch
def test_submit_status_resubmit_oom_retry(workspace: Workspace, slurm_cluster: None, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    folder = workspace.example("tiny_cpu")
    exp = folder / "jobs_experiment.yaml"
    exp.write_text((folder / "experiment.yaml").read_text(encoding="utf-8").replace(
        "output_dir: outputs/train/tiny_lora", "output_dir: outputs/train/jobs_lora") + SLURM_SECTION,
        encoding="utf-8")
    stand_in = tmp_path / "tune_oom"
    stand_in.write_text(OOM_STAND_IN, encoding="utf-8")
    stand_in.chmod(stand_in.stat().st_mode | stat.S_IXUSR)
    env = dict(workspace.env, TTGEN_TUNE=str(stand_in))
    env["PATH"] = f"{Path(shutil.which('tune') or 'tune').parent}{os.pathsep}{env['PATH']}"
    for key, value in env.items():  # sbatch passes this process's environment to the jobs
        monkeypatch.setenv(key, value)
    out = folder / "jobs_out"
    assert run_cli("render", exp, "--out", out, cwd=folder).code == 0

    before = run_cli("status", out, cwd=folder)
    assert before.code == 0 and "2 runs: 2 NOT_SUBMITTED" in before.out, before.out + before.err

    dry = run_cli("submit", out, "--dry-run", "--", *CPU, cwd=folder)
    assert dry.code == 0, dry.err
    assert dry.out.startswith("sbatch --parsable --array=0-1 --partition=debug")
    assert not (out / "slurm/state/submissions.jsonl").exists(), "a dry run records nothing"

    sub = run_cli("submit", out, "--", *CPU, cwd=folder)
    assert sub.code == 0, sub.err
    [record] = [json.loads(line) for line in (out / "slurm/state/submissions.jsonl").read_text().splitlines()]
    assert record["kind"] == "submit" and record["array"] == "0-1" and record["cwd"] == str(folder)
    assert record["runs"] == {"run_000": f"{record['job']}_0", "run_001": f"{record['job']}_1"}
    assert record["command"][:3] == ["sbatch", "--parsable", "--array=0-1"]

    doc = wait_finished(out, folder)
    rows = {r["run_id"]: r for r in doc["runs"]}
    assert rows["run_000"]["state"] == "COMPLETED" and rows["run_000"]["exit_code"] == 0
    assert rows["run_000"]["step"] == 4 and math.isfinite(rows["run_000"]["loss"])
    assert rows["run_001"]["state"] == "OUT_OF_MEMORY", rows["run_001"]
    assert rows["run_001"]["exit_code"] == 1 and "CUDA out of memory" in rows["run_001"]["reason"]
    assert Path(rows["run_001"]["log"]).is_file()
    text = run_cli("status", out, cwd=folder).out
    assert "2 runs: 1 COMPLETED, 1 OUT_OF_MEMORY" in text

    again = run_cli("submit", out, "--", *CPU, cwd=folder)
    assert again.code == 1 and "already has files in its output_dir (run_000" in again.err, again.err

    retry = run_cli("resubmit", out, "--failed", "--oom-retry", "--", *CPU, cwd=folder)
    assert retry.code == 0, retry.err
    records = [json.loads(line) for line in (out / "slurm/state/submissions.jsonl").read_text().splitlines()]
    assert records[-1]["kind"] == "resubmit" and list(records[-1]["runs"]) == ["run_001"]
    assert records[-1]["array"] == "1"
    assert records[-1]["changes"] == {"run_001": {"batch_size": 1, "gradient_accumulation_steps": 2}}
    config = (out / "configs/run_001.yaml").read_text(encoding="utf-8")
    assert "batch_size: 1  # resubmit" in config and "gradient_accumulation_steps: 2  # resubmit" in config
    assert "batch_size: 2  # control" in (out / "configs/run_000.yaml").read_text(encoding="utf-8")
    assert "resubmit:" in (out / "configs/run_mapping.yaml").read_text(encoding="utf-8")

    doc = wait_finished(out, folder)
    assert [r["state"] for r in doc["runs"]] == ["COMPLETED", "COMPLETED"], doc["runs"]
    assert doc["runs"][1]["step"] == 4 and math.isfinite(doc["runs"][1]["loss"])

    check = run_cli("check", exp, "--against", out, cwd=folder)
    assert check.code == 0, check.out + check.err
    diff = run_cli("diff", "run_001", "--dir", out, cwd=folder)
    assert any(line.startswith("batch_size") and line.rstrip().endswith("resubmit") for line in diff.out.splitlines())


def test_runs_and_arrays() -> None:
    from ttgen.errors import JobsError
    from ttgen.jobs.submit import array_spec, parse_runs

    ids = [f"run_{i:03d}" for i in range(8)]
    assert parse_runs("0,3-5", ids) == ["run_000", "run_003", "run_004", "run_005"]
    assert array_spec([0, 3, 4, 5, 7]) == "0,3-5,7"
    for bad in ("8", "3-1", "x", "1,,2"):
        with pytest.raises(JobsError):
            parse_runs(bad, ids)


def test_large_sweeps_are_split_into_chained_arrays(tmp_path: Path) -> None:
    from ttgen.jobs.submit import plan_calls

    (tmp_path / "slurm").mkdir()
    (tmp_path / "slurm" / "submit_array.sh").write_text("#SBATCH --array=0-9%2\n")
    ids = [f"run_{i:03d}" for i in range(10)]
    calls = plan_calls(tmp_path, ids, run_ids=ids, max_array_size=4)
    assert [(c.array, c.offset, c.after_previous) for c in calls] == [
        ("0-3%2", 0, False), ("0-3%2", 4, True), ("0-1%2", 8, True)]
    assert "--export=ALL,TTGEN_RUN_OFFSET=4" in calls[1].args
    assert calls[1].command(after="17")[2] == "--dependency=afterany:17"
    assert calls[2].runs == ["run_008", "run_009"]


def test_oom_retry_keeps_the_effective_batch_or_says_why_not() -> None:
    from ttgen.errors import JobsError
    from ttgen.jobs.resubmit import oom_retry, parse_set

    assert oom_retry({"batch_size": 8, "gradient_accumulation_steps": 3}, "r") == {
        "batch_size": 4, "gradient_accumulation_steps": 6}
    with pytest.raises(JobsError, match="cannot be halved further"):
        oom_retry({"batch_size": 1}, "r")
    assert parse_set(["optimizer.lr=3e-4", "compile=True", "x=null"]) == {
        "optimizer.lr": 3e-4, "compile": True, "x": None}
    with pytest.raises(JobsError, match="is not KEY=VALUE"):
        parse_set(["lr"])


def test_metric_log_tail_and_states_from_markers_without_slurm(tmp_path: Path) -> None:
    """Without SLURM's commands, status reads how runs ended from the scripts' markers."""
    from ttgen.jobs.cluster import Cluster
    from ttgen.jobs.metrics import last_step, read_metric_log

    log = tmp_path / "log_1.txt"
    log.write_text("".join(f"Step {i} | loss:{5 - i / 10} lr:0.0003 \n" for i in range(1, 2001)))
    assert last_step(log) is not None and last_step(log).step == 2000  # type: ignore[union-attr]
    assert len(read_metric_log(log)) == 2000

    def no_slurm(argv: Any) -> Any:
        raise FileNotFoundError(argv[0])

    exp = tmp_path / "experiment.yaml"
    exp.write_text("experiment: {name: m, framework: torchtune}\nframework_config: {base_config: "
                   "llama3_2/1B_lora_single_device}\nvariables: {lora_rank: [4, 8, 16]}\nslurm: {}\n")
    out = tmp_path / "out"
    assert run_cli("render", exp, "--out", out).code == 0
    state = out / "slurm" / "state"
    (state / "run_000@9_0.started").write_text("time=100 host=n1 job=9_0\n")
    (state / "run_000@9_0.ended").write_text("time=160 exit=0\n")
    (state / "run_001@9_1.started").write_text("time=100 host=n1 job=9_1\n")
    (state / "run_001@9_1.ended").write_text("time=130 exit=3\n")
    from ttgen.jobs.status import sweep_status

    status = sweep_status(out, cluster=Cluster(runner=no_slurm), now=200)
    assert [(r.state, r.exit_code, r.elapsed) for r in status.runs] == [
        ("COMPLETED", 0, 60), ("FAILED", 3, 30), ("NOT_SUBMITTED", None, None)]
    assert status.warnings and "states come from the jobs' markers only" in status.warnings[0].message
