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
import subprocess
import sys
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


def stand_in_sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, script: str, ranks: list[int],
                   slurm: str = SLURM_SECTION) -> Path:
    """A rendered sweep over lora_rank whose jobs run *script* instead of `tune` (TTGEN_TUNE); its folder."""
    stand_in = tmp_path / "stand_in"
    stand_in.write_text("#!/bin/bash\n" + script, encoding="utf-8")
    stand_in.chmod(0o755)
    monkeypatch.setenv("TTGEN_TUNE", str(stand_in))
    exp = tmp_path / "experiment.yaml"
    exp.write_text("experiment: {name: s, framework: torchtune}\nframework_config: {base_config: "
                   "llama3_2/1B_lora_single_device}\ncontrols: {output_dir: " + str(tmp_path / "runs") + "}\n"
                   f"variables: {{lora_rank: {ranks}}}\n" + slurm, encoding="utf-8")
    out = tmp_path / "out"
    assert run_cli("render", exp, "--out", out, cwd=tmp_path).code == 0
    return out


def wait_finished(out: Path, cwd: Path, *, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        done = run_cli("status", out, "--json", cwd=cwd)
        assert done.code == 0, done.err
        doc = json.loads(done.out)
        if all(r["state"] not in ("PENDING", "RUNNING") for r in doc["runs"]):
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

    # ttgen results reads the same jobs: SLURM's states, the trained run's log (relative to the
    # job's working folder), the failed run with its reason; the report lists it with its log.
    found = run_cli("results", out, "--json", cwd=tmp_path)
    assert found.code == 0, found.err
    results = {r["run_id"]: r for r in json.loads(found.out)["runs"]}
    assert results["run_000"]["state"] == "COMPLETED" and results["run_000"]["steps"] == 4
    assert results["run_000"]["metrics"]["loss"]["final"] == rows["run_000"]["loss"]
    assert [Path(c).name for c in results["run_000"]["checkpoints"]] == ["epoch_0"]
    assert results["run_001"]["state"] == "OUT_OF_MEMORY" and "CUDA out of memory" in results["run_001"]["reason"]
    report = run_cli("report", out, "--out", tmp_path / "report.html", cwd=folder)
    assert report.code == 0, report.err
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    failed = html[html.index('id="failed-runs"'):]
    assert "run_001" in failed and "OUT_OF_MEMORY" in failed and rows["run_001"]["log"] in failed

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


def sweep_with_slurm(folder: Path, name: str, *, extra: str = "") -> Path:
    """The tiny CPU experiment with a slurm: section, its runs writing under outputs/train/<name>."""
    exp = folder / f"{name}.yaml"
    text = (folder / "experiment.yaml").read_text(encoding="utf-8")
    exp.write_text(text.replace("output_dir: outputs/train/tiny_lora", f"output_dir: outputs/train/{name}")
                   + extra + SLURM_SECTION, encoding="utf-8")
    return exp


@pytest.mark.needs_slurm
@pytest.mark.needs_torch
def test_resume_continues_a_run_cancelled_after_its_first_checkpoint(
        workspace: Workspace, slurm_cluster: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = workspace.example("tiny_cpu")
    for key, value in workspace.env.items():
        monkeypatch.setenv(key, value)
    # Three epochs of 12 steps: torchtune saves the recipe state after epoch 0 (and 1), never
    # after the last; an epoch takes long enough to cancel in. (Fewer steps than the 16 batches
    # of the tiny dataset: lora_finetune_single_device restores its step count only then.)
    exp = sweep_with_slurm(folder, "resume_lora")
    exp.write_text(exp.read_text(encoding="utf-8").replace("  epochs: 1\n", "  epochs: 3\n")
                   .replace("  max_steps_per_epoch: 4\n", "  max_steps_per_epoch: 12\n"), encoding="utf-8")
    out = folder / "resume_out"
    assert run_cli("render", exp, "--out", out, cwd=folder).code == 0
    run_dir = folder / "outputs/train/resume_lora/run_000"
    # The job cancels itself with scancel once the first checkpoint is complete (a second
    # epoch still to go), so the cancel never lands while torchtune writes a file.
    stand_in = tmp_path / "tune_then_cancel"
    stand_in.write_text(SELF_CANCEL.format(state=run_dir / "recipe_state/recipe_state.pt",
                                           adapter=run_dir / "epoch_0/adapter_model.pt"), encoding="utf-8")
    stand_in.chmod(0o755)
    monkeypatch.setenv("TTGEN_TUNE", str(stand_in))
    monkeypatch.setenv("PATH", f"{Path(shutil.which('tune') or 'tune').parent}{os.pathsep}{os.environ['PATH']}")
    sub = run_cli("submit", out, "--runs", "0", "--", *CPU, cwd=folder)
    assert sub.code == 0, sub.err
    doc = wait_finished(out, folder)
    assert doc["runs"][0]["state"] == "CANCELLED", doc["runs"][0]
    assert (run_dir / "epoch_0").is_dir() and not (run_dir / "epoch_2").exists(), "cancelled before the last epoch"

    refused = run_cli("submit", out, "--runs", "0", "--", *CPU, cwd=folder)
    assert refused.code == 1 and "--resume" in refused.err

    monkeypatch.delenv("TTGEN_TUNE")  # the resumed job runs the real tune
    resumed = run_cli("resubmit", out, "--runs", "0", "--resume", "--", *CPU, cwd=folder)
    assert resumed.code == 0, resumed.err
    assert "resume_from_checkpoint: true  # resubmit" in (out / "configs/run_000.yaml").read_text(encoding="utf-8")
    doc = wait_finished(out, folder)
    assert doc["runs"][0]["state"] == "COMPLETED", doc["runs"][0]
    assert (run_dir / "epoch_2").is_dir()
    logs = sorted((run_dir / "logs").glob("log_*.txt"), key=lambda p: p.stat().st_mtime)
    assert len(logs) == 2
    first_step = int(logs[-1].read_text().split(" |", 1)[0].removeprefix("Step "))
    assert first_step > 12, "the resumed run continues after the steps of its first epoch"
    assert doc["runs"][0]["step"] == 36 and math.isfinite(doc["runs"][0]["loss"])
    assert run_cli("check", exp, "--against", out, cwd=folder).code == 0


SELF_CANCEL = """#!/bin/bash
# Run the real tune; once the first epoch's checkpoint is complete, cancel this job as a
# researcher would (scancel), while the second epoch trains.
tune "$@" &
while kill -0 $! 2>/dev/null; do
    if [[ -s {state} && -s {adapter} ]]; then
        sleep 0.2  # torchtune writes the recipe state last: let it finish
        scancel "${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}}"
        wait
        exit 0
    fi
    sleep 0.05
done
wait
"""


@pytest.mark.needs_slurm
def test_a_failing_run_shows_failed_with_its_exit_code_and_log(tmp_path: Path, slurm_cluster: None,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    out = stand_in_sweep(tmp_path, monkeypatch, script="echo 'Traceback: ValueError: bad dataset' >&2\nexit 3\n",
                         ranks=[4])
    assert run_cli("submit", out, "--", *CPU, cwd=tmp_path).code == 0
    [row] = wait_finished(out, tmp_path)["runs"]
    assert (row["state"], row["exit_code"]) == ("FAILED", 3), row
    assert "bad dataset" in Path(row["log"]).with_suffix(".err").read_text()
    text = run_cli("status", out, cwd=tmp_path).out
    assert "1 run: 1 FAILED" in text and row["log"] in text


@pytest.mark.needs_slurm
def test_chained_arrays_run_every_run_once_on_slurm(tmp_path: Path, slurm_cluster: None,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """With MaxArraySize lowered to 2, five runs go out as three arrays, each waiting for the one before."""
    from ttgen.jobs.cluster import Cluster
    from ttgen.jobs.submit import submit_sweep

    out = stand_in_sweep(tmp_path, monkeypatch, script="exit 0\n", ranks=[1, 2, 3, 4, 5])
    monkeypatch.setattr(Cluster, "max_array_size", lambda self: 2)
    monkeypatch.chdir(tmp_path)
    result = submit_sweep(out, sbatch_args=CPU)
    assert [(s.array, s.offset, s.after) for s in result.submissions] == [
        ("0-1", 0, None), ("0-1", 2, result.submissions[0].job), ("0", 4, result.submissions[1].job)]
    doc = wait_finished(out, tmp_path)
    assert [r["state"] for r in doc["runs"]] == ["COMPLETED"] * 5
    started = sorted(p.name for p in (out / "slurm/state").glob("*.started"))
    assert [name.split("@")[0] for name in started] == [f"run_{i:03d}" for i in range(5)]
    assert all(Path(r["log"]).is_file() for r in doc["runs"]), [r["log"] for r in doc["runs"]]


def subprocess_run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("ran, state", [(60, "TIMEOUT"), (10, "CANCELLED")])
def test_a_stopped_job_is_timeout_at_its_time_limit_else_cancelled(tmp_path: Path, ran: int, state: str) -> None:
    """Without accounting: a job stopped by SIGTERM ran into its time limit (slurm.time "1": one minute)
    or was cancelled."""
    from ttgen.jobs.cluster import Cluster
    from ttgen.jobs.status import sweep_status

    exp = tmp_path / "experiment.yaml"
    exp.write_text("experiment: {name: t, framework: torchtune}\nframework_config: {base_config: "
                   "llama3_2/1B_lora_single_device}\nvariables: {lora_rank: [4]}\nslurm: {time: '1'}\n")
    out = tmp_path / "out"
    assert run_cli("render", exp, "--out", out).code == 0
    (out / "slurm/state/run_000@7_0.started").write_text("time=100 host=n1 job=7_0\n")
    (out / "slurm/state/run_000@7_0.ended").write_text(f"time={100 + ran} signal=TERM\n")

    def no_accounting(argv: Any) -> Any:
        if argv[0] == "squeue":
            return subprocess.CompletedProcess(argv, 0, "", "")
        return subprocess.CompletedProcess(argv, 1, "", "Slurm accounting storage is disabled")

    [row] = sweep_status(out, cluster=Cluster(runner=no_accounting)).runs
    assert (row.state, row.elapsed) == (state, ran)


@pytest.mark.needs_slurm
def test_watch_looks_again_until_every_run_has_finished(tmp_path: Path, slurm_cluster: None,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    out = stand_in_sweep(tmp_path, monkeypatch, script="sleep 4\n", ranks=[4, 8])
    assert run_cli("submit", out, "--", *CPU, cwd=tmp_path).code == 0
    done = subprocess.run([sys.executable, "-m", "ttgen", "status", str(out), "--watch", "1"], capture_output=True,
                          text=True, timeout=180, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summaries = [line for line in done.stdout.splitlines() if line.startswith("2 runs: ")]
    assert len(summaries) >= 2, done.stdout  # looked more than once
    assert summaries[-1] == "2 runs: 2 COMPLETED" and summaries[0] != summaries[-1]


def test_states_from_squeue_and_sacct_with_accounting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where SLURM keeps accounting, sacct says how finished tasks ended (OUT_OF_MEMORY, TIMEOUT, ...) and
    squeue what the others do; one call each for the whole sweep."""
    from ttgen.jobs.cluster import Cluster
    from ttgen.jobs.status import sweep_status

    out = stand_in_sweep(tmp_path, monkeypatch, script="exit 0\n", ranks=[1, 2, 3, 4, 5])
    record = {"version": 1, "job": "31", "kind": "submit", "time": "t", "command": ["sbatch"], "array": "0-4",
              "runs": {f"run_00{i}": f"31_{i}" for i in range(5)}, "log_pattern": "slurm/logs/run_%3a-%A.out"}
    (out / "slurm/state/submissions.jsonl").write_text(json.dumps(record) + "\n")
    answers = {"squeue": "31|3|PENDING|0:00|Priority\n31|4|RUNNING|1:02:03|None\n",
               "sacct": "31_0|COMPLETED|0:0|120\n31_1|OUT_OF_MEMORY|0:125|60\n31_2|TIMEOUT|0:0|3600\n"
                        "31_[3-4]|PENDING|0:0|0\n"}

    def accounting(argv: Any) -> Any:
        return subprocess.CompletedProcess(argv, 0, answers[argv[0]], "")

    cluster = Cluster(runner=accounting)
    status = sweep_status(out, cluster=cluster)
    assert [(r.state, r.elapsed, r.reason) for r in status.runs] == [
        ("COMPLETED", 120, ""), ("OUT_OF_MEMORY", 60, ""), ("TIMEOUT", 3600, ""), ("PENDING", 0, "Priority"),
        ("RUNNING", 3723, "")]
    assert sorted(cluster.calls) == ["sacct", "squeue"] and status.accounting
    assert status.summary() == "5 runs: 1 PENDING, 1 RUNNING, 1 COMPLETED, 1 OUT_OF_MEMORY, 1 TIMEOUT"
