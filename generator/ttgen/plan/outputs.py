"""Where runs write while they train, and the rule that no two runs write to the same place.

Each run gets its own ``output_dir`` (docs/output.md, "Where runs write"):

- when experiment.yaml does not set ``output_dir``, run NNN's is
  ``<output folder>/runs/run_NNN`` (absolute), or what ``output.run_dir`` says;
- when it sets one that several runs would share, each of those runs gets
  ``<that dir>/<run_id>`` (docs/contract.md §5).

Every other key a recipe writes to during training (`is_write_key`: any key
named ``*output_dir`` or ``*log_dir``, e.g. ``checkpointer.output_dir``,
``metric_logger.log_dir``, ``profiler.output_dir``) must differ between runs
too. A value that is the same for two runs and is not derived from the run's
own ``output_dir`` (``${output_dir}/logs``) is an error at plan time.

Examples:
    >>> is_write_key(("checkpointer", "output_dir")), is_write_key(("tokenizer", "path"))
    (True, False)
    >>> resolve_text("${output_dir}/logs", {"output_dir": "/o/runs/run_001"})
    '/o/runs/run_001/logs'
    >>> same_folder("/x/y/") == same_folder("/x//y")
    True
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import jinja2

from ..errors import Problem, SourcePos
from ..text import plural
from ..tree import MISSING, ConfigPath, dotted, iter_paths, lookup
from .derive import Derivation, compile_value, make_sandbox

OUTPUT_DIR: ConfigPath = ("output_dir",)
RUNS_DIR = "runs"  # the default home of run outputs, inside the output folder
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.]*)\}")
_MAX_EXPANSION = 16  # nested ${...} references followed at most


def is_write_key(path: ConfigPath) -> bool:
    """Does a recipe write below the folder this key names (``*output_dir``, ``*log_dir``)?"""
    return bool(path) and path[-1].endswith(("output_dir", "log_dir"))


def write_paths(tree: dict[str, Any]) -> list[ConfigPath]:
    """The write keys of a config holding a value, except inside a mapping switched off (``enabled: false``)."""
    out = []
    for path, value in iter_paths(tree):
        if not is_write_key(path) or isinstance(value, dict) or value is None:
            continue
        parent = lookup(tree, path[:-1]) if len(path) > 1 else tree
        if isinstance(parent, dict) and parent.get("enabled") is False:
            continue  # e.g. a disabled profiler writes nothing
        out.append(path)
    return out


def resolve_text(value: Any, tree: dict[str, Any], *, keep: frozenset[str] = frozenset()) -> str:
    """*value* as text with ``${a.b}`` references to the config's own keys filled in; references to
    keys in *keep*, and to anything else (``${oc.env:...}``), are kept as written."""
    text = str(value)
    for _ in range(_MAX_EXPANSION):
        def fill(match: re.Match[str]) -> str:
            if match[1] in keep:
                return match[0]
            found = lookup(tree, tuple(match[1].split(".")))
            return str(found) if found is not MISSING and not isinstance(found, (dict, list)) else match[0]

        expanded = _REFERENCE.sub(fill, text)
        if expanded == text:
            break
        text = expanded
    return text


def same_folder(text: str) -> str:
    """A folder path in one spelling: ``/x/y/``, ``/x//y`` and ``/x/./y`` are the same folder."""
    return os.path.normpath(text) if text else text


def follows_output_dir(value: Any, tree: dict[str, Any]) -> bool:
    """Is *value* derived from the run's own output_dir (``${output_dir}/logs``, or through another key)?"""
    return isinstance(value, str) and "${output_dir}" in resolve_text(value, tree, keep=frozenset(["output_dir"]))


def _own_folder_value(path: ConfigPath) -> str:
    """The usual fix for a write key: follow the run's own folder (``metric_logger.log_dir: ${output_dir}/logs``)."""
    return f"{dotted(path)}: ${{output_dir}}" + ("/logs" if path[-1].endswith("log_dir") else "")


