"""Reading and writing YAML the way OmegaConf types it (docs/contract.md §2)."""

from __future__ import annotations

import math

import pytest
from omegaconf import OmegaConf

from ttgen.errors import BaseConfigError, ExperimentError
from ttgen.yamlio.load import load_yaml_bytes, load_yaml_text
from ttgen.yamlio.dump import scalar_text, value_text


def omegaconf_value(text: str):
    return OmegaConf.to_container(OmegaConf.create(text), resolve=False)["k"]


@pytest.mark.parametrize("text, expected", [
    ("3e-4", 3e-4), ("1e-5", 1e-5), ("1.5", 1.5), ("-2.0e+3", -2000.0), (".5", 0.5),
    ("7", 7), ("0x10", 16), ("1_000", 1000), ("true", True), ("True", True), ("off", False),
    ("null", None), ("~", None), ("2024-01-01", "2024-01-01"), ("'1e-4'", "1e-4"), ('"on"', "on"),
    ("${output_dir}/logs", "${output_dir}/logs"), ("2:00:00", 7200),
])
def test_loader_types_scalars_like_omegaconf(text: str, expected: object) -> None:
    doc = load_yaml_text(f"k: {text}\n", file="t.yaml")
    assert doc.data["k"] == expected
    assert type(doc.data["k"]) is type(expected)
    assert omegaconf_value(f"k: {text}\n") == expected  # the reference reader agrees


@pytest.mark.parametrize("value", [
    "1e-4", "on", "off", "yes", "null", "~", "true", "3", "0x1f", "1_000", "2024-01-01", ".inf", "",
    " padded ", "multi\nline", "A\n", "run_000\n", "tab\there", "#not a comment", "a: b", "- item", "[x]",
    "{y}", "${a.b}",
    "'quoted'", "\"dq\"", "é ü", "\u2028", "*alias", "&anchor", "!tag", "%x", "@x", "`x", "?", "-", ":",
    3, -7, 0, 2**70, 1.5, -0.0, 1e-300, 5e-324, 1e16, 3e-4, float("inf"), float("-inf"), True, False, None,
])
def test_scalar_text_round_trips_through_omegaconf(value: object) -> None:
    text = scalar_text(value)
    back = omegaconf_value(f"k: {text}\n")
    assert type(back) is type(value), (value, text, back)
    assert back == value or (isinstance(value, float) and math.isnan(value) and math.isnan(back))
    assert load_yaml_text(f"k: {text}\n", file="t").data["k"] == back


def test_nan_round_trips() -> None:
    assert math.isnan(omegaconf_value(f"k: {scalar_text(float('nan'))}\n"))


def test_value_text_keeps_source_form_and_lays_out_lists() -> None:
    assert value_text(3e-4, indent=0, source="3e-4") == ("3e-4", "")
    assert value_text([1, "a"], indent=2) == ("[1, a]", "")
    inline, block = value_text(["x" * 60, "y" * 60], indent=2)
    assert inline == "" and block == f"    - {'x' * 60}\n    - {'y' * 60}\n"
    inline, block = value_text([{"_component_": "a", "n": 1}], indent=0)
    assert inline == "" and block == "  - _component_: a\n    n: 1\n"
    assert value_text({}, indent=0) == ("{}", "")
    assert value_text([], indent=0) == ("[]", "")


def test_positions_are_one_based_and_cover_keys_and_values() -> None:
    doc = load_yaml_text("a:\n  b: [1, 2]\n  c: x\n", file="f.yaml")
    assert str(doc.pos(("a", "b"))) == "f.yaml:2:6"
    assert str(doc.key_pos(("a", "c"))) == "f.yaml:3:3"
    assert str(doc.pos(("a", "b", 1))) == "f.yaml:2:10"
    assert doc.plain_text[("a", "c")] == "x"


@pytest.mark.parametrize("text, needle, line", [
    ("a: 1\na: 2\n", "duplicate key 'a'", 2),
    ("a: !!python/object/apply:os.system [ls]\n", "is not allowed", 1),
    ("a: !!binary aGk=\n", "is not allowed", 1),
    ("a:\n\tb: 1\n", "tabs", 2),
    ("a: [1, 2\n", "invalid YAML", 2),
    ("1: x\n", "not a string", 1),
    ("a: &x [*x]\n", "refers to its own anchor", 1),
    ("---\na: 1\n---\nb: 2\n", "invalid YAML", 3),
])
def test_unsafe_or_malformed_yaml_is_a_positioned_error(text: str, needle: str, line: int) -> None:
    with pytest.raises(ExperimentError) as info:
        load_yaml_text(text, file="bad.yaml")
    problem = info.value.problems[0]
    assert needle in problem.format()
    assert problem.pos is not None and problem.pos.file == "bad.yaml" and problem.pos.line == line


def test_alias_bomb_is_refused_before_expansion() -> None:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i-1}"] * 10) + "]")
    with pytest.raises(ExperimentError, match="more than 200000 values"):
        load_yaml_text("\n".join(lines) + "\n", file="bomb.yaml")


def test_non_utf8_and_binary_input_are_errors_with_positions() -> None:
    with pytest.raises(ExperimentError) as info:
        load_yaml_bytes(b"a: 1\nb: caf\xe9\n", file="latin1.yaml")
    assert "not valid UTF-8" in str(info.value) and info.value.problems[0].pos.line == 2
    with pytest.raises(ExperimentError, match="binary"):
        load_yaml_bytes(b"\x00\x01\x02", file="bin.yaml")


def test_deep_nesting_is_refused() -> None:
    with pytest.raises(ExperimentError, match="nested"):
        load_yaml_text("a: " + "[" * 200 + "]" * 200 + "\n", file="deep.yaml")


def test_merge_keys_work_and_later_keys_win() -> None:
    doc = load_yaml_text("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n", file="m.yaml")
    assert doc.data["other"] == {"x": 1, "y": 3}


@pytest.mark.parametrize("text, message", [
    ("a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdef", "bcdefg")), "more than"),
    ("a: &a [*a]\n", "refers to its own anchor"),
])
def test_alias_limits_raise_the_callers_error_class(text: str, message: str) -> None:
    """A base config (or a folder read by diff) that trips a YAML limit is that caller's error, not the experiment's."""
    with pytest.raises(BaseConfigError) as info:
        load_yaml_bytes(text.encode(), file="base.yaml", error_cls=BaseConfigError)
    assert message in info.value.problems[0].message
