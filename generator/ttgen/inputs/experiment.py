"""Read experiment.yaml: load it, check its shape against the JSON Schema, return an `Experiment`.

The schema in `schemas/experiment.schema.json` is the single source of truth
for the file's shape (docs/contract.md §1); this module only turns jsonschema's
findings into positioned, fixable messages (using the schema's own ``x-hint``
annotations) and collects every one of them before raising.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

from ..errors import ExperimentError, Problem
from ..layout import DEFAULT_BASE_DIR
from ..resources import load_schema
from ..text import close_matches, short_repr
from ..tree import Key, display_path
from ..yamlio.load import YamlDocument, load_yaml_text, read_yaml_file
from ..yamlio.types import SCHEMA_TYPE_NAMES, yaml_type_name


@dataclass(frozen=True)
class Experiment:
    """A schema-valid experiment.yaml, with paths made absolute against its folder."""

    path: Path
    doc: YamlDocument
    name: str
    metadata: dict[str, Any]
    base_config: str | None
    base_config_file: Path | None
    recipe: str | None
    variables: dict[str, Any]
    controls: dict[str, Any]
    delete: list[str]
    sweep: dict[str, Any]
    output_base_dir: Path
    slurm: dict[str, Any] | None = None
    # A list under base_config / base_config_file: every base, in written order (a base axis).
    base_configs: tuple[str, ...] = ()
    base_config_files: tuple[Path, ...] = ()
    presets: dict[str, Any] = field(default_factory=dict)  # variable name -> preset name -> overrides
    evaluation: dict[str, Any] | None = None  # the evaluation: section as written (ttgen.plan.evaluation)
    in_memory: bool = False  # built from text (a dict): *path* only says where relative paths start

    @property
    def base_list(self) -> bool:
        """Whether base_config (or base_config_file) is written as a list: the sweep has a base axis."""
        fc = self.doc.data["framework_config"]
        return isinstance(fc.get("base_config", fc.get("base_config_file")), list)

    @property
    def base_count(self) -> int:
        return max(len(self.base_configs), len(self.base_config_files), 1)

    @property
    def raw(self) -> bytes:
        """The file's bytes as read: what was rendered, and what the output folder keeps a copy of."""
        return self.doc.raw

    @property
    def folder(self) -> Path:
        return self.path.parent


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    """The experiment schema's validator, built once per process."""
    return jsonschema.Draft202012Validator(load_schema())


def _schema_problems(doc: YamlDocument) -> list[Problem]:
    problems: list[Problem] = []
    for err in _validator().iter_errors(doc.data):
        problems.extend(_describe(err, doc))
    # One problem per position and message: anyOf/oneOf can report the same spot twice.
    unique = {(p.pos, p.path, p.message): p for p in problems}
    return list(unique.values())


def _describe(err: jsonschema.ValidationError, doc: YamlDocument) -> list[Problem]:
    path: Key = tuple(err.absolute_path)
    where = display_path(path) or None
    hint = err.schema.get("x-hint") if isinstance(err.schema, dict) else None
    value = err.instance
    kind = err.validator
    if kind == "additionalProperties":
        allowed = list(err.schema.get("properties", {}))
        out = []
        for key in value:
            if key in allowed:
                continue
            close = close_matches(str(key), allowed)
            section = f"in {where}" if where else "at the top level"
            out.append(Problem(
                f"unknown field {key!r} {section}", pos=doc.key_pos(path + (key,)),
                path=display_path(path + (key,)),
                hint=(f"did you mean {close[0]!r}? " if close else "") + "allowed: " + ", ".join(allowed)))
        return out
    if kind == "required":
        missing = [r for r in err.validator_value if r not in value]
        props = err.schema.get("properties", {})
        return [Problem(f"missing required field {m!r}", pos=doc.pos(path), path=display_path(path + (m,)),
                        hint=f"add {m}: under {where or 'the top level'}"
                             + (f" ({props[m]['x-hint']})" if "x-hint" in props.get(m, {}) else ""))
                for m in missing]
    if kind == "type":
        expected = err.validator_value
        names = " or ".join(SCHEMA_TYPE_NAMES.get(t, t) for t in ([expected] if isinstance(expected, str) else expected))
        if not path and value is None:
            return [Problem("experiment file is empty", pos=doc.pos(path),
                            hint="start from examples/ or docs/experiment.md")]
        if not path:
            return [Problem(f"experiment.yaml must be a mapping of sections, got {yaml_type_name(value)}",
                            pos=doc.pos(path), hint="start from examples/ or docs/experiment.md")]
        got = "null" if value is None else f"{yaml_type_name(value)} {short_repr(value)}"
        names = names.replace(" or null", "")  # an empty section is allowed, but never the point
        return [Problem(f"expected {names}, got {got}", pos=doc.pos(path), path=where, hint=hint)]
    if kind == "const":
        return [Problem(f"must be {err.validator_value!r}, got {value!r}", pos=doc.pos(path), path=where, hint=hint)]
    if kind == "oneOf" and path == ("framework_config",) and not isinstance(value, dict):
        return []  # its type error says it; "valid under each of {...}" would only confuse
    if kind == "oneOf" and isinstance(value, dict) and path == ("framework_config",):
        both = all(k in value for k in ("base_config", "base_config_file"))
        msg = "both base_config and base_config_file are given" if both else "neither base_config nor base_config_file is given"
        return [Problem(msg, pos=doc.pos(path), path=where, hint=hint)]
    if kind == "anyOf" and path[:1] == ("framework_config",) and not isinstance(value, list):
        # A name (or a list of names): said as for the one name most experiments give.
        if value == "":
            return [Problem(f"{value!r} should be non-empty", pos=doc.pos(path), path=where, hint=hint)]
        got = "null" if value is None else f"{yaml_type_name(value)} {short_repr(value)}"
        return [Problem(f"expected a string, got {got}", pos=doc.pos(path), path=where, hint=hint)]
    if kind == "anyOf" and isinstance(value, list) and not value and path[:1] == ("framework_config",):
        return [Problem("empty list: give at least one base config", pos=doc.pos(path), path=where, hint=hint)]
    if kind == "anyOf" and isinstance(value, list) and path[:1] == ("framework_config",):
        out = []  # a base axis: say which item is wrong
        for i, item in enumerate(value):
            here = display_path(path + (i,))
            if not isinstance(item, str) or not item:
                got = "an empty string" if item == "" else f"{yaml_type_name(item)} {short_repr(item)}"
                out.append(Problem(f"expected the name of a base config, got {got}", pos=doc.pos(path + (i,)),
                                   path=here, hint=hint))
            elif item in value[:i]:
                out.append(Problem(f"{item!r} is listed twice", pos=doc.pos(path + (i,)), path=here,
                                   hint="each base config of the list once: the sweep is made once from each"))
        return out or [Problem(f"got {yaml_type_name(value)} {short_repr(value)}", pos=doc.pos(path), path=where,
                               hint=hint)]
    if kind == "anyOf" and isinstance(value, list) and not value:
        return [Problem("empty list: a variable needs at least one value", pos=doc.pos(path), path=where,
                        hint="give values, e.g. [8, 16], or move a single value to controls")]
    if kind == "minItems" and not value:
        return [Problem("empty list", pos=doc.pos(path), path=where, hint=hint)]
    if kind == "anyOf":
        return [Problem(f"got {yaml_type_name(value)} {short_repr(value)}", pos=doc.pos(path), path=where, hint=hint)]
    if kind == "pattern":
        # A line break must not reach the message unescaped (one line per problem): "abc\n".
        if path[:1] == ("slurm",) and isinstance(value, str) and "".join(value.splitlines()) != value:
            # The same words as plan/slurm.py, which checks the fields without a pattern.
            return [Problem("a line break cannot be written into an #SBATCH line", pos=doc.pos(path), path=where,
                            hint="write the value on one line, without control characters")]
        shown = short_repr(value) if str(value).isprintable() else json.dumps(value)[:60]
        return [Problem(f"{shown} is not allowed here", pos=doc.pos(path), path=where, hint=hint)]
    if kind == "uniqueItems":
        return [Problem("list has duplicate items", pos=doc.pos(path), path=where, hint="remove the repeats")]
    return [Problem(err.message, pos=doc.pos(path), path=where, hint=hint)]


