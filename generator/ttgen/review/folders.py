"""Find an output folder and the runs in it (``ttgen diff``, and later commands that read a sweep).

Only the folder's own files are read: the run mapping one entry at a time
(`ttgen.yamlio.entries`), so a 10,000-run folder opens quickly.
"""

from __future__ import annotations

from pathlib import Path

from dataclasses import dataclass
from typing import Any, Mapping

from ..errors import Problem, RunLookupError, SourcePos, UserError
from ..layout import (DEFAULT_BASE_DIR, DEFAULT_EXPERIMENT, EVAL_FILE, MANIFEST_FILE, MAPPING_FILE, folder_experiment,
                      timestamped_folders)
from ..yamlio.entries import EntryFile
from ..yamlio.load import YamlDocument, read_own_yaml, read_yaml_file


def _folder_problem(message: str, where: Path | None, *, hint: str) -> RunLookupError:
    return RunLookupError([Problem(message, pos=SourcePos(str(where)) if where is not None else None, hint=hint)])


def find_output_folder(folder: Path | None) -> Path:
    """The folder ``ttgen diff`` reads (docs/contract.md §7).

    *folder* (``--dir``) must be an output folder. Without it: the current folder
    when it holds ``configs/run_mapping.yaml``; else, beside an ``experiment.yaml``, the
    newest output folder of that experiment (``<output.base_dir>/<name>_<timestamp>``);
    else the newest timestamped output folder under ``./outputs``.
    """
    if folder is not None:
        if not folder.exists():
            raise _folder_problem("no such folder", folder, hint="pass an output folder written by `ttgen render`")
        if not folder.is_dir():
            raise _folder_problem("not a folder", folder, hint="pass an output folder written by `ttgen render`")
        if not (folder / MAPPING_FILE).is_file():
            inside = timestamped_folders(folder)
            hint = (f"it holds output folders; pass one of them, e.g. --dir {inside[-1]}" if inside
                    else f"pass an output folder written by `ttgen render` (it holds {MAPPING_FILE})")
            raise _folder_problem(f"not a ttgen output folder: {MAPPING_FILE} is missing", folder, hint=hint)
        return folder
    if Path(MAPPING_FILE).is_file():
        return Path(".")
    own = _newest_of_experiment(Path(DEFAULT_EXPERIMENT))
    if own is not None:
        return own
    outputs = Path(DEFAULT_BASE_DIR)
    if not outputs.is_dir():
        raise _folder_problem(f"no output folder here: the current folder has no {MAPPING_FILE} "
                              "and no outputs/ folder", None,
                              hint="pass --dir DIR (an output folder written by `ttgen render`), or run from the "
                              "folder that holds outputs/")
    candidates = timestamped_folders(outputs)
    if not candidates:
        raise _folder_problem("no output folders (named <name>_<YYYYmmdd_HHMMSS>) in outputs/", outputs,
                              hint="render first, or pass --dir DIR")
    newest = candidates[-1]
    if not (newest / MAPPING_FILE).is_file():
        raise _folder_problem(f"the newest output folder has no {MAPPING_FILE}", newest,
                              hint="pass --dir DIR to choose another folder")
    return newest


def _newest_of_experiment(experiment: Path) -> Path | None:
    """The newest default output folder of *experiment* (its name and output.base_dir), if any.

    Read without checking the file against the schema: a broken experiment.yaml simply
    finds nothing here, and the caller falls back to ./outputs.
    """
    if not experiment.is_file():
        return None
    try:
        data = read_own_yaml(experiment, what="experiment file", error_cls=RunLookupError)
    except UserError:
        return None
    meta = data.get("experiment") if isinstance(data, dict) else None
    output = data.get("output") if isinstance(data, dict) else None
    name = meta.get("name") if isinstance(meta, dict) else None
    base_dir = output.get("base_dir") if isinstance(output, dict) else None
    if not isinstance(name, str):
        return None
    parent = experiment.parent / Path(base_dir if isinstance(base_dir, str) else DEFAULT_BASE_DIR).expanduser()
    mine = [p for p in timestamped_folders(parent) if folder_experiment(p.name) == name]
    return mine[-1] if mine else None


