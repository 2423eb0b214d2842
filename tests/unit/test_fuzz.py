"""Fuzzing the merge → resolve → render pipeline against an independent reference merge (docs/contract.md §2-§5).

Hypothesis builds a random base config (nested mappings, unicode keys, keys that
look like numbers or YAML syntax, strings that look like numbers/bools/null,
floats from 5e-324 to 1.8e308 and -0.0, lists of mixed scalars), then an
experiment over it: deletes, controls (dotted leaves, new keys at any depth,
mapping values merging into mappings, deleted paths set again with another type)
and several variables (scalars, lists, mapping values merged into mappings, new
keys). Every run is rendered through ``ttgen render`` and loaded back with
OmegaConf; it must equal, value for value, type for type and in key order, the
config this file computes with its own small merge (`ref_set`), which knows
nothing of ttgen's code.

Inputs are written as JSON-style YAML (every string double-quoted), so the test
input means exactly what was generated; non-finite floats use YAML's spelling.
"""

from __future__ import annotations

import copy
import math
import os
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from helpers import load_omegaconf, run_cli, same, write
from ttgen.tree import value_key

Path_ = tuple[str, ...]
# More examples for a long local run: TTGEN_FUZZ_EXAMPLES=2000 pytest tests/unit/test_fuzz.py
FUZZ_EXAMPLES = int(os.environ.get("TTGEN_FUZZ_EXAMPLES", "120"))

# ---- values ------------------------------------------------------------------------------------

# Keys: unicode, and spellings a YAML writer must quote to keep them strings.
TRICKY_KEYS = ["1", "0x1F", "1e-4", "on", "off", "yes", "no", "true", "null", "~", "<<", "=", "-", "?", "[a]",
               "#", "a b", "a: b", "é", "中文", "ключ", "🙂", "_component_", "'q'", '"dq"', "%", "@", "!"]
KEY = (st.text(alphabet=string.ascii_lowercase + string.digits + "_-éüß中文🙂", min_size=1, max_size=6)
       | st.sampled_from(TRICKY_KEYS)).filter(lambda k: k != "output_dir" and not k.startswith("+") and "." not in k)

# Strings OmegaConf would read as something else if written plain, and text that looks
# like interpolations without being one (`${` is OmegaConf's; `{{`/`{%` are derived values).
TRICKY_TEXT = ["1e-4", "3e-4", "1e5", "1_000", "0x1F", "0o17", "+1", ".5", "1.", "-0", "12:30:00", "2024-01-01",
               "on", "off", "yes", "no", "y", "n", "true", "False", "null", "NULL", "~", "", " ", "nan", "NaN", ".inf",
               "-.inf", "=", "<<", "*a", "&a", "!tag", "%x", "@x", "`x", "#x", "x #y", "x: y", "- x", "? x", "|", ">",
               "'", '"', "\\", " lead", "trail ", "a\nb", "tab\there", "$x", "{x}", "$ {x}", "%{x}", "}{", "$$",
               "\u2028", "\x85", "é", "中文", "🙂", "\x00nul", "\x1b[31mred"]
TEXT = st.sampled_from(TRICKY_TEXT) | st.text(
    st.characters(blacklist_categories=("Cs",)), max_size=10).filter(
    lambda s: "${" not in s and "{{" not in s and "{%" not in s)
FLOAT = st.floats(allow_nan=True) | st.sampled_from(
    [5e-324, 1e-300, 2.2250738585072014e-308, 1.7976931348623157e308, 1e16, -0.0, 0.0, 3e-4, 0.1 + 0.2, -1e-12])
INT = st.integers(-(2**70), 2**70) | st.sampled_from([0, -1, 2**63, -(2**63) - 1])
SCALAR = st.none() | st.booleans() | INT | FLOAT | TEXT
SMALL_MAP = st.dictionaries(KEY, SCALAR, min_size=1, max_size=2)
LIST = st.lists(SCALAR | st.lists(SCALAR, max_size=2) | SMALL_MAP, max_size=4)
LEAF = SCALAR | LIST
TREE = st.recursive(LEAF, lambda inner: st.dictionaries(KEY, inner, min_size=1, max_size=4), max_leaves=10)