def _user_path(text: str, doc: YamlDocument, where: Key, problems: list[Problem]) -> Path:
    """A path as written in experiment.yaml, with a leading ``~`` or ``~user`` expanded (docs/decisions.md)."""
    try:
        return Path(text).expanduser()
    except RuntimeError:  # ~user of an unknown user, or no home folder to be found
        problems.append(Problem(f"cannot expand {short_repr(text)}: no such user or no home folder", pos=doc.pos(where),
                                path=display_path(where), hint="write the folder out in full"))
        return Path(text)


def load_experiment(path: Path, *, display: str | None = None) -> Experiment:
    """Load and schema-check experiment.yaml; raises `ExperimentError` with every problem."""
    path = Path(path)
    doc = read_yaml_file(path, display=display or str(path), what="experiment file",
                         not_found_hint="check the path (relative to the current folder)")
    return experiment_from_document(doc, path)


def experiment_from_text(text: str, *, path: Path, display: str) -> Experiment:
    """An experiment from YAML text, as if read from *path* (never read: relative paths in it
    start from its folder); problems name *display* as the file."""
    loaded = experiment_from_document(load_yaml_text(text, file=display, error_cls=ExperimentError), Path(path))
    return replace(loaded, in_memory=True)


def experiment_from_document(doc: YamlDocument, path: Path) -> Experiment:
    """Schema-check a loaded experiment document read from *path*; raises `ExperimentError`."""
    problems = _schema_problems(doc)
    if problems:
        raise ExperimentError(problems)
    data: dict[str, Any] = doc.data
    path = path.resolve()
    folder = path.parent
    fc = data["framework_config"]
    meta = dict(data["experiment"])
    written_files = fc.get("base_config_file")
    files = [written_files] if isinstance(written_files, str) else list(written_files or [])
    where_files: tuple[Any, ...] = ("framework_config", "base_config_file")
    base_files = [_user_path(f, doc, where_files + ((i,) if isinstance(written_files, list) else ()), problems)
                  for i, f in enumerate(files)]
    base_file = base_files[0] if base_files else None
    names = fc.get("base_config")
    base_names = [names] if isinstance(names, str) else list(names or [])
    base_dir = _user_path((data.get("output") or {}).get("base_dir", DEFAULT_BASE_DIR), doc, ("output", "base_dir"),
                          problems)
    if problems:
        raise ExperimentError(problems)
    return Experiment(
        path=path,
        doc=doc,
        name=meta["name"],
        metadata=meta,
        base_config=base_names[0] if base_names else None,
        base_config_file=(folder / base_file) if base_file is not None else None,
        base_configs=tuple(base_names),
        base_config_files=tuple(folder / f for f in base_files),
        presets=dict(data.get("presets") or {}),
        recipe=fc.get("recipe"),
        variables=data.get("variables") or {},
        controls=data.get("controls") or {},
        delete=list(data.get("delete") or []),
        sweep=dict(data.get("sweep") or {}),
        output_base_dir=folder / base_dir,
        slurm=data.get("slurm"),
        evaluation=data.get("evaluation"),
    )
