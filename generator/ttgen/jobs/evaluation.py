"""Evaluation results and states of an output folder (docs/evaluating.md).

`read_scores` reads every score Inspect AI logged under ``evaluation/logs/``
(``<run_id>/epoch_<N>/`` per run and epoch, ``baseline/`` for the base model) with
Inspect's own log API, so it imports inspect_ai, and only when logs exist: the
rest of ttgen never needs the eval extra. `evaluation_states` gives each run's
evaluation job state, as ``ttgen status`` shows it.

Which log counts: for one run x epoch x task, the newest log whose evaluation
succeeded (an evaluation submitted again replaces the earlier one); logs of
failed or cancelled evaluations hold no scores and are skipped.

Examples:
    >>> scores = read_scores(Path("outputs/study_20261204_101500"))  # doctest: +SKIP
    >>> [(s.run_id, s.epoch, s.task, s.metric, s.value) for s in scores]  # doctest: +SKIP
    [('baseline', None, 'tiny_arithmetic', 'accuracy', 0.0), ('run_000', 0, 'tiny_arithmetic', 'accuracy', 0.2)]
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from ..errors import JobsError, Problem, SourcePos
from ..layout import BASELINE, EVAL_LOG_DIR
from .cluster import Cluster
from .status import EvalStatus, sweep_status

INSTALL_HINT = "install the eval extra where you read results: pip install 'torchtune-config-writer[eval]'"
_EPOCH = re.compile(r"epoch_(\d+)")
_LOG_SUFFIXES = (".eval", ".json")


@dataclass(frozen=True)
class EvalScore:
    """One metric of one scorer of one evaluation."""

    run_id: str  # the run's id, or "baseline" for the untouched base model
    task: str  # task name as Inspect logs it
    epoch: int | None  # training epoch evaluated (None for baseline)
    scorer: str
    metric: str  # e.g. "accuracy"
    value: float
    log_path: Path  # the Inspect log file it came from


def _log_folders(folder: Path) -> list[tuple[str, int | None, Path]]:
    """``(run id, epoch, folder)`` of every log folder of the output folder, in sorted order."""
    root = folder / EVAL_LOG_DIR
    found: list[tuple[str, int | None, Path]] = []
    try:
        runs = sorted(e.name for e in os.scandir(root) if e.is_dir())
    except OSError:
        return found
    for run_id in runs:
        if run_id == BASELINE:
            found.append((BASELINE, None, root / BASELINE))
            continue
        try:
            epochs = [e.name for e in os.scandir(root / run_id) if e.is_dir() and _EPOCH.fullmatch(e.name)]
        except OSError:
            continue
        for name in sorted(epochs, key=lambda n: int(n.split("_")[1])):
            found.append((run_id, int(name.split("_")[1]), root / run_id / name))
    return found


def _log_files(folder: Path) -> list[Path]:
    """Files that may be Inspect logs (by suffix): whether inspect_ai is needed at all."""
    try:
        return sorted(Path(e.path) for e in os.scandir(folder) if e.is_file() and e.name.endswith(_LOG_SUFFIXES))
    except OSError:
        return []


def read_scores(folder: Path) -> list[EvalScore]:
    """Every evaluation score of the output folder, read with inspect_ai.log; [] when none ran.

    Sorted by run id (``baseline`` first), epoch, task, scorer and metric. Raises a `JobsError`
    (hint: install the eval extra) when logs exist but inspect_ai is not installed, or a log
    cannot be read.
    """
    folder = Path(folder).resolve()  # log_path: absolute
    places = [(run_id, epoch, files) for run_id, epoch, where in _log_folders(folder) if (files := _log_files(where))]
    if not places:
        return []
    if importlib.util.find_spec("inspect_ai") is None:
        raise JobsError([Problem("this output folder holds Inspect AI logs, and reading them needs inspect_ai, which "
                                 "is not installed", pos=SourcePos(str(folder / EVAL_LOG_DIR)), hint=INSTALL_HINT)])
    from inspect_ai.log import list_eval_logs, read_eval_log

    scores: list[EvalScore] = []
    for run_id, epoch, files in places:
        # Inspect's own listing tells its logs from other files (a notes.json beside them).
        listed = list_eval_logs(str(files[0].parent), recursive=False)
        logs = sorted(Path(unquote(urlparse(info.name).path)) if info.name.startswith("file:") else Path(info.name)
                      for info in listed)
        newest: dict[str, tuple[str, Path, Any]] = {}  # task -> (created, file, results)
        for path in logs:
            try:
                log = read_eval_log(str(path), header_only=True)
            except Exception as exc:  # a truncated or foreign file: say which, never a traceback
                raise JobsError([Problem(f"cannot read the Inspect AI log: {exc}", pos=SourcePos(str(path)),
                                         hint="remove the file if it is not an Inspect AI log, or check that "
                                              "inspect_ai is as new as the one that wrote it")]) from None
            if log.status != "success" or log.results is None:
                continue
            task = log.eval.task
            created = str(log.eval.created)
            if task not in newest or (created, str(path)) > (newest[task][0], str(newest[task][1])):
                newest[task] = (created, path, log.results)
        for task, (_, path, results) in newest.items():
            for score in results.scores:
                for metric in score.metrics.values():
                    scores.append(EvalScore(run_id=run_id, task=task, epoch=epoch, scorer=score.name,
                                            metric=metric.name, value=float(metric.value), log_path=path))
    return sorted(scores, key=lambda s: (s.run_id != BASELINE, s.run_id, -1 if s.epoch is None else s.epoch, s.task,
                                         s.scorer, s.metric, str(s.log_path)))


def evaluation_states(folder: Path, *, cluster: Cluster | None = None) -> dict[str, EvalStatus]:
    """Each run's evaluation job state by run id (``baseline`` included when the folder evaluates the
    base model); {} when the folder has no evaluation scripts. One squeue and one sacct call, as
    `ttgen.jobs.status.sweep_status`, which also puts them on its rows (`RunStatus.evaluation`)."""
    status = sweep_status(Path(folder), cluster=cluster)
    found = {r.run_id: r.evaluation for r in status.runs if r.evaluation is not None}
    if status.baseline is not None:
        found = {BASELINE: status.baseline, **found}
    return found
