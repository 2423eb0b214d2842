"""Stage 5, render: each run's config text, through Jinja templates.

The controlled tree (base after deletes and controls) is the same for every
run, so its lines are rendered once. A run that only replaces existing leaves —
almost every run of a sweep — copies that list of lines and re-renders just
its overridden values; any other run (new keys, mapping values) walks its own
merged tree with the same line formatter, so both paths give the same text.
The template then wraps the body with the header; templates are compiled once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import jinja2
import jinja2.meta

from .errors import OutputError, Problem, SourcePos
from .merge import MergedConfig, origin_label
from .plan import Plan, RunConfig
from .resources import templates_dir
from .sweep import value_key
from .table import ConfigPath, dotted, get_path
from .yamltext import flow_text, key_text, value_text

CONFIG_TEMPLATE = "config.yaml.j2"
MAPPING_TEMPLATE = "run_mapping.yaml.j2"
MANIFEST_TEMPLATE = "manifest.yaml.j2"
INDENT = 2


inline_text = flow_text  # the name templates and commands know it by


def comment_text(text: Any) -> str:
    """Make text safe inside a ``#`` comment: no line breaks or control characters."""
    s = str(text)
    return s if s.isprintable() else s.encode("unicode_escape").decode("ascii")


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


def _walk(tree: dict[str, Any], merged: MergedConfig, prefix: ConfigPath = ()) -> Iterator[Entry]:
    depth = len(prefix)
    for key, value in tree.items():
        path = prefix + (key,)
        origin = merged.origins.get(path)
        if origin and path in merged.new:
            origin += ", new key"
        if isinstance(value, dict) and value:
            yield Entry(path, depth, key, "", "", origin)
            yield from _walk(value, merged, path)
        else:
            inline, block = value_text(value, indent=INDENT * depth, source=merged.sources.get(path))
            yield Entry(path, depth, key, inline, block, origin)


def make_environment(template_dir: Path | None = None) -> jinja2.Environment:
    """Jinja environment over the user's template folder (if any), then the shipped templates."""
    loaders: list[jinja2.BaseLoader] = []
    if template_dir is not None:
        loaders.append(jinja2.FileSystemLoader(str(template_dir)))
    loaders.append(jinja2.FileSystemLoader(str(templates_dir())))
    env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             autoescape=False)
    env.filters["yaml"] = inline_text
    env.filters["comment"] = comment_text
    return env


def load_template(env: jinja2.Environment, name: str) -> jinja2.Template:
    try:
        return env.get_template(name)
    except jinja2.TemplateSyntaxError as exc:
        raise OutputError([Problem(f"template syntax error: {exc.message}",
                                   pos=SourcePos(exc.filename or name, exc.lineno or 0, 1))]) from None
    except jinja2.TemplateNotFound:
        raise OutputError([Problem(f"template {name!r} not found", pos=SourcePos(name),
                                   hint="a template folder must contain " + name)]) from None


class ConfigRenderer:
    """Renders the configs of one plan; build once, call `render` per run."""

    DYNAMIC_CACHE_LIMIT = 4096

    def __init__(self, plan: Plan, *, env: jinja2.Environment) -> None:
        self.plan = plan
        self.template = load_template(env, CONFIG_TEMPLATE)
        source = env.loader.get_source(env, CONFIG_TEMPLATE)[0] if env.loader else ""
        self._wants_entries = "entries" in jinja2.meta.find_undeclared_variables(env.parse(source))
        controlled = plan.controlled
        self._entries = list(_walk(controlled.tree, controlled))
        self._lines = [_line(e.depth, e.key, e.value, e.block, e.origin) for e in self._entries]
        self._leaf_index = {e.path: i for i, e in enumerate(self._entries)
                            if not isinstance(get_path(controlled.tree, e.path), dict)}
        self._cache: dict[Any, tuple[str, Entry | None]] = {}
        self._static_ids = plan.static_overrides()
        exp = plan.experiment
        self._static = {
            **env.globals,
            **self.template.globals,
            "experiment": exp.metadata,
            "experiment_name": exp.name,
            "base_config": plan.base.source,
            "base_kind": plan.base.kind,
            "recipe": plan.base.recipe,
            "run_count": len(plan),
        }
        self._var_paths = {v.name: dotted(v.path) for v in plan.variables}
        self._var_names = [v.name for v in plan.variables]
        self._var_texts = [[v.text(i) for i in range(len(v.values))] for v in plan.variables]

    def _simple(self, run: RunConfig) -> bool:
        return all(ov.path in self._leaf_index and not isinstance(ov.value, dict) for ov in run.overrides)

    def _override_line(self, ov: Any) -> tuple[str, Entry | None]:
        """The line of an overridden leaf (and its Entry when the template wants entries)."""
        source = ov.source
        key: Any
        if ov.origin == "auto":
            key = None  # a per-run output_dir: never seen twice, so never cached
        elif id(ov) in self._static_ids:
            key = id(ov)  # shared across runs: cached by identity
        else:
            key = (ov.path, value_key(ov.value), ov.origin, ov.key, source)  # computed per run: by value
        hit = self._cache.get(key) if key is not None else None
        if hit is None:
            base = self._entries[self._leaf_index[ov.path]]
            inline, block = value_text(ov.value, indent=INDENT * base.depth,
                                       source=source if not isinstance(ov.value, (dict, list)) else None)
            origin = origin_label(ov)
            entry = Entry(base.path, base.depth, base.key, inline, block, origin) if self._wants_entries else None
            hit = (_line(base.depth, base.key, inline, block, origin), entry)
            if isinstance(key, int) or (key is not None and len(self._cache) < self.DYNAMIC_CACHE_LIMIT):
                self._cache[key] = hit  # per-run values must not grow memory with runs
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
        merged = self.plan.merged(run)
        walked = list(_walk(merged.tree, merged))
        text = "".join(_line(e.depth, e.key, e.value, e.block, e.origin) for e in walked)
        return text, walked if self._wants_entries else None

    def render(self, run: RunConfig) -> str:
        body, entries = self.body(run)
        context = dict(self._static)
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
        # The context already holds the environment's globals (see __init__), so Jinja need
        # not merge them for every run: render with a shared context, straight from the root.
        template = self.template
        return "".join(template.root_render_func(template.new_context(context, shared=True)))

