"""The benchmark scripts still run and print every figure docs/development/benchmarks.md quotes.

Timing targets are not asserted here (a busy CI machine says nothing about them);
this only keeps the scripts from rotting: a tiny sweep through each, checking the
lines the benchmarks page is read from.
"""

from __future__ import annotations

import pytest

import re
import subprocess
import sys
from pathlib import Path

from helpers import REPO

pytestmark = pytest.mark.slow


def run_script(*args: str, codes: tuple[int, ...] = (0,)) -> str:
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode in codes, proc.stderr + proc.stdout
    return proc.stdout


def test_bench_render_prints_every_figure(tmp_path: Path) -> None:
    out = run_script("benchmarks/bench_render.py", "--runs", "8", "27", "--repeat", "1", "--keep", str(tmp_path))
    for n in (8, 27):
        for what in ("ttgen", "naive", "floor", "progress"):
            assert re.search(rf"^\s+{n}\s+{what}\s+[\d.]+\s+[\d.]+\s+[\d.]+$", out, re.M), out
        assert re.search(rf"^\s+{n} ratio  ttgen/naive = [\d.]+   ttgen/floor = [\d.]+   per config beyond "
                         rf"the fixed cost: ttgen/floor = -?[\d.]+$", out, re.M), out
        assert re.search(rf"^\s+{n} ttgen/floor of each back-to-back pair: [\d.]+$", out, re.M), out
        assert re.search(rf"^\s+{n} progress display on a terminal: ttgen\+progress/ttgen = [\d.]+$", out, re.M), out
    assert re.search(r"^peak RSS ttgen: [\d.]+ MB at 8 runs, [\d.]+ MB at 27 runs", out, re.M), out
    assert re.search(r"^target (met   |MISSED)  peak RSS grows", out, re.M), out
    assert re.search(r"^ttgen --help: [\d.]+ s wall", out, re.M) and re.search(r"^ttgen ls: +[\d.]+ s wall", out, re.M)
    # The rendered sweep has the run count asked for: the benchmark measures what it says.
    assert len(list((tmp_path / "ttgen_27_0" / "configs").glob("run_[0-9]*.yaml"))) == 27


def test_bench_validate_prints_its_ratio(tmp_path: Path) -> None:
    # Exit 1 means "target missed", which a 4-config sweep (torch's import not yet amortised) does.
    out = run_script("benchmarks/bench_validate.py", "--runs", "4", "--tune-samples", "1", "--repeat", "1",
                     "--keep", str(tmp_path), codes=(0, 1))
    assert re.search(r"^per-config ratio tune/ttgen = \d+x \((meets|MISSES) the 100x target\); "
                     r"level 1 alone: \d+x$", out, re.M), out


def test_bench_status_prints_its_figures(tmp_path: Path) -> None:
    out = run_script("benchmarks/bench_status.py", "--runs", "50", "--repeat", "1", "--keep", str(tmp_path),
                     codes=(0, 1))
    assert re.search(r"^status beyond SLURM: [\d.]+ s   \(SLURM stand-in: [\d.]+ ms, calls: squeue, sacct\)$", out,
                     re.M), out
    assert re.search(r"^I/O floor: +[\d.]+ s$", out, re.M) and re.search(r"^ratio status/floor = [\d.]+$", out, re.M)
    assert re.search(r"^target (met   |MISSED)  status of 50 runs", out, re.M), out
    assert len(list((tmp_path / "out" / "configs").glob("run_[0-9]*.yaml"))) == 50


def test_bench_results_prints_its_figures(tmp_path: Path) -> None:
    out = run_script("benchmarks/bench_results.py", "--runs", "40", "--lines", "300", "--keep", str(tmp_path),
                     codes=(0, 1))
    assert re.search(r"^runs: 40 x 300 log lines \(\d+ MB of logs\)$", out, re.M), out
    for what in (r"floor \(read the bytes\): +[\d.]+ s", r"read line by line: +[\d.]+ s   \(ratio [\d.]+\)",
                 r"results, first look: +[\d.]+ s   ratio first/floor = [\d.]+",
                 r"results, cached: +[\d.]+ s   ratio again/floor = [\d.]+",
                 r"report of 40 runs: +[\d.]+ s   \([\d.]+ MB of HTML\)"):
        assert re.search(rf"^{what}$", out, re.M), (what, out)
    assert len(re.findall(r"^target (met   |MISSED)  ", out, re.M)) == 3, out
    assert len(list((tmp_path / "out" / "configs").glob("run_[0-9]*.yaml"))) == 40
