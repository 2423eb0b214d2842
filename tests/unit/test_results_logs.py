"""Metric logs summarised for `ttgen results`: values, directions, NaN, resumed runs, lines being written."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ttgen.results.logs import CURVE_POINTS, direction, merge, summarize_lines, summarize_log, thin


def test_final_min_max_best_and_their_steps() -> None:
    s = summarize_lines(["Step 1 | loss:3.0 tokens_per_second_per_gpu:100 lr:0.1",
                         "something else torchtune printed",
                         "Step 2 | loss:1.0 tokens_per_second_per_gpu:300 lr:0.2",
                         "Step 3 | loss:2.0 tokens_per_second_per_gpu:200 lr:0.0"])
    assert (s.first_step, s.last_step, s.lines) == (1, 3, 3)
    loss, tps, lr = s.metrics["loss"], s.metrics["tokens_per_second_per_gpu"], s.metrics["lr"]
    assert (loss.final, loss.min, loss.min_step, loss.best("loss")) == (2.0, 1.0, 2, 1.0)
    assert (tps.best("tokens_per_second_per_gpu"), tps.max_step) == (300.0, 2)
    assert lr.best("lr") is None and lr.count == 3
    assert s.curve == [(1, 3.0), (2, 1.0), (3, 2.0)]


@pytest.mark.parametrize(("name", "way"), [("loss", "min"), ("val_loss", "min"), ("perplexity", "min"),
                                          ("tokens_per_second_per_gpu", "max"), ("peak_memory_active", "max"),
                                          ("accuracy", "max"), ("lr", None), ("grad_norm", None)])
def test_direction(name: str, way: str | None) -> None:
    assert direction(name) == way


def test_nan_is_a_final_value_but_never_a_best() -> None:
    s = summarize_lines(["Step 1 | loss:2.0", "Step 2 | loss:nan", "Step 3 | loss:nan"])
    loss = s.metrics["loss"]
    assert math.isnan(loss.final) and loss.count == 3 and (loss.min, loss.max) == (2.0, 2.0)
    only_nan = summarize_lines(["Step 1 | loss:nan"]).metrics["loss"]
    assert only_nan.min is None and only_nan.best("loss") is None


def test_a_metric_logged_on_some_steps_only() -> None:
    s = summarize_lines(["Step 1 | loss:2.0", "Step 2 | loss:1.5 grad_norm:0.7", "Step 3 | loss:1.2"])
    assert (s.metrics["grad_norm"].final, s.metrics["grad_norm"].final_step, s.metrics["grad_norm"].count) == (0.7, 2, 1)


def test_a_line_being_written_is_left_out(tmp_path: Path) -> None:
    log = tmp_path / "log_1.txt"
    log.write_text("Step 1 | loss:2.0\nStep 2 | loss:1.5\nStep 3 | loss:1.2", encoding="utf-8")  # no final \n
    s = summarize_log(log)
    assert (s.last_step, s.metrics["loss"].final) == (2, 1.5)
    assert summarize_log(tmp_path / "missing.txt").lines == 0


def test_a_resumed_run_joins_its_logs_by_step() -> None:
    old = summarize_lines([f"Step {i} | loss:{10 - i}.0" for i in range(1, 8)])  # killed after step 7
    new = summarize_lines([f"Step {i} | loss:{10 - i}.5" for i in range(5, 11)])  # resumed from step 4's checkpoint
    s = merge([old, new])
    assert (s.first_step, s.last_step, s.lines) == (1, 10, 13)
    assert s.metrics["loss"].final == 0.5 and s.metrics["loss"].min == 0.5 and s.metrics["loss"].count == 13
    assert [step for step, _ in s.curve] == list(range(1, 11))  # the newer log's steps replace the older's
    assert dict(s.curve)[5] == 5.5
    assert merge([]).lines == 0 and merge([old]) is old


def test_curves_are_thinned_keeping_both_ends() -> None:
    points = [(i, float(i)) for i in range(1, 10001)]
    thinned = thin(points)
    assert len(thinned) == CURVE_POINTS and thinned[0] == (1, 1.0) and thinned[-1] == (10000, 10000.0)
    assert thin(points[:5]) == points[:5]
