"""An output folder as an object: ``ttgen.open(DIR)``.

Examples:
    >>> import ttgen
    >>> folder = ttgen.open("tests/data/results_sweep/folder")
    >>> [(run.run_id, run.variables) for run in folder.runs][:2]
    [('run_000', {'lora_rank': 4, 'seed': 0}), ('run_001', {'lora_rank': 4, 'seed': 1})]
    >>> folder.run("run_002").config["model"]["lora_rank"]
    8
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..jobs.cluster import Cluster
from ..jobs.resubmit import resubmit_runs, resume_runs
from ..jobs.status import SweepStatus, sweep_status
from ..jobs.submit import SubmitResult, submit_sweep
from ..layout import CONFIGS_DIR, EXPERIMENT_FILE
from ..results.collect import SweepResults, collect_results
from ..results.report import write_report
from ..review.check import CheckResult, check_experiment
from ..review.diff import DiffResult, diff_runs
from ..review.folders import find_output_folder, match_run, read_run_mapping
from ..validate.report import ValidationReport
from ..validate.validator import validate_output_folder


@dataclass
class FolderRun:
    """One run of an output folder: its id, variables and config.

    ``config`` is the run's config file as OmegaConf loads it (interpolations kept as
    written), as a plain dict; it is read when first asked for.

    Examples:
        >>> run = OutputFolder("tests/data/results_sweep/folder").run("run_004")
        >>> run.variables, run.config_path.name, run.config["model"]["lora_rank"]
        ({'lora_rank': 16, 'seed': 0}, 'run_004.yaml', 16)
    """

    run_id: str
    variables: dict[str, Any]
    config_path: Path
    output_dir: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)  # dotted path -> value its variables set
    _config: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def config(self) -> dict[str, Any]:
        """The config as a plain dict, exactly as ``OmegaConf.load`` reads the file (not resolved)."""
        if self._config is None:
            from omegaconf import OmegaConf

            loaded = OmegaConf.to_container(OmegaConf.load(self.config_path), resolve=False)
            assert isinstance(loaded, dict)
            self._config = {str(k): v for k, v in loaded.items()}
        return self._config


class OutputFolder:
    """A rendered output folder: its runs, and what the commands do with it.

    Examples:
        >>> folder = OutputFolder("tests/data/results_sweep/folder")
        >>> len(folder.runs), folder.name
        (6, 'results_fixture')
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        mapping = read_run_mapping(self.path)
        self.runs: list[FolderRun] = [
            FolderRun(run_id=run_id, variables=dict(entry.get("variables") or {}),
                      config_path=self.path / CONFIGS_DIR / str(entry.get("config", f"{run_id}.yaml")),
                      output_dir=entry.get("output_dir") if isinstance(entry.get("output_dir"), str) else None,
                      overrides=dict(entry.get("overrides") or {}))
            for run_id, entry in mapping.items()]

    def __repr__(self) -> str:
        return f"OutputFolder({str(self.path)!r}, runs={len(self.runs)})"

    @property
    def name(self) -> str:
        """The experiment's name, from the folder's copy of experiment.yaml."""
        from ..errors import RunLookupError
        from ..yamlio.load import read_own_yaml

        data = read_own_yaml(self.path / EXPERIMENT_FILE, what="experiment file", error_cls=RunLookupError)
        meta = data.get("experiment") if isinstance(data, dict) else None
        return str(meta.get("name")) if isinstance(meta, dict) else self.path.name

    def run(self, run: str | int) -> FolderRun:
        """A run by id (``run_003``) or number (``3``, ``"3"``, ``run_3``), as ``ttgen diff`` takes it."""
        run_id = match_run(str(run), [r.run_id for r in self.runs], folder=self.path)
        return next(r for r in self.runs if r.run_id == run_id)

    def diff(self, run: str | int, other: str | int | None = None) -> DiffResult:
        """What *run* changes against the recorded base config, or between *run* and *other* (``ttgen diff``)."""
        return diff_runs(self.path, str(run), other=None if other is None else str(other))

    def check(self, experiment: str | os.PathLike[str] | None = None) -> CheckResult:
        """Is this folder exactly what *experiment* renders now (``ttgen check``)? Default: the folder's
        own copy of experiment.yaml; pass the original when it names files relative to itself."""
        source = Path(experiment) if experiment is not None else self.path / EXPERIMENT_FILE
        return check_experiment(source, against=self.path)

    def validate(self, level: int | None = None) -> ValidationReport:
        """Validate every config (``ttgen validate``): level 1 without torch, level 2 with torchtune."""
        return validate_output_folder(self.path, level=level)

    def submit(self, *, runs: str | None = None, sbatch_args: Sequence[str] = (), dry_run: bool = False,
               force: bool = False, resume: bool = False, cluster: Cluster | None = None) -> SubmitResult:
        """Submit the runs to SLURM (``ttgen submit``): all, or *runs* (``"0,3-5"``); *resume*
        continues runs that already wrote a checkpoint."""
        if resume:
            return resume_runs(self.path, runs=runs, sbatch_args=sbatch_args, dry_run=dry_run, force=force,
                               cluster=cluster)
        return submit_sweep(self.path, runs=runs, sbatch_args=sbatch_args, dry_run=dry_run, force=force,
                            cluster=cluster)

    def resubmit(self, *, failed: bool = False, runs: str | None = None, sets: Sequence[str] = (),
                 oom_retry: bool = False, resume: bool = False, sbatch_args: Sequence[str] = (),
                 dry_run: bool = False, cluster: Cluster | None = None) -> SubmitResult:
        """Submit runs again with the same run ids (``ttgen resubmit``): the *failed* ones or *runs*;
        *sets* (``["batch_size=4"]``), *oom_retry* and *resume* are written into their configs first."""
        return resubmit_runs(self.path, failed=failed, runs=runs, sets=sets, oom_retry_=oom_retry,
                             resume_=resume, sbatch_args=sbatch_args, dry_run=dry_run, cluster=cluster)

    def status(self, *, cluster: Cluster | None = None) -> SweepStatus:
        """Each run's state on SLURM (``ttgen status``)."""
        return sweep_status(self.path, cluster=cluster)

    def results(self, *, workdir: str | os.PathLike[str] | None = None) -> SweepResults:
        """Each run's metrics, state and scores (``ttgen results``); see `ttgen.collect_results`."""
        return collect_results(self.path, workdir=workdir)

    def report(self, out: str | os.PathLike[str] | None = None) -> Path:
        """Write the HTML report (``ttgen report``); returns where."""
        return write_report(self.path, out=out)


def open_folder(path: str | os.PathLike[str] | None = None) -> OutputFolder:
    """Open an output folder (``ttgen.open``): *path*, or as the commands find one when None
    (the current folder, else the newest output folder of ./experiment.yaml or under ./outputs).

    Examples:
        >>> open_folder("tests/data/results_sweep/folder")
        OutputFolder('tests/data/results_sweep/folder', runs=6)
    """
    return OutputFolder(find_output_folder(Path(path) if path is not None else None))
