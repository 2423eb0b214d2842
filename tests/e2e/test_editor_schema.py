"""Editors check experiment.yaml against ttgen's JSON Schema (docs/editors-and-shells.md).

Every field of schemas/experiment.schema.json has a description and examples that the
field itself accepts (the YAML language server shows both on hover and completion), and
``ttgen init`` writes the ``# yaml-language-server: $schema=...`` line that points editors
at the installed schema.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import unquote, urlparse

import pytest
from jsonschema import Draft202012Validator

from helpers import REPO, run_cli
from ttgen.resources import experiment_schema_file, load_schema

SCHEMA_FILE = REPO / "schemas" / "experiment.schema.json"
LINE = "# yaml-language-server: $schema="


def fields(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every field of the schema by dotted path: the root, each property (nested ones too), each $defs entry."""
    yield path or "<root>", schema
    for name, sub in schema.get("properties", {}).items():
        yield from fields(sub, f"{path}.{name}" if path else name)
    for name, sub in schema.get("$defs", {}).items():
        yield from fields(sub, f"$defs.{name}")


SCHEMA = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
FIELDS = dict(fields(SCHEMA))


def test_the_walk_sees_nested_fields() -> None:
    assert {"experiment.name", "framework_config.base_config", "sweep.zip", "output.run_dir", "slurm.time",
            "$defs.variable"} <= set(FIELDS)
    assert len(FIELDS) > 40


@pytest.mark.parametrize("path", sorted(FIELDS))
def test_every_field_has_a_description_and_examples_it_accepts(path: str) -> None:
    field = FIELDS[path]
    description = field.get("description")
    assert isinstance(description, str) and len(description) >= 10, f"{path}: no description"
    examples = field.get("examples")
    assert isinstance(examples, list) and examples, f"{path}: no examples"
    # Each example fits its own field (with the root's $defs, for the $refs).
    validator = Draft202012Validator({**field, "$defs": SCHEMA.get("$defs", {})})
    for example in examples:
        errors = [e.message for e in validator.iter_errors(example)]
        assert errors == [], f"{path}: example {example!r} does not fit: {errors}"


def test_the_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(SCHEMA)


def _schema_uri(text: str) -> str:
    first = text.splitlines()[0]
    assert first.startswith(LINE), first
    return first[len(LINE):]


def test_init_writes_the_schema_line_of_the_installed_schema(tmp_path: Path) -> None:
    out = tmp_path / "experiment.yaml"
    made = run_cli("init", "llama3_2/1B_lora_single_device", "--out", out)
    assert made.code == 0, made.err
    uri = _schema_uri(out.read_text(encoding="utf-8"))
    parsed = urlparse(uri)
    assert parsed.scheme == "file" and parsed.netloc == ""
    target = Path(unquote(parsed.path))
    assert target.is_file()
    installed = experiment_schema_file()
    assert installed is not None and target == installed
    # It is the experiment schema ttgen itself checks files against.
    assert json.loads(target.read_text(encoding="utf-8")) == load_schema()
    # The file still renders: the line is a comment to every YAML reader.
    dry = run_cli("render", out, "--dry-run")
    assert dry.code == 0 and dry.err == "", dry.err


def test_a_starter_from_a_base_file_has_the_schema_line_too(tmp_path: Path) -> None:
    from ttgen.inputs.catalog import load_catalog

    base = tmp_path / "mine.yaml"
    base.write_bytes(load_catalog().configs["llama3_2/1B_full_single_device"].path.read_bytes())
    out = tmp_path / "e.yaml"
    assert run_cli("init", base, "--out", out).code == 0
    assert Path(unquote(urlparse(_schema_uri(out.read_text(encoding="utf-8"))).path)).is_file()
    assert run_cli("render", out, "--dry-run").code == 0
