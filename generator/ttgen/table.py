"""The ordered dotted-path table of a config: every mapping and leaf, in file order.

Lists are leaves (torchtune overrides them whole). Paths are tuples of keys;
`dotted` joins them for people. The table answers the questions key resolution
asks: does this exact path exist, is it a mapping, which paths end in this name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

ConfigPath = tuple[str, ...]


class Mapping:
    """Marker for a mapping node in a `PathTable`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<mapping>"


MAPPING = Mapping()


def dotted(path: ConfigPath) -> str:
    return ".".join(path)


def split_dotted(key: str) -> ConfigPath:
    return tuple(key.split("."))


def iter_paths(tree: dict[str, Any], prefix: ConfigPath = ()) -> Iterator[tuple[ConfigPath, Any]]:
    """Pre-order walk: ``(path, MAPPING)`` for mappings, ``(path, value)`` for leaves."""
    for key, value in tree.items():
        path = prefix + (key,)
        if isinstance(value, dict):
            yield path, MAPPING
            yield from iter_paths(value, path)
        else:
            yield path, value


def paths_written(path: ConfigPath, value: Any) -> Iterator[ConfigPath]:
    """The config paths a value written at *path* sets: *path*, and every key below a mapping value."""
    yield path
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from paths_written(path + (key,), sub)


def get_path(tree: dict[str, Any], path: ConfigPath) -> Any:
    node: Any = tree
    for key in path:
        node = node[key]
    return node


def has_path(tree: dict[str, Any], path: ConfigPath) -> bool:
    node: Any = tree
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


@dataclass
class PathTable:
    """Ordered table of every path of a config tree."""

    entries: dict[ConfigPath, Any] = field(default_factory=dict)
    by_last: dict[str, list[ConfigPath]] = field(default_factory=dict)

    @classmethod
    def from_tree(cls, tree: dict[str, Any]) -> "PathTable":
        table = cls()
        for path, value in iter_paths(tree):
            table.entries[path] = value
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
