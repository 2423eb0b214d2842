"""Merge: apply deletes and overrides to a config tree, with type checks.

Rules (docs/contract.md §4): scalars and lists replace; mappings merge recursively; base
key order is kept and new keys follow in the order written; ``null`` is a value;
types must stay compatible (same type, null with anything, int with float).

Trees are nested dicts shared between runs. A merge copies only the mappings on
the paths it changes (path copying), so a run costs what it overrides, not the
size of the config, and the shared controlled tree is never mutated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from ..errors import Problem, ValueProblem
from ..text import short_repr
from ..tree import ConfigPath, display_path, dotted, lookup
from ..yamlio.types import yaml_type_name
from .resolve import Override


def compatible(old: Any, new: Any) -> bool:
    """May *new* replace *old*? Same type; null either side; int and float mix; bool is not a number."""
    if old is None or new is None:
        return True
    if isinstance(old, bool) or isinstance(new, bool):
        return type(old) is type(new)
    if isinstance(old, (int, float)) and isinstance(new, (int, float)):
        return True
    if isinstance(old, dict) or isinstance(new, dict):
        return isinstance(old, dict) and isinstance(new, dict)
    if isinstance(old, list) or isinstance(new, list):
        return isinstance(old, list) and isinstance(new, list)
    return type(old) is type(new)


@dataclass
class MergedConfig:
    """A config tree plus, for every path an override touched, where its value came from."""

    tree: dict[str, Any]
    origins: dict[ConfigPath, str] = field(default_factory=dict)
    sources: dict[ConfigPath, str] = field(default_factory=dict)  # plain source text of scalar leaves
    new: set[ConfigPath] = field(default_factory=set)
    component_changes: list[tuple[ConfigPath, Any, Any]] = field(default_factory=list)

    def copy(self) -> "MergedConfig":
        # component_changes are not copied: they describe one merge, not the tree's history.
        return MergedConfig(self.tree, dict(self.origins), dict(self.sources), set(self.new))


class TreeMerger:
    """Applies overrides to a shared tree, copying each mapping at most once."""

    def __init__(self, base: MergedConfig) -> None:
        self.result = base.copy()
        self.result.tree = dict(base.tree)
        # The mappings this merge made itself (by identity: dicts are not hashable); only
        # those may be changed in place, every other one is shared and copied first.
        self._owned = {id(self.result.tree)}

    def _own(self, parent: dict[str, Any], key: str) -> dict[str, Any]:
        child = parent[key]
        if id(child) not in self._owned:
            child = dict(child)
            parent[key] = child
            self._owned.add(id(child))
        return child

    def delete(self, path: ConfigPath) -> None:
        node = self.result.tree
        for key in path[:-1]:
            if not isinstance(node.get(key), dict):
                return  # inside a mapping that an earlier delete removed already
            node = self._own(node, key)
        node.pop(path[-1], None)

    def apply(self, ov: Override) -> None:
        """Merge one override; raises `ValueProblem` on an incompatible type."""
        label = ov.origin_record().label()
        node = self.result.tree
        for depth, key in enumerate(ov.path[:-1]):
            here = ov.path[: depth + 1]
            if key not in node or node[key] is None:
                # A missing mapping is created; a null one becomes a mapping (null fits anything).
                node[key] = {}
                self._owned.add(id(node[key]))
                self.result.new.add(here)
                self.result.origins[here] = label
            elif not isinstance(node[key], dict):
                raise ValueProblem(self._problem(
                    ov, f"cannot set {dotted(ov.path)}: {dotted(here)} is {yaml_type_name(node[key])} "
                        f"{short_repr(node[key])}, not a mapping",
                    hint=f"add {dotted(here)} to delete: and set it again as a mapping"))
            node = self._own(node, key)
        self._set(node, ov.path, ov.value, ov, label, ov.doc_path)

    def _set(self, node: dict[str, Any], path: ConfigPath, value: Any, ov: Override, label: str,
             doc_path: tuple[Any, ...]) -> None:
        key = path[-1]
        if key not in node:
            node[key] = _fresh(value)
            if isinstance(value, dict):
                self._owned.add(id(node[key]))
            self._mark_new(path, value, label, ov, doc_path)
            return
        old = node[key]
        if isinstance(old, dict) and isinstance(value, dict):
            child = self._own(node, key)
            if not value:
                return
            for sub, sub_value in value.items():
                self._set(child, path + (sub,), sub_value, ov, label, doc_path + (sub,))
            return
        if not compatible(old, value):
            raise ValueProblem(self._problem(
                ov, f"type mismatch at {dotted(path)}: cannot set {yaml_type_name(value)} {short_repr(value)} "
                    f"over {yaml_type_name(old)} {short_repr(old)} from the base",
                hint=mismatch_hint(old, value, path=path, origin=ov.origin), doc_path=doc_path))
        if key == "_component_" and old != value:
            self.result.component_changes.append((path, old, value))
        node[key] = _fresh(value)
        self._record_leaf(path, value, label, ov, doc_path)

    def _mark_new(self, path: ConfigPath, value: Any, label: str, ov: Override, doc_path: tuple[Any, ...]) -> None:
        self.result.new.add(path)
        if isinstance(value, dict) and value:
            self.result.origins[path] = label
            for sub, sub_value in value.items():
                self._mark_new(path + (sub,), sub_value, label, ov, doc_path + (sub,))
        else:
            self._record_leaf(path, value, label, ov, doc_path)

    def _record_leaf(self, path: ConfigPath, value: Any, label: str, ov: Override, doc_path: tuple[Any, ...]) -> None:
        self.result.origins[path] = label
        src = ov.sources.get(doc_path)
        if src is not None and not isinstance(value, (dict, list)):
            self.result.sources[path] = src
        else:
            self.result.sources.pop(path, None)

    def _problem(self, ov: Override, message: str, *, hint: str, doc_path: tuple[Any, ...] | None = None) -> Problem:
        where = doc_path or ov.doc_path
        return Problem(message, pos=ov.positions.get(where, ov.pos), path=display_path(where), hint=hint)


def mismatch_hint(old: Any, value: Any, *, path: ConfigPath, origin: str) -> str:
    """How to fix a type mismatch: the common slips first, then the general rule.

    Examples:
        >>> mismatch_hint(3e-4, "3e-4", path=("optimizer", "lr"), origin="control")
        "remove the quotes: '3e-4' in quotes is text, 3e-4 without them is a number"
        >>> mismatch_hint(["q_proj"], "q_proj", path=("model", "lora_attn_modules"), origin="variable")[:60]
        'a variable lists its values, and this key holds a list: writ'
    """
    if isinstance(value, str) and isinstance(old, (int, float)) and not isinstance(old, bool):
        try:
            float(value)
            return f"remove the quotes: {value!r} in quotes is text, {value} without them is a number"
        except ValueError:
            pass
    if isinstance(value, str) and isinstance(old, bool) and value.lower() in ("true", "false"):
        return f"remove the quotes: {value!r} in quotes is text, {value.lower()} without them is a flag"
    if isinstance(old, list) and not isinstance(value, list) and origin == "variable":
        return ("a variable lists its values, and this key holds a list: write a list of lists, "
                "e.g. [[q_proj, v_proj], [q_proj, k_proj, v_proj]] (two runs), or make it a control to set "
                "one list in every run")
    return ("use the base's type (int and float mix, null fits anything); to change the type on "
            f"purpose, add {dotted(path)} to delete: and set it again")


def _fresh(value: Any) -> Any:
    """Copy mappings (they may be merged into later); lists and scalars are never mutated."""
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    return value


def merge_overrides(base: MergedConfig, overrides: Iterable[Override], *,
                    deletes: Iterable[ConfigPath] = ()) -> MergedConfig:
    """Apply deletes then overrides in order; the first conflict raises `ValueProblem`."""
    merger = TreeMerger(base)
    for path in deletes:
        merger.delete(path)
    for ov in overrides:
        merger.apply(ov)
    return merger.result


def merge_collecting(base: MergedConfig, overrides: Iterable[Override]) -> tuple[MergedConfig, list[Problem]]:
    """Like `merge_overrides` but keeps going, returning every conflict."""
    merger = TreeMerger(base)
    problems: list[Problem] = []
    for ov in overrides:
        try:
            merger.apply(ov)
        except ValueProblem as conflict:
            problems.append(conflict.problem)
    return merger.result, problems


def component_warnings(merged: MergedConfig) -> list[tuple[ConfigPath, Any, Any, list[str]]]:
    """For each swapped ``_component_``: base keys kept beside it that no override set."""
    out = []
    for path, old, new in merged.component_changes:
        parent = path[:-1]
        node = lookup(merged.tree, parent)
        kept = [k for k in node if k != "_component_" and parent + (k,) not in merged.origins]
        if kept:
            out.append((parent, old, new, kept))
    return out
