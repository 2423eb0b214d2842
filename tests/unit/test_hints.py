"""Every problem ttgen reports says how to fix it (issue 21: "every finding has a hint").

Two views of "every finding kind": the code (each place that makes a `Problem`, or reports
one through a collector, passes a ``hint=``), and the rules (each well-known key's rule gives
a hint for a value it refuses).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from helpers import REPO

PACKAGE = REPO / "generator" / "ttgen"
# Names a ProblemCollector goes by where problems are reported through it.
COLLECTORS = {"problems", "own", "collector"}
# argparse's own `parser.error` (usage errors, exit 2) is not a Problem.
ARGPARSE = {PACKAGE / "cli" / "app.py"}


def _reports(path: Path) -> list[tuple[int, bool]]:
    """(line, has a hint) of each place in *path* that makes or reports a Problem."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        fn = node.func
        name = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else ""
        reports = name in ("Problem", "issue") or (
            name in ("error", "warn") and isinstance(fn, ast.Attribute) and isinstance(fn.value, ast.Name)
            and fn.value.id in COLLECTORS and path not in ARGPARSE)
        if not reports:
            continue
        hint = {k.arg: k.value for k in node.keywords}.get("hint")
        found.append((node.lineno, hint is not None and not (isinstance(hint, ast.Constant) and hint.value is None)))
    return found


def test_every_problem_made_in_the_code_carries_a_hint() -> None:
    places = [(path, line, ok) for path in sorted(PACKAGE.rglob("*.py")) for line, ok in _reports(path)]
    assert len(places) > 150, "the walk finds the places that report problems"
    missing = [f"{path.relative_to(REPO)}:{line}" for path, line, ok in places if not ok]
    assert missing == [], "these problems say what is wrong but not how to fix it"


def test_every_rule_hints_at_the_fix_of_a_value_it_refuses() -> None:
    from ttgen.validate.static import RULES, rule_problem

    for path in RULES:
        found = rule_problem(path, {"not": "this"})  # no rule accepts a mapping
        assert found is not None, path
        message, hint = found
        assert hint, f"{'.'.join(path)}: {message}"


@pytest.mark.parametrize("value, hint", [
    ("3e-4", "remove the quotes"), (1.5, "write a whole number, e.g. 2"), (2.0, "write 2 (no decimal point)"),
])
def test_the_common_slips_get_their_own_hint(value: object, hint: str) -> None:
    from ttgen.validate.static import rule_problem

    path = ("optimizer", "lr") if value == "3e-4" else ("epochs",)
    found = rule_problem(path, value)
    assert found is not None and hint in found[1]
