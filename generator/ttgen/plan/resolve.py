"""Resolve: turn the keys an experiment writes into dotted paths of the base config.

Order (docs/contract.md §3): an exact path; an alias from `aliases.yaml`; a bare
name that ends exactly one path; otherwise a new key, allowed below an existing
mapping or anywhere with a leading ``+``. Unknown top-level names are errors
with suggestions; near-misses of existing keys are warnings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ..errors import ProblemCollector, SourcePos
from ..inputs.experiment import Experiment
from ..resources import load_data
from ..text import close_matches, short_repr
from ..tree import ConfigPath, Key, PathTable, display_path, dotted, split_dotted
from ..yamlio.dump import flow_text
from ..yamlio.types import yaml_type_name
from .origins import Origin, OverrideKind


@dataclass(frozen=True)
class Resolved:
    """Where a written key lands in the config, and how it was found."""

    path: ConfigPath
    how: str  # "exact", "alias", "name", "new"


@dataclass(frozen=True)
class Override:
    """One value an experiment sets: a control, or one variable's per-run value."""

    key: str  # as written (flattened): "learning_rate", "dataset.data_files", "+my_key"; auto: why (origins)
    path: ConfigPath
    value: Any
    origin: OverrideKind
    pos: SourcePos
    doc_path: Key  # where in experiment.yaml the value is written
    # Plain source text of scalars by experiment path (the document's table), so a value
    # written as 3e-4 is written back as 3e-4.
    sources: Mapping[Key, str] = field(default_factory=dict, compare=False, repr=False)
    # Positions of everything written in experiment.yaml, for problems inside a mapping value.
    positions: Mapping[Key, SourcePos] = field(default_factory=dict, compare=False, repr=False)

    @property
    def source(self) -> str | None:
        return self.sources.get(self.doc_path)

    def origin_record(self) -> Origin:
        """Where this value comes from, as configs' comments and ``ttgen diff`` name it."""
        return Origin(self.origin, self.key, self.path)


@dataclass(frozen=True)
class Variable:
    """A swept key: its resolved path and its values in written order."""

    name: str  # as written, dotted for nested groups: "lora_rank", "model.lora_rank"
    path: ConfigPath
    values: tuple[Any, ...]
    pos: SourcePos
    doc_path: Key
    value_positions: tuple[SourcePos, ...]
    sources: Mapping[Key, str] = field(default_factory=dict, compare=False, repr=False)
    positions: Mapping[Key, SourcePos] = field(default_factory=dict, compare=False, repr=False)
    # A preset variable (presets: section): per value, the overrides its preset sets; None otherwise.
    presets: tuple[tuple[Override, ...], ...] | None = None
    # A preset variable: per value, the slurm: resources its preset gives its runs (None: none).
    preset_slurm: tuple[dict[str, Any] | None, ...] = ()
    drawn: bool = False  # its values were drawn at random (sweep.method: random)

    @property
    def paths(self) -> frozenset[ConfigPath]:
        """Every config path this variable sets in some run (a preset's keys, or its own path)."""
        if self.presets is None:
            return frozenset([self.path])
        return frozenset(ov.path for group in self.presets for ov in group)

    def overrides(self, index: int) -> tuple[Override, ...]:
        """What the run taking value *index* sets: the preset's overrides, or the one value at `path`."""
        return self.presets[index] if self.presets is not None else (self.override(index),)

    def override(self, index: int) -> Override:
        assert self.presets is None, "a preset variable sets several paths: use overrides()"
        return Override(key=self.name, path=self.path, value=self.values[index], origin="variable",
                        pos=self.value_positions[index], doc_path=self.doc_path + (index,), sources=self.sources,
                        positions=self.positions)

    def source(self, index: int) -> str | None:
        """The value's plain text as written (``3e-4``), when it is a plain scalar."""
        return self.sources.get(self.doc_path + (index,))

    def text(self, index: int) -> str:
        """One-line YAML text of a value, as written when it was a plain scalar."""
        return self.source(index) or flow_text(self.values[index])


