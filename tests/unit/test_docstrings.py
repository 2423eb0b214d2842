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
    "ttgen.validate.report", "ttgen.jobs.status",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 0 and result.failed == 0


def test_every_public_name_has_an_example() -> None:
    """Every name `ttgen` exports is documented with an example (docs/reference/api.md renders them)."""
    import inspect

    import ttgen
    from ttgen.api.experiment import render

    missing = []
    for name in ttgen.__all__:
        if name == "__version__":
            continue
        obj = render if name == "render" else getattr(ttgen, name)  # ttgen.render is also the subpackage
        doc = inspect.getdoc(obj) or ""
        if "Examples:" not in doc or ">>> " not in doc:
            missing.append(name)
    assert missing == []
    assert os.path.isdir(REPO / "examples")
