"""Seeded random search: the values of variables written as distributions (``sweep.method: random``).

Every draw comes from one `random.Random(seed)` and only from its `random()` method
(53-bit floats from the Mersenne Twister, specified and stable across machines,
Python versions and hash seeds), sample by sample, distribution by distribution
in written order. So the same seed gives the same values everywhere, and adding
a grid variable never changes what was drawn (docs/comparing-models.md).

Examples:
    >>> rng = random.Random(0)
    >>> draw({"distribution": "loguniform", "low": 1e-5, "high": 1e-3}, rng)
    0.0003671
    >>> significant(0.000123456789, 4), significant(12345.678, 3)
    (0.0001235, 12300.0)
"""

from __future__ import annotations

import math
import random
from typing import Any

from ..errors import ProblemCollector
from ..inputs.experiment import Experiment
from ..tree import Key, display_path

DEFAULT_DIGITS = 4  # significant digits of a drawn float: what a researcher reads (3.672e-4, not 17 digits)
RANDOM = "random"


def significant(value: float, digits: int) -> float:
    """*value* rounded to *digits* significant digits (through its decimal text: no binary noise)."""
    return float(f"{value:.{digits}g}")


def draw(spec: dict[str, Any], rng: random.Random) -> Any:
    """One value of a checked distribution *spec*."""
    kind = spec["distribution"]
    u = rng.random()
    if kind == "choice":
        values = spec["values"]
        return values[min(int(u * len(values)), len(values) - 1)]
    low, high = spec["low"], spec["high"]
    if kind == "int_range":
        return int(low) + min(int(u * (int(high) - int(low) + 1)), int(high) - int(low))
    digits = spec.get("digits", DEFAULT_DIGITS)
    if kind == "loguniform":
        return significant(math.exp(math.log(low) + u * (math.log(high) - math.log(low))), digits)
    return significant(low + u * (high - low), digits)


def distributions(variables: dict[str, Any], prefix: Key = ("variables",)) -> list[tuple[Key, dict[str, Any]]]:
    """Every variable written as a distribution, with its place in experiment.yaml, in written order."""
    out: list[tuple[Key, dict[str, Any]]] = []
    for key, value in variables.items():
        here = prefix + (key,)
        if isinstance(value, dict) and "distribution" in value:
            out.append((here, value))
        elif isinstance(value, dict):
            out.extend(distributions(value, here))
    return out


def _check(exp: Experiment, where: Key, spec: dict[str, Any], problems: ProblemCollector) -> bool:
    doc, kind = exp.doc, spec["distribution"]
    shown = display_path(where)
    needs = ["values"] if kind == "choice" else ["low", "high"]
    extra = [k for k in spec if k not in ("distribution", "digits", *needs)]
    ok = True
    for key in needs:
        if key not in spec:
            problems.error(f"distribution {kind} needs {key}", pos=doc.pos(where), path=shown,
                           hint="choice: {distribution: choice, values: [...]}; uniform, loguniform, int_range: "
                                "{distribution: ..., low: ..., high: ...}")
            ok = False
    for key in extra:
        problems.error(f"distribution {kind} takes no {key}", pos=doc.key_pos(where + (key,)),
                       path=display_path(where + (key,)),
                       hint="choice takes values; uniform, loguniform and int_range take low and high")
        ok = False
    if not ok or kind == "choice":
        return ok
    low, high = spec["low"], spec["high"]
    if isinstance(low, bool) or isinstance(high, bool) or low > high or (kind != "int_range" and low == high):
        problems.error(f"low ({low}) must be below high ({high})", pos=doc.pos(where + ("low",)),
                       path=display_path(where + ("low",)), hint="swap them, or make the range wider")
        return False
    if kind == "loguniform" and low <= 0:
        problems.error(f"loguniform needs low > 0, got {low}", pos=doc.pos(where + ("low",)),
                       path=display_path(where + ("low",)), hint="draw in log space from a positive value, e.g. 1e-6")
        return False
    if kind == "int_range" and not (isinstance(low, int) and isinstance(high, int)):
        problems.error("int_range needs whole numbers for low and high", pos=doc.pos(where), path=shown,
                       hint="for floats use uniform or loguniform")
        return False
    return True


def draw_variables(exp: Experiment, problems: ProblemCollector) -> dict[Key, tuple[Any, ...]]:
    """The drawn values of every distribution, by its place in experiment.yaml; reports misuse."""
    specs = distributions(exp.variables)
    sweep, doc = exp.sweep, exp.doc
    method = sweep.get("method", "grid")
    if method != RANDOM:
        for where, _ in specs:
            problems.error("a distribution is drawn only by a random search", pos=doc.pos(where),
                           path=display_path(where), hint="add method: random, samples: N and seed: S under sweep:")
        for key in ("samples", "seed"):
            if key in sweep:
                problems.error(f"sweep.{key} is used only with sweep.method: random", pos=doc.key_pos(("sweep", key)),
                               path=f"sweep.{key}", hint="add method: random under sweep:, or remove it")
        return {}
    missing = [key for key in ("samples", "seed") if key not in sweep]
    for key in missing:
        problems.error(f"a random search needs sweep.{key}", pos=doc.key_pos(("sweep",)), path="sweep",
                       hint="e.g. sweep: {method: random, samples: 8, seed: 1234}; the seed makes the draws reproducible")
    if not specs:
        problems.error("sweep.method is random, but no variable is a distribution", pos=doc.pos(("sweep", "method")),
                       path="sweep.method",
                       hint="write a variable as e.g. learning_rate: {distribution: loguniform, low: 1e-5, high: 1e-3}")
    checked = [_check(exp, where, spec, problems) for where, spec in specs]
    if missing or not specs or not all(checked):
        return {}
    rng = random.Random(int(sweep["seed"]))
    values: dict[Key, list[Any]] = {where: [] for where, _ in specs}
    for _ in range(int(sweep["samples"])):
        for where, spec in specs:
            values[where].append(draw(spec, rng))
    return {where: tuple(v) for where, v in values.items()}