@dataclass(frozen=True)
class ResolvedExperiment:
    deletes: tuple[ConfigPath, ...]
    controls: tuple[Override, ...]
    variables: tuple[Variable, ...]


def near_miss(name: str, existing: list[str]) -> str | None:
    """An existing key that *name* is probably a typo of (for "did you mean" warnings)."""
    close = close_matches(name, existing, cutoff=0.8)
    return close[0] if close and close[0] != name else None


def aliases() -> dict[str, str]:
    return dict(load_data("aliases.yaml"))


def _flatten(mapping: dict[str, Any], prefix: str, doc_prefix: Key, *,
             variables: bool = False) -> list[tuple[str, Any, Key]]:
    """Nested mappings become dotted keys; lists (and empty mappings) are values. Among *variables*,
    a mapping with a ``distribution`` key is one variable's distribution, not a group."""
    out: list[tuple[str, Any, Key]] = []
    for key, value in mapping.items():
        name = f"{prefix}.{key}" if prefix else key
        here = doc_prefix + (key,)
        if isinstance(value, dict) and value and not (variables and "distribution" in value):
            out.extend(_flatten(value, name, here, variables=variables))
        else:
            out.append((name, value, here))
    return out


class Resolver:
    """Resolves written keys against one base table, collecting problems."""

    def __init__(self, table: PathTable, *, original: PathTable, exp: Experiment,
                 problems: ProblemCollector) -> None:
        self.table = table
        self.original = original  # before deletes: deleted top-level keys may be set again
        self.exp = exp
        self.problems = problems
        self.aliases = aliases()

    def resolve(self, written: str, doc_path: Key, *, pos: SourcePos | None = None) -> Resolved | None:
        """Where *written* lands; *pos* is where it was written when not in experiment.yaml (the command line)."""
        pos = pos or self.exp.doc.key_pos(doc_path)
        where = display_path(doc_path)
        forced = any(part.startswith("+") for part in written.split("."))
        key = ".".join(part.lstrip("+") for part in written.split("."))
        parts = split_dotted(key)
        if any(not p for p in parts):
            self.problems.error(f"key {written!r} has an empty segment", pos=pos, path=where,
                                hint="write dotted paths like optimizer.lr")
            return None
        if not forced:
            if parts in self.table:
                return Resolved(parts, "exact")
            if parts in self.original:
                # Deleted and set again (docs/contract.md §4): the same path, never a namesake found by rule 3.
                return self._new(parts, written, pos, where, forced=True)
            if key in self.aliases:
                target = split_dotted(self.aliases[key])
                if target in self.table:
                    return Resolved(target, "alias")
                return self._new(target, written, pos, where, forced=False, alias_of=key)
            if len(parts) == 1:
                matches = self.table.by_last.get(key, [])
                if len(matches) == 1:
                    return Resolved(matches[0], "name")
                if len(matches) > 1:
                    self.problems.error(
                        f"{key!r} is ambiguous: it names {len(matches)} paths: "
                        + ", ".join(dotted(m) for m in matches), pos=pos, path=where,
                        hint="write the full dotted path you mean, e.g. " + dotted(matches[0]))
                    return None
        elif parts in self.table:
            return Resolved(parts, "exact")
        return self._new(parts, written, pos, where, forced=forced)

    def _new(self, path: ConfigPath, written: str, pos: SourcePos, where: str, *, forced: bool,
             alias_of: str | None = None) -> Resolved | None:
        anc = self.table.deepest_ancestor(path)
        if anc and not self.table.is_mapping(anc) and self.table.entries[anc] is not None:
            value = self.table.entries[anc]
            self.problems.error(
                f"cannot add {dotted(path)!r}: {dotted(anc)} is {yaml_type_name(value)} {short_repr(value)}, not a mapping",
                pos=pos, path=where,
                hint=f"to replace {dotted(anc)} with a mapping, add it to delete: and set it again")
            return None
        known_top = path[:1] in self.table.entries or path[:1] in self.original.entries
        if not forced and not known_top:
            self.problems.error(f"unknown key {written!r}: the base config has no such path", pos=pos, path=where,
                                hint=self._suggest(path[-1] if len(path) == 1 else dotted(path))
                                + f" To add a new top-level key on purpose, write +{written}.")
            return None
        if not forced:
            siblings = [p[-1] for p in self.table.entries if p[:-1] == anc]
            close = near_miss(path[len(anc)], siblings) or self._alias_sibling(path, anc)
            if close:
                self.problems.warn(f"{dotted(path)!r} is a new key; did you mean {dotted(anc + (close,))!r}?",
                                   pos=pos, path=where,
                                   hint=f"if the new key is intended, write +{written} to silence this")
        return Resolved(path, "new")

    def _alias_sibling(self, path: ConfigPath, anc: ConfigPath) -> str | None:
        """The sibling an alias written inside its mapping means: ``optimizer: {learning_rate: ...}``
        is ``optimizer.lr`` (the alias learning_rate names it), though the two words look nothing alike."""
        target = self.aliases.get(path[len(anc)])
        if target is None:
            return None
        parts = split_dotted(target)
        return parts[-1] if parts[:-1] == anc and parts in self.table else None

    def _suggest(self, name: str) -> str:
        candidates = list(self.table.by_last) + list(self.aliases) + self.table.dotted_paths()
        shown: dict[str, str] = {}  # resolved path -> how to show it, so each path is named once
        for c in close_matches(name, candidates, n=6):
            paths = self.table.by_last.get(c)
            if c in self.aliases:
                target = self.aliases[c]
            elif paths and len(paths) == 1:
                target = dotted(paths[0])
            else:
                target = c
            shown.setdefault(target, c if c == target else f"{c} ({target})")
        if not shown:
            return "Check the spelling against the base config (ttgen ls shows configs)."
        return "did you mean " + " or ".join(list(shown.values())[:3]) + "?"


