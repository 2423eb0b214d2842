"""Core of ``ttgen diff``: what one run of an output folder changes against its base config, or another run.

The base config compared against is the one recorded in the output folder
(``base_config.yaml``, its sha256 in ``manifest.yaml``), never the installed
torchtune, so a diff stays true after an upgrade. Differences are found with
deepdiff on the loaded trees (OmegaConf typing, interpolations unresolved) and
reported one row per leaf path, lists being leaves (docs/contract.md §3): a changed list is
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
from typing import Any, Iterable, Literal

from ..errors import Problem, RunLookupError, SourcePos, UserError
from ..inputs.base import BaseConfig
from ..layout import BASE_FILE, EXPERIMENT_FILE, MANIFEST_FILE, config_file
from ..plan.build import plan_experiment
from ..plan.origins import UNKNOWN, Origin
from ..tree import MISSING, ConfigPath, dotted, lookup, paths_written, value_key
from ..yamlio.dump import flow_text
from ..yamlio.entries import EntryFile
from ..yamlio.load import YamlDocument, read_yaml_file
from ..yamlio.types import yaml_type_name
from .compare import Change, tree_differences
from .folders import match_run, read_config, recorded_inputs, run_ids

@dataclass(frozen=True)
class Difference:
    """One leaf path that differs; *before*/*after* are `MISSING` when that side lacks the path.

    Examples:
        >>> d = diff_runs(Path("outputs/study"), "run_001").differences[0]  # doctest: +SKIP
        >>> d.dotted, d.change, d.before, d.after, d.origin.label()  # doctest: +SKIP
        ('model.lora_rank', 'changed', 64, 16, 'variable: lora_rank')
    """

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
    """Every difference of *after* against *before*, in config order.

    Examples:
        >>> result = diff_runs(Path("outputs/study"), "run_000", other="run_001")  # doctest: +SKIP
        >>> [d.dotted for d in result.differences]  # doctest: +SKIP
        ['output_dir', 'model.lora_rank']
    """

    folder: Path
    before: Side
    after: Side
    differences: list[Difference]
    base_source: str | None  # the base config as experiment.yaml names it (from manifest.yaml)
    warnings: list[Problem] = field(default_factory=list)


# --- where a difference comes from --------------------------------------------------------------


@dataclass
class _Explainer:
    """What experiment.yaml sets in each run, and what it deletes, from a re-plan of the folder."""

    deletes: tuple[ConfigPath, ...] = ()
    setters: dict[str, dict[ConfigPath, Origin]] = field(default_factory=dict)  # run id -> path -> origin
    trees: dict[str, dict[str, Any]] = field(default_factory=dict)  # run id -> planned config tree
    bases: dict[str, str] = field(default_factory=dict)  # run id -> its base config (a base axis)


def recorded_base_config(folder: Path, recorded: dict[str, Any], *,
                         torchtune_version: str | None = None) -> BaseConfig:
    """The base config as recorded in the folder: its text, and its name and recipe from the manifest
    (*recorded*: the manifest's ``base_config`` entry, or one item of its ``base_configs``)."""
    name = _base_file_name(recorded)
    path = folder / name
    doc = read_yaml_file(path, display=str(path), error_cls=RunLookupError, what="recorded base config")
    if not isinstance(doc.data, dict) or not doc.data:
        raise RunLookupError([Problem(f"{name} is not a mapping of config keys", pos=doc.pos(()),
                                      hint="render the experiment again")])

    def text(key: str) -> str | None:
        value = recorded.get(key)
        return str(value) if value is not None else None

    return BaseConfig(source=text("source") or BASE_FILE, kind=text("kind") or "file", path=path, doc=doc,
                      recipe=text("recipe"), supports_distributed=None, torchtune_version=torchtune_version)


def _base_file_name(recorded: dict[str, Any]) -> str:
    """The file a manifest's base entry names: base_config.yaml or base_config_<i>.yaml, never a path elsewhere."""
    name = recorded.get("file")
    return name if isinstance(name, str) and re.fullmatch(r"base_config(_[0-9]+)?\.yaml", name) else BASE_FILE


def recorded_bases(folder: Path, manifest: EntryFile | None) -> list[dict[str, Any]]:
    """The manifest's ``base_configs:`` entries (a base axis), or [] for a folder of one base."""
    entries = _manifest_entry(manifest, "base_configs")[0] if manifest is not None else None
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def _explain(folder: Path, wanted: Iterable[str], *, recorded: dict[str, Any], output_folder: Path,
             manifest: EntryFile | None) -> tuple[_Explainer | None, Problem | None]:
    """Re-plan the folder's experiment.yaml against its base_config.yaml; None and a warning on failure.

    The plan uses the recorded base (text, and recipe from the manifest), never the
    installed torchtune, so origins stay right after an upgrade.
    """
    record = recorded_inputs(folder, manifest=manifest)
    try:
        # The folder holds a render that succeeded, with whatever --max-runs it was given.
        axis = recorded_bases(folder, manifest)
        bases = [recorded_base_config(folder, entry) for entry in axis] if axis else \
            [recorded_base_config(folder, recorded)]
        plan = plan_experiment(folder / EXPERIMENT_FILE, max_runs=sys.maxsize,
                               output_folder=output_folder, bases=bases, slurm=False, evaluation=False,
                               run_changes=record.changes, overrides=record.overrides)
    except UserError as err:
        first = err.errors[0].format().splitlines()[0] if err.errors else str(err)
        return None, Problem("cannot tell where differences come from (origin: unknown): the folder's "
                             f"experiment.yaml does not plan with this ttgen: {first}",
                             pos=SourcePos(str(folder / EXPERIMENT_FILE)), severity="warning",
                             hint="render the experiment again with this ttgen to see every origin")
    explainer = _Explainer(deletes=tuple(plan.resolved.deletes))
    wanted = set(wanted)
    for run in plan.runs():
        if run.run_id not in wanted:
            continue
        setters: dict[ConfigPath, Origin] = {}
        # Controls first, then this run's overrides (variables, derived controls, auto): later wins,
        # as in the merge itself.
        part = plan.part(run)  # the run's own base: its controls, as resolved against that base
        for ov in (*part.resolved.controls, *part.placeholders, *run.overrides):  # resubmit changes last
            origin = ov.origin_record()
            for path in paths_written(ov.path, ov.value):
                setters[path] = origin
        explainer.setters[run.run_id] = setters
        explainer.trees[run.run_id] = plan.merged(run).tree
        explainer.bases[run.run_id] = part.base.source
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
    planned = lookup(tree, path)
    if planned is MISSING or actual is MISSING:
        return planned is actual
    return value_key(planned, strict=True) == value_key(actual, strict=True)


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
    found = next((c for c in candidates if c is not None), None)
    if found is None and before.kind == after.kind == "run" and \
            explainer.bases.get(before.name) != explainer.bases.get(after.name):
        return Origin("base", explainer.bases.get(after.name))  # two runs of a base axis, from different bases
    return found or UNKNOWN


# --- the diff -----------------------------------------------------------------------------------


def _text(doc: YamlDocument, path: ConfigPath, *, value: Any) -> str | None:
    """A value's YAML text: as written in the file for a plain scalar (``3e-4``), else flow YAML."""
    if value is MISSING:
        return None
    return doc.plain_text.get(path) or flow_text(value)


def _run_side(folder: Path, mapping: EntryFile, *, run_id: str) -> Side:
    rel = config_file(run_id)
    doc = read_config(folder, rel, what="config")
    entry_doc = mapping.entry(run_id)
    entry = entry_doc.data.get(run_id) if entry_doc is not None and isinstance(entry_doc.data, dict) else None
    variables = entry.get("variables") if isinstance(entry, dict) else None
    if entry_doc is None or not isinstance(variables, dict):
        return Side("run", run_id, rel, doc)
    text = ", ".join(f"{flow_text(name)}: {entry_doc.plain_text.get((run_id, 'variables', name)) or flow_text(value)}"
                     for name, value in variables.items())
    return Side("run", run_id, rel, doc, variables, "{" + text + "}")


def _read_manifest(folder: Path) -> tuple[EntryFile | None, str | None]:
    """The folder's manifest.yaml, indexed by entry, or None and why it cannot be read.

    A missing, unreadable or corrupt manifest is not an error: the diff still reads the
    folder's configs, and `diff_runs` warns that the base config cannot be verified.
    """
    path = folder / MANIFEST_FILE
    if not path.exists():
        return None, f"there is no {MANIFEST_FILE}"
    if not path.is_file():
        return None, f"{MANIFEST_FILE} is not a file"
    try:
        return EntryFile.read(path, what="manifest", error_cls=RunLookupError), None
    except UserError as err:
        first = err.problems[0].message if err.problems else str(err)
        return None, f"{MANIFEST_FILE} cannot be read ({first})"
    except (OSError, ValueError) as exc:  # unreadable (permissions, I/O), or not text
        return None, f"{MANIFEST_FILE} cannot be read ({getattr(exc, 'strerror', None) or exc})"


def _manifest_entry(manifest: EntryFile, key: str) -> tuple[Any, str | None]:
    """One top-level entry of the manifest, or None and why it cannot be read."""
    try:
        doc = manifest.entry(key)
    except UserError as err:
        first = err.problems[0].message if err.problems else str(err)
        return None, f"{MANIFEST_FILE} cannot be read ({first})"
    return (doc.data.get(key) if doc is not None and isinstance(doc.data, dict) else None), None


def _recorded_base(manifest: EntryFile | None, unreadable: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """The manifest's ``base_config:`` entry (source, sha256, ...), or None and why it cannot be read."""
    if manifest is None:
        return None, unreadable
    entry, unreadable = _manifest_entry(manifest, "base_config")
    if unreadable is not None:
        return None, unreadable
    if not isinstance(entry, dict):
        return {}, f"{MANIFEST_FILE} has no base_config entry"
    return entry, None


def _recorded_output_folder(manifest: EntryFile | None, folder: Path) -> Path:
    """Where the folder was rendered (manifest.yaml), so runs' output folders plan as written; else where it is."""
    value = _manifest_entry(manifest, "output_folder")[0] if manifest is not None else None
    return Path(value) if isinstance(value, str) and value else folder.resolve()


def diff_runs(folder: Path, run: str, *, other: str | None = None) -> DiffResult:
    """What *run* changes against the folder's recorded base config, or (with *other*) between two runs.

    With two runs, before is *run* and after is *other*, as in ``git diff A B``.

    Examples:
        >>> result = diff_runs(Path("outputs/lora_rank_study_20261204_101500"), "run_001")  # doctest: +SKIP
        >>> [(d.dotted, d.before, d.after, d.origin.label()) for d in result.differences][:1]  # doctest: +SKIP
        [('model.lora_rank', 64, 16, 'variable: lora_rank')]
    """
    mapping, ids = run_ids(folder)
    run_id = match_run(run, ids, folder=folder)
    other_id = match_run(other, ids, folder=folder) if other is not None else None
    warnings: list[Problem] = []
    manifest_file, unreadable = _read_manifest(folder)
    manifest, unreadable = _recorded_base(manifest_file, unreadable)
    recorded = manifest or {}

    if other_id is None:
        # A base axis: the run's own base, as its run_mapping entry names it (docs/comparing-models.md).
        entry_doc = mapping.entry(run_id)
        entry = entry_doc.data.get(run_id) if entry_doc is not None and isinstance(entry_doc.data, dict) else None
        source = entry.get("base_config") if isinstance(entry, dict) else None
        own = next((b for b in recorded_bases(folder, manifest_file) if b.get("source") == source), None) \
            if source is not None else None
        if own is not None:
            recorded = own
        base_name = _base_file_name(recorded) if own is not None else BASE_FILE
        base_doc = read_config(folder, base_name, what="recorded base config")
        before = Side("base", "base", base_name, base_doc)
        after = _run_side(folder, mapping, run_id=run_id)
        sha = recorded.get("sha256")
        if not isinstance(sha, str) or not sha:
            # Whenever the sha256 cannot be checked, say so: the diff may be against an edited base.
            why = unreadable or f"{MANIFEST_FILE} records no sha256 for it"
            warnings.append(Problem(f"cannot verify {base_name} against its recorded sha256: {why}; this diff is "
                                    f"against {base_name} as it is now, which may have been edited",
                                    pos=SourcePos(str(folder / base_name)), severity="warning",
                                    hint="render the experiment again to get a trustworthy folder"))
        elif sha != hashlib.sha256(base_doc.raw).hexdigest():
            warnings.append(Problem(f"{base_name} does not match the sha256 recorded in {MANIFEST_FILE}: it "
                                    "was edited after rendering, so this diff is against the edited text",
                                    pos=SourcePos(str(folder / base_name)), severity="warning",
                                    hint="render the experiment again to get a trustworthy folder"))
    else:
        before = _run_side(folder, mapping, run_id=run_id)
        after = _run_side(folder, mapping, run_id=other_id)

    rows = tree_differences(before.data, after.data)
    runs = [s.name for s in (before, after) if s.kind == "run"]
    explainer, problem = _explain(folder, runs, recorded=recorded, manifest=manifest_file,
                                  output_folder=_recorded_output_folder(manifest_file, folder)) \
        if rows else (None, None)
    if problem is not None:
        warnings.append(problem)
    explainer = explainer or _Explainer()
    for side in (before, after):
        planned = explainer.trees.get(side.name) if side.kind == "run" else None
        if planned is not None and value_key(planned, strict=True) != value_key(side.data, strict=True):
            warnings.append(Problem(f"{side.file} is not what the folder's experiment.yaml renders (edited by "
                                    "hand, or rendered with other templates?); differences experiment.yaml does "
                                    "not explain show origin 'unknown'", pos=SourcePos(str(folder / side.file)),
                                    severity="warning", hint="`ttgen check EXPERIMENT --against DIR` shows the edits"))
    differences = [
        Difference(path=row.path, change=row.change, before=row.before, after=row.after,
                   before_text=_text(before.doc, row.path, value=row.before),
                   after_text=_text(after.doc, row.path, value=row.after),
                   origin=_origin(explainer, row.path, before=before, after=after, change=row.change,
                                  values=(row.before, row.after)))
        for row in rows
    ]
    source = recorded.get("source")
    return DiffResult(folder=folder, before=before, after=after, differences=differences,
                      base_source=str(source) if source is not None else None, warnings=warnings)

