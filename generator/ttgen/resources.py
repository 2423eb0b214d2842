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
from pathlib import Path
from typing import Any

import yaml

# The shipped templates, by what they render (a user's --templates folder may replace each).
CONFIG_TEMPLATE = "config.yaml.j2"
MAPPING_TEMPLATE = "run_mapping.yaml.j2"
MANIFEST_TEMPLATE = "manifest.yaml.j2"
SLURM_ARRAY_TEMPLATE = "slurm_array.sh.j2"
SLURM_RUN_TEMPLATE = "slurm_run.sh.j2"
SLURM_EVAL_TEMPLATE = "slurm_eval.sh.j2"
SLURM_EVAL_BASELINE_TEMPLATE = "slurm_eval_baseline.sh.j2"

EXPERIMENT_SCHEMA = "experiment.schema.json"


def templates_dir() -> Traversable:
    """The folder of shipped Jinja templates."""
    return resources.files("ttgen.templates")


def read_template(name: str) -> str:
    """The text of a shipped template."""
    return templates_dir().joinpath(name).read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def load_schema(name: str = EXPERIMENT_SCHEMA) -> dict[str, Any]:
    """A shipped JSON Schema: experiment.yaml's, or (``output/ttgen.<command>.schema.json``) a --json document's."""
    folder: Traversable = resources.files("ttgen.schemas")
    for part in name.split("/"):
        folder = folder.joinpath(part)
    return json.loads(folder.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def experiment_schema_file() -> Path | None:
    """The installed experiment.yaml JSON Schema as a file on disk, for editors to read.

    None when the package is not installed as plain files (e.g. imported from a zip),
    where no path would stay valid after ttgen exits.
    """
    schema = resources.files("ttgen.schemas").joinpath(EXPERIMENT_SCHEMA)
    if isinstance(schema, Path) and schema.is_file():
        return schema.resolve()
    return None


@lru_cache(maxsize=None)
def load_data(name: str) -> Any:
    """A YAML data file shipped in the package itself (e.g. the alias table)."""
    return yaml.safe_load(resources.files("ttgen").joinpath(name).read_text(encoding="utf-8"))