PRESET_SLURM = "slurm"  # the key of a preset that holds its runs' SLURM resources, not a config key


def resolve_presets(exp: Experiment, name: str, values: Any, doc_path: Key, *, resolver: Resolver,
                    problems: ProblemCollector) -> Variable | None:
    """A preset variable: each value names a preset of ``presets.<name>``, whose keys resolve like controls."""
    pos = exp.doc.key_pos(doc_path)
    defined: dict[str, Any] = exp.presets[name] or {}
    if not isinstance(values, list):
        problems.error(f"variable {name!r} has presets, so its values are a list of preset names",
                       pos=pos, path=display_path(doc_path), hint="e.g. " + name + ": [" + ", ".join(defined) + "]")
        return None
    groups: list[tuple[Override, ...]] = []
    slurm: list[dict[str, Any] | None] = []
    ok = True
    for i, preset in enumerate(values):
        where = doc_path + (i,)
        if not isinstance(preset, str) or preset not in defined:
            close = close_matches(str(preset), list(defined))
            problems.error(f"{short_repr(preset)} is not a preset of {name!r} (presets: {', '.join(defined)})",
                           pos=exp.doc.pos(where), path=display_path(where),
                           hint=(f"did you mean {close[0]!r}? " if close else "")
                                + f"define it under presets.{name}, or use one of its names")
            ok = False
            continue
        body = dict(defined[preset] or {})
        slurm.append(body.pop(PRESET_SLURM, None))
        group: list[Override] = []
        prefix: Key = ("presets", name, preset)
        for key, value, key_path in _flatten(body, "", prefix):
            if isinstance(value, str) and "{{" in value:
                problems.error("a preset's value cannot be a {{ ... }} derived value", pos=exp.doc.pos(key_path),
                               path=display_path(key_path),
                               hint="write the derived value under controls:, where it can use the preset's name")
                continue
            res = resolver.resolve(key, key_path)
            if res is None:
                continue
            group.append(Override(key=f"{name}={preset}", path=res.path, value=value, origin="variable",
                                  pos=exp.doc.pos(key_path), doc_path=key_path, sources=exp.doc.plain_text,
                                  positions=exp.doc.positions))
        groups.append(tuple(group))
    if not ok:
        return None
    for unused in (p for p in defined if p not in values):
        where = ("presets", name, unused)
        problems.warn(f"preset {unused!r} of {name!r} is not used: no value of variables.{name} names it",
                      pos=exp.doc.key_pos(where), path=display_path(where),
                      hint=f"add it to variables.{name} to run it, or remove it")
    return Variable(name=name, path=(), values=tuple(values), pos=pos, doc_path=doc_path,
                    value_positions=tuple(exp.doc.pos(doc_path + (i,)) for i in range(len(values))),
                    sources=exp.doc.plain_text, positions=exp.doc.positions, presets=tuple(groups),
                    preset_slurm=tuple(slurm))


