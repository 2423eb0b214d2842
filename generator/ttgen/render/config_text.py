"""Each run's config text, through the config template.

The controlled tree (base after deletes and controls) is the same for every
run, so its lines are rendered once. A run that only replaces existing leaves —
almost every run of a sweep — copies that list of lines and re-renders just
its overridden values; any other run (new keys, mapping values) walks its own
merged tree with the same line formatter, so both paths give the same text.
The template then wraps the body with the header.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import jinja2
import jinja2.meta

from ..plan.identity import IDENTITY_KEY
from ..plan.merge import MergedConfig
from ..plan.outputs import OUTPUT_DIR
from ..plan.resolve import Override
from ..plan.runs import Plan, RunConfig
from ..resources import CONFIG_TEMPLATE
from ..tree import ConfigPath, dotted, iter_paths, lookup
from ..yamlio.dump import flow_text, key_text, value_text
from .environment import load_template

INDENT = 2
_UNIQUE_PER_RUN = frozenset([OUTPUT_DIR, (IDENTITY_KEY, "run_id")])


@dataclass(frozen=True)
class Entry:
    """One key of a rendered config, for templates that lay out configs themselves."""

    path: ConfigPath
    depth: int
    key: str
    value: str  # inline value text ("" for a mapping or a block value)
    block: str  # following lines of a block value
    origin: str | None

    @property
    def dotted(self) -> str:
        return dotted(self.path)


def _line(depth: int, key: str, inline: str, block: str, origin: str | None) -> str:
    text = " " * (INDENT * depth) + key_text(key) + ":"
    if inline:
        text += " " + inline
    if origin:
        text += "  # " + origin
    return text + "\n" + block


def _entries(merged: MergedConfig) -> Iterator[Entry]:
    """The config's keys in file order, each with its value text and origin comment."""
    for path, value in iter_paths(merged.tree):
        depth = len(path) - 1
        origin = merged.origins.get(path)
        if origin and path in merged.new:
            origin += ", new key"
        if isinstance(value, dict) and value:
            yield Entry(path, depth, path[-1], "", "", origin)
        else:
            inline, block = value_text(value, indent=INDENT * depth, source=merged.sources.get(path))
            yield Entry(path, depth, path[-1], inline, block, origin)


class ConfigRenderer:
    """Renders the configs of one plan; build once, call `render` per run."""

    # Lines of overridden values, by value: a sweep's few values recur in every run, but
    # per-run values (derived ones) must not grow memory with the number of runs.
    CACHE_LIMIT = 4096

    def __init__(self, plan: Plan, *, env: jinja2.Environment, run_count: int | None = None) -> None:
        """*plan*: one base's plan (`Plan.bases`); *run_count*: the runs of every base (default: *plan*'s)."""
        self.plan = plan
        self.template = load_template(env, CONFIG_TEMPLATE)
        source = env.loader.get_source(env, CONFIG_TEMPLATE)[0] if env.loader else ""
        self._wants_entries = "entries" in jinja2.meta.find_undeclared_variables(env.parse(source))
        controlled = plan.controlled
        self._entries = list(_entries(controlled))
        self._lines = [_line(e.depth, e.key, e.value, e.block, e.origin) for e in self._entries]
        # Lines a run may replace in place: leaves (scalars, lists); a mapping takes the slow path.
        self._leaf_index = {e.path: i for i, e in enumerate(self._entries)
                            if not isinstance(lookup(controlled.tree, e.path), dict)}
        self._cache: dict[Any, tuple[str, Entry | None]] = {}
        exp = plan.experiment
        self._static = {
            "experiment": exp.metadata,
            "experiment_name": exp.name,
            "base_config": plan.base.source,
            "base_kind": plan.base.kind,
            "recipe": plan.base.recipe,
            "run_count": run_count if run_count is not None else len(plan),
        }
        self._var_paths = {v.name: dotted(v.path) if v.presets is None else f"preset of presets.{v.name}"
                           for v in plan.variables}
        self._var_names = [v.name for v in plan.variables]
        self._var_texts = [[v.text(i) for i in range(len(v.values))] for v in plan.variables]

    def _simple(self, run: RunConfig) -> bool:
        return all(ov.path in self._leaf_index and not isinstance(ov.value, dict) for ov in run.overrides)

    def _override_line(self, ov: Override) -> tuple[str, Entry | None]:
        """The line of an overridden leaf (and its Entry when the template wants entries)."""
        source = ov.source if not isinstance(ov.value, (dict, list)) else None
        # By repr, which tells 1 from 1.0 and True (their texts differ). ttgen's own per-run
        # values (the ttgen: block, tracker names) repeat like any other, except the run's own
        # output_dir and run id: those are never seen twice, so they take no cache slot.
        unique = ov.origin == "auto" and ov.path in _UNIQUE_PER_RUN
        key = None if unique else (ov.path, ov.origin, ov.key, source, repr(ov.value))
        hit = self._cache.get(key) if key is not None else None
        if hit is None:
            base = self._entries[self._leaf_index[ov.path]]
            inline, block = value_text(ov.value, indent=INDENT * base.depth, source=source)
            origin = ov.origin_record().label()
            if ov.path in self.plan.controlled.new:  # as the walk of a whole tree labels it
                origin += ", new key"
            entry = Entry(base.path, base.depth, base.key, inline, block, origin) if self._wants_entries else None
            hit = (_line(base.depth, base.key, inline, block, origin), entry)
            if key is not None and len(self._cache) < self.CACHE_LIMIT:
                self._cache[key] = hit
        return hit

    def body(self, run: RunConfig) -> tuple[str, list[Entry] | None]:
        """The YAML body of a run's config, and its entries when the template asks for them."""
        if self._simple(run):
            lines = list(self._lines)
            entries = list(self._entries) if self._wants_entries else None
            for ov in run.overrides:
                i = self._leaf_index[ov.path]
                lines[i], entry = self._override_line(ov)
                if entries is not None and entry is not None:
                    entries[i] = entry
            return "".join(lines), entries
        walked = list(_entries(self.plan.merged(run)))
        text = "".join(_line(e.depth, e.key, e.value, e.block, e.origin) for e in walked)
        return text, walked if self._wants_entries else None

    def render(self, run: RunConfig) -> str:
        body, entries = self.body(run)
        context: dict[str, Any] = dict(self._static)
        context.update(
            run_id=run.run_id,
            run_index=run.index,
            variables=run.variables,
            variable_paths=self._var_paths,
            variable_texts={name: texts[c] for name, texts, c in zip(self._var_names, self._var_texts,
                                                                      run.point.choices)},
            derived={name: flow_text(value) for name, value in run.derived.items()},
            output_dir=run.output_dir,
            output_dir_auto=run.output_dir_auto,
            body=body,
        )
        if entries is not None:
            context["entries"] = entries
        return self.template.render(context)