def read_file(folder: Path, rel: str, *, what: str) -> YamlDocument:
    """A YAML file of an output folder; a missing or unreadable one is a `RunLookupError`."""
    path = folder / rel
    if not path.is_file():
        raise _folder_problem(f"{what} {rel} is missing from the output folder", folder,
                              hint="render the experiment again (`ttgen check` shows what else changed)")
    return read_yaml_file(path, display=str(path), error_cls=RunLookupError, what=what)


def read_config(folder: Path, rel: str, *, what: str) -> YamlDocument:
    """`read_file` for a config (a run's, or the recorded base), which must be a mapping."""
    doc = read_file(folder, rel, what=what)
    if not isinstance(doc.data, dict):
        raise RunLookupError([Problem(f"{rel} is not a mapping of config keys", pos=doc.pos(()),
                                      hint="render the experiment again")])
    return doc


def run_ids(folder: Path) -> tuple[EntryFile, list[str]]:
    """The run mapping of an output folder and its run ids, in order."""
    path = folder / MAPPING_FILE
    if not path.is_file():
        raise _folder_problem(f"run mapping {MAPPING_FILE} is missing from the output folder", folder,
                              hint="render the experiment again")
    mapping = EntryFile.read(path, what="run mapping", error_cls=RunLookupError)
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


RESUBMIT_CHANGES = "resubmit_changes"  # the manifest's entry of what `ttgen resubmit` changed
COMMAND_LINE = "command_line"  # the manifest's entry of the command-line overrides of the render


@dataclass(frozen=True)
class Recorded:
    """What an output folder records beyond its experiment.yaml, which a new render must apply too."""

    changes: dict[str, dict[str, Any]]  # what `ttgen resubmit` changed: {run_id: {key: value}}
    overrides: list[str]  # the render's command-line overrides, as given: ["epochs=1", "~profiler"]


def recorded_in(manifest: Mapping[str, Any]) -> Recorded:
    """`Recorded` from a manifest's data (nothing when the entries are absent or malformed)."""
    changes = manifest.get(RESUBMIT_CHANGES)
    overrides = manifest.get(COMMAND_LINE)
    return Recorded(
        changes={str(k): dict(v) for k, v in changes.items() if isinstance(v, dict)} if isinstance(changes, dict)
        else {},
        overrides=[str(a) for a in overrides] if isinstance(overrides, list) else [])


def recorded_inputs(folder: Path, *, manifest: EntryFile | None = None) -> Recorded:
    """What *folder* records beyond its experiment.yaml, from its manifest (read once, only the two
    entries; *manifest*: the manifest when the caller has indexed it already). Nothing when the
    manifest is missing or unreadable."""
    if manifest is None:
        path = folder / MANIFEST_FILE
        if not path.is_file():
            return recorded_in({})
        try:
            manifest = EntryFile.read(path, what="manifest", error_cls=RunLookupError)
        except UserError:
            return recorded_in({})
    data: dict[str, Any] = {}
    for key in (RESUBMIT_CHANGES, COMMAND_LINE):
        try:
            doc = manifest.entry(key)
        except UserError:
            continue
        if doc is not None and isinstance(doc.data, dict):
            data[key] = doc.data.get(key)
    return recorded_in(data)


def read_run_mapping(folder: Path) -> dict[str, dict[str, Any]]:
    """Every run's entry of the folder's run mapping, by run id in sweep order (fast: no positions)."""
    path = folder / MAPPING_FILE
    data = read_own_yaml(path, what="run mapping", error_cls=RunLookupError)
    if not isinstance(data, dict) or not data:
        raise RunLookupError([Problem("the run mapping lists no runs", pos=SourcePos(str(path)),
                                      hint="render the experiment again")])
    return {str(k): v if isinstance(v, dict) else {} for k, v in data.items()}


def recorded_eval_tasks(folder: Path) -> dict[str, str]:
    """The task files of the folder's evaluations as rendered, ``{as written: absolute target}``
    (from evaluation/evaluations.yaml; {} when the folder evaluates nothing)."""
    if not (folder / EVAL_FILE).is_file():
        return {}
    data = read_file(folder, EVAL_FILE, what="list of evaluations").data
    found: dict[str, str] = {}
    for entries in (data.values() if isinstance(data, dict) else []):
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("task"), str) and \
                    isinstance(entry.get("task_target"), str):
                found[entry["task"]] = entry["task_target"]
    return found
