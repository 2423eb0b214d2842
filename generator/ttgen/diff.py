"""Core of ``ttgen diff``: what one run of an output folder changes against its base config, or another run.

The base config compared against is the one recorded in the output folder
(``base_config.yaml``, its sha256 in ``manifest.yaml``), never the installed
torchtune, so a diff stays true after an upgrade. Differences are found with
deepdiff on the loaded trees (OmegaConf typing, interpolations unresolved) and
reported one row per leaf path, lists being leaves (SPEC §3): a changed list is
one row. Each row says where the change came from (variable, control, delete,
auto output_dir) by re-planning the folder's own experiment.yaml against the
folder's own base_config.yaml.

This module returns data and raises `RunLookupError`; it never prints.
"""

from __future__ import annotations

import hashlib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Literal

from .errors import Problem, RunLookupError, SourcePos, UserError
from .experiment import yaml_type_name
from .load import YamlDocument, load_yaml_text, read_yaml_file
from .sweep import value_key
from .table import ConfigPath, dotted, paths_written
from .yamltext import flow_text

if TYPE_CHECKING:
    from .base import BaseConfig

MAPPING_FILE = "configs/run_mapping.yaml"
BASE_FILE = "base_config.yaml"
EXPERIMENT_FILE = "experiment.yaml"
MANIFEST_FILE = "manifest.yaml"
OUTPUTS = Path("outputs")

# <name>_<YYYYmmdd_HHMMSS>, and _2, _3 ... for a second render in the same second (SPEC §6).
_TIMESTAMPED = re.compile(r"^(?P<name>.+)_(?P<ts>\d{8}_\d{6})(?:_(?P<n>\d+))?$")

Change = Literal["added", "removed", "changed", "type_changed"]
OriginKind = Literal["variable", "control", "delete", "auto", "unknown"]


