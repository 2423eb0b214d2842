"""Write values as YAML text that OmegaConf reads back as the same type and value.

The rule is the reverse of `load`: a string that OmegaConf would read as a
number, bool or null (``"1e-4"``, ``"on"``, ``"null"``) must be quoted; a float
must keep a form OmegaConf reads as a float. We let PyYAML's emitter decide
quoting, but with OmegaConf's resolvers installed so its "is this plain scalar
ambiguous?" test uses OmegaConf's rules.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml

from .load import OMEGACONF_FLOAT

_STR_TAG = "tag:yaml.org,2002:str"
FLOW_LIST_WIDTH = 100  # longer scalar lists are written one item a line


class OmegaConfSafeDumper(yaml.SafeDumper):
    """SafeDumper whose ambiguity test knows OmegaConf's float syntax."""


OmegaConfSafeDumper.add_implicit_resolver("tag:yaml.org,2002:float", OMEGACONF_FLOAT, list("-+0123456789."))


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    # Multi-line or control characters: double quotes keep it on one line with escapes,
    # which survives being indented under a key.
    style = '"' if (not data.isprintable() or data != data.strip(" ")) and data else None
    return dumper.represent_scalar(_STR_TAG, data, style=style)


OmegaConfSafeDumper.add_representer(str, _represent_str)

# Strings that are certainly plain-safe in block and flow context, to skip the emitter.
_SIMPLE_STR = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./\-]*$")
_SCALAR_TYPES = (str, int, float, bool, type(None))


# Plain words YAML 1.1 reads as bool or null; _SIMPLE_STR already rules out numbers,
# dates and the other implicit types (they start with a digit, sign, dot or symbol).
_RESERVED_WORDS = frozenset(
    w for base in ("yes", "no", "true", "false", "on", "off", "null") for w in (base, base.title(), base.upper()))


def _str_is_simple(s: str) -> bool:
    # fullmatch: "$" alone also matches before a final newline, and "A\n" is not plain text.
    return s not in _RESERVED_WORDS and _SIMPLE_STR.fullmatch(s) is not None


def float_text(x: float) -> str:
    if math.isnan(x):
        return ".nan"
    if math.isinf(x):
        return ".inf" if x > 0 else "-.inf"
    text = repr(x).lower()
    if "." not in text and "e" in text:
        text = text.replace("e", ".0e", 1)
    return text


def _dump(value: Any, *, flow: bool) -> str:
    return yaml.dump(value, Dumper=OmegaConfSafeDumper, default_flow_style=flow, width=float("inf"),
                     allow_unicode=True, sort_keys=False)


def document_text(value: Any) -> str:
    """A whole YAML document in block style, typed as OmegaConf reads it back (a string that
    would read as another type is quoted): how ``Experiment.from_dict`` writes a dict."""
    return _dump(value, flow=False)


def scalar_text(value: Any) -> str:
    """YAML text of one scalar, as written after ``key: `` in block context."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return float_text(value)
    if isinstance(value, str):
        if _str_is_simple(value):
            return value
        # Let the emitter choose quoting for a value in block context (after "k: ").
        return _dump({"k": value}, flow=False)[3:].rstrip("\n")
    raise TypeError(f"not a YAML scalar: {type(value).__name__}")


def flow_text(value: Any) -> str:
    """One-line YAML text of any value (flow style), for headers, tables and messages."""
    if is_scalar(value):
        return scalar_text(value)
    return _dump(value, flow=True).strip()


def key_text(key: str) -> str:
    return scalar_text(key)


def is_scalar(value: Any) -> bool:
    return isinstance(value, _SCALAR_TYPES)


def value_text(value: Any, *, indent: int, source: str | None = None) -> tuple[str, str]:
    """Text of a leaf value under a key at *indent* spaces.

    Returns ``(inline, block)``: *inline* goes after ``key:`` on the same line
    (empty when the value is written as a block), *block* is the following
    lines, each ending in a newline. *source* is the value's own plain text in
    the file it came from; it is kept when it is a scalar, so ``3e-4`` stays
    ``3e-4`` instead of becoming ``0.0003``.
    """
    if is_scalar(value):
        if source is not None:
            return source, ""
        return scalar_text(value), ""
    if isinstance(value, dict) and not value:
        return "{}", ""
    if isinstance(value, list):
        if not value:
            return "[]", ""
        if all(is_scalar(v) for v in value):
            inline = flow_text(value)
            if len(inline) + indent <= FLOW_LIST_WIDTH:
                return inline, ""
    pad = " " * (indent + 2)
    block = "".join(pad + line + "\n" for line in _dump(value, flow=False).splitlines())
    return "", block