def tree_of_depth(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    """Mappings nested up to *depth* levels, so deep paths exist to delete, set and sweep."""
    if depth <= 1:
        return st.dictionaries(KEY, LEAF, min_size=1, max_size=4)
    return st.dictionaries(KEY, LEAF | tree_of_depth(depth - 1), min_size=1, max_size=4)


def with_spine(tree: dict[str, Any], spine: list[str], end: dict[str, Any]) -> dict[str, Any]:
    """*tree* plus a chain of mappings along *spine* ending in *end*: deep paths in every case."""
    node = tree
    for key in spine:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node.update(end)
    return tree


BASE = st.builds(with_spine, tree_of_depth(3), st.lists(KEY, min_size=2, max_size=5), tree_of_depth(2))


# ---- the reference merge -----------------------------------------------------------------------

def ref_set(parent: dict[str, Any], key: str, value: Any) -> None:
    """docs/contract.md §4 in four lines: mappings merge key by key; anything else replaces; new keys go last."""
    if isinstance(parent.get(key), dict) and isinstance(value, dict):
        for k, v in value.items():
            ref_set(parent[key], k, v)
    else:
        parent[key] = copy.deepcopy(value)


def ref_set_path(tree: dict[str, Any], path: Path_, value: Any) -> None:
    node = tree
    for key in path[:-1]:
        node = node.setdefault(key, {})
    ref_set(node, path[-1], value)


def ref_delete(tree: dict[str, Any], path: Path_) -> None:
    node: Any = tree
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(path[-1], None)


def walk(tree: dict[str, Any], prefix: Path_ = ()) -> list[tuple[Path_, Any]]:
    out = []
    for k, v in tree.items():
        out.append((prefix + (k,), v))
        if isinstance(v, dict):
            out.extend(walk(v, prefix + (k,)))
    return out


def related(a: Path_, b: Path_) -> bool:
    """Is one path a prefix of (or equal to) the other?"""
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def flat_leaves(path: Path_, value: Any) -> list[Path_]:
    """The paths a control writes once ttgen flattens its nested mappings (docs/contract.md §3)."""
    if isinstance(value, dict) and value:
        return [p for k, v in value.items() for p in flat_leaves(path + (k,), v)]
    return [path]


# ---- drawing an experiment ---------------------------------------------------------------------

def compatible(draw: st.DrawFn, old: Any, *, control: bool, depth: int = 0) -> Any:
    """A value ttgen must accept over *old* (docs/contract.md §4): same type, null either way, int with float.

    A control's mapping is flattened into dotted keys, so over null it may not add keys
    below (null is not a mapping); a variable's mapping value replaces the null whole.
    """
    if old is None:
        return draw(LEAF if control else TREE)
    if draw(st.integers(0, 9)) == 0:
        return None
    if isinstance(old, bool):
        return draw(st.booleans())
    if isinstance(old, (int, float)):
        return draw(INT | FLOAT)
    if isinstance(old, str):
        return draw(TEXT)
    if isinstance(old, list):
        return draw(LIST)
    assert isinstance(old, dict)
    out: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from(list(old)), unique=True, max_size=3)) if old else []:
        out[key] = compatible(draw, old[key], control=control, depth=depth + 1)
    for key in draw(st.lists(KEY.filter(lambda k: k not in old), unique=True, max_size=2)):
        out[key] = draw(TREE) if depth < 2 else draw(LEAF)
    return out


@dataclass
class Case:
    base: dict[str, Any]
    deletes: list[Path_] = field(default_factory=list)
    controls: list[tuple[str, Any]] = field(default_factory=list)  # written key, value
    variables: list[tuple[str, list[Any]]] = field(default_factory=list)
    expected: list[dict[str, Any]] = field(default_factory=list)  # one config per run


