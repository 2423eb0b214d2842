#!/usr/bin/env python3
"""Benchmark `ttgen validate` on a whole sweep against torchtune's `tune validate`, in one run.

Usage:  python benchmarks/bench_validate.py [--runs 200] [--tune-samples 3] [--repeat 3] [--keep DIR]

Renders a sweep of N runs (default 200) on llama3_2/1B_lora_single_device, then, each
in a fresh process on this machine (so wall time includes interpreter start and the
torch import, as a user pays them):

- ttgen:     one ``ttgen validate OUT`` over all N configs (level 2: every component,
             nested ones included, imported and bound; torch imported once);
- ttgen L1:  the same at ``--level 1`` (no torch), for reference;
- tune:      ``tune validate FILE`` (torchtune's own, top-level components only) on a
             few of the same files, one process per file, as torchtune offers it.

It prints wall times, the cost per config of each, and the ratio
tune-per-config / ttgen-per-config. Target (issue 4): at least 100x.
Needs torch, torchao and torchtune installed (CI: torch 2.13.0 CPU, torchao 0.11.0,
torchtune 0.6.1). Plain Python: nothing beyond ttgen's own dependencies.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable
TARGET_RATIO = 100.0

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_render  # noqa: E402  (a sibling script, not a package)


def experiment_text(runs: int) -> str:
    """The render benchmark's sweep, under this benchmark's name."""
    return bench_render.experiment_text(runs, name="bench_validate")


def timed(cmd: list[str], *, expect_ok: bool = True) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if expect_ok and proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    return wall, proc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="configs in the sweep (default 200)")
    parser.add_argument("--tune-samples", type=int, default=3,
                        help="how many of the configs to check with `tune validate` (default 3)")
    parser.add_argument("--repeat", type=int, default=3, help="median of this many ttgen measurements")
    parser.add_argument("--keep", type=Path, help="keep the rendered sweep in this folder")
    args = parser.parse_args()

    ttgen = [PY, "-m", "ttgen"]
    tune = [PY, "-m", "torchtune._cli.tune"]
    work = args.keep or Path(tempfile.mkdtemp(prefix="ttgen-bench-validate-"))
    work.mkdir(parents=True, exist_ok=True)
    exp = work / "experiment.yaml"
    exp.write_text(experiment_text(args.runs))
    out = work / "out"
    timed([*ttgen, "render", str(exp), "--out", str(out), "--force"])
    configs = sorted((out / "configs").glob("run_[0-9]*.yaml"))
    assert len(configs) == args.runs, len(configs)
    print(f"python {sys.version.split()[0]}, {args.runs} configs in {out}")

    walls, l1_walls = [], []
    for _ in range(args.repeat):
        wall, proc = timed([*ttgen, "validate", str(out)])
        if "at level 2" not in proc.stdout:
            raise SystemExit(f"ttgen validate did not run level 2 (is torchtune importable?):\n{proc.stdout}{proc.stderr}")
        walls.append(wall)
        l1_walls.append(timed([*ttgen, "validate", "--level", "1", str(out)])[0])
    print(f"ttgen validate: {proc.stdout.strip()}")
    ttgen_wall, ttgen_l1 = statistics.median(walls), statistics.median(l1_walls)

    step = max(1, len(configs) // args.tune_samples)
    sample = configs[::step][: args.tune_samples]
    tune_walls = []
    for cfg in sample:
        wall, proc = timed([*tune, "validate", str(cfg)])
        if "Config is well-formed!" not in proc.stdout:
            raise SystemExit(f"tune validate rejected {cfg}:\n{proc.stdout}{proc.stderr}")
        tune_walls.append(wall)
    tune_per = statistics.mean(tune_walls)

    ttgen_per, l1_per = ttgen_wall / len(configs), ttgen_l1 / len(configs)
    print(f"{'what':<34} {'wall s':>8} {'configs':>8} {'ms/config':>10}")
    print(f"{'ttgen validate (level 2, 1 call)':<34} {ttgen_wall:>8.2f} {len(configs):>8} {1000 * ttgen_per:>10.1f}")
    print(f"{'ttgen validate --level 1 (1 call)':<34} {ttgen_l1:>8.2f} {len(configs):>8} {1000 * l1_per:>10.1f}")
    print(f"{'tune validate (1 call per config)':<34} {sum(tune_walls):>8.2f} {len(sample):>8} {1000 * tune_per:>10.1f}")
    ratio = tune_per / ttgen_per
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(f"per-config ratio tune/ttgen = {ratio:.0f}x ({verdict} the {TARGET_RATIO:.0f}x target); "
          f"level 1 alone: {tune_per / l1_per:.0f}x")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
