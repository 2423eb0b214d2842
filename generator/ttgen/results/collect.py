"""Every run of an output folder as a `RunResult`: its variables, state, how far it got, each
metric's final and best value, its checkpoints and (when evaluations ran) its scores.

The state is `ttgen status`'s (SLURM, or the jobs' markers). A run never submitted through
ttgen but trained by hand (``tune run --config configs/run_000.yaml``) is read from its files:
COMPLETED when the checkpoint of its last epoch exists, UNFINISHED when only its logs do
(docs/results.md); its elapsed time is unknown (torchtune's log has no clock times). Runs that never started are listed too, with no values: never dropped.

Relative paths in a config (``output_dir: outputs/x``) start from the folder its job ran in;
for a run trained by hand, from *workdir* (the current folder by default).

Examples:
    >>> results = collect_results("outputs/study_20261204_101500")  # doctest: +SKIP
    >>> [(r.run_id, r.state, r.final("loss")) for r in results.runs]  # doctest: +SKIP
    [('run_000', 'COMPLETED', 1.92), ('run_001', 'FAILED', 2.41), ('run_002', 'NOT_SUBMITTED', None)]
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

from ..errors import JobsError, Problem, RunLookupError
from ..jobs.cluster import Cluster
from ..jobs.evaluation import read_scores
from ..jobs.metrics import log_files
from ..jobs.status import run_log_dir, sweep_status
from ..layout import CONFIGS_DIR, EXPERIMENT_FILE
from ..review.folders import read_run_mapping
from ..tree import dotted, leaves
from ..yamlio.load import read_own_yaml
from . import cache
from .logs import LogSummary, MetricSummary, direction, merge, summarize_log
from .scores import arrange

UNFINISHED = "UNFINISHED"  # trained outside ttgen submit; its last epoch's checkpoint is not there (yet)
_EPOCH_DIR = re.compile(r"epoch_(\d+)")


@dataclass
class RunResult:
    """One run's row of results: `collect_results` makes one per run, in sweep order.

    Examples:
        >>> run = RunResult("run_000", {"lora_rank": 8}, "COMPLETED")
        >>> run.final("loss") is None, run.to_dict()["state"]
        (True, 'COMPLETED')
    """

    run_id: str
    variables: dict[str, Any]
    state: str
    job: str | None = None
    exit_code: int | None = None
    elapsed: float | None = None  # seconds
    epochs: int | None = None  # as configured
    steps: int | None = None  # the last logged step
    metrics: dict[str, MetricSummary] = field(default_factory=dict)
    curve: list[tuple[int, float]] = field(default_factory=list)  # (step, loss), thinned for plotting
    checkpoints: list[str] = field(default_factory=list)  # absolute epoch_N folders, in epoch order
    scores: dict[str, float] = field(default_factory=dict)  # "task/metric" -> value of its newest evaluated epoch
    evaluations: list[dict[str, Any]] = field(default_factory=list)  # every score: task, epoch, scorer, metric, ...
    output_dir: str | None = None
    log: str | None = None  # the job's stdout log
    reason: str = ""  # what made it OUT_OF_MEMORY, or why it pends
    metric_logs: list[str] = field(default_factory=list)

    def final(self, metric: str) -> float | None:
        """The metric's last logged value, None when it was never logged."""
        m = self.metrics.get(metric)
        return None if m is None else m.final

    def best(self, metric: str) -> float | None:
        """The metric's best value (lowest loss, highest throughput...), None when it has no direction."""
        m = self.metrics.get(metric)
        return None if m is None else m.best(metric)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (the ``ttgen results --json`` record of this run)."""
        return {"run_id": self.run_id, "variables": self.variables, "state": self.state, "job": self.job,
                "exit_code": self.exit_code, "elapsed_seconds": self.elapsed, "epochs": self.epochs,
                "steps": self.steps, "metrics": {n: m.to_json(n) for n, m in self.metrics.items()},
                "scores": self.scores, "evaluations": self.evaluations, "checkpoints": self.checkpoints, "output_dir": self.output_dir,
                "log": self.log, "reason": self.reason or None, "metric_logs": self.metric_logs}


@dataclass
class Design:
    """What the experiment set out to test, from the folder's copy of experiment.yaml."""

    name: str
    question: str | None = None
    hypothesis: str | None = None
    description: str | None = None
    variables: dict[str, list[Any]] = field(default_factory=dict)  # name -> the values tried
    controls: dict[str, Any] = field(default_factory=dict)  # dotted path -> value
    base_config: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "question": self.question, "hypothesis": self.hypothesis,
                "description": self.description, "variables": self.variables, "controls": self.controls,
                "base_config": self.base_config}


