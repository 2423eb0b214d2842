"""Each run's state: from the record of submissions, the jobs' markers and logs, one squeue
call and one sacct call (docs/running.md, "ttgen status").

Where SLURM keeps accounting, ``sacct`` tells how finished jobs ended; elsewhere the
markers the scripts write do (start, end, exit code, stopped by a signal). A run whose
log holds PyTorch's out-of-memory error, or SLURM's ``oom_kill`` notice, is
OUT_OF_MEMORY even when SLURM says FAILED (a CUDA OOM ends with exit 1).
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import JobsError, Problem
from ..layout import ARRAY_SCRIPT, BASELINE, CONFIGS_DIR, EVAL_ARRAY_SCRIPT, EVAL_BASELINE_SCRIPT, EVAL_MARK
from ..review.folders import read_run_mapping
from .cluster import Cluster, JobState, parse_duration
from .markers import Attempt, read_markers
from .metrics import last_step, log_files
from .record import Submission, latest_jobs, read

STATES = ("NOT_SUBMITTED", "PENDING", "RUNNING", "COMPLETED", "FAILED", "OUT_OF_MEMORY", "TIMEOUT", "CANCELLED")
FINISHED = frozenset({"COMPLETED", "FAILED", "OUT_OF_MEMORY", "TIMEOUT", "CANCELLED"})
FAILED_STATES = frozenset({"FAILED", "OUT_OF_MEMORY", "TIMEOUT", "CANCELLED"})

# SLURM's other states, in the words of STATES.
_SLURM = {"CONFIGURING": "PENDING", "REQUEUED": "PENDING", "REQUEUE_HOLD": "PENDING", "REQUEUE_FED": "PENDING",
          "RESV_DEL_HOLD": "PENDING", "SUSPENDED": "PENDING", "STOPPED": "PENDING", "COMPLETING": "RUNNING",
          "SIGNALING": "RUNNING", "STAGE_OUT": "RUNNING", "RESIZING": "RUNNING", "NODE_FAIL": "FAILED",
          "BOOT_FAIL": "FAILED", "PREEMPTED": "CANCELLED", "DEADLINE": "TIMEOUT", "REVOKED": "CANCELLED",
          "SPECIAL_EXIT": "FAILED"}
# What PyTorch (CUDA, MPS, CPU allocators) and SLURM's cgroup write when memory runs out.
OOM_PATTERN = re.compile(r"OutOfMemoryError|CUDA out of memory|out of memory|oom[-_]kill|"
                         r"DefaultCPUAllocator: not enough memory", re.IGNORECASE)
_LOG_TAIL = 65536


@dataclass
class RunStatus:
    """One run's row in ``ttgen status``.

    Examples:
        >>> status = sweep_status(Path("tests/data/results_sweep/folder"))
        >>> row = status.runs[0]
        >>> row.run_id, row.variables, row.state, row.job
        ('run_000', {'lora_rank': 4, 'seed': 0}, 'NOT_SUBMITTED', None)
    """

    run_id: str
    variables: dict[str, Any]
    state: str
    job: str | None = None  # the newest job of this run ("123_4")
    elapsed: float | None = None  # seconds
    exit_code: int | None = None
    step: int | None = None  # last logged step
    loss: float | None = None  # loss at that step
    log: str | None = None  # the job's stdout log (absolute path)
    reason: str = ""  # why it pends, or what made it OUT_OF_MEMORY
    evaluation: EvalStatus | None = None  # its evaluation job's state, when the folder evaluates runs
    cwd: str = ""  # the folder its newest job ran in (relative paths of its config start there); "" when unknown

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "variables": self.variables, "state": self.state, "job": self.job,
                "elapsed_seconds": self.elapsed, "exit_code": self.exit_code, "step": self.step,
                "loss": self.loss, "log": self.log, "reason": self.reason or None,
                "evaluation": self.evaluation.to_json() if self.evaluation is not None else None}


@dataclass
class EvalStatus:
    """The state of one run's evaluation job (an array task), or of the baseline's job (docs/evaluating.md).

    The same states as training; an evaluation waiting for its training task is PENDING (reason
    Dependency), and one whose training failed is CANCELLED by SLURM (--kill-on-invalid-dep)."""

    state: str = "NOT_SUBMITTED"
    job: str | None = None
    elapsed: float | None = None
    exit_code: int | None = None
    log: str | None = None
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state, "job": self.job, "elapsed_seconds": self.elapsed, "exit_code": self.exit_code,
                "log": self.log, "reason": self.reason or None}


@dataclass
class SweepStatus:
    """Every run's state, and where it came from.

    Examples:
        >>> status = sweep_status(Path("tests/data/results_sweep/folder"))
        >>> status.summary(), status.counts
        ('6 runs: 6 NOT_SUBMITTED', {'NOT_SUBMITTED': 6})
    """

    folder: Path
    runs: list[RunStatus]
    accounting: bool  # sacct answered
    warnings: list[Problem] = field(default_factory=list)
    slurm_seconds: float = 0.0  # time spent waiting for SLURM's commands
    slurm_calls: list[str] = field(default_factory=list)
    evaluates: bool = False  # the folder has evaluation scripts (an evaluation: and a slurm: section)
    baseline: EvalStatus | None = None  # the base model's evaluation, with evaluation.baseline: true

    @property
    def counts(self) -> dict[str, int]:
        """How many runs are in each state, in the order of STATES (zero counts left out)."""
        found = Counter(r.state for r in self.runs)
        return {state: found[state] for state in STATES if found[state]}

    @property
    def eval_counts(self) -> dict[str, int]:
        """How many evaluations (the runs', then the baseline's) are in each state, as `counts`."""
        found = Counter(r.evaluation.state for r in self.runs if r.evaluation is not None)
        if self.baseline is not None:
            found[self.baseline.state] += 1
        return {state: found[state] for state in STATES if found[state]}

    def summary(self) -> str:
        """``6 runs: 4 COMPLETED, 1 FAILED, 1 RUNNING``, and ``; evaluations: ...`` when the folder evaluates runs."""
        parts = ", ".join(f"{n} {state}" for state, n in self.counts.items())
        text = f"{len(self.runs)} run{'s' if len(self.runs) != 1 else ''}: {parts}"
        if self.evaluates:
            text += "; evaluations: " + ", ".join(f"{n} {state}" for state, n in self.eval_counts.items())
        return text


def metric_log_dir(config_text: str, output_dir: str | None) -> Path | None:
    """The folder a rendered config's metric logger writes to (``metric_logger.log_dir``).

    Read from the config's text as ttgen writes it (the key two spaces in, below
    ``metric_logger:``), so 1,000 configs cost a file read each, not a YAML parse.
    ``${output_dir}`` is replaced by the run's output_dir.

    Examples:
        >>> metric_log_dir("metric_logger:\\n  _component_: x\\n  log_dir: ${output_dir}/logs\\n", "/o/run_001")
        PosixPath('/o/run_001/logs')
    """
    inside = False
    value: str | None = None
    for line in config_text.splitlines():
        if not line.startswith(" "):
            inside = line.startswith("metric_logger:")
        elif inside and line.startswith("  log_dir: "):
            value = line[len("  log_dir: "):]
            break
    if value is None:
        return None
    value = value.split(" #", 1)[0].strip().strip("'\"")
    if "${output_dir}" in value:
        if output_dir is None:
            return None
        value = value.replace("${output_dir}", output_dir)
    if "${" in value:
        return None  # another interpolation: not resolvable here
    return Path(value)


def _log_says_oom(paths: list[Path]) -> str:
    """The out-of-memory line in the tail of these logs, or ''."""
    for path in paths:
        try:
            with open(path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - _LOG_TAIL))
                tail = fh.read().decode("utf-8", errors="replace")
        except OSError:
            continue
        for line in reversed(tail.splitlines()):
            if OOM_PATTERN.search(line):
                return line.strip()[:200]
    return ""


def _time_limit(folder: Path, submission: Submission | None) -> float | None:
    """The job's time limit in seconds: ``--time`` given to sbatch, else the script's #SBATCH line."""
    argv = list(submission.command) if submission else []
    for arg in argv:
        if arg.startswith(("--time=", "-t")):
            return parse_duration(arg.split("=", 1)[1] if "=" in arg else arg[2:])
    try:
        with open(folder / ARRAY_SCRIPT, encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("#SBATCH --time="):
                    text = line.split("=", 1)[1].strip().strip("'\"")
                    minutes = text.isdigit()  # SLURM: a bare number is minutes
                    value = parse_duration(text)
                    return value * 60 if minutes and value is not None else value
    except OSError:
        pass
    return None


def _from_markers(attempt: Attempt, *, limit: Callable[[], float | None]) -> str:
    """The state of a finished job from its markers; *limit* gives its time limit (read only when needed)."""
    if attempt.ended is None:
        return "FAILED"  # started, left the queue, never wrote its end: killed (out of memory, node failure)
    if attempt.signal:
        elapsed, seconds = attempt.elapsed(attempt.ended), limit()
        # Stopped at (about) its time limit: SLURM's TIMEOUT; any other stop was a cancel.
        return "TIMEOUT" if seconds is not None and elapsed is not None and elapsed >= seconds - 1 else "CANCELLED"
    return "COMPLETED" if attempt.exit_code == 0 else "FAILED"


def sweep_status(folder: Path, *, cluster: Cluster | None = None, now: float | None = None,
                 mapping: dict[str, dict[str, Any]] | None = None) -> SweepStatus:
    """The state of every run of the output folder *folder* (*mapping*: its run mapping, when
    the caller has read it already).

    Examples:
        >>> status = sweep_status(Path("outputs/study"))  # doctest: +SKIP
        >>> status.summary()  # doctest: +SKIP
        '6 runs: 5 COMPLETED, 1 OUT_OF_MEMORY'
    """
    folder = Path(folder)
    cluster = cluster if cluster is not None else Cluster()
    now = time.time() if now is None else now
    mapping = read_run_mapping(folder) if mapping is None else mapping
    submissions = read(folder)
    latest = latest_jobs(submissions)
    markers = read_markers(folder)
    newest_attempt: dict[str, Attempt] = {}
    for attempt in sorted(markers.values(), key=lambda a: (a.started or 0.0, a.job)):
        newest_attempt[attempt.run_id] = attempt

    # The job each run is on now: the newest submission, or a job its markers name (sbatch by hand).
    job_of: dict[str, str] = {}
    for run_id in mapping:
        if run_id in latest:
            job_of[run_id] = latest[run_id][1]
        elif run_id in newest_attempt:
            job_of[run_id] = newest_attempt[run_id].job
    evaluates = (folder / EVAL_ARRAY_SCRIPT).is_file()
    eval_latest = latest_jobs(submissions, evaluation=True)
    # One squeue and one sacct call for training and evaluation jobs together.
    job_ids = sorted({job.partition("_")[0] for job in [*job_of.values(), *(j for _, j in eval_latest.values())]},
                     key=lambda j: (len(j), j))
    live: dict[str, JobState] = {}
    finished: dict[str, JobState] | None = None
    warnings: list[Problem] = []
    if job_ids:
        try:
            live = cluster.squeue(job_ids)
            finished = cluster.sacct(job_ids)
        except JobsError as err:
            # A copy of the folder on a laptop: the markers still tell how runs ended.
            warnings += [Problem(f"{p.message}; states come from the jobs' markers only", hint=p.hint,
                                 severity="warning") for p in err.errors]

    rows: list[RunStatus] = []
    for run_id, entry in mapping.items():
        variables = entry.get("variables") if isinstance(entry.get("variables"), dict) else {}
        row = RunStatus(run_id, dict(variables or {}), "NOT_SUBMITTED")
        job = job_of.get(run_id)
        submission = latest[run_id][0] if run_id in latest else None
        current = markers.get((run_id, job)) if job else None
        logs: list[Path] = []
        if submission is not None:
            row.cwd = submission.cwd
        if submission is not None and submission.log_pattern:
            out, err_log = submission.log_paths(run_id)
            logs = [folder / err_log, folder / out]
            row.log = os.path.abspath(folder / out)
        if job is not None:
            row.job = job
            row.state, row.elapsed, row.exit_code, row.reason = _job_state(
                job, live=live, finished=finished, attempt=current, logs=logs, now=now,
                limit=lambda: _time_limit(folder, submission))
        if row.state != "NOT_SUBMITTED":
            _add_progress(row, folder=folder, entry=entry, cwd=row.cwd)
        if evaluates:
            row.evaluation = _eval_status(folder, run_id, eval_latest, markers=markers, live=live, finished=finished,
                                          now=now)
        rows.append(row)
    baseline = _eval_status(folder, BASELINE, eval_latest, markers=markers, live=live, finished=finished, now=now) \
        if (folder / EVAL_BASELINE_SCRIPT).is_file() else None
    return SweepStatus(folder, rows, accounting=finished is not None, warnings=warnings,
                       slurm_seconds=cluster.seconds, slurm_calls=list(cluster.calls), evaluates=evaluates,
                       baseline=baseline)


def _job_state(job: str, *, live: dict[str, JobState], finished: dict[str, JobState] | None,
               attempt: Attempt | None, logs: list[Path], now: float,
               limit: Callable[[], float | None]) -> tuple[str, float | None, int | None, str]:
    """A submitted job's state, elapsed seconds, exit code and reason: from squeue while it is queued,
    else from sacct, else from its markers and logs."""
    elapsed: float | None = None
    exit_code: int | None = None
    reason = ""
    state = live.get(job)
    account = finished.get(job) if finished else None
    if state is not None:  # still in the queue
        name = _SLURM.get(state.state, state.state)
        elapsed, reason = state.elapsed, state.reason
    elif account is not None:  # finished, and accounting says how
        name = _SLURM.get(account.state, account.state)
        elapsed, exit_code = account.elapsed, account.exit_code
    elif attempt is not None and attempt.started is not None:
        name = _from_markers(attempt, limit=limit)
    else:
        # Left the queue without starting: cancelled while pending, or refused at start.
        name = "FAILED" if any(p.is_file() and p.stat().st_size for p in logs) else "CANCELLED"
    if attempt is not None:
        if exit_code is None:
            exit_code = attempt.exit_code
        if elapsed is None:
            elapsed = attempt.elapsed(now)
    if name == "FAILED":
        oom = _log_says_oom(logs)
        if oom:
            name, reason = "OUT_OF_MEMORY", oom
    return name, elapsed, exit_code, reason


def _eval_status(folder: Path, run_id: str, latest: dict[str, tuple[Submission, str]], *,
                 markers: dict[tuple[str, str], Attempt], live: dict[str, JobState],
                 finished: dict[str, JobState] | None, now: float) -> EvalStatus:
    """The state of *run_id*'s newest evaluation job (NOT_SUBMITTED when it has none)."""
    if run_id not in latest:
        return EvalStatus()
    submission, job = latest[run_id]
    out, err_log = submission.log_paths(run_id)
    logs = [folder / err_log, folder / out]
    state, elapsed, exit_code, reason = _job_state(
        job, live=live, finished=finished, attempt=markers.get((EVAL_MARK + run_id, job)), logs=logs, now=now,
        limit=lambda: _time_limit(folder, submission))
    return EvalStatus(state, job, elapsed, exit_code, os.path.abspath(folder / out), reason)


def run_log_dir(folder: Path, run_id: str, entry: dict[str, Any], *, cwd: str = "",
                text: str | None = None) -> Path | None:
    """A run's metric log folder, from its config (`metric_log_dir`); a relative one starts
    from *cwd*, the folder its job ran in (unknown when empty). *text* is the config's text
    when the caller has read it already."""
    config = entry.get("config")
    if text is None:
        if not isinstance(config, str):
            return None
        try:
            text = (folder / CONFIGS_DIR / config).read_text(encoding="utf-8")
        except OSError:
            return None
    output_dir = entry.get("output_dir")
    log_dir = metric_log_dir(text, str(output_dir) if output_dir is not None else None)
    if log_dir is not None and not log_dir.is_absolute():
        return Path(cwd) / log_dir if cwd else None  # relative to where `tune run` started
    return log_dir


def _add_progress(row: RunStatus, *, folder: Path, entry: dict[str, Any], cwd: str) -> None:
    log_dir = run_log_dir(folder, row.run_id, entry, cwd=cwd)
    if log_dir is None:
        return
    files = log_files(log_dir)
    if not files:
        return
    step = last_step(files[-1])
    if step is not None:
        row.step = step.step
        row.loss = step.values.get("loss")
