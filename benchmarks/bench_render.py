#!/usr/bin/env python3
"""Benchmark `ttgen render` against a naive baseline and the I/O floor, in one run.

Usage:  python benchmarks/bench_render.py [--runs 1000 10000] [--keep DIR]

Every measurement runs in a fresh Python process on this machine, so wall time
includes interpreter start and imports, and peak RSS is that process's own:

- ttgen:  ``ttgen render`` of a sweep on llama3_2/1B_lora_single_device with three
          variables and a few controls (N runs);
- naive:  for each run, deepcopy the base dict, deep-merge the overrides and
          ``yaml.safe_dump`` it to a file (what a hand-written loop does);
- floor:  write N files of the same size from precomputed bytes (the disk's cost);
- fixed:  ``ttgen render`` of a one-run sweep (imports, schema, base config), so the
          per-config cost beyond it can be compared with the floor too;
- progress: ``ttgen render`` with stderr taken for a terminal, so the progress display
          runs (issue 22: it may cost a few percent at most).

It prints wall time, time per config, peak RSS and the ratios ttgen/naive and
ttgen/floor, then ``ttgen --help`` and ``ttgen ls`` wall times (each run as
``python -m ttgen`` with this interpreter: no ``ttgen`` on PATH is needed). Targets (issue 7):
ttgen <= 0.2 x naive at 1,000 runs, ttgen <= 3 x floor, peak RSS at 10,000 runs
under 150 MB and not growing with the run count, --help and ls under 0.3 s.
It ends with one "target met / MISSED" line per target. Plain Python: no dependencies beyond ttgen's own.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

PY = sys.executable

CHILD_PRELUDE = """
import json, resource, sys, time
t0 = time.perf_counter()
"""
CHILD_EPILOGUE = """
wall = time.perf_counter() - t0
print(json.dumps({"wall": wall, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def experiment_text(runs: int, *, name: str = "bench") -> str:
    """Three variables whose grid has exactly *runs* runs (a x b x c). Also used by bench_validate.py."""
    a = round(runs ** (1 / 3))
    while runs % a:
        a -= 1
    rest = runs // a
    b = round(math.sqrt(rest))
    while rest % b:
        b -= 1
    c = rest // b
    ranks = [4 * (i + 1) for i in range(a)]
    lrs = [f"{(i + 1)}e-5" for i in range(b)]
    batches = [i + 1 for i in range(c)]
    return textwrap.dedent(f"""\
        experiment: {{name: {name}, framework: torchtune}}
        framework_config: {{base_config: llama3_2/1B_lora_single_device}}
        variables:
          lora_rank: {ranks}
          learning_rate: [{", ".join(lrs)}]
          batch_size: {batches}
        controls:
          epochs: 2
          lora_alpha: 32
          dataset: {{data_files: /scratch/data/train.json}}
          max_steps_per_epoch: 100
        sweep: {{max_runs: {max(runs, 10000)}}}
        """)


def child(code: str) -> dict[str, float]:
    # Start every measurement with no dirty pages left by the previous one: otherwise the
    # kernel's writeback throttling lands on whichever measurement happens to come next.
    os.sync()
    proc = subprocess.run([PY, "-c", CHILD_PRELUDE + code + CHILD_EPILOGUE], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_ttgen(exp: Path, out: Path, *, progress: bool = False) -> dict[str, float]:
    # With *progress*, stderr claims to be a terminal, so the progress display runs (its
    # callback per config and its redraws); what a real terminal then draws is not timed.
    return child(f"""
from ttgen.cli import main
import contextlib, io, sys
class Terminal(io.StringIO):
    def isatty(self):
        return True
if {progress!r}:
    sys.stderr = Terminal()
with contextlib.redirect_stdout(io.StringIO()):
    rc = main(["render", {str(exp)!r}, "--out", {str(out)!r}])
assert rc == 0
""")


def bench_naive(exp: Path, out: Path) -> dict[str, float]:
    return child(f"""
import copy, itertools, os, yaml
from ttgen.inputs.catalog import load_catalog
base = yaml.safe_load(open(load_catalog().configs["llama3_2/1B_lora_single_device"].path))
exp = yaml.safe_load(open({str(exp)!r}))
controls = {{"epochs": 2, "model": {{"lora_alpha": 32}}, "dataset": {{"data_files": "/scratch/data/train.json"}},
            "max_steps_per_epoch": 100}}
v = exp["variables"]
def merge(dst, src):
    for k, val in src.items():
        if isinstance(val, dict) and isinstance(dst.get(k), dict):
            merge(dst[k], val)
        else:
            dst[k] = val
os.makedirs({str(out)!r})
for i, (r, lr, b) in enumerate(itertools.product(v["lora_rank"], v["learning_rate"], v["batch_size"])):
    cfg = copy.deepcopy(base)
    merge(cfg, controls)
    merge(cfg, {{"model": {{"lora_rank": r}}, "optimizer": {{"lr": float(lr)}}, "batch_size": b,
                "output_dir": f"{{base['output_dir']}}/run_{{i:05d}}"}})
    with open(os.path.join({str(out)!r}, f"run_{{i:05d}}.yaml"), "w") as fh:
        yaml.safe_dump(cfg, fh, sort_keys=False)
""")


def bench_floor(n: int, size: int, out: Path) -> dict[str, float]:
    return child(f"""
import os
data = b"x" * {size}
os.makedirs({str(out)!r})
for i in range({n}):
    with open(os.path.join({str(out)!r}, f"run_{{i:05d}}.yaml"), "wb") as fh:
        fh.write(data)
""")


def wall_of(cmd: list[str], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def compile_bytecode() -> None:
    """Byte-compile ttgen, as ``pip install`` of a wheel does.

    A source checkout run with PYTHONDONTWRITEBYTECODE set (as on some CI machines)
    would otherwise compile every ttgen module in every measured process: ~45 ms that
    no installed ttgen pays, and that says nothing about rendering.
    """
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("ttgen")
    assert spec is not None and spec.origin is not None
    compileall.compile_dir(str(Path(spec.origin).parent), quiet=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=3, help="take the median of this many measurements")
    parser.add_argument("--keep", type=Path, help="keep outputs in this folder instead of a temporary one")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="ttgen-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    compile_bytecode()
    print(f"python {sys.version.split()[0]}, work folder {work}, ttgen byte-compiled")
    print(f"{'runs':>6} {'what':>6} {'wall s':>8} {'ms/config':>10} {'peak RSS MB':>12}")
    results: dict[int, dict[str, dict[str, float]]] = {}
    # ttgen's fixed cost (interpreter work, imports, schema, base config): a one-run render.
    one = work / "exp_1" / "experiment.yaml"
    one.parent.mkdir(parents=True, exist_ok=True)
    one.write_text(experiment_text(1))
    fixed = statistics.median(bench_ttgen(one, work / f"ttgen_1_{i}")["wall"] for i in range(args.repeat))
    print(f"{1:>6} {'ttgen':>6} {fixed:>8.3f}   (fixed cost: imports, schema, base config, one config)")
    for n in args.runs:
        exp = work / f"exp_{n}" / "experiment.yaml"
        exp.parent.mkdir(parents=True, exist_ok=True)
        exp.write_text(experiment_text(n))
        rows: dict[str, list[dict[str, float]]] = {"ttgen": [], "naive": [], "floor": [], "progress": []}
        # One untimed render first: it gives the floor its file size (and warms the same
        # caches for every measurement that follows).
        bench_ttgen(exp, work / f"size_{n}")
        size = (work / f"size_{n}" / "configs" / f"run_{0:0{max(3, len(str(n - 1)))}d}.yaml").stat().st_size
        for i in range(args.repeat):
            # ttgen and the floor run back to back, in alternating order: this disk's speed
            # drifts over seconds, and the naive loop takes many of them. Outputs are deleted
            # only at the end: deleting 10,000 files here (ext4 with discard) slowed the
            # next measurement's writes up to threefold.
            for what in (["ttgen", "floor", "progress"] if i % 2 == 0 else ["progress", "floor", "ttgen"]) + ["naive"]:
                out = work / f"{what}_{n}_{i}"
                if what == "ttgen":
                    rows["ttgen"].append(bench_ttgen(exp, out))
                elif what == "progress":
                    rows["progress"].append(bench_ttgen(exp, out, progress=True))
                elif what == "naive":
                    rows["naive"].append(bench_naive(exp, out))
                else:
                    rows["floor"].append(bench_floor(n, size, out))
        med = {k: {"wall": statistics.median(r["wall"] for r in v), "rss_mb": max(r["rss_mb"] for r in v)}
               for k, v in rows.items()}
        results[n] = med
        for what, m in med.items():
            print(f"{n:>6} {what:>6} {m['wall']:>8.3f} {1000 * m['wall'] / n:>10.3f} {m['rss_mb']:>12.1f}")
        paired = sorted(t["wall"] / f["wall"] for t, f in zip(rows["ttgen"], rows["floor"]))
        print(f"{n:>6} ttgen/floor of each back-to-back pair: " + ", ".join(f"{r:.2f}" for r in paired))
        print(f"{n:>6} progress display on a terminal: ttgen+progress/ttgen = "
              f"{med['progress']['wall'] / med['ttgen']['wall']:.3f}")
        print(f"{n:>6} ratio  ttgen/naive = {med['ttgen']['wall'] / med['naive']['wall']:.3f}   "
              f"ttgen/floor = {med['ttgen']['wall'] / med['floor']['wall']:.2f}   "
              f"per config beyond the fixed cost: ttgen/floor = "
              f"{(med['ttgen']['wall'] - fixed) / med['floor']['wall']:.2f}")
    if len(results) > 1:
        lo, hi = min(results), max(results)
        print(f"peak RSS ttgen: {results[lo]['ttgen']['rss_mb']:.1f} MB at {lo} runs, "
              f"{results[hi]['ttgen']['rss_mb']:.1f} MB at {hi} runs "
              f"(growth x{results[hi]['ttgen']['rss_mb'] / results[lo]['ttgen']['rss_mb']:.2f})")
    # This interpreter's ttgen, so the benchmark needs no `ttgen` on PATH (nor picks another one).
    ttgen = [PY, "-m", "ttgen"]
    help_s, ls_s = wall_of([*ttgen, "--help"]), wall_of([*ttgen, "ls"])
    print(f"ttgen --help: {help_s:.3f} s wall (median of 5)")
    print(f"ttgen ls:     {ls_s:.3f} s wall (median of 5)")
    # Issue 7's targets, as README "Performance" reads them: the floor ratio is a
    # throughput target, judged on the largest sweep and per config beyond the fixed cost.
    checks: list[tuple[str, bool]] = []
    for n, med in results.items():
        checks.append((f"{n} runs: ttgen <= 0.2 x naive (goal 0.1)", med["ttgen"]["wall"] <= 0.2 * med["naive"]["wall"]))
        checks.append((f"{n} runs: per config beyond the fixed cost, ttgen <= 3 x floor",
                       med["ttgen"]["wall"] - fixed <= 3 * med["floor"]["wall"]))
        checks.append((f"{n} runs: peak RSS under 150 MB", med["ttgen"]["rss_mb"] < 150))
        checks.append((f"{n} runs: the progress display costs under 5%", med['progress']['wall'] <= 1.05 * med["ttgen"]["wall"]))
    hi = max(results)
    checks.append((f"{hi} runs: whole command, ttgen <= 3 x floor",
                   results[hi]["ttgen"]["wall"] <= 3 * results[hi]["floor"]["wall"]))
    lo = min(results)
    if hi > lo:
        # Configs are never held (each is ~3 KB); what may grow is the manifest's table of
        # file hashes, ~0.3 KB a run.
        per_run_kb = (results[hi]["ttgen"]["rss_mb"] - results[lo]["ttgen"]["rss_mb"]) * 1024 / (hi - lo)
        checks.append((f"peak RSS grows {per_run_kb:.2f} KB per extra run: < 1 KB (no rendered config is held)",
                       per_run_kb < 1))
    checks.append(("ttgen --help and ttgen ls under 0.3 s", max(help_s, ls_s) < 0.3))
    for what, ok in checks:
        print(f"target {'met   ' if ok else 'MISSED'}  {what}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
