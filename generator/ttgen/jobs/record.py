"""The record of submissions: ``slurm/state/submissions.jsonl`` in the output folder.

Append-only, one JSON object per ``sbatch`` call, never rewritten: the history of
what was submitted, when, with which exact command, and which runs each array task
runs. `ttgen status` reads it to know which jobs belong to the sweep and where their
logs are.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import JobsError, Problem, SourcePos
from ..layout import SUBMISSIONS_FILE

RECORD_VERSION = 1


@dataclass(frozen=True)
class Submission:
    """One ``sbatch`` call: an array of runs (or one run's own script)."""

    job: str  # the job id sbatch printed
    kind: str  # "submit", "resubmit", or "evaluate" (an evaluation array, or the baseline's job)
    time: str  # ISO 8601, UTC
    command: list[str]  # the exact argv given to sbatch
    runs: dict[str, str]  # run id -> the job of its task ("<job>_<task>")
    array: str  # the --array value ("0-5%3", "3,7")
    offset: int = 0  # TTGEN_RUN_OFFSET: task i runs run i + offset
    log_pattern: str = ""  # --output of the array, relative to the output folder (%A, %a)
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)  # run id -> dotted key -> new value
    after: str | None = None  # the job this one waits for (chained arrays)
    cwd: str = ""  # where sbatch ran: the jobs' working folder, which relative paths in configs start from

    def to_json(self) -> dict[str, Any]:
        return {"version": RECORD_VERSION, **asdict(self)}

    def log_paths(self, run_id: str) -> tuple[str, str]:
        """The .out and .err logs of *run_id*'s task, relative to the output folder."""
        task = self.runs[run_id].partition("_")[2]
        out = re.sub(r"%(\d*)a", lambda m: task.zfill(int(m[1] or 0)), self.log_pattern.replace("%A", self.job))
        out = out.replace("%j", self.job)
        return out, out.removesuffix(".out") + ".err"


def append(folder: Path, submission: Submission) -> None:
    """Add one submission to the record (one ``write`` with O_APPEND: whole lines, even with two writers)."""
    path = folder / SUBMISSIONS_FILE
    line = (json.dumps(submission.to_json(), sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except OSError as exc:
        # The job is already queued: say so, with its id, so nothing is lost.
        raise JobsError([Problem(f"job {submission.job} was submitted, but it could not be recorded: "
                                 f"{exc.strerror or exc}", pos=SourcePos(str(path)),
                                 hint=f"`ttgen status` will not know this job; cancel it with `scancel "
                                      f"{submission.job}` and fix the folder's permissions, or keep its id")]) from None


def read(folder: Path) -> list[Submission]:
    """Every submission, oldest first; a line that cannot be read is an error naming it."""
    path = folder / SUBMISSIONS_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise JobsError([Problem(f"cannot read the record of submissions: {exc}", pos=SourcePos(str(path)),
                                 hint="check the file's permissions; it is append-only text written by ttgen")]) from None
    found: list[Submission] = []
    names = set(Submission.__dataclass_fields__)
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            found.append(Submission(**{k: v for k, v in data.items() if k in names}))
        except (ValueError, TypeError) as exc:
            raise JobsError([Problem(f"line {number} of the record of submissions is not a submission: {exc}",
                                     pos=SourcePos(str(path), number, 1),
                                     hint="the file is append-only and written by ttgen; restore it from a "
                                          "backup or remove the broken line")]) from None
    return found


EVALUATE = "evaluate"  # the kind of an evaluation array's submission (or the baseline's job)


def latest_jobs(submissions: list[Submission], *, evaluation: bool = False) -> dict[str, tuple[Submission, str]]:
    """For each run, its newest training submission and the job of its task; with *evaluation*,
    its newest evaluation's instead (run id ``baseline`` for the base model's)."""
    latest: dict[str, tuple[Submission, str]] = {}
    for sub in submissions:
        if (sub.kind == EVALUATE) != evaluation:
            continue
        for run_id, job in sub.runs.items():
            latest[run_id] = (sub, job)
    return latest