def resolve_experiment(exp: Experiment, *, table: PathTable, original: PathTable,
                       deletes: tuple[ConfigPath, ...], problems: ProblemCollector,
                       command_line: Sequence[tuple[str, str, Any]] = (),
                       command_line_pos: SourcePos | None = None,
                       drawn: Mapping[Key, tuple[Any, ...]] | None = None) -> ResolvedExperiment:
    """Resolve every control and variable key, then the command line's ``(argument, key, value)``
    overrides (they win over a control of the same path, and may not set a variable's);
    problems are collected, not raised."""
    resolver = Resolver(table, original=original, exp=exp, problems=problems)
    seen: dict[ConfigPath, Override | Variable] = {}

    def claim(path: ConfigPath, item: Override | Variable, pos: SourcePos, where: str) -> bool:
        other = seen.get(path)
        if other is None:
            seen[path] = item
            return True
        kind = "a variable" if isinstance(other, Variable) else "a control"
        mine = "variable" if isinstance(item, Variable) else "control"
        self_name = item.name if isinstance(item, Variable) else item.key
        other_name = other.name if isinstance(other, Variable) else other.key
        problems.error(f"{dotted(path)} is set twice: this {mine} {self_name!r} and {kind} {other_name!r} "
                       f"(line {other.pos.line})", pos=pos, path=where,
                       hint="a path may be a variable or a control, not both; keep one")
        return False

    variables: list[Variable] = []
    drawn = drawn or {}
    preset_vars: list[Variable] = []
    for name, values, doc_path in _flatten(exp.variables, "", ("variables",), variables=True):
        pos = exp.doc.key_pos(doc_path)
        if name in exp.presets:
            var = resolve_presets(exp, name, values, doc_path, resolver=resolver, problems=problems)
            if var is not None:
                variables.append(var)
                preset_vars.append(var)
            continue
        res = resolver.resolve(name, doc_path)
        if res is None:
            continue
        if isinstance(values, dict):  # a distribution: its values were drawn (sweep.method: random)
            if doc_path not in drawn:
                continue  # reported while drawing
            values = list(drawn[doc_path])
            positions = tuple(exp.doc.pos(doc_path) for _ in values)
        else:
            positions = tuple(exp.doc.pos(doc_path + (i,)) for i in range(len(values)))
        var = Variable(name=name, path=res.path, values=tuple(values), pos=pos, doc_path=doc_path,
                       value_positions=positions, sources=exp.doc.plain_text, positions=exp.doc.positions,
                       drawn=doc_path in drawn)
        if claim(res.path, var, pos, display_path(doc_path)):
            variables.append(var)
    written = {n for n, _, _ in _flatten(exp.variables, "", ("variables",), variables=True)}
    for name in exp.presets:
        if name not in written:
            where = ("presets", name)
            problems.error(f"presets names {name!r}, which is not a variable", pos=exp.doc.key_pos(where),
                           path=display_path(where),
                           hint=f"add {name}: [<preset names>] under variables:, or remove the presets of {name}")

    controls: list[Override] = []
    for name, value, doc_path in _flatten(exp.controls, "", ("controls",)):
        res = resolver.resolve(name, doc_path)
        if res is None:
            continue
        pos = exp.doc.key_pos(doc_path)
        ov = Override(key=name, path=res.path, value=value, origin="control", pos=exp.doc.pos(doc_path),
                      doc_path=doc_path, sources=exp.doc.plain_text, positions=exp.doc.positions)
        if claim(res.path, ov, pos, display_path(doc_path)):
            controls.append(ov)
    for var in preset_vars:  # a preset's keys may not be another variable's or a control's path
        for path in sorted(var.paths, key=str):
            other = seen.get(path)
            if other is not None:
                kind = f"variable {other.name!r}" if isinstance(other, Variable) else f"control {other.key!r}"
                ov = next(o for group in var.presets or () for o in group if o.path == path)
                problems.error(f"a preset of {var.name!r} sets {dotted(path)}, which {kind} also sets "
                               f"(line {other.pos.line})", pos=ov.pos, path=display_path(ov.doc_path),
                               hint="a path may be set by a preset or by a control or variable, not both; keep one")
    for arg, key, value in command_line:
        res = resolver.resolve(key, (arg,), pos=command_line_pos)
        if res is None:
            continue
        other = seen.get(res.path)
        if isinstance(other, Variable) or any(res.path in v.paths for v in preset_vars):
            other = other if isinstance(other, Variable) else next(v for v in preset_vars if res.path in v.paths)
            problems.error(f"{dotted(res.path)} is variable {other.name!r} (line {other.pos.line}): a command-line "
                           "value would replace it in every run", pos=command_line_pos, path=arg,
                           hint="override a control, or change the variable's values in experiment.yaml")
            continue
        if other is not None:  # the command line wins over a control, as in Hydra and `tune run`
            controls = [c for c in controls if c.path != res.path]
        # The value's text as typed (1e-4 stays 1e-4), when it is a plain one-line scalar.
        text = arg.partition("=")[2].strip()
        plain = not isinstance(value, (dict, list)) and text and "#" not in text and "\n" not in text
        ov = Override(key=key, path=res.path, value=value, origin="command line",
                      pos=command_line_pos or exp.doc.pos(()), doc_path=(arg,), sources={(arg,): text} if plain else {})
        seen[res.path] = ov
        controls.append(ov)
    return ResolvedExperiment(deletes=deletes, controls=tuple(controls), variables=tuple(variables))


