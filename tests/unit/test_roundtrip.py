"""Rendered configs load back with OmegaConf to exactly the intended values (docs/contract.md §2, §4).

Two angles: every config torchtune ships, rendered with no overrides, equals
the original; and hypothesis-generated configs and overrides, rendered through
the whole pipeline, equal a reference merge written independently here.
"""

from __future__ import annotations

import copy

import json
import re
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import load_omegaconf, same, shipped_configs, write
from ttgen.plan.identity import tracker_fields
from ttgen.inputs.catalog import load_catalog
from ttgen.render.output import render_experiment
from ttgen.tree import value_key

SHIPPED = shipped_configs()


def test_torchtune_ships_configs_here() -> None:
    assert len(SHIPPED) > 100  # the round-trip below is only meaningful over the real corpus


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_config_round_trips(name: str, tmp_path: Path) -> None:
    exp = write(tmp_path / "experiment.yaml", "experiment: {name: rt, framework: torchtune}\n"
                f"framework_config: {{base_config: {name}}}\n")
    result = render_experiment(exp, out=tmp_path / "out")
    rendered = load_omegaconf(result.output_dir / "configs" / "run_000.yaml")
    original = load_omegaconf(load_catalog().configs[name].path)
    # Exactly what ttgen adds to every run: its own output_dir, the tracker's names, the ttgen: block.
    expected = copy.deepcopy(original)
    expected["output_dir"] = str((tmp_path / "out").resolve() / "runs" / "run_000")
    logger = expected.get("metric_logger") or {}
    expected_fields = tracker_fields(logger.get("_component_"), experiment="rt", run_id="run_000", values={})
    logger.update({k: v for k, v in expected_fields.items()})
    expected["ttgen"] = {"experiment": "rt", "run_id": "run_000", "variables": {}}
    assert same(rendered, expected)
    assert (result.output_dir / "base_config.yaml").read_bytes() == load_catalog().configs[name].path.read_bytes()


# ---- property test: random configs and overrides -------------------------------------------

KEY = st.text(alphabet=string.ascii_letters + string.digits + "_-é中", min_size=1, max_size=8).filter(
    lambda k: k not in {"output_dir"} and not k.startswith(("+", "-")))
# No "$" (OmegaConf interpolations) and no "{{" or "{%" (derived values): those are features with
# tests of their own, not text a plain merge must keep.
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="$"), max_size=12).filter(
    lambda s: "{{" not in s and "{%" not in s)
FLOAT = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([1e-300, 5e-324, -0.0, 1e16, 3e-4])
SCALAR = st.none() | st.booleans() | st.integers(-(2**63), 2**63) | FLOAT | TEXT
LEAF = SCALAR | st.lists(SCALAR, max_size=4)
TREE = st.recursive(LEAF, lambda inner: st.dictionaries(KEY, inner, min_size=1, max_size=4), max_leaves=12)
BASE = st.dictionaries(KEY, TREE, min_size=1, max_size=5)


def leaves(tree: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    out = []
    for k, v in tree.items():
        if isinstance(v, dict) and v:
            out.extend(leaves(v, prefix + (k,)))
        elif not isinstance(v, dict):
            out.append((prefix + (k,), v))
    return out


def same_kind(value: Any) -> st.SearchStrategy[Any]:
    """Values ttgen must accept over *value* (docs/contract.md §4 type rules)."""
    if value is None:
        return LEAF
    if isinstance(value, bool):
        return st.booleans() | st.none()
    if isinstance(value, (int, float)):
        return st.integers(-(2**40), 2**40) | FLOAT | st.none()
    if isinstance(value, str):
        return TEXT | st.none()
    return st.lists(SCALAR, max_size=4) | st.none()


def reference_merge(base: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = base
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


@st.composite
def experiments(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], list[Any], dict[str, Any]]:
    base = draw(BASE)
    paths = leaves(base)
    controls: dict[str, Any] = {}
    chosen = draw(st.lists(st.sampled_from(paths), max_size=4, unique_by=lambda p: p[0])) if paths else []
    for path, old in chosen:
        controls[".".join(path)] = draw(same_kind(old))
    new_key = draw(KEY.filter(lambda k: k not in base))
    controls["+" + new_key] = draw(TREE)
    variable: tuple[str, list[Any]] | None = None
    free = [(p, v) for p, v in paths if ".".join(p) not in controls]
    if free and draw(st.booleans()):
        path, old = draw(st.sampled_from(free))
        values = draw(st.lists(same_kind(old), min_size=2, max_size=2,
                               unique_by=value_key))
        variable = (".".join(path), values)
    elif draw(st.booleans()):
        # A new key as variable: runs that add keys take the general (tree-walking) render path.
        name = draw(KEY.filter(lambda k: k not in base and "+" + k not in controls))
        values = draw(st.lists(TREE, min_size=2, max_size=2, unique_by=value_key))
        variable = ("+" + name, values)
    expected_runs = []
    for value in (variable[1] if variable else [None]):
        merged = json.loads(json.dumps(base))
        for key, v in controls.items():
            reference_merge(merged, tuple(key.lstrip("+").split(".")), json.loads(json.dumps(v)))
        if variable:
            reference_merge(merged, tuple(variable[0].lstrip("+").split(".")), value)
        expected_runs.append(merged)
    variables = {variable[0]: variable[1]} if variable else {}
    return base, controls, expected_runs, variables


def _json_floats_ok(obj: Any) -> str:
    # JSON is YAML; but raw control characters are not allowed in YAML files, so escape
    # the unprintable ones the YAML way (\\UXXXXXXXX also covers characters beyond the BMP).
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False)
    return re.sub(r"[^\n ]", lambda m: m.group() if m.group().isprintable() else
                  (f"\\u{ord(m.group()):04x}" if ord(m.group()) < 0x10000 else f"\\U{ord(m.group()):08x}"), text)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(experiments())
def test_render_then_omegaconf_load_equals_intended_merge(tmp_path_factory: pytest.TempPathFactory,
                                                           case: tuple[Any, ...]) -> None:
    base, controls, expected_runs, variables = case
    folder = tmp_path_factory.mktemp("prop")
    # JSON is YAML: strings stay strings in it, so the base means exactly what we generated.
    write(folder / "base.yaml", _json_floats_ok(base))
    exp = {"experiment": {"name": "prop", "framework": "torchtune"},
           "framework_config": {"base_config_file": "base.yaml"}, "controls": controls}
    if variables:
        exp["variables"] = variables
    write(folder / "experiment.yaml", _json_floats_ok(exp))
    result = render_experiment(folder / "experiment.yaml", out=folder / "out")
    for i, expected in enumerate(expected_runs):
        got = load_omegaconf(result.output_dir / "configs" / f"run_{i:03d}.yaml")
        identity = got.pop("ttgen")  # the run's identity, added last (the base has no output_dir to place)
        assert identity["run_id"] == f"run_{i:03d}" and list(identity["variables"]) == list(variables)
        assert same(got, expected), (got, expected)
