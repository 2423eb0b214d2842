"""The output folder's layout: the one place that names its files (docs/output.md).

```
<name>_<YYYYmmdd_HHMMSS>/
  experiment.yaml           copy of the input, byte for byte
  base_config.yaml          the exact base config text used (base_config_<i>.yaml: the other bases of a list)
  manifest.yaml             provenance and every file's sha256
  configs/run_000.yaml      one torchtune config per run
  configs/run_mapping.yaml  each run's variables and overrides
  validation_report.txt     with render --validate
  slurm/submit_array.sh     with a slurm: section, and slurm/submit_run_000.sh per run
  slurm/logs/               created empty; jobs write their logs here
  slurm/state/              created empty; jobs write start/end markers, `ttgen submit` its record
  evaluation/evaluations.yaml   with an evaluation: section, every run x epoch x task to evaluate
  evaluation/configs/       harness torchtune: one eleuther_eval config per evaluation
  evaluation/logs/<run_id>/epoch_<N>/   created empty; Inspect AI writes its logs here (baseline/ for the base)
  slurm/evaluate_array.sh   with both sections: task i evaluates run i after training task i; and
  slurm/evaluate_baseline.sh    with baseline: true, the base model's evaluation
  results/report.html       written by `ttgen report` (default place), never by a render
  results/cache/run_000.json  `ttgen results`' summaries of finished metric logs
```

Examples:
    >>> config_file("run_007"), run_script("run_007")
    ('configs/run_007.yaml', 'slurm/submit_run_007.sh')
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import re
from pathlib import Path
from typing import Iterator

EXPERIMENT_FILE = "experiment.yaml"
# The experiment file `ttgen init` writes, and render and check read when none is named.
DEFAULT_EXPERIMENT = "experiment.yaml"
BASE_FILE = "base_config.yaml"
MANIFEST_FILE = "manifest.yaml"
CONFIGS_DIR = "configs"
MAPPING_FILE = f"{CONFIGS_DIR}/run_mapping.yaml"
REPORT_FILE = "validation_report.txt"  # written by `ttgen render --validate`, ignored by `ttgen check`
SLURM_DIR = "slurm"
LOG_DIR = f"{SLURM_DIR}/logs"
# Written by the jobs while they run, and by `ttgen submit`: created empty at render time,
# so `ttgen check` ignores what appears in it (docs/running.md).
STATE_DIR = f"{SLURM_DIR}/state"
SUBMISSIONS_FILE = f"{STATE_DIR}/submissions.jsonl"  # append-only: one JSON object per sbatch call
# Markers a job script writes: <run_id>@<job>.started when the run starts, <run_id>@<job>.ended
# when it ends; <job> is "<array job id>_<task id>" for an array task, "<job id>" otherwise
# (squeue's %i). Each holds one line of space-separated key=value pairs (see marker_file).
STARTED, ENDED = "started", "ended"
ARRAY_SCRIPT = f"{SLURM_DIR}/submit_array.sh"
# Written by `ttgen results` and `ttgen report`, never by a render: `ttgen check` ignores it
# and `render --force` may replace it (everything in it is made again from the runs' logs).
RESULTS_DIR = "results"
REPORT_HTML = f"{RESULTS_DIR}/report.html"
RESULTS_CACHE_DIR = f"{RESULTS_DIR}/cache"


GROUP_ARRAY_GLOB = "submit_array_*.sh"  # the group array scripts, in SLURM_DIR


def group_array_script(label: str) -> str:
    """The array script of one group of runs with SLURM settings of their own (a preset's
    resources, a base's recipe), written instead of ARRAY_SCRIPT when a sweep has several groups."""
    return f"{SLURM_DIR}/submit_array_{label}.sh"


# Evaluation (docs/evaluating.md): what is evaluated, and where Inspect AI writes its logs.
EVAL_DIR = "evaluation"
EVAL_FILE = f"{EVAL_DIR}/evaluations.yaml"
EVAL_CONFIGS_DIR = f"{EVAL_DIR}/configs"
EVAL_LOG_DIR = f"{EVAL_DIR}/logs"  # created empty; `ttgen check` ignores what appears in it
EVAL_ARRAY_SCRIPT = f"{SLURM_DIR}/evaluate_array.sh"
EVAL_BASELINE_SCRIPT = f"{SLURM_DIR}/evaluate_baseline.sh"
BASELINE = "baseline"  # the run id of the untouched base model's evaluation
EVAL_MARK = "eval_"  # an evaluation job's markers: eval_<run_id>@<job>.started / .ended

CONFIG_GLOB = "run_*.yaml"
CONFIG_NAME = re.compile(r"run_[0-9]+\.yaml")  # a run's config; not run_mapping.yaml

DEFAULT_BASE_DIR = "outputs"  # output.base_dir when experiment.yaml does not set it
# A folder being assembled (".<name>.ttgen-tmp-<pid>-<host>-<token>") or an old one being
# replaced by --force (".<name>.ttgen-old-<pid>-<host>-<token>"); both are hidden and never
# read as output folders. See `side_name`.
TMP_MARK = ".ttgen-tmp-"
OLD_MARK = ".ttgen-old-"
_SIDE = re.compile(r"(?P<pid>[0-9]+)-(?P<host>[0-9a-f]{6})-[0-9a-f]+")

# <name>_<YYYYmmdd_HHMMSS>, and _2, _3 ... for a second render in the same second.
_TIMESTAMPED = re.compile(r"^(?P<name>.+)_(?P<ts>\d{8}_\d{6})(?:_(?P<n>\d+))?$")


def base_file(index: int) -> str:
    """The copy of a base config in the output folder: the first (or only) one is ``base_config.yaml``,
    the others of a base axis ``base_config_<index>.yaml`` in written order.

    Examples:
        >>> base_file(0), base_file(2)
        ('base_config.yaml', 'base_config_2.yaml')
    """
    return BASE_FILE if index == 0 else f"base_config_{index}.yaml"


def config_file(run_id: str) -> str:
    """A run's config, relative to the output folder."""
    return f"{CONFIGS_DIR}/{run_id}.yaml"


def results_cache(run_id: str) -> str:
    """A run's cached log summaries, relative to the output folder."""
    return f"{RESULTS_CACHE_DIR}/{run_id}.json"


def run_script(run_id: str) -> str:
    """A run's own SLURM script, relative to the output folder (``run_007`` -> ``slurm/submit_run_007.sh``)."""
    return f"{SLURM_DIR}/submit_run_{run_id.removeprefix('run_')}.sh"


def array_log(id_width: int, *, offset: int = 0, suffix: str = "out", prefix: str = "") -> str:
    """An array task's log file name pattern, relative to the output folder (``%A`` the array
    job, ``%<w>a`` the task, zero-padded). Task i runs run i + *offset* (chained arrays).
    *prefix* ``eval_``: the evaluation array's (docs/evaluating.md).

    Examples:
        >>> array_log(3), array_log(4, offset=1001)
        ('slurm/logs/run_%3a-%A.out', 'slurm/logs/from_run_1001_task_%a-%A.out')
        >>> array_log(3, prefix="eval_"), array_log(4, offset=1001, prefix="eval_")
        ('slurm/logs/eval_run_%3a-%A.out', 'slurm/logs/eval_from_run_1001_task_%a-%A.out')
    """
    if offset:
        return f"{LOG_DIR}/{prefix}from_run_{offset}_task_%a-%A.{suffix}"
    return f"{LOG_DIR}/{prefix}run_%{id_width}a-%A.{suffix}"


def marker_file(run_id: str, job: str, what: str) -> str:
    """A job's marker file, relative to the output folder.

    ``started`` holds ``time=<epoch seconds> host=<host> job=<job>``; ``ended`` holds
    ``time=<epoch seconds> exit=<code>``, or ``time=<epoch seconds> signal=TERM`` when the
    job was stopped (scancel, time limit).

    Examples:
        >>> marker_file("run_003", "123_3", STARTED)
        'slurm/state/run_003@123_3.started'
    """
    return f"{STATE_DIR}/{run_id}@{job}.{what}"


def eval_log_dir(run_id: str, epoch: int | None) -> str:
    """Where Inspect AI writes the logs of one run's epoch (or of the baseline, epoch None).

    Examples:
        >>> eval_log_dir("run_003", 1), eval_log_dir(BASELINE, None)
        ('evaluation/logs/run_003/epoch_1', 'evaluation/logs/baseline')
    """
    return f"{EVAL_LOG_DIR}/{run_id}" if epoch is None else f"{EVAL_LOG_DIR}/{run_id}/epoch_{epoch}"


def eval_config_file(run_id: str, epoch: int | None, task_index: int) -> str:
    """harness torchtune: the eleuther_eval config of one run x epoch x task.

    Examples:
        >>> eval_config_file("run_003", 1, 0), eval_config_file(BASELINE, None, 2)
        ('evaluation/configs/run_003-epoch_1-task_0.yaml', 'evaluation/configs/baseline-task_2.yaml')
    """
    at = "" if epoch is None else f"-epoch_{epoch}"
    return f"{EVAL_CONFIGS_DIR}/{run_id}{at}-task_{task_index}.yaml"


def output_folder_name(name: str, now: _dt.datetime) -> str:
    """``<name>_<YYYYmmdd_HHMMSS>``: the default output folder's name for a render at *now*."""
    return f"{name}_{now.strftime('%Y%m%d_%H%M%S')}"


def numbered(first: Path) -> Iterator[Path]:
    """*first*, then the next names a render in the same second may take: ``<name>_2``, ``<name>_3``, ...
    (from ``<name>_3`` on: ``<name>_4``, ...)."""
    yield first
    m = _TIMESTAMPED.fullmatch(first.name)
    stem, n = (f"{m['name']}_{m['ts']}", int(m["n"] or 1) + 1) if m else (first.name, 2)
    while True:
        yield first.with_name(f"{stem}_{n}")
        n += 1


def free_output_folder(base_dir: Path, name: str, now: _dt.datetime) -> Path:
    """The default output folder of a render at *now*, absolute: ``<base_dir>/<name>_<timestamp>``,
    or ``..._2``, ``..._3`` when a render in the same second took the name."""
    return next(p for p in numbered(Path(base_dir).resolve() / output_folder_name(name, now)) if not p.exists())


def host_tag() -> str:
    """Six hex digits naming this machine, so that a leftover on a shared file system is only
    ever judged (is its process still running?) on the machine that made it."""
    return hashlib.sha256(os.uname().nodename.encode()).hexdigest()[:6]


def side_name(name: str, mark: str, token: str) -> str:
    """The hidden name of a folder kept beside the output folder *name* while a render works:
    ``.<name><mark><pid>-<host>-<token>``, *mark* being TMP_MARK or OLD_MARK.

    Examples:
        >>> side_name("out", TMP_MARK, "ab12").startswith(".out.ttgen-tmp-")
        True
    """
    return f".{name}{mark}{os.getpid()}-{host_tag()}-{token}"


def side_owner(name: str, entry: str) -> tuple[str, int, str] | None:
    """``(mark, pid, host tag)`` when *entry* is a `side_name` of the output folder *name*."""
    for mark in (TMP_MARK, OLD_MARK):
        prefix = f".{name}{mark}"
        if entry.startswith(prefix) and (m := _SIDE.fullmatch(entry[len(prefix):])):
            return mark, int(m["pid"]), m["host"]
    return None


def folder_experiment(name: str) -> str | None:
    """The experiment name of a default output folder's name (``study_20261204_101500_2`` -> ``study``).

    Examples:
        >>> folder_experiment("study_20261204_101500_2"), folder_experiment("notes")
        ('study', None)
    """
    m = _TIMESTAMPED.fullmatch(name)
    return m["name"] if m else None


def timestamped_folders(parent: Path) -> list[Path]:
    """Output folders named ``<name>_<YYYYmmdd_HHMMSS>[_N]`` under *parent*, oldest first.

    Ordered by the timestamp in the name (then the ``_N`` suffix, then the name), not
    by file times, which copies and checkouts change. Hidden folders (the temporary
    ``.<name>.ttgen-tmp-*`` of a render in progress) and empty ones (the name a render
    killed before it finished had taken) are skipped.
    """
    found: list[tuple[tuple[str, int, str], Path]] = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return []
    for entry in entries:
        m = _TIMESTAMPED.fullmatch(entry.name)
        if entry.name.startswith(".") or m is None or not entry.is_dir() or not any(entry.iterdir()):
            continue  # hidden (in progress), not ours, or empty (a name a killed render had taken)
        found.append(((m["ts"], int(m["n"] or 1), m["name"]), entry))
    return [p for _, p in sorted(found)]
