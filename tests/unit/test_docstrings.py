"""The examples in the package's docstrings run and give what they show (doctest).

Examples that write files or need an output folder are marked ``+SKIP`` in the
docstring; every other one runs here, from the repository's root (they read
examples/).
"""

from __future__ import annotations

import doctest
import importlib
import os

import pytest

from helpers import REPO

# Modules whose docstrings hold examples that run (each must have at least one).
MODULES = [
    "ttgen.errors", "ttgen.tree", "ttgen.text", "ttgen.layout", "ttgen.yamlio.types", "ttgen.plan.origins",
    "ttgen.review.compare", "ttgen.plan.build", "ttgen.plan.runs", "ttgen.inputs.catalog",
    "ttgen.results.logs", "ttgen.results.tables", "ttgen.results.group", "ttgen.results.collect",
    "ttgen.results.report", "ttgen.api.folder", "ttgen.api.experiment", "ttgen.validate.validator",
    "ttgen.validate.report",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 0 and result.failed == 0


def test_public_functions_have_examples() -> None:
    import ttgen

    for name in ("plan_experiment", "render_experiment", "diff_runs", "check_experiment", "validate_configs",
                 "collect_results", "build_report", "write_report"):
        doc = getattr(ttgen, name).__doc__ or ""
        assert "Examples:" in doc and ">>> " in doc, f"ttgen.{name} needs an example in its docstring"
    assert os.path.isdir(REPO / "examples")
