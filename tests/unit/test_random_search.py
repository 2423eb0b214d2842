"""The draws of a seeded random search (ttgen.plan.random_search): ranges, rounding, reproducibility."""

from __future__ import annotations

import math
import random

from ttgen.plan.random_search import draw, significant


def test_draws_stay_in_their_ranges_and_cover_them() -> None:
    rng = random.Random(3)
    ints = [draw({"distribution": "int_range", "low": 2, "high": 5}, rng) for _ in range(400)]
    assert set(ints) == {2, 3, 4, 5} and all(isinstance(i, int) for i in ints)
    picks = [draw({"distribution": "choice", "values": ["a", [1, 2], {"k": 1}]}, rng) for _ in range(300)]
    assert {repr(p) for p in picks} == {"'a'", "[1, 2]", "{'k': 1}"}
    logs = [draw({"distribution": "loguniform", "low": 1e-6, "high": 1e-2}, rng) for _ in range(1000)]
    assert all(1e-6 <= x <= 1e-2 for x in logs)
    # Evenly in log space: about a quarter of the draws in each decade of four.
    below_1e5 = sum(x < 1e-5 for x in logs)
    assert 180 < below_1e5 < 320, below_1e5
    flat = [draw({"distribution": "uniform", "low": -1.0, "high": 1.0, "digits": 2}, rng) for _ in range(500)]
    assert all(-1.0 <= x <= 1.0 for x in flat)
    assert all(x == float(f"{x:.2g}") for x in flat)


def test_significant_digits_are_what_a_researcher_reads() -> None:
    assert significant(0.000123456789, 4) == 0.0001235
    assert repr(significant(1 / 3 * 1e-4, 4)) == "3.333e-05"
    assert significant(123456.0, 2) == 120000.0
    assert not math.isnan(significant(0.0, 4))


def test_same_seed_same_draws() -> None:
    spec = {"distribution": "loguniform", "low": 1e-5, "high": 1e-3}
    first = [draw(spec, random.Random(2026)) for _ in range(1)]
    rng = random.Random(2026)
    assert [draw(spec, rng) for _ in range(3)] == [1.731e-05, 0.0001012, 0.0001056]
    assert first == [1.731e-05]