@dataclass(frozen=True)
class RunFolders:
    """How each run's output_dir is chosen when experiment.yaml does not set one."""

    output_folder: Path  # the render's output folder, absolute
    template: Derivation | None  # output.run_dir, compiled; None: <output folder>/runs/<run_id>
    experiment_folder: Path  # relative run_dir paths are relative to experiment.yaml

    def folder(self, scope: dict[str, Any]) -> str:
        """The output_dir of the run whose scope (run_id, run_index, experiment) is given."""
        if self.template is None:
            return f"{self.output_folder}/{RUNS_DIR}/{scope['run_id']}"
        value = self.template.evaluate({**scope, "output_folder": str(self.output_folder),
                                        "folder_name": self.output_folder.name})
        # ~ is the home folder, as in output.base_dir; a relative path is relative to experiment.yaml.
        return same_folder(str(self.experiment_folder / Path(str(value)).expanduser()))


def compile_run_dir(text: str | None, *, pos: SourcePos, output_folder: Path,
                    experiment_folder: Path) -> RunFolders:
    """The run folder rule of an experiment; a syntax error in ``output.run_dir`` raises `ValueProblem`."""
    template = None
    if text is not None:
        env: jinja2.Environment = make_sandbox()
        template = compile_value(env, text, pos=pos, where="output.run_dir")
    return RunFolders(output_folder=output_folder, template=template, experiment_folder=experiment_folder)


@dataclass
class WriteCollisions:
    """Which runs write to each folder; reports every folder two or more runs share."""

    runs: dict[str, list[str]]  # normalised folder -> run ids writing there
    setters: dict[str, tuple[ConfigPath, SourcePos | None, str]]  # folder -> (key, where set, as written)

    @classmethod
    def empty(cls) -> "WriteCollisions":
        return cls({}, {})

    def add(self, folder: str, run_id: str, *, path: ConfigPath, pos: SourcePos | None, written: str) -> None:
        key = same_folder(folder)
        ids = self.runs.setdefault(key, [])
        if not ids or ids[-1] != run_id:
            ids.append(run_id)
        self.setters.setdefault(key, (path, pos, written))

    def problems(self) -> list[Problem]:
        out = []
        for folder, ids in self.runs.items():
            if len(ids) < 2:
                continue
            path, pos, written = self.setters[folder]
            shown = ", ".join(ids[:6]) + (f" and {len(ids) - 6} more" if len(ids) > 6 else "")
            if path == OUTPUT_DIR:
                hint = "give each run its own folder: put {{ run_id }} in output.run_dir (or in output_dir)"
            else:
                hint = (f"make it follow each run's own output_dir, e.g. {_own_folder_value(path)}, or write a "
                        "per-run path with {{ run_id }} in it")
            out.append(Problem(
                f"{plural(len(ids), 'run')} would write to the same folder {folder} through {dotted(path)} "
                f"({shown}): one run would overwrite the other's results", pos=pos, path=dotted(path),
                hint=hint + (f" (now: {written})" if written != folder else "")))
        return out


def shared_by_all(paths: Iterable[ConfigPath], tree: dict[str, Any], *, runs: int,
                  where: dict[ConfigPath, SourcePos | None]) -> list[Problem]:
    """Write keys with one fixed value for every run of a sweep (nothing per-run in them)."""
    if runs < 2:
        return []
    out = []
    for path in paths:
        value = lookup(tree, path)
        if not isinstance(value, str) or not value.strip() or follows_output_dir(value, tree):
            continue  # not a folder (false, null, a number, ''): nothing is written through it
        folder = same_folder(resolve_text(value, tree))
        out.append(Problem(
            f"{'both' if runs == 2 else f'all {runs}'} runs would write to the same folder {folder} through "
            f"{dotted(path)}: each run would "
            "overwrite the others' results", pos=where.get(path), path=dotted(path),
            hint=f"set {_own_folder_value(path)} under controls (each run's output_dir is its own), or a path "
                 "with {{ run_id }} in it"))
    return out
