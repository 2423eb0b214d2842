"""Locate the files that ship inside the package: Jinja templates, JSON Schemas, data.

The top-level `templates/` and `schemas/` folders are mapped into the package as
`ttgen.templates` and `ttgen.schemas` (see pyproject.toml), so the same
`importlib.resources` lookups work from a checkout, an editable install and a wheel.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import yaml


def templates_dir() -> Traversable:
    return resources.files("ttgen.templates")


def read_template(name: str) -> str:
    return templates_dir().joinpath(name).read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def load_schema(name: str = "experiment.schema.json") -> dict[str, Any]:
    return json.loads(resources.files("ttgen.schemas").joinpath(name).read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def load_data(name: str) -> Any:
    """A YAML data file shipped in the package itself (e.g. the alias table)."""
    return yaml.safe_load(resources.files("ttgen").joinpath(name).read_text(encoding="utf-8"))