@dataclass
class SweepResults:
    """Every run's results, the experiment's design, and what could not be read.

    Examples:
        >>> results = collect_results("tests/data/results_sweep/folder", workdir="tests/data/results_sweep",
        ...                           use_cache=False)
        >>> results.variable_names, len(results.to_dicts())
        (['lora_rank', 'seed'], 6)
    """

    folder: Path
    design: Design
    runs: list[RunResult]
    warnings: list[Problem] = field(default_factory=list)
    baseline: dict[str, float] = field(default_factory=dict)  # the untouched base model's scores (the control)

    @property
    def metric_names(self) -> list[str]:
        """Every metric any run logged, in the order they first appear."""
        names: list[str] = []
        for run in self.runs:
            names += [n for n in run.metrics if n not in names]
        return names

    @property
    def score_names(self) -> list[str]:
        """Every evaluation score ("task/metric") any run has, sorted."""
        return sorted({n for run in self.runs for n in run.scores} | set(self.baseline))

    @property
    def variable_names(self) -> list[str]:
        """The variables, in experiment.yaml's order."""
        names = list(self.design.variables)
        for run in self.runs:
            names += [n for n in run.variables if n not in names]
        return names

    def to_dicts(self) -> list[dict[str, Any]]:
        """One plain dict per run (see `RunResult.to_dict`)."""
        return [run.to_dict() for run in self.runs]

    def to_dataframe(self) -> Any:
        """A pandas DataFrame, one row per run: run_id, each variable, state, steps, elapsed,
        ``<metric>`` (final) and ``<metric>_best`` columns, and one column per score.

        Needs pandas (``pip install pandas``); raises ImportError with that hint otherwise.
        """
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError("SweepResults.to_dataframe needs pandas: pip install pandas") from exc
        return pd.DataFrame(flat_records(self))


def metric_columns(metrics: Sequence[str]) -> list[tuple[str, str, str]]:
    """For each metric, its (column, metric, what) triples: what is 'final', 'min' or 'max'."""
    cols: list[tuple[str, str, str]] = []
    for name in metrics:
        cols.append((name, name, "final"))
        way = direction(name)
        if way is not None:
            cols.append((f"{name}_{way}", name, way))
    return cols


def metric_value(run: Any, metric: str, what: str) -> float | None:
    m = run.metrics.get(metric)
    if m is None:
        return None
    return m.final if what == "final" else m.min if what == "min" else m.max


