"""ttgen: one declarative experiment.yaml in, a folder of complete torchtune configs out.

The Python API mirrors the command line::

    from ttgen import render_experiment, plan_experiment
    result = render_experiment("experiment.yaml", out="outputs/study")

Every function raises a `UserError` subclass (with `.problems`, each carrying
file, line, column, dotted path and a hint) for input a user can fix.
Names are imported on first use, so ``ttgen --help`` starts fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "BaseConfigError": "errors",
    "ExperimentError": "errors",
    "OutputError": "errors",
    "Problem": "errors",
    "SourcePos": "errors",
    "TtgenError": "errors",
    "UserError": "errors",
    "RenderResult": "pipeline",
    "render_experiment": "pipeline",
    "Plan": "plan",
    "RunConfig": "plan",
    "plan_experiment": "plan",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ttgen' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
