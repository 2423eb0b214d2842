#!/usr/bin/env python3
"""Benchmark `ttgen results` and `ttgen report` on a large sweep, against the time to read the bytes.

Usage:  python benchmarks/bench_results.py [--runs 1000] [--lines 10000] [--repeat 1] [--keep DIR]

A sweep of N runs (lora_rank x lr x seed) is rendered; each run gets a DiskLogger log of
L steps as torchtune writes it on a GPU (loss, lr, tokens per second, three peak-memory
values: about 170 bytes a line). Then, each timed in this process:

- floor:   reading every log's bytes (open + read), best of --repeat: the I/O floor;
- lines:   reading every log line by line as text (what any line reader pays);
- first:   `collect_results` with no cache: every log parsed (the first look);
- again:   `collect_results` once the cache holds every finished log (every later look);
- report:  `build_report` of those results (figures included).

It prints each time, the ratios first/floor and again/floor, and one target line for the
issue's targets: parsing within 2 x the time to read the bytes, the report of 1,000 runs in
seconds. The first look's ratio is bounded by turning text into floats in Python (six
numbers a line); docs/development/benchmarks.md records the figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "generator"))

from ttgen.layout import RESULTS_CACHE_DIR  # noqa: E402
from ttgen.render.output import render_experiment  # noqa: E402
from ttgen.results.collect import collect_results  # noqa: E402
from ttgen.results.report import build_report  # noqa: E402

PARSE_TARGET = 2.0
REPORT_TARGET_SECONDS = 30.0


def grid(runs: int) -> tuple[list[int], list[float], list[int]]:
    ranks = [4, 8, 16, 32, 64][: max(1, min(5, runs))]
    lrs = [1e-4, 3e-4, 1e-3, 3e-3][: max(1, min(4, runs // len(ranks)))]
    seeds = list(range(max(1, runs // (len(ranks) * len(lrs)))))
    return ranks, lrs, seeds


def log_text(lines: int, offset: int) -> str:
    return "".join(
        f"Step {s} | loss:{2.0 + 8.0 / (1 + s / 50) + offset * 1e-3:.6f} lr:{3e-4 * min(1.0, s / 100):.6g} "
        f"tokens_per_second_per_gpu:{2400.5 + (s * 7919 % 300) / 3:.4f} peak_memory_active:{18.25 + (s % 7) * 0.01:.4f} "
        f"peak_memory_alloc:{17.5 + (s % 5) * 0.01:.4f} peak_memory_reserved:{22.0:.4f} \n"
        for s in range(1, lines + 1))


def make_sweep(root: Path, runs: int, lines: int) -> Path:
    ranks, lrs, seeds = grid(runs)
    exp = root / "experiment.yaml"
    exp.write_text("experiment: {name: bench_results, framework: torchtune, question: 'How do rank and lr interact?'}\n"
                   "framework_config: {base_config: llama3_2/1B_lora_single_device}\n"
                   f"controls: {{output_dir: {root / 'runs'}}}\n"
                   f"variables: {{lora_rank: {ranks}, lr: {lrs}, seed: {seeds}}}\n", encoding="utf-8")
    out = root / "out"
    render_experiment(exp, out=out)
    texts = [log_text(lines, k) for k in range(3)]
    for i, run in enumerate(sorted(p.stem for p in (out / "configs").glob("run_[0-9]*.yaml"))):
        logs = root / "runs" / run / "logs"
        logs.mkdir(parents=True)
        (logs / "log_1796000000.txt").write_text(texts[i % 3], encoding="utf-8")
        (root / "runs" / run / "epoch_0").mkdir()
    return out


def logs_of(root: Path) -> list[str]:
    return [os.path.join(run.path, "logs", "log_1796000000.txt") for run in os.scandir(root / "runs")]


def read_floor(paths: list[str]) -> float:
    start = time.perf_counter()
    for path in paths:
        with open(path, "rb") as fh:
            fh.read()
    return time.perf_counter() - start


def line_floor(paths: list[str]) -> float:
    start = time.perf_counter()
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            for _ in fh:
                pass
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="build the sweep here and keep it")
    args = parser.parse_args(argv)
    root = args.keep or Path(tempfile.mkdtemp(prefix="ttgen-bench-results-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        out = make_sweep(root, args.runs, args.lines)
        paths = logs_of(root)
        size = sum(os.path.getsize(p) for p in paths)
        floor = min(read_floor(paths) for _ in range(max(1, args.repeat)))
        lines = min(line_floor(paths) for _ in range(max(1, args.repeat)))
        first = float("inf")
        for _ in range(max(1, args.repeat)):
            shutil.rmtree(out / RESULTS_CACHE_DIR, ignore_errors=True)
            start = time.perf_counter()
            results = collect_results(out)
            first = min(first, time.perf_counter() - start)
        assert all(r.steps == args.lines and r.state == "COMPLETED" for r in results.runs), "every log read"
        again = float("inf")
        for _ in range(max(1, args.repeat)):
            start = time.perf_counter()
            cached = collect_results(out)
            again = min(again, time.perf_counter() - start)
        assert cached.to_dicts() == results.to_dicts()
        start = time.perf_counter()
        html = build_report(cached)
        report = time.perf_counter() - start
        runs = len(results.runs)
        print(f"runs: {runs} x {args.lines} log lines ({size / 1e6:.0f} MB of logs)")
        print(f"floor (read the bytes):   {floor:.3f} s")
        print(f"read line by line:        {lines:.3f} s   (ratio {lines / floor:.1f})")
        print(f"results, first look:      {first:.3f} s   ratio first/floor = {first / floor:.1f}")
        print(f"results, cached:          {again:.3f} s   ratio again/floor = {again / floor:.2f}")
        print(f"report of {runs} runs:      {report:.3f} s   ({len(html) / 1e6:.1f} MB of HTML)")
        met_first = first / floor <= PARSE_TARGET
        met_again = again / floor <= PARSE_TARGET
        met_report = report < REPORT_TARGET_SECONDS
        print(f"target {'met   ' if met_first else 'MISSED'}  first look within {PARSE_TARGET} x the time to read the bytes")
        print(f"target {'met   ' if met_again else 'MISSED'}  later looks within {PARSE_TARGET} x the time to read the bytes")
        print(f"target {'met   ' if met_report else 'MISSED'}  report of {runs} runs in seconds (under "
              f"{REPORT_TARGET_SECONDS:.0f} s)")
        return 0 if met_again and met_report else 1
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
