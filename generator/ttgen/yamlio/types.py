"""How a YAML user names the type of a loaded value: the one table of type names.

Messages say ``got string 'x'``, ``key 'on' is read as a boolean`` and
``expected a whole number``; all three come from here.

Examples:
    >>> yaml_type_name(3e-4), yaml_type_name(None), a_yaml_type(True)
    ('float', 'null', 'a boolean')
"""

from __future__ import annotations

from typing import Any

# Python type of a loaded value -> its YAML name, and the same with an article.
_NAMES: dict[type, tuple[str, str]] = {
    type(None): ("null", "null"),
    bool: ("boolean", "a boolean"),
    int: ("integer", "an integer"),
    float: ("float", "a float"),
    str: ("string", "a string"),
    list: ("list", "a list"),
    dict: ("mapping", "a mapping"),
}

# JSON Schema type names, as messages about experiment.yaml's shape say them.
SCHEMA_TYPE_NAMES = {
    "object": "a mapping", "array": "a list", "string": "a string", "integer": "a whole number",
    "number": "a number", "boolean": "true or false", "null": "null",
}


def yaml_type_name(value: Any) -> str:
    """``integer``, ``string``, ``mapping``, ``null``, ...: the type of a loaded value."""
    names = _NAMES.get(type(value))
    return names[0] if names else type(value).__name__


def a_yaml_type(value: Any) -> str:
    """The type name with an article, for sentences: ``an integer``, ``a boolean``, ``null``."""
    names = _NAMES.get(type(value))
    return names[1] if names else type(value).__name__
