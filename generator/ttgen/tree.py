"""Config paths and walking config trees: the one place that knows how a config is traversed.

A config is a tree of mappings whose leaves are scalars and lists (torchtune
overrides lists whole, so a list is a leaf, docs/contract.md §3). A path into a
config is a tuple of keys (`ConfigPath`); `dotted` joins it for people. A path
into any loaded YAML document may also hold list indices (`Key`);
`display_path` writes those as ``variables.x[1]``.

Examples:
    >>> tree = {"model": {"lora_rank": 8, "lora_attn_modules": ["q_proj"]}, "seed": 1}
    >>> [dotted(p) for p, _ in iter_paths(tree)]
    ['model', 'model.lora_rank', 'model.lora_attn_modules', 'seed']
    >>> lookup(tree, ("model", "lora_rank"))
    8
    >>> lookup(tree, ("model", "nope")) is MISSING
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

ConfigPath = tuple[str, ...]  # a path of mapping keys in a config
Key = tuple[Any, ...]  # a path into a loaded document: mapping keys and list indices


class _Marker:
    """A named sentinel that prints as its name."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


MAPPING: Any = _Marker("mapping")  # a mapping node's entry in a `PathTable`
MISSING: Any = _Marker("missing")  # the value of a path a tree does not have (None is YAML's null)


def dotted(path: ConfigPath) -> str:
    """``("optimizer", "lr")`` -> ``optimizer.lr``."""
    return ".".join(path)


def split_dotted(key: str) -> ConfigPath:
    """``optimizer.lr`` -> ``("optimizer", "lr")``."""
    return tuple(key.split("."))


def display_path(path: Key) -> str:
    """Dotted form of a document path: ``controls.dataset.data_files``, ``variables.x[1]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def iter_paths(tree: dict[str, Any], prefix: ConfigPath = ()) -> Iterator[tuple[ConfigPath, Any]]:
    """Every key of a config in file order (pre-order), with its value; lists are leaves."""
    for key, value in tree.items():
        path = prefix + (key,)
        yield path, value
        if isinstance(value, dict):
            yield from iter_paths(value, path)


def iter_nodes(node: Any, path: Key = ()) -> Iterator[tuple[Key, Any]]:
    """Every node of a document with its path, parents before children, list items included."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from iter_nodes(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from iter_nodes(value, path + (i,))


def leaves(value: Any, prefix: ConfigPath = ()) -> Iterator[tuple[ConfigPath, Any]]:
    """Leaf paths of a value: non-empty mappings are walked; lists and ``{}`` are leaves."""
    if isinstance(value, dict) and value:
        for key, sub in value.items():
            yield from leaves(sub, prefix + (key,))
    else:
        yield prefix, value


def lookup(tree: Any, path: Key) -> Any:
    """The value at *path* (mapping keys, and list indices), or `MISSING`."""
    node = tree
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return MISSING
    return node


def paths_written(path: ConfigPath, value: Any) -> Iterator[ConfigPath]:
    """The config paths a value written at *path* sets: *path*, and every key below a mapping value."""
    yield path
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from paths_written(path + (key,), sub)


def value_key(value: Any, *, strict: bool = False) -> Any:
    """A hashable key under which two values are 'the same value' (bool is not int, 1 is 1.0).

    With *strict*, 1 and 1.0 differ too: the same value written the same way, as a
    config file holds it.
    """
    if isinstance(value, bool) or value is None:
        return ("b", value)
    if isinstance(value, (int, float)):
        kind = ("f" if isinstance(value, float) else "i") if strict else "n"
        return (kind, value) if value == value else ("nan",)
    if isinstance(value, str):
        return ("s", value)
    if isinstance(value, list):
        return ("l", tuple(value_key(v, strict=strict) for v in value))
    if isinstance(value, dict):
        return ("d", tuple((k, value_key(v, strict=strict)) for k, v in value.items()))
    return ("o", repr(value))


@dataclass
class PathTable:
    """Ordered table of every path of a config tree: `MAPPING` for mappings, the value for leaves.

    It answers the questions key resolution asks (docs/contract.md §3): does this
    exact path exist, is it a mapping, which paths end in this name.
    """

    entries: dict[ConfigPath, Any] = field(default_factory=dict)
    by_last: dict[str, list[ConfigPath]] = field(default_factory=dict)

    @classmethod
    def from_tree(cls, tree: dict[str, Any]) -> "PathTable":
        table = cls()
        for path, value in iter_paths(tree):
            table.entries[path] = MAPPING if isinstance(value, dict) else value
            table.by_last.setdefault(path[-1], []).append(path)
        return table

    def __contains__(self, path: object) -> bool:
        return path in self.entries

    def is_mapping(self, path: ConfigPath) -> bool:
        return path == () or self.entries.get(path) is MAPPING

    def deepest_ancestor(self, path: ConfigPath) -> ConfigPath:
        """Longest proper prefix of *path* that exists in the table (``()`` is the root)."""
        for n in range(len(path) - 1, 0, -1):
            if path[:n] in self.entries:
                return path[:n]
        return ()

    def dotted_paths(self) -> list[str]:
        return [dotted(p) for p in self.entries]
