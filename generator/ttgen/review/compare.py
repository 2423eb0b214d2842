"""The differences between two config trees, found by deepdiff and listed in config order.

deepdiff compares the loaded trees (OmegaConf typing, interpolations
unresolved) and says what kind each difference is and its values; this module
only applies ttgen's reading of a config (docs/contract.md §3): lists are
leaves, so a change anywhere inside a list is one row for the whole list, and a
mapping added or removed is one row per leaf below it. Rows come in the order
of the generated configs themselves (base order kept, new keys follow), which
deepdiff does not keep.

Examples:
    >>> [(d.dotted, d.change) for d in tree_differences({"a": 1, "l": [1]}, {"a": 1.0, "l": [2], "n": {"x": 1}})]
    [('a', 'type_changed'), ('l', 'changed'), ('n.x', 'added')]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import deepdiff

from ..tree import MISSING, ConfigPath, dotted, leaves

Change = Literal["added", "removed", "changed", "type_changed"]

# deepdiff's report types, as a diff row names them; anything else (a change inside a
# list) is reported on the whole list as "changed".
_CHANGES: dict[str, Change] = {
    "values_changed": "changed",
    "type_changes": "type_changed",
    "dictionary_item_added": "added",
    "dictionary_item_removed": "removed",
}


@dataclass(frozen=True)
class TreeDifference:
    """One leaf path that differs; *before*/*after* are `MISSING` on the side that lacks it."""

    path: ConfigPath
    change: Change
    before: Any
    after: Any

    @property
    def dotted(self) -> str:
        return dotted(self.path)


def tree_differences(before: dict[str, Any], after: dict[str, Any]) -> list[TreeDifference]:
    """Every leaf difference of *after* against *before*, in config order."""
    # threshold_to_diff_deeper=0: two mappings that share few keys are still compared key
    # by key, never reported as one replaced value.
    found = deepdiff.DeepDiff(before, after, view="tree", ignore_nan_inequality=True, threshold_to_diff_deeper=0)
    rows: dict[ConfigPath, TreeDifference] = {}
    for levels in found.values():
        for level in levels:
            keys = level.path(output_format="list")
            depth = next((i for i, key in enumerate(keys) if not isinstance(key, str)), len(keys))
            path: ConfigPath = tuple(keys[:depth])
            if depth < len(keys):  # inside a list: the list is the leaf that changed
                whole = level.all_up
                for _ in range(depth):
                    whole = whole.down
                rows[path] = TreeDifference(path, "changed", whole.t1, whole.t2)
                continue
            change = _CHANGES.get(level.report_type, "changed")
            if change == "added":
                rows.update((p, TreeDifference(p, change, MISSING, v)) for p, v in leaves(level.t2, path))
            elif change == "removed":
                rows.update((p, TreeDifference(p, change, v, MISSING)) for p, v in leaves(level.t1, path))
            else:
                rows[path] = TreeDifference(path, change, level.t1, level.t2)
    order = _config_order(before, after)
    return [rows[p] for p in sorted(rows, key=lambda p: order.get(p, len(order)))]


def _config_order(before: Any, after: Any) -> dict[ConfigPath, int]:
    """Position of every path of both trees, walked side by side: before's keys in its order,
    then, in each mapping, the keys only after has (as new keys follow in a generated config)."""
    order: dict[ConfigPath, int] = {}

    def walk(prefix: ConfigPath, b: Any, a: Any) -> None:
        keys = list(b) if isinstance(b, dict) else []
        if isinstance(a, dict):
            keys += [k for k in a if not (isinstance(b, dict) and k in b)]
        for key in keys:
            path = prefix + (key,)
            order[path] = len(order)
            walk(path, b.get(key) if isinstance(b, dict) else None, a.get(key) if isinstance(a, dict) else None)

    walk((), before, after)
    return order