class _Missing:
    """The value of a path one side does not have (distinct from ``None``, which is YAML null)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Origin:
    """Where a difference comes from: the experiment.yaml entry that makes it, as written."""

    kind: OriginKind
    key: str | None = None  # variable name, control key, deleted path; None for auto/unknown
    path: ConfigPath = ()  # the config path that entry sets or deletes

    def label(self) -> str:
        """The short text used in tables, like the trailing comments of generated configs."""
        if self.kind == "auto":
            return "auto: per-run output_dir"
        if self.kind == "unknown":
            return "unknown"
        # As in the generated configs' comments: "control" alone when the key written is the path.
        if self.kind == "control" and self.key is not None and self.key.lstrip("+") == dotted(self.path):
            return self.kind
        return f"{self.kind}: {self.key}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key}


UNKNOWN = Origin("unknown")


@dataclass(frozen=True)
class Difference:
    """One leaf path that differs; *before*/*after* are `MISSING` when that side lacks the path."""

    path: ConfigPath
    change: Change
    before: Any
    after: Any
    before_text: str | None  # YAML text as written in the file (None when missing)
    after_text: str | None
    origin: Origin

    @property
    def dotted(self) -> str:
        return dotted(self.path)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.dotted, "keys": list(self.path), "change": self.change}
        if self.before is not MISSING:
            out["before"] = self.before
            out["before_type"] = yaml_type_name(self.before)
        if self.after is not MISSING:
            out["after"] = self.after
            out["after_type"] = yaml_type_name(self.after)
        out["origin"] = self.origin.to_json()
        return out


@dataclass(frozen=True)
class Side:
    """One side of a diff: the recorded base config, or one run's config."""

    kind: Literal["base", "run"]
    name: str  # "base" or the run id
    file: str  # relative to the output folder
    doc: YamlDocument
    variables: dict[str, Any] | None = None  # the run's variable values from run_mapping.yaml
    variables_text: str | None = None  # the same as one-line YAML, values as written (``{lr: 3e-4}``)

    @property
    def data(self) -> dict[str, Any]:
        return self.doc.data

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "file": self.file, "variables": self.variables}


@dataclass
class DiffResult:
    """Every difference of *after* against *before*, in config order."""

    folder: Path
    before: Side
    after: Side
    differences: list[Difference]
    base_source: str | None  # the base config as experiment.yaml names it (from manifest.yaml)
    warnings: list[Problem] = field(default_factory=list)


# --- finding the output folder and the run ------------------------------------------------------


def _folder_problem(message: str, where: Path | None, *, hint: str) -> RunLookupError:
    return RunLookupError([Problem(message, pos=SourcePos(str(where)) if where is not None else None, hint=hint)])


def timestamped_folders(parent: Path) -> list[Path]:
    """Output folders named ``<name>_<YYYYmmdd_HHMMSS>[_N]`` under *parent*, oldest first.

    Ordered by the timestamp in the name (then the ``_N`` suffix, then the name), not
    by file times, which copies and checkouts change. Hidden folders (the temporary
    ``.<name>.ttgen-tmp-*`` of a render in progress) are skipped.
    """
    found: list[tuple[tuple[str, int, str], Path]] = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return []
    for entry in entries:
        m = _TIMESTAMPED.match(entry.name)
        if entry.name.startswith(".") or m is None or not entry.is_dir():
            continue
        found.append(((m["ts"], int(m["n"] or 1), m["name"]), entry))
    return [p for _, p in sorted(found)]


def find_output_folder(folder: Path | None) -> Path:
    """The folder ``ttgen diff`` reads (SPEC §7).

    *folder* (``--dir``) must be an output folder. Without it: the current folder
    when it holds ``configs/run_mapping.yaml``, else the newest timestamped
    output folder under ``./outputs``.
    """
    if folder is not None:
        if not folder.exists():
            raise _folder_problem("no such folder", folder, hint="pass an output folder written by `ttgen render`")
        if not folder.is_dir():
            raise _folder_problem("not a folder", folder, hint="pass an output folder written by `ttgen render`")
        if not (folder / MAPPING_FILE).is_file():
            inside = timestamped_folders(folder)
            hint = (f"it holds output folders; pass one of them, e.g. --dir {inside[-1]}" if inside
                    else "pass an output folder written by `ttgen render` (it holds configs/run_mapping.yaml)")
            raise _folder_problem(f"not a ttgen output folder: {MAPPING_FILE} is missing", folder, hint=hint)
        return folder
    if Path(MAPPING_FILE).is_file():
        return Path(".")
    if not OUTPUTS.is_dir():
        raise _folder_problem("no output folder here: the current folder has no configs/run_mapping.yaml "
                              "and no outputs/ folder", None,
                              hint="pass --dir DIR (an output folder written by `ttgen render`), or run from the "
                              "folder that holds outputs/")
    candidates = timestamped_folders(OUTPUTS)
    if not candidates:
        raise _folder_problem("no output folders (named <name>_<YYYYmmdd_HHMMSS>) in outputs/", OUTPUTS,
                              hint="render first, or pass --dir DIR")
    newest = candidates[-1]
    if not (newest / MAPPING_FILE).is_file():
        raise _folder_problem(f"the newest output folder has no {MAPPING_FILE}", newest,
                              hint="pass --dir DIR to choose another folder")
    return newest


def _read(folder: Path, rel: str, *, what: str) -> YamlDocument:
    path = folder / rel
    if not path.is_file():
        raise _folder_problem(f"{what} {rel} is missing from the output folder", folder,
                              hint="render the experiment again (`ttgen check` shows what else changed)")
    return read_yaml_file(path, display=str(path), error_cls=RunLookupError, what=what)


def _read_config(folder: Path, rel: str, *, what: str) -> YamlDocument:
    """`_read` a config file (a run's, or the recorded base) that must be a mapping."""
    doc = _read(folder, rel, what=what)
    if not isinstance(doc.data, dict):
        raise RunLookupError([Problem(f"{rel} is not a mapping of config keys", pos=doc.pos(()),
                                      hint="render the experiment again")])
    return doc


_TOP_KEY = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_.\-]*):(?=\s|$)")


@dataclass(frozen=True)
class EntryFile:
    """A large YAML file of ttgen's own (run mapping, manifest), read one top-level entry at a time.

    Loading a 10,000-run mapping whole, with positions, takes seconds; a diff needs one or
    two entries. Entries are found by their unindented ``key:`` lines (ttgen writes these
    files in block style) and each is loaded alone, with its real line numbers.
    """

    path: Path
    lines: tuple[str, ...]
    starts: dict[str, int]  # top-level key -> index of its line

    @classmethod
    def read(cls, path: Path, *, what: str) -> "EntryFile":
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise RunLookupError([Problem(f"{what} is not valid UTF-8", pos=SourcePos(str(path)))]) from None
        except OSError as exc:
            raise RunLookupError([Problem(f"cannot read {what}: {exc.strerror or exc}",
                                          pos=SourcePos(str(path)))]) from None
        lines = tuple(text.splitlines(keepends=True))
        starts: dict[str, int] = {}
        for i, line in enumerate(lines):
            m = _TOP_KEY.match(line)
            if m is not None:
                starts.setdefault(m[1], i)
        return cls(path, lines, starts)

    def keys(self) -> list[str]:
        return list(self.starts)

    def entry(self, key: str) -> YamlDocument | None:
        """``{key: value}`` for one top-level key (None when absent), positions as in the whole file."""
        start = self.starts.get(key)
        if start is None:
            return None
        end = start + 1
        while end < len(self.lines) and (not self.lines[end].strip() or self.lines[end][0] in " \t#"):
            end += 1
        return load_yaml_text("\n" * start + "".join(self.lines[start:end]), file=str(self.path),
                              error_cls=RunLookupError)


def run_ids(folder: Path) -> tuple[EntryFile, list[str]]:
    """The run mapping of an output folder and its run ids, in order."""
    path = folder / MAPPING_FILE
    if not path.is_file():
        raise _folder_problem(f"run mapping {MAPPING_FILE} is missing from the output folder", folder,
                              hint="render the experiment again")
    mapping = EntryFile.read(path, what="run mapping")
    if not mapping.starts:
        raise RunLookupError([Problem("run mapping lists no runs", pos=SourcePos(str(path)),
                                      hint="render the experiment again")])
    return mapping, mapping.keys()


def _available(ids: list[str]) -> str:
    shown = ids if len(ids) <= 12 else [*ids[:5], "...", *ids[-2:]]
    return "available: " + ", ".join(shown) + (f" ({len(ids)} runs)" if len(ids) > 12 else "")


def match_run(name: str, ids: list[str], *, folder: Path) -> str:
    """The run id *name* means: exact, or its number (``run_2`` and ``2`` mean ``run_002``)."""
    if name in ids:
        return name
    digits = name[4:] if name.startswith("run_") else name
    if digits.isdigit():
        for run_id in ids:
            tail = run_id[4:] if run_id.startswith("run_") else run_id
            if tail.isdigit() and int(tail) == int(digits):
                return run_id
    raise RunLookupError([Problem(f"no run {name!r} in this output folder", pos=SourcePos(str(folder)),
                                  hint=_available(ids))])


# --- comparing two trees ------------------------------------------------------------------------


def _get(tree: Any, path: ConfigPath) -> Any:
    node = tree
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return MISSING
        node = node[key]
    return node


def _leaves(value: Any, prefix: ConfigPath) -> Iterator[tuple[ConfigPath, Any]]:
    """Leaf paths of a value: non-empty mappings are walked; lists and ``{}`` are leaves."""
    if isinstance(value, dict) and value:
        for key, sub in value.items():
            yield from _leaves(sub, prefix + (key,))
    else:
        yield prefix, value


def _preorder(before: Any, after: Any) -> dict[ConfigPath, int]:
    """Config order of every path of both trees: before's keys in its order, then keys only after has.

    That is the order of the generated configs themselves (base order kept, new keys follow).
    """
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


def changed_paths(before: dict[str, Any], after: dict[str, Any]) -> list[ConfigPath]:
    """Paths at which the trees differ, found with deepdiff; a path into a list is cut at the list."""
    import deepdiff

    options: dict[str, Any] = {"view": "tree", "ignore_nan_inequality": True}
    # deepdiff 8 reports two mappings sharing few keys as one replaced value; we want every key.
    if int(deepdiff.__version__.split(".")[0]) >= 8:
        options["threshold_to_diff_deeper"] = 0
    tree = deepdiff.DeepDiff(before, after, **options)
    paths: dict[ConfigPath, None] = {}
    for levels in tree.values():
        for level in levels:
            parts = level.path(output_format="list")
            keys: list[str] = []
            for part in parts:
                if not isinstance(part, str):  # a list index: lists are leaves
                    break
                keys.append(part)
            paths[tuple(keys)] = None
    return list(paths)


def compare(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[ConfigPath, Change, Any, Any]]:
    """Every leaf difference of *after* against *before*, in config order."""
    rows: dict[ConfigPath, tuple[Change, Any, Any]] = {}
    for path in changed_paths(before, after):
        old, new = _get(before, path), _get(after, path)
        if old is MISSING or new is MISSING:
            # A whole mapping added or removed: one row per leaf below it.
            change: Change = "added" if old is MISSING else "removed"
            present = new if old is MISSING else old
            for leaf, value in _leaves(present, path):
                rows[leaf] = (change, MISSING, value) if change == "added" else (change, value, MISSING)
            continue
        same_type = yaml_type_name(old) == yaml_type_name(new)
        rows[path] = ("changed" if same_type else "type_changed", old, new)
    order = _preorder(before, after)
    return [(path, *rows[path]) for path in sorted(rows, key=lambda p: order.get(p, len(order)))]


# --- where a difference comes from --------------------------------------------------------------


@dataclass
class _Explainer:
    """What experiment.yaml sets in each run, and what it deletes, from a re-plan of the folder."""

    deletes: tuple[ConfigPath, ...] = ()
    setters: dict[str, dict[ConfigPath, Origin]] = field(default_factory=dict)  # run id -> path -> origin
    trees: dict[str, dict[str, Any]] = field(default_factory=dict)  # run id -> planned config tree


def _recorded_base_config(folder: Path, recorded: dict[str, Any]) -> BaseConfig:
    """The base config as recorded in the folder: its text, and its name and recipe from the manifest."""
    from .base import BaseConfig

    path = folder / BASE_FILE
    doc = read_yaml_file(path, display=str(path), error_cls=RunLookupError, what="recorded base config")
    if not isinstance(doc.data, dict) or not doc.data:
        raise RunLookupError([Problem("base_config.yaml is not a mapping of config keys", pos=doc.pos(()),
                                      hint="render the experiment again")])

    def text(key: str) -> str | None:
        value = recorded.get(key)
        return str(value) if value is not None else None

    return BaseConfig(source=text("source") or BASE_FILE, kind=text("kind") or "file", path=path, doc=doc,
                      recipe=text("recipe"), supports_distributed=None, torchtune_version=None)


def _explain(folder: Path, wanted: Iterable[str], *,
             recorded: dict[str, Any]) -> tuple[_Explainer | None, Problem | None]:
    """Re-plan the folder's experiment.yaml against its base_config.yaml; None and a warning on failure.

    The plan uses the recorded base (text, and recipe from the manifest), never the
    installed torchtune, so origins stay right after an upgrade.
    """
    from .plan import plan_experiment

    try:
        # The folder holds a render that succeeded, with whatever --max-runs it was given.
        plan = plan_experiment(folder / EXPERIMENT_FILE, max_runs=sys.maxsize,
                               base=_recorded_base_config(folder, recorded), slurm=False)
    except UserError as err:
        first = err.errors[0].format().splitlines()[0] if err.errors else str(err)
        return None, Problem("cannot tell where differences come from (origin: unknown): the folder's "
                             f"experiment.yaml does not plan with this ttgen: {first}",
                             pos=SourcePos(str(folder / EXPERIMENT_FILE)), severity="warning")
    explainer = _Explainer(deletes=tuple(plan.resolved.deletes))
    wanted = set(wanted)
    for run in plan.runs():
        if run.run_id not in wanted:
            continue
        setters: dict[ConfigPath, Origin] = {}
        # Controls first, then this run's overrides (variables, derived controls, auto): later wins,
        # as in the merge itself.
        for ov in (*plan.resolved.controls, *run.overrides):
            origin = Origin(ov.origin, None if ov.origin == "auto" else ov.key, ov.path)
            for path in paths_written(ov.path, ov.value):
                setters[path] = origin
        explainer.setters[run.run_id] = setters
        explainer.trees[run.run_id] = plan.merged(run).tree
        if len(explainer.setters) == len(wanted):
            break
    return explainer, None


def _lookup(setters: dict[ConfigPath, Origin] | None, path: ConfigPath) -> Origin | None:
    """The entry that sets *path* or the nearest mapping above it."""
    if not setters:
        return None
    for n in range(len(path), 0, -1):
        hit = setters.get(path[:n])
        if hit is not None:
            return hit
    return None


def _deleted(deletes: tuple[ConfigPath, ...], path: ConfigPath) -> Origin | None:
    for d in deletes:
        if path[: len(d)] == d:
            return Origin("delete", dotted(d), d)
    return None


def _planned(explainer: _Explainer, side: Side, *, path: ConfigPath, actual: Any) -> bool:
    """Is *actual* (a side's value at *path*) what the re-planned experiment gives? The base always is."""
    if side.kind == "base":
        return True
    tree = explainer.trees.get(side.name)
    if tree is None:
        return False
    planned = _get(tree, path)
    if planned is MISSING or actual is MISSING:
        return planned is actual
    return value_key(planned) == value_key(actual)


def _origin(explainer: _Explainer, path: ConfigPath, *, before: Side, after: Side, change: Change,
            values: tuple[Any, Any]) -> Origin:
    if not (_planned(explainer, before, path=path, actual=values[0])
            and _planned(explainer, after, path=path, actual=values[1])):
        return UNKNOWN  # a value experiment.yaml does not give: edited by hand, or other templates
    after_set = explainer.setters.get(after.name) if after.kind == "run" else None
    before_set = explainer.setters.get(before.name) if before.kind == "run" else None
    against_base = before.kind == "base"
    if change == "removed":
        candidates = [
            _deleted(explainer.deletes, path) if against_base else None,
            _lookup(before_set, path),
            _lookup(after_set, path),
        ]
    else:
        candidates = [_lookup(after_set, path), _lookup(before_set, path),
                      _deleted(explainer.deletes, path) if against_base else None]
    return next((c for c in candidates if c is not None), UNKNOWN)


# --- the diff -----------------------------------------------------------------------------------


def _text(doc: YamlDocument, path: ConfigPath, *, value: Any) -> str | None:
    """A value's YAML text: as written in the file for a plain scalar (``3e-4``), else flow YAML."""
    if value is MISSING:
        return None
    return doc.plain_text.get(path) or flow_text(value)


def _run_side(folder: Path, mapping: EntryFile, *, run_id: str) -> Side:
    rel = f"configs/{run_id}.yaml"
    doc = _read_config(folder, rel, what="config")
    entry_doc = mapping.entry(run_id)
    entry = entry_doc.data.get(run_id) if entry_doc is not None and isinstance(entry_doc.data, dict) else None
    variables = entry.get("variables") if isinstance(entry, dict) else None
    if entry_doc is None or not isinstance(variables, dict):
        return Side("run", run_id, rel, doc)
    text = ", ".join(f"{flow_text(name)}: {entry_doc.plain_text.get((run_id, 'variables', name)) or flow_text(value)}"
                     for name, value in variables.items())
    return Side("run", run_id, rel, doc, variables, "{" + text + "}")


def _recorded_base(folder: Path) -> dict[str, Any] | None:
    """The manifest's ``base_config:`` entry (source, sha256, ...); None without a manifest."""
    path = folder / MANIFEST_FILE
    if not path.is_file():
        return None
    doc = EntryFile.read(path, what="manifest").entry("base_config")
    entry = doc.data.get("base_config") if doc is not None and isinstance(doc.data, dict) else None
    return entry if isinstance(entry, dict) else {}


def diff_runs(folder: Path, run: str, *, other: str | None = None) -> DiffResult:
    """What *run* changes against the folder's recorded base config, or (with *other*) between two runs.

    With two runs, before is *run* and after is *other*, as in ``git diff A B``.
    """
    mapping, ids = run_ids(folder)
    run_id = match_run(run, ids, folder=folder)
    other_id = match_run(other, ids, folder=folder) if other is not None else None
    warnings: list[Problem] = []
    manifest = _recorded_base(folder)
    recorded = manifest or {}

    if other_id is None:
        base_doc = _read_config(folder, BASE_FILE, what="recorded base config")
        before = Side("base", "base", BASE_FILE, base_doc)
        after = _run_side(folder, mapping, run_id=run_id)
        sha = recorded.get("sha256")
        if sha and sha != hashlib.sha256(base_doc.raw).hexdigest():
            warnings.append(Problem("base_config.yaml does not match the sha256 recorded in manifest.yaml: it "
                                    "was edited after rendering, so this diff is against the edited text",
                                    pos=SourcePos(str(folder / BASE_FILE)), severity="warning",
                                    hint="render the experiment again to get a trustworthy folder"))
        elif manifest is None:
            warnings.append(Problem("no manifest.yaml: cannot verify base_config.yaml against its recorded sha256",
                                    pos=SourcePos(str(folder)), severity="warning"))
    else:
        before = _run_side(folder, mapping, run_id=run_id)
        after = _run_side(folder, mapping, run_id=other_id)

    rows = compare(before.data, after.data)
    runs = [s.name for s in (before, after) if s.kind == "run"]
    explainer, problem = _explain(folder, runs, recorded=recorded) if rows else (None, None)
    if problem is not None:
        warnings.append(problem)
    explainer = explainer or _Explainer()
    for side in (before, after):
        planned = explainer.trees.get(side.name) if side.kind == "run" else None
        if planned is not None and value_key(planned) != value_key(side.data):
            warnings.append(Problem(f"{side.file} is not what the folder's experiment.yaml renders (edited by "
                                    "hand, or rendered with other templates?); differences experiment.yaml does "
                                    "not explain show origin 'unknown'", pos=SourcePos(str(folder / side.file)),
                                    severity="warning", hint="`ttgen check EXPERIMENT --against DIR` shows the edits"))
    differences = [
        Difference(path=path, change=change, before=old, after=new,
                   before_text=_text(before.doc, path, value=old), after_text=_text(after.doc, path, value=new),
                   origin=_origin(explainer, path, before=before, after=after, change=change,
                                  values=(old, new)))
        for path, change, old, new in rows
    ]
    source = recorded.get("source")
    return DiffResult(folder=folder, before=before, after=after, differences=differences,
                      base_source=str(source) if source is not None else None, warnings=warnings)


__all__ = ["DiffResult", "Difference", "Origin", "Side", "MISSING", "diff_runs", "find_output_folder",
           "timestamped_folders", "compare", "match_run", "run_ids", "EntryFile"]
