"""An experiment as an object: ``ttgen.Experiment.from_file`` / ``from_dict``, its plan, and ``ttgen.render``.

`Experiment` is experiment.yaml loaded and checked against the schema, from a file or from
a dict built in code (a notebook, a workflow tool). Both give equal experiments for the
same content, and the same `UserError`s with the same `Problem` records; a problem in a
dict has its dotted path but no line and column (there is no file to point into).

Examples:
    >>> import ttgen
    >>> exp = ttgen.Experiment.from_file("examples/lora_rank_sweep/experiment.yaml")
    >>> exp.name, exp.variables
    ('lora_rank_study', {'lora_rank': [8, 16, 32, 64]})
    >>> runs = exp.plan()
    >>> [(run.run_id, run.variables) for run in runs][:2]
    [('run_000', {'lora_rank': 8}), ('run_001', {'lora_rank': 16})]
    >>> runs[1].config["model"]["lora_rank"], runs[1].overrides["model.lora_rank"]
    (16, 16)
"""

from __future__ import annotations

import datetime as _dt
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from ..errors import ExperimentError, Problem, SourcePos, UserError
from ..inputs import experiment as loading
from ..layout import EXPERIMENT_FILE, free_output_folder
from ..render.output import RenderResult, render_experiment
from ..yamlio.dump import document_text
from .folder import OutputFolder

DICT_SOURCE = "<dict>"  # how problems of an experiment built from a dict name their "file"


@dataclass(frozen=True)
class PlannedRun:
    """One run of a plan: its id, variable values, the config paths it sets, and its config.

    ``config`` is the run's config as a plain dict, exactly as ``OmegaConf.load`` reads the
    file ``ttgen render`` writes (interpolations kept as written).

    Examples:
        >>> run = Experiment.from_file("examples/lora_rank_sweep/experiment.yaml").plan()[0]
        >>> run.run_id, run.variables, run.overrides, run.config["model"]["lora_rank"]
        ('run_000', {'lora_rank': 8}, {'model.lora_rank': 8}, 8)
    """

    run_id: str
    variables: dict[str, Any]
    overrides: dict[str, Any]  # dotted path -> value, set by this run's variables and derived values
    output_dir: str | None
    config: dict[str, Any]


@dataclass
class SweepPlan:
    """The runs an experiment renders to, and the warnings found while planning.

    Iterating gives the runs; ``len`` is the run count; ``plan[i]`` is run i.

    Examples:
        >>> plan = Experiment.from_file("examples/lora_rank_sweep/experiment.yaml").plan()
        >>> len(plan), plan[3].run_id, plan.warnings
        (4, 'run_003', [])
    """

    runs: list[PlannedRun]
    warnings: list[Problem] = field(default_factory=list)
    output_folder: Path | None = None  # where a render without --out would write

    def __iter__(self) -> Iterator[PlannedRun]:
        return iter(self.runs)

    def __len__(self) -> int:
        return len(self.runs)

    def __getitem__(self, index: int) -> PlannedRun:
        return self.runs[index]


