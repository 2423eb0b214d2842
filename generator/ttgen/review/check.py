"""Core of ``ttgen check``: is an output folder exactly what its experiment renders now?

The experiment is rendered into a temporary folder *as if* into the folder
being checked (absolute paths written into SLURM scripts point at it), then
both are compared file by file, byte for byte, the copy of experiment.yaml
included. Only these are not compared:

- manifest.yaml's ``created_at`` line (the one thing that differs between two
  renders of the same input);
- ``validation_report.txt`` (and its manifest entry) when only the checked folder
  has it: ``render --validate`` writes it, a plain render does not;
- files inside a folder the render creates empty (SLURM's log folder): they are
  written while jobs run, not by ttgen. Empty folders themselves are not compared
  (git does not keep them);
- ``runs/`` and ``results/``: what training writes into the folder (when experiment.yaml sets
  no output_dir), and what ``ttgen results`` and ``ttgen report`` make from it.

Symbolic links are never followed (docs/diff-check.md): a link in the checked folder,
to a file or a folder, is a difference (changed where the render writes a regular
file, extra elsewhere), and so is a FIFO, socket or device, which is never opened.

Returns a `CheckResult`; raises `UserError` subclasses; never prints.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..errors import Problem, RunLookupError, SourcePos
from ..layout import MANIFEST_FILE, REPORT_FILE, RESULTS_DIR
from ..inputs.experiment import Experiment
from ..plan.build import plan_experiment
from ..plan.outputs import RUNS_DIR
from ..render.environment import make_environment
from ..render.output import write_output
from .folders import recorded_inputs

_CREATED_AT = re.compile(rb"^created_at:[^\n]*\n?", re.M)


@dataclass(frozen=True)
class FileChange:
    """A file whose contents differ; *diff* is a unified diff from the checked folder to the fresh render."""

    path: str  # relative, with / separators
    diff: str


@dataclass
class CheckResult:
    """How an output folder compares with a fresh render of its experiment.

    Examples:
        >>> result = check_experiment("experiment.yaml", against=Path("outputs/study"))  # doctest: +SKIP
        >>> result.ok, result.changed, result.missing, result.extra  # doctest: +SKIP
        (True, [], [], [])
    """

    against: Path
    run_count: int
    compared: list[str] = field(default_factory=list)  # files present on both sides
    changed: list[FileChange] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # rendered now, absent from the folder
    extra: list[str] = field(default_factory=list)  # in the folder, not rendered now
    ignored: list[str] = field(default_factory=list)  # in the folder, deliberately not compared
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.extra)


def _walk(root: Path) -> tuple[dict[str, Path], dict[str, str], list[str]]:
    """Regular files, other entries (symbolic links, FIFOs, devices, sockets: what each is), and empty folders.

    Symbolic links are never followed: a link is an entry of its own, whatever it points
    at, and nothing below a linked folder is read. Nothing but regular files is opened.
    """
    files: dict[str, Path] = {}
    special: dict[str, str] = {}
    empty: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        if here != root and not dirnames and not filenames:
            empty.append(here.relative_to(root).as_posix())
        for name in (*dirnames, *filenames):
            p = here / name
            rel = p.relative_to(root).as_posix()
            try:
                mode = os.lstat(p).st_mode
            except OSError:
                continue  # removed meanwhile
            if stat.S_ISLNK(mode):
                try:
                    target = os.readlink(p)
                except OSError:
                    target = "?"
                special[rel] = f"a symbolic link (to {target!r})"
            elif stat.S_ISREG(mode):
                files[rel] = p
            elif not stat.S_ISDIR(mode):
                special[rel] = ("a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
                                else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")
    return dict(sorted(files.items())), dict(sorted(special.items())), sorted(empty)


def _files(root: Path) -> dict[str, Path]:
    return _walk(root)[0]


def _empty_dirs(root: Path) -> list[str]:
    return _walk(root)[2]


def _normalize_manifest(data: bytes, *, drop_report: bool) -> bytes:
    data = _CREATED_AT.sub(b"", data, count=1)
    if drop_report:
        data = re.sub(rb"^  '?" + re.escape(REPORT_FILE.encode()) + rb"'?:[^\n]*\n?", b"", data, flags=re.M)
    return data


def unified_diff(old: bytes, new: bytes, *, old_name: str, new_name: str) -> str:
    """A readable unified diff; says so when files differ only in line endings or the final newline."""
    a = old.decode("utf-8", errors="replace").splitlines()
    b = new.decode("utf-8", errors="replace").splitlines()
    text = "\n".join(difflib.unified_diff(a, b, fromfile=old_name, tofile=new_name, lineterm=""))
    if not text:
        text = (f"--- {old_name}\n+++ {new_name}\n"
                "(the files differ only in line endings or in the newline at the end)")
    return text + "\n"


def compare_folders(against: Path, fresh: Path) -> CheckResult:
    """Compare folder *against* with a *fresh* render, file by file (see the module's rules)."""
    result = CheckResult(against=against, run_count=0)
    mine, special, _ = _walk(against)
    theirs, _, runtime_dirs = _walk(fresh)
    drop_report = REPORT_FILE in mine and REPORT_FILE not in theirs
    for rel in sorted(set(mine) | set(theirs) | set(special)):
        if rel in special:
            # A symbolic link (or a FIFO, a device) is never what a render writes: a difference, never read.
            if any(rel.startswith(d + "/") for d in runtime_dirs):
                result.ignored.append(rel)
            elif rel in theirs:
                result.changed.append(FileChange(rel, f"--- {against.as_posix()}/{rel}\n+++ {rel} (rendered now)\n"
                                                      f"(in the folder it is {special[rel]}; the render writes a "
                                                      "regular file)\n"))
            else:
                result.extra.append(rel)
            continue
        if rel not in theirs:
            if (rel == REPORT_FILE and drop_report) or rel.startswith((RESULTS_DIR + "/", RUNS_DIR + "/")) \
                    or any(rel.startswith(d + "/") for d in runtime_dirs):
                result.ignored.append(rel)
            else:
                result.extra.append(rel)
            continue
        if rel not in mine:
            result.missing.append(rel)
            continue
        result.compared.append(rel)
        old, new = mine[rel].read_bytes(), theirs[rel].read_bytes()
        if rel == MANIFEST_FILE:
            old = _normalize_manifest(old, drop_report=drop_report)
            new = _normalize_manifest(new, drop_report=False)
        if old != new:
            result.changed.append(FileChange(rel, unified_diff(old, new, old_name=f"{against.as_posix()}/{rel}",
                                                                  new_name=f"{rel} (rendered now)")))
    return result


def check_experiment(experiment_path: Path | str | Experiment, *, against: Path, max_runs: int | None = None,
                     template_dir: Path | None = None, overrides: Sequence[str] | None = None) -> CheckResult:
    """Render *experiment_path* as if into *against*, in a temporary place, and compare every file.

    Examples:
        >>> result = check_experiment("experiment.yaml", against=Path("outputs/study"))  # doctest: +SKIP
        >>> result.ok, len(result.compared)  # doctest: +SKIP
        (True, 12)

    *overrides*: command-line overrides to render with; None: those the folder records
    (its manifest's ``command_line``), so a folder rendered with overrides checks clean.
    """
    against = Path(against)
    if not against.is_dir():
        what = "no such folder" if not against.exists() else "not a folder"
        raise RunLookupError([Problem(f"{what} to check against", pos=SourcePos(str(against)),
                                      hint="pass --against the output folder to compare with (render it first)")])
    # What `ttgen resubmit` changed is part of the folder's record: the fresh render applies it too.
    record = recorded_inputs(against)
    plan = plan_experiment(experiment_path, max_runs=max_runs, output_folder=against.resolve(),
                           run_changes=record.changes, overrides=record.overrides if overrides is None else overrides)
    env = make_environment(template_dir)
    with tempfile.TemporaryDirectory(prefix="ttgen-check-") as tmp:
        fresh, _ = write_output(plan, Path(tmp) / (against.resolve().name or "out"), env=env,
                                final_dir=against.resolve())
        result = compare_folders(against, fresh)
    result.run_count = len(plan)
    result.warnings = list(plan.warnings)
    return result