def written(path: Path_, tree: dict[str, Any], original: dict[str, Any]) -> str:
    """How the experiment writes *path*: dotted, with '+' when its top-level key is brand new."""
    top_known = path[0] in tree or path[0] in original
    return ("" if top_known else "+") + ".".join(path)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    base = draw(BASE)
    case = Case(base=base)
    cur = copy.deepcopy(base)

    # 1. deletes: any node, mappings included; some of them are set again below.
    nodes = walk(base)
    case.deletes = draw(st.lists(st.sampled_from([p for p, _ in nodes]), unique=True, max_size=3))
    for path in case.deletes:
        ref_delete(cur, path)

    claimed: list[Path_] = []

    def free(path: Path_) -> bool:
        return not any(related(path, c) for c in claimed)

    # 2. controls: existing paths (leaves, or mappings merged into), new keys below a mapping
    # at any depth, brand-new top-level keys, and deleted paths set again with any type.
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["existing", "new_below", "new_top", "reset"]))
        if kind == "existing":
            options = [(p, v) for p, v in walk(cur) if free(p)]
            if not options:
                continue
            path, old = draw(st.sampled_from(options))
            value = compatible(draw, old, control=True)
        elif kind == "new_below":
            parents = [(p, v) for p, v in walk(cur) if isinstance(v, dict)]
            if not parents:
                continue
            parent, node = draw(st.sampled_from(parents))
            tail = tuple(draw(st.lists(KEY, min_size=1, max_size=3)))
            if tail[0] in node:
                continue
            path, value = parent + tail, draw(TREE)
        elif kind == "new_top":
            key = draw(KEY)
            if key in cur or key in base:
                continue
            path, value = (key,), draw(TREE)
        else:
            gone = [p for p in case.deletes if not any(related(p, q) and len(q) < len(p) for q in case.deletes)]
            if not gone:
                continue
            path, value = draw(st.sampled_from(gone)), draw(TREE)
            node = cur
            for key in path[:-1]:
                node = node.get(key) if isinstance(node, dict) else None
            if not isinstance(node, dict):
                continue  # a control replaced an ancestor with a leaf: adding below it is an error
        leaves = flat_leaves(path, value)
        if not all(free(p) for p in leaves) or not free(path):
            continue
        case.controls.append((written(path, cur, base), value))
        claimed.extend(leaves)
        claimed.append(path)
        ref_set_path(cur, path, value)

    # 3. variables: up to three, on paths no control touches, each with 2-3 distinct values.
    for _ in range(draw(st.integers(0, 3))):
        options = [(p, v) for p, v in walk(cur) if free(p)]
        new_ok = draw(st.booleans())
        if options and not new_ok:
            path, old = draw(st.sampled_from(options))
            values = [compatible(draw, old, control=False) for _ in range(draw(st.integers(2, 3)))]
        else:
            key = draw(KEY)
            if key in cur or key in base or not free((key,)):
                continue
            path = (key,)
            values = [draw(TREE) for _ in range(draw(st.integers(2, 3)))]
        unique = {value_key(v): v for v in values}
        if len(unique) < 2:
            continue
        claimed.append(path)
        case.variables.append((written(path, cur, base), list(unique.values())))

    # 4. every run, in grid order (last variable fastest), from the controlled tree.
    def runs(i: int, tree: dict[str, Any]) -> None:
        if i == len(case.variables):
            case.expected.append(tree)
            return
        name, values = case.variables[i]
        path = tuple(name.lstrip("+").split("."))
        for value in values:
            nxt = copy.deepcopy(tree)
            ref_set_path(nxt, path, value)
            runs(i + 1, nxt)

    runs(0, cur)
    return case


# ---- writing the inputs, comparing the outputs -------------------------------------------------

