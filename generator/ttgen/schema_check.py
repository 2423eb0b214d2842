"""A quick yes/no answer to "does this document match the schema?", without jsonschema.

Importing jsonschema costs about 50 ms, a third of a small render's wall time, and
almost every experiment.yaml a researcher renders is valid. This module decides
validity exactly for the JSON Schema (2020-12) keywords ttgen's schema uses and
gives up on anything it does not fully understand: an unknown keyword, a ``$ref``
outside ``#/$defs``, a float where an integer is expected, a non-string list under
``uniqueItems``, a value type YAML does not produce. Only a definite "valid" lets
`ttgen.experiment` skip jsonschema; "invalid" and "unsure" both go to jsonschema,
which finds and explains every problem. So jsonschema stays the judge, and this
module can only make a render faster, never accept a document jsonschema rejects.
tests/test_schema_check.py holds the two to the same answers.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

# Keywords that never affect validity by themselves ($defs is only reached through $ref).
_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "$defs", "title", "description", "x-hint", "examples",
                          "default"})
_KNOWN = frozenset({"type", "const", "$ref", "properties", "additionalProperties", "required", "minProperties",
                    "items", "minItems", "uniqueItems", "minLength", "pattern", "minimum", "anyOf", "oneOf"})


class _Unsure(Exception):
    """The document uses something this module does not decide exactly."""


def is_valid(instance: Any, schema: dict[str, Any]) -> bool | None:
    """True or False when certain (same answer as jsonschema's Draft 2020-12), None when unsure."""
    try:
        return _valid(instance, schema, schema)
    except (_Unsure, RecursionError):
        return None


@lru_cache(maxsize=64)
def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text)


def _is_type(value: Any, name: str) -> bool:
    kind = type(value)
    if kind not in (dict, list, str, int, float, bool, type(None)):
        raise _Unsure  # YAML as ttgen loads it produces none, but never guess
    if name == "object":
        return kind is dict
    if name == "array":
        return kind is list
    if name == "string":
        return kind is str
    if name == "integer":
        if kind is float and value.is_integer():
            raise _Unsure  # jsonschema counts 2.0 as an integer; leave such values to it
        return kind is int
    if name == "number":
        return kind in (int, float)
    if name == "boolean":
        return kind is bool
    if name == "null":
        return value is None
    raise _Unsure


def _valid(value: Any, schema: Any, root: dict[str, Any]) -> bool:
    if schema is True or schema is False:
        return schema
    if not isinstance(schema, dict) or not _KNOWN.issuperset(k for k in schema if k not in _ANNOTATIONS):
        raise _Unsure
    # Each keyword is checked in full even after one fails, so that a keyword this
    # module cannot decide always makes the whole answer "unsure", whatever the order.
    ok = True
    if "type" in schema:
        types = schema["type"]
        ok &= any([_is_type(value, t) for t in ([types] if isinstance(types, str) else types)])
    if "const" in schema:
        const = schema["const"]
        if type(const) is not str:
            raise _Unsure
        ok &= type(value) is str and value == const
    if "$ref" in schema:
        ref = schema["$ref"]
        name = ref[len("#/$defs/"):] if isinstance(ref, str) and ref.startswith("#/$defs/") else ""
        if not name or "/" in name or "~" in name or name not in root.get("$defs", {}):
            raise _Unsure
        ok &= _valid(value, root["$defs"][name], root)
    if type(value) is str:
        if "minLength" in schema:
            ok &= len(value) >= schema["minLength"]
        if "pattern" in schema:
            ok &= _pattern(schema["pattern"]).search(value) is not None
    if type(value) in (int, float) and "minimum" in schema:
        if type(value) is float and math.isnan(value):
            raise _Unsure
        ok &= value >= schema["minimum"]
    if type(value) is list:
        ok &= _valid_array(value, schema, root)
    if type(value) is dict:
        ok &= _valid_object(value, schema, root)
    if "anyOf" in schema:
        ok &= _any_of(value, schema["anyOf"], root)
    if "oneOf" in schema:
        ok &= [_valid(value, sub, root) for sub in schema["oneOf"]].count(True) == 1
    return bool(ok)


def _any_of(value: Any, subs: list[Any], root: dict[str, Any]) -> bool:
    unsure = False
    for sub in subs:
        try:
            if _valid(value, sub, root):
                return True  # one certain match decides anyOf, whatever the others are
        except _Unsure:
            unsure = True
    if unsure:
        raise _Unsure
    return False


def _valid_array(value: list[Any], schema: dict[str, Any], root: dict[str, Any]) -> bool:
    ok = len(value) >= schema.get("minItems", 0)
    if schema.get("uniqueItems") is True:
        if not all(type(v) is str for v in value):
            raise _Unsure  # equality of 1, 1.0 and true differs between Python and JSON Schema
        ok &= len(set(value)) == len(value)
    if "items" in schema:
        ok &= all([_valid(v, schema["items"], root) for v in value])
    return ok


def _valid_object(value: dict[str, Any], schema: dict[str, Any], root: dict[str, Any]) -> bool:
    if not all(type(k) is str for k in value):
        raise _Unsure  # JSON has only string keys; YAML's others are left to jsonschema
    ok = len(value) >= schema.get("minProperties", 0)
    ok &= all(k in value for k in schema.get("required", ()))
    props = schema.get("properties", {})
    for key, item in value.items():
        if key in props:
            ok &= _valid(item, props[key], root)
        elif "additionalProperties" in schema:
            ok &= _valid(item, schema["additionalProperties"], root)
    return ok