def resolve_deletes(exp: Experiment, table: PathTable, problems: ProblemCollector, *,
                    command_line: Sequence[tuple[str, str]] = (),
                    command_line_pos: SourcePos | None = None) -> tuple[ConfigPath, ...]:
    """Resolve `delete:` entries (exact path, alias or unique name), then the command line's
    ``~key`` ones; a missing path is a warning in experiment.yaml, an error on the command line.

    A malformed path (an empty part: ``.lr``, ``optimizer..lr``, ``lr.``) is an error.
    """
    names = aliases()
    out: list[ConfigPath] = []
    entries: list[tuple[str, Key, SourcePos, bool]] = [
        (written, ("delete", i), exp.doc.pos(("delete", i)), False) for i, written in enumerate(exp.delete)]
    entries += [(key, (arg,), command_line_pos or exp.doc.pos(()), True) for arg, key in command_line]
    for written, doc_path, pos, strict in entries:
        parts = split_dotted(written)
        if "" in parts:  # ".lr", "optimizer..lr", "lr.": a typo, never a path (keys are not empty)
            cleaned = ".".join(p for p in parts if p)
            problems.error(f"delete: {written!r} is not a valid path: it has an empty part (a leading, trailing "
                           "or doubled '.')", pos=pos, path=display_path(doc_path),
                           hint=f"did you mean {cleaned!r}?" if cleaned else "write a dotted path, e.g. optimizer.lr")
            continue
        if parts in table:
            path: ConfigPath | None = parts
        elif written in names and split_dotted(names[written]) in table:
            path = split_dotted(names[written])
        elif len(parts) == 1 and len(table.by_last.get(written, [])) == 1:
            path = table.by_last[written][0]
        else:
            path = None
        if path is None:
            close = close_matches(written, table.dotted_paths(), cutoff=0.7)
            report = problems.error if strict else problems.warn
            report(f"delete: {written!r} does not exist in the base config; nothing deleted",
                   pos=pos, path=display_path(doc_path),
                   hint=f"did you mean {close[0]!r}?" if close else
                   ("remove it from the command line" if strict else "remove it from delete:"))
            continue
        out.append(path)
    return tuple(out)
