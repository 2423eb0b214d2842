"""The SLURM commands ttgen calls: sbatch, squeue, sacct and scontrol, one call each.

`Cluster` runs them through one function (``runner``), so a test or a benchmark can
stand in for the cluster, and it counts the time spent waiting for SLURM: the
status benchmark reports ttgen's own cost apart from the cluster's.

Every query is one call for the whole sweep, never one per run (docs/running.md).
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from ..errors import JobsError, Problem

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]

# squeue/sacct states, SLURM's words (`man squeue`, JOB STATE CODES).
LIVE_STATES = frozenset({"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED",
                         "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "REQUEUE_HOLD", "REQUEUE_FED",
                         "RESV_DEL_HOLD", "SPECIAL_EXIT"})


def _run(argv: Sequence[str]) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=120)


@dataclass(frozen=True)
class JobState:
    """One array task or job as SLURM reports it."""

    job: str  # "<array job id>_<task id>" or "<job id>" (squeue's %i for one task)
    state: str  # PENDING, RUNNING, COMPLETED, FAILED, OUT_OF_MEMORY, TIMEOUT, CANCELLED, ...
    elapsed: float | None = None  # seconds
    exit_code: int | None = None
    reason: str = ""


def parse_duration(text: str) -> float | None:
    """SLURM's ``[days-]hours:minutes:seconds`` (also ``minutes:seconds``) in seconds.

    Examples:
        >>> parse_duration("1-02:03:04"), parse_duration("2:05"), parse_duration("INVALID")
        (93784.0, 125.0, None)
    """
    text = text.strip()
    days = 0
    if "-" in text:
        head, text = text.split("-", 1)
        if not head.isdigit():
            return None
        days = int(head)
    parts = text.split(":")
    if not 1 <= len(parts) <= 3 or not all(p.replace(".", "", 1).isdigit() for p in parts):
        return None
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + float(part)
    return days * 86400 + seconds


def job_ref(array_job: str, task: str) -> str:
    """The name of one array task (``123_4``) or of a job (``123``, when *task* is empty or N/A)."""
    return f"{array_job}_{task}" if task and task != "N/A" else array_job


@dataclass
class Cluster:
    """The SLURM commands of this machine. ``seconds`` adds up the time spent in them."""

    runner: Runner = _run
    seconds: float = 0.0
    calls: list[str] = field(default_factory=list)

    def _call(self, argv: list[str]) -> "subprocess.CompletedProcess[str]":
        start = time.perf_counter()
        try:
            return self.runner(argv)
        except FileNotFoundError:
            raise JobsError([Problem(f"`{argv[0]}` was not found: SLURM's commands are not installed here",
                                     hint="run ttgen on a machine of the cluster (a login node)")]) from None
        except subprocess.TimeoutExpired:
            raise JobsError([Problem(f"`{argv[0]}` did not answer within 120 s",
                                     hint="the SLURM controller may be down or busy; try again later")]) from None
        finally:
            self.seconds += time.perf_counter() - start
            self.calls.append(argv[0])

    def sbatch(self, argv: Sequence[str]) -> str:
        """Run ``sbatch --parsable ARGS...`` and return the job id it printed."""
        command = ["sbatch", "--parsable", *argv]
        done = self._call(command)
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()
            raise JobsError([Problem(f"sbatch refused the job: {said[-1] if said else f'exit {done.returncode}'}",
                                     hint="the sbatch arguments after `--` override the script's #SBATCH lines "
                                          "(e.g. -- --partition=debug)")])
        job = done.stdout.strip().split(";")[0]  # "<id>" or "<id>;<cluster>"
        if not job.isdigit():
            raise JobsError([Problem(f"sbatch printed no job id: {done.stdout.strip()!r}",
                                     hint="check `squeue --me` for a job that was queued anyway, then try again")])
        return job

    def squeue(self, jobs: Sequence[str]) -> dict[str, JobState]:
        """The live tasks of *jobs* (job ids), one entry per array task; finished ones are absent."""
        if not jobs:
            return {}
        done = self._call(["squeue", "--noheader", "--array", "--jobs=" + ",".join(jobs),
                           "--format=%F|%K|%T|%M|%r"])
        if done.returncode != 0:
            if "Invalid job id" in done.stderr:
                return {}  # every one of them has left the queue
            raise JobsError([Problem(f"squeue failed: {done.stderr.strip() or f'exit {done.returncode}'}",
                                     hint="is the SLURM controller up? (`sinfo`)")])
        found: dict[str, JobState] = {}
        for line in done.stdout.splitlines():
            parts = line.strip().split("|")
            if len(parts) != 5:
                continue
            array_job, task, state, elapsed, reason = parts
            ref = job_ref(array_job, task)
            found[ref] = JobState(ref, state.split()[0], parse_duration(elapsed),
                                  reason="" if reason in ("None", "(null)") else reason)
        return found

    def sacct(self, jobs: Sequence[str]) -> dict[str, JobState] | None:
        """Finished and live tasks of *jobs* from accounting; None when the cluster keeps none."""
        if not jobs:
            return {}
        done = self._call(["sacct", "--noheader", "--parsable2", "--allocations", "--jobs=" + ",".join(jobs),
                           "--format=JobID,State,ExitCode,ElapsedRaw"])
        if done.returncode != 0:
            return None  # "accounting storage is disabled", or sacct cannot reach slurmdbd
        found: dict[str, JobState] = {}
        for line in done.stdout.splitlines():
            parts = line.strip().split("|")
            if len(parts) != 4 or "[" in parts[0]:
                continue  # a pending array's compressed line: squeue tells those
            ref, state, exit_code, elapsed = parts
            code = exit_code.split(":")[0]
            found[ref] = JobState(ref, state.split()[0], float(elapsed) if elapsed.isdigit() else None,
                                  int(code) if code.isdigit() else None)
        return found

    def max_array_size(self) -> int:
        """The cluster's MaxArraySize (array indices must stay below it); SLURM's default 1001 if unknown."""
        done = self._call(["scontrol", "show", "config"])
        for line in done.stdout.splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "MaxArraySize" and value.strip().isdigit():
                return int(value.strip())
        return 1001
