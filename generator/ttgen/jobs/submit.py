"""Submitting a rendered sweep: which runs, with which sbatch calls, and when to refuse.

`submit_sweep` submits the folder's array script with ``sbatch --parsable``: one
array of the chosen runs, task i running run i (``--array=0,3-5``), the script's
``%max_parallel`` kept. Runs at or above the cluster's MaxArraySize go into further
arrays with ``TTGEN_RUN_OFFSET`` (task i runs run i + offset), each waiting for the
one before (``--dependency=afterany``), so nothing has to stay resident. Every call
is recorded (`ttgen.jobs.record`). A folder that evaluates its runs (docs/evaluating.md)
gets, after each training array, its evaluation array (task i waits for training task i:
``--dependency=aftercorr``), and the baseline's evaluation once.

It refuses, naming the runs, when one of them has a live job, or when its
output_dir already holds files (a run that trained would be overwritten); ``force``
submits anyway, ``resume`` continues those runs from their checkpoints instead.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..errors import JobsError, Problem, SourcePos
from ..layout import (ARRAY_SCRIPT, BASELINE, EVAL_ARRAY_SCRIPT, EVAL_BASELINE_SCRIPT, EVAL_MARK, GROUP_ARRAY_GLOB, LOG_DIR,
                      SLURM_DIR, array_log)
from ..plan.sweep import run_id_width
from ..render.slurm_scripts import array_spec, log_path
from ..review.folders import read_run_mapping
from ..text import plural
from .cluster import Cluster
from .markers import read_markers
from .record import EVALUATE, Submission, append, latest_jobs, read


@dataclass(frozen=True)
class SbatchCall:
    """One ``sbatch`` call ttgen makes: its arguments (after ``sbatch --parsable``) and runs."""

    args: list[str]  # the arguments before the script, ``--dependency`` added when it runs
    script: str  # absolute path of the array script
    runs: list[str]  # run ids, in task order
    tasks: list[int]  # array task ids
    array: str  # the --array value
    offset: int
    log_pattern: str  # relative to the output folder
    after_previous: bool  # waits for the call before it (--dependency=afterany:<its job>)
    # An evaluation array waits task by task for its training array: aftercorr (task i after task i).
    dependency: str = "afterany"

    def command(self, *, after: str | None = None) -> list[str]:
        """The whole command line, ``sbatch --parsable ...``; *after* is the job to wait for."""
        shown = after or ("<training job>" if self.dependency == "aftercorr" else "<previous job>")
        wait = [f"--dependency={self.dependency}:{shown}"] if self.after_previous else []
        return ["sbatch", "--parsable", *wait, *self.args, self.script]


@dataclass
class SubmitResult:
    """What `submit_sweep` did (or, with ``dry_run``, would do).

    Examples:
        >>> result = submit_sweep("outputs/study", dry_run=True)  # doctest: +SKIP
        >>> [(call.array, call.runs) for call in result.calls], result.submissions  # doctest: +SKIP
        ([('0-3', ['run_000', 'run_001', 'run_002', 'run_003'])], [])
    """

    folder: Path
    calls: list[SbatchCall]
    submissions: list[Submission] = field(default_factory=list)  # empty on a dry run
    dry_run: bool = False
    warnings: list[Problem] = field(default_factory=list)
    # The evaluation arrays, one per training call, each chained with aftercorr (docs/evaluating.md),
    # and the baseline's job when the folder evaluates one and it was not submitted before.
    eval_calls: list[SbatchCall] = field(default_factory=list)
    eval_submissions: list[Submission] = field(default_factory=list)

    @property
    def run_count(self) -> int:
        return sum(len(c.runs) for c in self.calls)


def parse_runs(spec: str, run_ids: list[str], *, what: str = "--runs") -> list[str]:
    """``0,3-5`` (indices or run ids, ranges with ``-``) -> run ids in sweep order.

    Examples:
        >>> parse_runs("0,3-4,run_001", ["run_000", "run_001", "run_002", "run_003", "run_004"])
        ['run_000', 'run_001', 'run_003', 'run_004']
    """
    chosen: set[int] = set()
    for part in (p.strip() for p in spec.split(",")):
        m = re.fullmatch(r"(?:run_)?(\d+)(?:-(?:run_)?(\d+))?", part)
        if m is None:
            raise JobsError([Problem(f"{what} {spec!r}: {part!r} is not a run number, a run id or a range "
                                     "like 3-5", hint=f"e.g. {what} 0,3-5")])
        first, last = int(m[1]), int(m[2] if m[2] is not None else m[1])
        if last < first or last >= len(run_ids):
            raise JobsError([Problem(f"{what} {spec!r}: {part!r} is outside the runs of this sweep "
                                     f"(0 to {len(run_ids) - 1})", hint=f"e.g. {what} 0-{len(run_ids) - 1}")])
        chosen.update(range(first, last + 1))
    return [run_ids[i] for i in sorted(chosen)]


def _array_line(folder: Path, script: str = ARRAY_SCRIPT) -> str:
    """The value of the script's own ``#SBATCH --array=`` line, unquoted, or ''."""
    try:
        with open(folder / script, encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("#SBATCH --array="):
                    return line.strip().removeprefix("#SBATCH --array=").strip(chr(39) + chr(34))
    except OSError:
        pass
    return ""


def _throttle(folder: Path, script: str = ARRAY_SCRIPT) -> str:
    """The ``%N`` of the script's own ``#SBATCH --array`` line (slurm.max_parallel), or ''."""
    _, pct, limit = _array_line(folder, script).partition("%")
    return f"%{limit}" if pct else ""


def array_groups(folder: Path) -> list[tuple[str, set[int] | None]]:
    """The folder's array scripts and the run indices each submits (None: every run).

    One ``slurm/submit_array.sh``, or, when runs need SLURM settings of their own (a base axis
    with different recipes, presets with slurm: resources), one ``slurm/submit_array_<group>.sh``
    per group, its ``#SBATCH --array=`` line listing its runs (docs/comparing-models.md).
    """
    if (folder / ARRAY_SCRIPT).is_file():
        return [(ARRAY_SCRIPT, None)]
    groups: list[tuple[str, set[int] | None]] = []
    for path in sorted((folder / SLURM_DIR).glob(GROUP_ARRAY_GLOB)):
        script = f"{SLURM_DIR}/{path.name}"
        indices: set[int] = set()
        for part in _array_line(folder, script).partition("%")[0].split(","):
            first, _, last = part.partition("-")
            if first.isdigit() and (not last or last.isdigit()):
                indices.update(range(int(first), int(last or first) + 1))
        groups.append((script, indices))
    return sorted(groups, key=lambda g: min(g[1] or {0}))


def plan_calls(folder: Path, runs: list[str], *, run_ids: list[str], max_array_size: int,
               sbatch_args: Sequence[str] = ()) -> list[SbatchCall]:
    """The sbatch calls that submit *runs*, split where MaxArraySize demands."""
    for arg in sbatch_args:
        if arg.startswith(("--array", "-a")) or arg.startswith(("--parsable", "--wrap")):
            raise JobsError([Problem(f"sbatch argument {arg!r} cannot be given: ttgen chooses the array "
                                     "from the runs", hint="choose runs with --runs 0,3-5")])
    index = {run_id: i for i, run_id in enumerate(run_ids)}
    calls: list[SbatchCall] = []
    for rel, members in array_groups(folder):
        wanted = sorted(index[r] for r in runs if members is None or index[r] in members)
        calls += _calls(folder, rel, wanted, run_ids=run_ids, max_array_size=max_array_size,
                        sbatch_args=sbatch_args)
    return calls


def _calls(folder: Path, rel: str, wanted: list[int], *, run_ids: list[str], max_array_size: int,
           sbatch_args: Sequence[str]) -> list[SbatchCall]:
    """The sbatch calls of one array script: its *wanted* run indices, split where MaxArraySize demands."""
    script = str((folder / rel).resolve())
    width, throttle = run_id_width(len(run_ids)), _throttle(folder, rel)
    calls: list[SbatchCall] = []
    while wanted:
        offset = wanted[0] if wanted[-1] >= max_array_size else 0
        chunk = [i for i in wanted if i - offset < max_array_size]
        wanted = wanted[len(chunk):]
        tasks = [i - offset for i in chunk]
        spec = array_spec(tasks) + throttle
        args = [f"--array={spec}"]
        log = array_log(width, offset=offset)
        if offset:
            logs = (folder / log).resolve().parent
            args += [f"--export=ALL,TTGEN_RUN_OFFSET={offset}",
                     f"--output={log_path(logs, Path(log).name)}",
                     f"--error={log_path(logs, Path(array_log(width, offset=offset, suffix='err')).name)}"]
        calls.append(SbatchCall([*args, *sbatch_args], script, [run_ids[i] for i in chunk], tasks, spec, offset,
                                log, after_previous=bool(calls)))
    return calls


def eval_calls(folder: Path, calls: list[SbatchCall], *, run_count: int,
               sbatch_args: Sequence[str] = ()) -> list[SbatchCall]:
    """The evaluation arrays of *calls* (same tasks, offsets and throttle): task i waits for training
    task i (``--dependency=aftercorr:<training job>``); ``--kill-on-invalid-dep=yes`` cancels an
    evaluation whose training failed, instead of leaving it pending forever."""
    if not (folder / EVAL_ARRAY_SCRIPT).is_file():
        return []
    script = str((folder / EVAL_ARRAY_SCRIPT).resolve())
    width = run_id_width(run_count)
    found = []
    for call in calls:
        log = array_log(width, offset=call.offset, prefix=EVAL_MARK)
        args = [f"--array={call.array}", "--kill-on-invalid-dep=yes"]
        if call.offset:
            logs = (folder / log).resolve().parent
            args += [f"--export=ALL,TTGEN_RUN_OFFSET={call.offset}",
                     f"--output={log_path(logs, Path(log).name)}",
                     f"--error={log_path(logs, Path(array_log(width, offset=call.offset, suffix='err', prefix=EVAL_MARK)).name)}"]
        found.append(SbatchCall([*args, *sbatch_args], script, call.runs, call.tasks, call.array, call.offset, log,
                                after_previous=True, dependency="aftercorr"))
    return found


def baseline_call(folder: Path, submissions: list[Submission], *, cluster: Cluster,
                  sbatch_args: Sequence[str] = ()) -> SbatchCall | None:
    """The baseline's evaluation job, when the folder has one that never succeeded: never submitted,
    or its newest job left the queue without ending with exit 0 (its markers say how it ended)."""
    if not (folder / EVAL_BASELINE_SCRIPT).is_file():
        return None
    latest = latest_jobs(submissions, evaluation=True).get(BASELINE)
    if latest is not None:
        job = latest[1]
        attempt = read_markers(folder).get((EVAL_MARK + BASELINE, job))
        if (attempt is not None and attempt.ended is not None and attempt.exit_code == 0) or \
                job in cluster.squeue([job]):
            return None
    return SbatchCall(list(sbatch_args), str((folder / EVAL_BASELINE_SCRIPT).resolve()), [BASELINE], [], "", 0,
                      f"{LOG_DIR}/eval_{BASELINE}-%j.out", after_previous=False)


def _job_cwd(argv: Sequence[str]) -> str:
    """The jobs' working folder: sbatch's --chdir (-D) when given, else where sbatch runs."""
    for i, arg in enumerate(argv):
        if arg.startswith("--chdir="):
            return os.path.abspath(arg.split("=", 1)[1])
        if arg in ("--chdir", "-D") and i + 1 < len(argv):
            return os.path.abspath(argv[i + 1])
    return os.getcwd()


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def holds_results(output_dir: Path | None) -> bool:
    """Does a run's output_dir exist with something in it (a run that trained, or started to)?"""
    if output_dir is None:
        return False
    try:
        with os.scandir(output_dir) as it:
            return any(True for _ in it)
    except OSError:
        return False


def run_output_dir(entry: dict[str, Any], *, cwd: str) -> Path | None:
    """A run's output_dir from its run-mapping *entry*; a relative one starts from *cwd*, the
    folder its last job ran in. None when it is not a plain path (an interpolation)."""
    value = entry.get("output_dir")
    if not isinstance(value, str) or "${" in value:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else Path(cwd) / path


def job_folders(latest: dict[str, tuple[Submission, str]]) -> dict[str, str]:
    """The folder each run's last job ran in (its submission's working folder), by run id, from
    `ttgen.jobs.record.latest_jobs`."""
    return {run_id: sub.cwd for run_id, (sub, _) in latest.items() if sub.cwd}


def _refusals(folder: Path, runs: list[str], mapping: dict[str, Any], *, cluster: Cluster,
              force: bool, resume: bool) -> list[Problem]:
    problems: list[Problem] = []
    if force:
        return problems
    # Live jobs of these runs: from the record, and from markers of jobs submitted by hand.
    latest = latest_jobs(read(folder))  # the record, read once for live jobs and working folders
    jobs: dict[str, str] = {run_id: job for run_id, (_, job) in latest.items()}
    for (run_id, job), attempt in read_markers(folder).items():
        if attempt.ended is None:
            jobs.setdefault(run_id, job)
    chosen = set(runs)
    ids = sorted({job.partition("_")[0] for run_id, job in jobs.items() if run_id in chosen})
    live = cluster.squeue(ids) if ids else {}
    busy = [run_id for run_id in runs if jobs.get(run_id) in live]
    if busy:
        shown = ", ".join(f"{r} (job {jobs[r]}, {live[jobs[r]].state})" for r in busy[:5])
        problems.append(Problem(f"{plural(len(busy), 'run')} of this folder already "
                                f"{'has' if len(busy) == 1 else 'have'} a live job: {shown}"
                                f"{' ...' if len(busy) > 5 else ''}", pos=SourcePos(str(folder)),
                                hint="wait for it (`ttgen status`), cancel it with scancel, or pass --force "
                                     "to submit anyway"))
    if not resume:
        cwd = job_folders(latest)
        outs = {r: run_output_dir(mapping.get(r, {}), cwd=cwd.get(r, os.getcwd())) for r in runs}
        done = [r for r in runs if holds_results(outs[r])]
        if done:
            first = outs[done[0]]
            problems.append(Problem(f"{plural(len(done), 'run')} already {'has' if len(done) == 1 else 'have'} "
                                    f"files in {'its' if len(done) == 1 else 'their'} output_dir "
                                    f"({', '.join(done[:5])}{' ...' if len(done) > 5 else ''}; e.g. {first})",
                                    pos=SourcePos(str(folder)),
                                    hint="submitting again would overwrite what they wrote: pass --resume to "
                                         "continue them from their checkpoints, or --force to start them over"))
    return problems


def check_submittable(folder: Path) -> None:
    """The folder has SLURM scripts (a slurm: section was rendered)."""
    if not (folder / ARRAY_SCRIPT).is_file() and not any((folder / SLURM_DIR).glob(GROUP_ARRAY_GLOB)):
        raise JobsError([Problem(f"this output folder has no SLURM scripts ({ARRAY_SCRIPT} is missing)",
                                 pos=SourcePos(str(folder)),
                                 hint="add a slurm: section to experiment.yaml (`slurm: {}` is enough) and "
                                      "render again")])


def submit_sweep(folder: Path | str, *, runs: str | None = None, sbatch_args: Sequence[str] = (),
                 dry_run: bool = False, force: bool = False, resume: bool = False,
                 cluster: Cluster | None = None, kind: str = "submit",
                 chosen: list[str] | None = None, changes: dict[str, dict[str, Any]] | None = None) -> SubmitResult:
    """Submit the runs of a rendered output folder to SLURM (``ttgen submit``).

    Args:
        folder: the output folder ``ttgen render`` wrote.
        runs: which runs (``"0,3-5"``); all when None.
        sbatch_args: extra sbatch options; they override the script's ``#SBATCH`` lines.
        dry_run: plan and check, submit nothing, record nothing.
        force: submit even when a run has a live job or files in its output_dir.
        resume: runs with files in their output_dir are being resumed (see `ttgen.jobs.resubmit`).

    Examples:
        >>> result = submit_sweep("outputs/study", runs="0-1", sbatch_args=["--partition=debug"])  # doctest: +SKIP
        >>> [s.job for s in result.submissions]  # doctest: +SKIP
        ['4711']
    """
    folder = Path(folder)
    cluster = cluster if cluster is not None else Cluster()
    check_submittable(folder)
    mapping = read_run_mapping(folder)
    run_ids = list(mapping)
    selected = chosen if chosen is not None else (parse_runs(runs, run_ids) if runs else run_ids)
    warnings: list[Problem] = []
    problems = _refusals(folder, selected, mapping, cluster=cluster, force=force, resume=resume)
    if problems and not dry_run:
        raise JobsError(problems)
    warnings += [Problem(p.message, pos=p.pos, hint=p.hint, severity="warning") for p in problems]
    calls = plan_calls(folder, selected, run_ids=run_ids, max_array_size=cluster.max_array_size(),
                       sbatch_args=sbatch_args)
    evaluations = eval_calls(folder, calls, run_count=len(run_ids), sbatch_args=sbatch_args)
    baseline = baseline_call(folder, read(folder), cluster=cluster, sbatch_args=sbatch_args)
    result = SubmitResult(folder, calls, dry_run=dry_run, warnings=warnings,
                          eval_calls=evaluations + ([baseline] if baseline else []))
    if dry_run:
        return result

    def sbatch(call: SbatchCall, after: str | None) -> tuple[str, list[str]]:
        argv = call.command(after=after)[2:]  # sbatch --parsable are added by Cluster.sbatch
        try:
            return cluster.sbatch(argv), argv
        except JobsError as err:
            queued = ", ".join(s.job for s in [*result.submissions, *result.eval_submissions])
            if queued:
                err.problems.append(Problem(f"jobs {queued} were submitted and recorded before this failure; "
                                            "the remaining runs were not", severity="warning",
                                            hint="ttgen status shows them; submit the rest with --runs"))
            raise

    previous: str | None = None
    for i, call in enumerate(calls):
        job, argv = sbatch(call, previous)
        submission = Submission(
            job=job, kind=kind, time=_now(), command=["sbatch", "--parsable", *argv],
            runs={run_id: f"{job}_{task}" for run_id, task in zip(call.runs, call.tasks)}, array=call.array,
            offset=call.offset, log_pattern=call.log_pattern,
            changes={r: c for r, c in (changes or {}).items() if r in call.runs}, after=previous,
            cwd=_job_cwd(argv))
        append(folder, submission)
        result.submissions.append(submission)
        previous = job
        if evaluations:  # right after its training array: a failure later leaves no training unevaluated
            eval_job, eval_argv = sbatch(evaluations[i], job)
            evaluation = Submission(
                job=eval_job, kind=EVALUATE, time=_now(), command=["sbatch", "--parsable", *eval_argv],
                runs={run_id: f"{eval_job}_{task}" for run_id, task in zip(call.runs, call.tasks)},
                array=call.array, offset=call.offset, log_pattern=evaluations[i].log_pattern, after=job,
                cwd=_job_cwd(eval_argv))
            append(folder, evaluation)
            result.eval_submissions.append(evaluation)
    if baseline is not None:
        base_job, base_argv = sbatch(baseline, None)
        evaluation = Submission(job=base_job, kind=EVALUATE, time=_now(), command=["sbatch", "--parsable", *base_argv],
                                runs={BASELINE: base_job}, array="", log_pattern=baseline.log_pattern,
                                cwd=_job_cwd(base_argv))
        append(folder, evaluation)
        result.eval_submissions.append(evaluation)
    return result