def yaml_text(value: Any) -> str:
    """JSON-style YAML: every string double-quoted, so it reads back exactly as generated."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return repr(value)
    if isinstance(value, str):
        return '"' + "".join(_escape(c) for c in value) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(yaml_text(v) for v in value) + "]"
    return "{" + ", ".join(yaml_text(k) + ": " + yaml_text(v) for k, v in value.items()) + "}"


def _escape(c: str) -> str:
    if c in '"\\':
        return "\\" + c
    if c.isprintable() and c not in "\u2028\u2029\x85":
        return c
    return f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}"


def experiment_text(case: Case) -> str:
    # A recipe file of its own: the fuzz's random keys and values are no torchtune recipe's, so
    # level 1's value rules (`ttgen.validate.planned`) only warn, and the merge itself is what is tested.
    lines = ["experiment: {name: fuzz, framework: torchtune}",
             'framework_config: {base_config_file: "base.yaml", recipe: fuzz_recipe.py}']
    if case.deletes:
        lines.append("delete: " + yaml_text([".".join(p) for p in case.deletes]))
    if case.controls:
        lines.append("controls:")
        lines += [f"  {yaml_text(k)}: {yaml_text(v)}" for k, v in case.controls]
    if case.variables:
        lines.append("variables:")
        lines += [f"  {yaml_text(k)}: {yaml_text(v)}" for k, v in case.variables]
    return "\n".join(lines) + "\n"


def render_and_compare(case: Case, folder: Path) -> None:
    write(folder / "base.yaml", yaml_text(case.base) + "\n")
    write(folder / "fuzz_recipe.py", "")
    write(folder / "experiment.yaml", experiment_text(case))
    result = run_cli("render", "experiment.yaml", "--out", "out", cwd=folder)
    assert result.code == 0, result.err + "\n" + experiment_text(case)
    assert "Traceback" not in result.err
    configs = sorted(p for p in (folder / "out" / "configs").glob("run_*.yaml") if p.stem[4:].isdigit())
    assert len(configs) == len(case.expected), (len(configs), len(case.expected))
    for config, expected in zip(configs, case.expected):
        got = load_omegaconf(config)
        identity = got.pop("ttgen")  # the run's identity block, always the last key
        assert identity["run_id"] == config.stem and list(identity["variables"]) == [k for k, _ in case.variables]
        assert same(got, expected), f"{config.name}:\n got      {got!r}\n expected {expected!r}"


@pytest.mark.slow
@settings(max_examples=FUZZ_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(cases())
def test_rendered_runs_equal_the_reference_merge(case: Case) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        render_and_compare(case, Path(tmp))


# ---- the reference itself, on cases worked out by hand ---------------------------------------------

def test_reference_merge_by_hand() -> None:
    base = {"a": {"x": 1, "y": {"p": "s"}}, "b": [1, 2], "c": None}
    tree = copy.deepcopy(base)
    ref_delete(tree, ("a", "y"))
    ref_set_path(tree, ("a", "y"), 5)  # deleted, then set again with another type: it goes last
    ref_set_path(tree, ("a", "z", "w"), {"k": 1})  # new mappings in between are created
    ref_set_path(tree, ("a",), {"x": 2.5})  # a mapping merges: y and z stay
    ref_set_path(tree, ("c",), {"m": 1})  # null is replaced by anything
    assert tree == {"a": {"x": 2.5, "y": 5, "z": {"w": {"k": 1}}}, "b": [1, 2], "c": {"m": 1}}
    assert list(tree["a"]) == ["x", "y", "z"]
    assert base["a"]["y"] == {"p": "s"}, "the base is never mutated"


@pytest.mark.parametrize("text, value", [
    ("on", "on"), ("1e-4", "1e-4"), ("null", "null"), ("~", "~"), ("=", "="), ("a\nb", "a\nb"),
    ("\u2028", "\u2028"), ("🙂", "🙂"), ("\x00nul", "\x00nul"),
])
def test_yaml_text_is_read_back_as_written(text: str, value: str, tmp_path: Path) -> None:
    """The test's own writer: what it writes, OmegaConf reads as the same string."""
    path = write(tmp_path / "x.yaml", f"k: {yaml_text(text)}\n")
    assert OmegaConf.load(path).k == value


def test_a_worked_example_through_the_cli(tmp_path: Path) -> None:
    """One hand-written case through the same path as the property test."""
    case = Case(base={"model": {"rank": 8, "mods": ["q", "v"], "cfg": {"a": 1, "b": "x"}},
                      "opt": {"lr": 3e-4, "betas": [0.9, 0.999]}, "n": None, "on": "yes"})
    case.deletes = [("model", "mods")]
    case.controls = [("model.mods", "qv"), ("model.cfg", {"b": "1e-4", "c": {"d": -0.0}}), ("+extra", [1, "1", None])]
    case.variables = [("opt", [{"lr": 1e-5}, {"lr": 2, "eps": 5e-324}]), ("n", [True, {"k": "null"}])]
    controlled = {"model": {"rank": 8, "cfg": {"a": 1, "b": "1e-4", "c": {"d": -0.0}}, "mods": "qv"},
                  "opt": {"lr": 3e-4, "betas": [0.9, 0.999]}, "n": None, "on": "yes", "extra": [1, "1", None]}
    for opt in case.variables[0][1]:
        for n in case.variables[1][1]:
            tree = copy.deepcopy(controlled)
            tree["opt"].update(opt)
            tree["n"] = n
            case.expected.append(tree)
    render_and_compare(case, tmp_path)


def test_deleted_key_set_again_is_not_its_namesake(tmp_path: Path) -> None:
    """After `delete: [D]`, `D: x` sets the top-level D again, not `m.D` (the only path ending in D)."""
    case = Case(base={"D": 1, "m": {"D": 2}})
    case.deletes = [("D",)]
    case.controls = [("D", "x")]
    case.expected = [{"m": {"D": 2}, "D": "x"}]
    render_and_compare(case, tmp_path)