def flat_records(results: SweepResults, *, metrics: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """One flat dict per run: run_id, each variable, state, steps, elapsed_seconds, metric
    columns (see `metric_columns`) and scores. Values are plain Python values (None when missing)."""
    metrics = list(results.metric_names if metrics is None else metrics)
    rows: list[dict[str, Any]] = []
    for run in results.runs:
        row: dict[str, Any] = {"run_id": run.run_id}
        for name in results.variable_names:
            row[name] = run.variables.get(name)
        row.update({"state": run.state, "steps": run.steps, "elapsed_seconds": run.elapsed})
        for column, metric, what in metric_columns(metrics):
            row[column] = metric_value(run, metric, what)
        for score in results.score_names:
            row[score] = run.scores.get(score)
        rows.append(row)
    return rows


def _experiment_design(folder: Path, mapping: dict[str, dict[str, Any]]) -> Design:
    try:
        data = read_own_yaml(folder / EXPERIMENT_FILE, what="experiment file", error_cls=RunLookupError)
    except RunLookupError:
        data = None
    data = data if isinstance(data, dict) else {}
    meta: dict[str, Any] = data["experiment"] if isinstance(data.get("experiment"), dict) else {}
    framework: dict[str, Any] = data["framework_config"] if isinstance(data.get("framework_config"), dict) else {}

    def text(value: Any) -> str | None:
        return None if value is None else str(value)

    variables: dict[str, list[Any]] = {}
    for entry in mapping.values():
        for name, value in (entry.get("variables") or {}).items():
            seen = variables.setdefault(str(name), [])
            if value not in seen:
                seen.append(value)
    controls = data.get("controls") if isinstance(data.get("controls"), dict) else {}
    base = framework.get("base_config") or framework.get("base_config_file")
    return Design(name=str(meta.get("name") or folder.name), question=text(meta.get("question")),
                  hypothesis=text(meta.get("hypothesis")), description=text(meta.get("description")),
                  variables=variables, controls={dotted(p): v for p, v in leaves(controls)},
                  base_config=text(base))


def _config_int(text: str, key: str) -> int | None:
    """A top-level integer of a config as ttgen writes it (``epochs: 3``), without parsing the YAML."""
    m = re.search(rf"^{re.escape(key)}: (\d+)\b", text, re.M)
    return int(m.group(1)) if m else None


def _absolute(path: str | None, base: Path) -> Path | None:
    if path is None:
        return None
    p = Path(os.path.expanduser(path))
    return p if p.is_absolute() else base / p


def _checkpoints(output_dir: Path | None) -> list[str]:
    if output_dir is None:
        return []
    try:
        found = [(int(m.group(1)), e.path) for e in os.scandir(output_dir)
                 if e.is_dir() and (m := _EPOCH_DIR.fullmatch(e.name))]
    except OSError:
        return []
    return [os.path.abspath(p) for _, p in sorted(found)]


def collect_results(folder: str | os.PathLike[str], *, cluster: Cluster | None = None,
                    workdir: str | os.PathLike[str] | None = None,
                    use_cache: bool = True) -> SweepResults:
    """Every run's results in the output folder *folder* (see the module's rules).

    *cluster* runs SLURM's commands (one squeue and one sacct call, only when runs were
    submitted); *use_cache* False reads every log again and writes no cache.

    Examples:
        >>> results = collect_results("tests/data/results_sweep/folder", workdir="tests/data/results_sweep",
        ...                           use_cache=False)
        >>> [(r.run_id, r.state, r.steps) for r in results.runs[3:]]
        [('run_003', 'COMPLETED', 6), ('run_004', 'UNFINISHED', 5), ('run_005', 'NOT_SUBMITTED', None)]
        >>> round(results.runs[0].final("loss"), 3), results.metric_names
        (5.379, ['loss', 'lr', 'tokens_per_second_per_gpu'])
    """
    folder = Path(folder)
    workdir = Path.cwd() if workdir is None else Path(workdir)
    mapping = read_run_mapping(folder)
    status = sweep_status(folder, cluster=cluster, mapping=mapping)
    runs: list[RunResult] = []
    for row in status.runs:
        entry = mapping.get(row.run_id, {})
        base = Path(row.cwd) if row.cwd else workdir
        result = RunResult(run_id=row.run_id, variables=row.variables, state=row.state, job=row.job,
                           exit_code=row.exit_code, elapsed=row.elapsed, log=row.log,
                           reason=row.reason)
        output_dir = _absolute(entry.get("output_dir") if isinstance(entry.get("output_dir"), str) else None, base)
        result.output_dir = os.path.abspath(output_dir) if output_dir is not None else None
        try:
            text: str | None = (folder / CONFIGS_DIR / str(entry.get("config"))).read_text(encoding="utf-8")
        except OSError:
            text = None
        result.epochs = _config_int(text, "epochs") if text is not None else None
        log_dir = run_log_dir(folder, row.run_id, entry, cwd=str(base), text=text) if text is not None else None
        logs = log_files(log_dir) if log_dir is not None else []
        result.metric_logs = [os.path.abspath(p) for p in logs]
        if logs:
            parts = (cache.summaries(folder, row.run_id, logs, summarize=summarize_log) if use_cache
                     else [summarize_log(p) for p in logs])
            summary: LogSummary = merge(parts)
            result.steps, result.metrics, result.curve = summary.last_step, summary.metrics, summary.curve
        result.checkpoints = _checkpoints(output_dir)
        if row.state == "NOT_SUBMITTED" and logs:
            last = f"epoch_{result.epochs - 1}" if result.epochs else None
            done = last is not None and any(Path(c).name == last for c in result.checkpoints)
            result.state = "COMPLETED" if done else UNFINISHED
        runs.append(result)
    warnings = list(status.warnings)
    try:
        newest, evaluations, baseline = arrange(read_scores(folder))
    except JobsError as err:  # logs that cannot be read here (no eval extra): the rest still answers
        newest, evaluations, baseline = {}, {}, {}
        warnings += [replace(p, severity="warning", message=f"{p.message}; scores are left out") for p in err.errors]
    for run in runs:
        run.scores, run.evaluations = newest.get(run.run_id, {}), evaluations.get(run.run_id, [])
    return SweepResults(folder=folder, design=_experiment_design(folder, mapping), runs=runs,
                        warnings=warnings, baseline=baseline)
