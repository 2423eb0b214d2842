#!/usr/bin/env python3
"""Benchmark `ttgen status` on a large sweep: its own cost beyond SLURM's, against the I/O floor.

Usage:  python benchmarks/bench_status.py [--runs 1000] [--repeat 3] [--keep DIR]

A sweep of N runs is rendered with a slurm: section. Then everything a real sweep
leaves is written: a record of one submission, start and end markers for every run
(every tenth still running), and a DiskLogger metric log of 200 steps per run. The
cluster is a stand-in that answers squeue (the running tenth) and sacct ("accounting
disabled") at once, so what is timed is ttgen's own work; the time inside the
stand-in is counted apart (`Cluster.seconds`), as it would be for a real cluster.

- status: `sweep_status` in this process (imports done), best of --repeat;
- floor:  reading every file status reads (run mapping, configs, markers, each log's
          last 8 KiB) with plain open/read, best of --repeat.

It prints both, the ratio status/floor, the number of SLURM calls, and one
"target met / MISSED" line for the issue's target: well under a second (here:
under 0.5 s) beyond the SLURM calls for 1,000 runs, with one squeue and one sacct call.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "generator"))

from ttgen.jobs.cluster import Cluster  # noqa: E402
from ttgen.jobs.status import sweep_status  # noqa: E402
from ttgen.layout import ENDED, STARTED, marker_file  # noqa: E402
from ttgen.render.output import render_experiment  # noqa: E402

STEPS = 200
TARGET_SECONDS = 0.5


def make_sweep(root: Path, runs: int) -> tuple[Path, list[str]]:
    exp = root / "experiment.yaml"
    exp.write_text(f"experiment: {{name: bench_status, framework: torchtune}}\n"
                   f"framework_config: {{base_config: llama3_2/1B_lora_single_device}}\n"
                   f"controls: {{output_dir: {root / 'runs'}}}\n"
                   f"variables: {{seed: [{', '.join(str(i) for i in range(runs))}]}}\n"
                   f"slurm: {{}}\n", encoding="utf-8")
    out = root / "out"
    render_experiment(exp, out=out)
    ids = [f"run_{i:0{len(str(runs - 1)) if runs > 1000 else 3}d}" for i in range(runs)]
    ids = [line.split(":")[0] for line in (out / "configs/run_mapping.yaml").read_text().splitlines()
           if line.startswith("run_")]
    job = "4242"
    record = {"version": 1, "job": job, "kind": "submit", "time": "2026-12-04T10:00:00+00:00",
              "command": ["sbatch", "--parsable", f"--array=0-{runs - 1}", "submit_array.sh"],
              "runs": {r: f"{job}_{i}" for i, r in enumerate(ids)}, "array": f"0-{runs - 1}", "offset": 0,
              "log_pattern": "slurm/logs/run_%3a-%A.out", "changes": {}, "after": None, "cwd": str(root)}
    (out / "slurm/state/submissions.jsonl").write_text(json.dumps(record) + "\n")
    log_lines = "".join(f"Step {s} | loss:{3 - s / STEPS:.6f} lr:0.0003 tokens_per_second_per_gpu:812.5 \n"
                        for s in range(1, STEPS + 1))
    for i, run_id in enumerate(ids):
        (out / marker_file(run_id, f"{job}_{i}", STARTED)).write_text(f"time=100 host=n1 job={job}_{i}\n")
        if i % 10:
            (out / marker_file(run_id, f"{job}_{i}", ENDED)).write_text("time=160 exit=0\n")
        logs = root / "runs" / run_id / "logs"
        logs.mkdir(parents=True)
        (logs / "log_1.txt").write_text(log_lines)
    return out, ids


def stand_in_cluster(ids: list[str]) -> Cluster:
    running = "".join(f"4242|{i}|RUNNING|1:00|None\n" for i in range(0, len(ids), 10))

    def runner(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        if argv[0] == "squeue":
            return subprocess.CompletedProcess(list(argv), 0, running, "")
        return subprocess.CompletedProcess(list(argv), 1, "", "Slurm accounting storage is disabled\n")

    return Cluster(runner=runner)


def floor(out: Path, root: Path) -> float:
    start = time.perf_counter()
    (out / "configs/run_mapping.yaml").read_bytes()
    for config in (out / "configs").glob("run_[0-9]*.yaml"):
        config.read_bytes()
    for marker in os.scandir(out / "slurm/state"):
        with open(marker.path, "rb") as fh:
            fh.read()
    for run in os.scandir(root / "runs"):
        for log in os.scandir(os.path.join(run.path, "logs")):
            with open(log.path, "rb") as fh:
                fh.seek(max(0, os.path.getsize(log.path) - 8192))
                fh.read()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build the sweep here and keep it")
    args = parser.parse_args(argv)
    root = args.keep or Path(tempfile.mkdtemp(prefix="ttgen-bench-status-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        out, ids = make_sweep(root, args.runs)
        best, slurm_seconds, calls = float("inf"), 0.0, []
        for _ in range(args.repeat):
            cluster = stand_in_cluster(ids)
            start = time.perf_counter()
            status = sweep_status(out, cluster=cluster, now=200)
            total = time.perf_counter() - start
            if total - cluster.seconds < best:
                best, slurm_seconds, calls = total - cluster.seconds, cluster.seconds, cluster.calls
        assert status.counts == {"RUNNING": len(range(0, args.runs, 10)),
                                 "COMPLETED": args.runs - len(range(0, args.runs, 10))}, status.counts
        assert all(r.step == STEPS for r in status.runs)
        io_floor = min(floor(out, root) for _ in range(args.repeat))
        print(f"runs: {args.runs}")
        print(f"status beyond SLURM: {best:.3f} s   (SLURM stand-in: {slurm_seconds * 1000:.1f} ms, "
              f"calls: {', '.join(calls)})")
        print(f"I/O floor:           {io_floor:.3f} s")
        print(f"ratio status/floor = {best / io_floor:.1f}")
        one_each = sorted(calls) == ["sacct", "squeue"]
        met = best < TARGET_SECONDS and one_each
        print(f"target {'met   ' if met else 'MISSED'}  status of {args.runs} runs under {TARGET_SECONDS} s beyond "
              f"the SLURM calls, one squeue and one sacct call")
        return 0 if met else 1
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