class Experiment:
    """experiment.yaml, loaded and checked: from a file or from a dict.

    Examples:
        >>> a = Experiment.from_file("examples/lora_rank_sweep/experiment.yaml")
        >>> b = Experiment.from_dict(a.data, base_dir="examples/lora_rank_sweep")
        >>> a == b, b.path is None
        (True, True)
    """

    def __init__(self, loaded: loading.Experiment, *, from_file: bool) -> None:
        self._loaded = loaded
        self._from_file = from_file

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Experiment:
        """Load experiment.yaml; raises `ExperimentError` (problems with file, line and column)."""
        return cls(loading.load_experiment(Path(path), display=str(path)), from_file=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, base_dir: str | os.PathLike[str] = ".") -> Experiment:
        """An experiment from a dict with experiment.yaml's content; relative paths in it (a
        ``base_config_file``, ``output.base_dir``) start from *base_dir*. Raises `ExperimentError`
        whose problems name ``<dict>`` and the dotted path."""
        try:
            text = document_text(dict(data))
        except Exception as exc:  # a value YAML cannot hold (an object, a function)
            raise ExperimentError([Problem(f"the experiment cannot be written as YAML: {exc}",
                                           pos=SourcePos(DICT_SOURCE),
                                           hint="use only dicts, lists, strings, numbers, booleans and None")]) from None
        path = Path(base_dir).resolve() / EXPERIMENT_FILE
        try:
            loaded = loading.experiment_from_text(text, path=path, display=DICT_SOURCE)
        except UserError as err:
            # The line numbers would point into text nobody wrote: keep the dotted paths only.
            raise type(err)([replace(p, pos=SourcePos(DICT_SOURCE)) if p.pos is not None else p
                             for p in err.problems]) from None
        return cls(loaded, from_file=False)

    @property
    def name(self) -> str:
        """``experiment.name``."""
        return self._loaded.name

    @property
    def path(self) -> Path | None:
        """The file it was read from; None when built from a dict."""
        return self._loaded.path if self._from_file else None

    @property
    def base_dir(self) -> Path:
        """The folder relative paths in it start from."""
        return self._loaded.folder

    @property
    def data(self) -> dict[str, Any]:
        """Its content, typed as ttgen reads YAML (OmegaConf's rules: ``3e-4`` is a float)."""
        data = self._loaded.doc.data
        return dict(data) if isinstance(data, dict) else {}

    @property
    def variables(self) -> dict[str, Any]:
        """``variables:`` as written."""
        return dict(self._loaded.variables)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Experiment):
            return NotImplemented
        return self.data == other.data and self.base_dir == other.base_dir

    def __hash__(self) -> int:
        return hash((self.name, self.base_dir))

    def __repr__(self) -> str:
        where = str(self.path) if self.path is not None else f"{DICT_SOURCE}, base_dir={str(self.base_dir)!r}"
        return f"Experiment({self.name!r}, {where})"

    def plan(self, *, overrides: Sequence[str] = ()) -> SweepPlan:
        """Every run, with its config as the rendered file would hold it; nothing is kept on disk.

        *overrides*: as on the command line (``["epochs=1", "~profiler"]``). Raises `UserError`.
        """
        now = _dt.datetime.now(_dt.timezone.utc)
        # Where a render without --out would write now: the runs' own folders point there.
        final = free_output_folder(self._loaded.output_base_dir, self._loaded.name, now.astimezone())
        with tempfile.TemporaryDirectory(prefix="ttgen-plan-") as tmp:
            # Rendered for real (the configs are the files a render writes), then read back.
            written = render_experiment(self._loaded, out=Path(tmp) / "out", final_dir=final, now=now,
                                        overrides=overrides)
            assert written.output_dir is not None
            runs = [PlannedRun(run_id=run.run_id, variables=run.variables, overrides=run.overrides,
                               output_dir=run.output_dir, config=run.config)
                    for run in OutputFolder(written.output_dir).runs]
        return SweepPlan(runs=runs, warnings=list(written.warnings), output_folder=final)

    @property
    def loaded(self) -> loading.Experiment:
        """The checked experiment the core functions take (``render_experiment``, ``plan_experiment``)."""
        return self._loaded


def render(experiment: Experiment | str | os.PathLike[str], *, out: str | os.PathLike[str] | None = None,
           force: bool = False, overrides: Sequence[str] = (), validate: bool = False) -> RenderResult:
    """Render an experiment into its output folder (``ttgen render``); returns where, and every file written.

    Examples:
        >>> import ttgen
        >>> exp = ttgen.Experiment.from_file("examples/lora_rank_sweep/experiment.yaml")
        >>> result = ttgen.render(exp, out="/tmp/lora_study", force=True)  # doctest: +SKIP
        >>> result.output_dir, sorted(result.files)[:2]  # doctest: +SKIP
        (PosixPath('/tmp/lora_study'), ['base_config.yaml', 'configs/run_000.yaml'])
    """
    source = experiment.loaded if isinstance(experiment, Experiment) else Path(experiment)
    return render_experiment(source, out=Path(out) if out is not None else None, force=force, overrides=overrides, validate=validate)
