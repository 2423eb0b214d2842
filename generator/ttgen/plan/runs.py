"""The `Plan`: everything ttgen knows about an experiment before writing a file, and its runs.

A plan holds the checked experiment, its base config, the resolved keys, the
controlled tree (base after deletes and controls, shared by every run) and the
sweep. Its runs are produced lazily, one at a time, each a small `RunConfig`
(the run's id, values and overrides); `Plan.merged` builds a run's full tree.
`ttgen.plan.build.plan_experiment` makes plans.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..errors import Problem
from ..inputs.base import BaseConfig
from ..inputs.experiment import Experiment
from ..tree import value_key
from .derive import Derivation
from .evaluation import EvalSettings
from .identity import IDENTITY_KEY, METRIC_LOGGER, recorded, tracker_fields
from .merge import MergedConfig, merge_overrides
from .origins import AUTO_RUN_FOLDER, AUTO_RUN_IDENTITY, AUTO_SHARED_OUTPUT_DIR, AUTO_TRACKER
from .outputs import OUTPUT_DIR, RunFolders, same_folder
from .resolve import Override, ResolvedExperiment, Variable
from .slurm import SlurmSettings
from .sweep import RunPoint, Sweep


@dataclass(frozen=True)
class RunConfig:
    """One run before rendering: its id, variable values and the overrides to apply.

    Examples:
        >>> from ttgen import plan_experiment
        >>> run = next(plan_experiment("examples/lora_rank_sweep/experiment.yaml").runs())
        >>> run.run_id, run.variables, [o.path for o in run.overrides]
        ('run_000', {'lora_rank': 8}, [('model', 'lora_rank'), ('output_dir',), ('ttgen', 'run_id'), ('ttgen', 'variables', 'lora_rank')])
    """

    point: RunPoint
    variables: dict[str, Any]  # as written (a templated value stays its template text)
    overrides: tuple[Override, ...]
    output_dir: Any
    output_dir_auto: bool
    derived: dict[str, Any] = field(default_factory=dict)  # written key -> evaluated value
    base: int = 0  # which base config the run starts from (its index in a base axis)

    @property
    def run_id(self) -> str:
        return self.point.run_id

    @property
    def index(self) -> int:
        return self.point.index


@dataclass
class Plan:
    """A checked experiment, ready to render run by run.

    Examples:
        >>> from ttgen import plan_experiment
        >>> plan = plan_experiment("examples/lora_rank_sweep/experiment.yaml")
        >>> run = next(plan.runs())
        >>> run.run_id, plan.merged(run).tree["model"]["lora_rank"]
        ('run_000', 8)
    """

    experiment: Experiment
    base: BaseConfig
    resolved: ResolvedExperiment
    controlled: MergedConfig  # base after deletes and controls: shared by every run
    sweep: Sweep
    warnings: list[Problem] = field(default_factory=list)
    slurm: SlurmSettings | None = None  # the checked slurm: section (None without one, or when not asked)
    evaluation: EvalSettings | None = None  # the checked evaluation: section (None without one)
    _shared_output_dirs: frozenset[Any] = frozenset()
    _output_folder: Path | None = None
    # Controls whose values are {{ ... }} templates: evaluated per run, in written order.
    derived_controls: tuple[tuple[Override, Derivation], ...] = ()
    # Per variable, per value: the compiled template when the value is one, else None.
    _variable_templates: tuple[tuple[Derivation | None, ...], ...] = ()
    # Per variable, per value: its Overrides (one; a preset's several), built once.
    _static: tuple[tuple[tuple[Override, ...], ...], ...] = ()
    # Each run's own output_dir when experiment.yaml sets none (None: it sets one, or the base has none).
    folders: RunFolders | None = None
    # The metric logger's component and the keys that name a run in it, filled per run.
    tracker: tuple[Any, tuple[str, ...]] = (None, ())
    # ttgen's own values shared by every run (the ttgen: block, null placeholders of per-run names).
    placeholders: tuple[Override, ...] = ()
    # Values `ttgen resubmit` changed in some runs (--set, --oom-retry, --resume), by run id;
    # applied after everything experiment.yaml sets, and recorded in the manifest.
    run_changes: dict[str, tuple[Override, ...]] = field(default_factory=dict)
    # The command-line overrides as given (``epochs=1``, ``~profiler``), recorded in the manifest.
    command_line: tuple[str, ...] = ()
    # A base axis (base_config is a list): one plan per base, each for its own runs, in written
    # order; this plan is then the first base's and runs, merges and counts go through them.
    parts: tuple["Plan", ...] = ()
    # SLURM settings of the runs whose presets carry slurm: resources, by those presets' value
    # indices (variables with such presets, in written order); other runs use `slurm`.
    preset_slurm: dict[tuple[int, ...], SlurmSettings] = field(default_factory=dict)
    base_index: int = 0  # which base of the axis this plan is for

    @property
    def bases(self) -> tuple["Plan", ...]:
        """One plan per base config: the parts of a base axis, or this plan alone."""
        return self.parts or (self,)

    def part(self, run: RunConfig) -> "Plan":
        """The plan of the run's own base config."""
        return self.parts[run.base] if self.parts else self

    def slurm_for(self, point: RunPoint) -> tuple[tuple[int, ...], SlurmSettings | None]:
        """A run's SLURM settings (of this base's plan), and the key of its presets' resources
        (empty when it takes none: the slurm: section as written)."""
        carriers = [vi for vi, v in enumerate(self.variables) if v.presets is not None and any(v.preset_slurm)]
        combo = tuple(point.choices[vi] for vi in carriers)
        if combo in self.preset_slurm:
            return combo, self.preset_slurm[combo]
        return (), self.slurm

    @property
    def points(self) -> Iterator[RunPoint]:
        """Every run's sweep point, base after base (no values evaluated)."""
        for plan in self.bases:
            yield from plan.sweep

    @property
    def variables(self) -> tuple[Variable, ...]:
        return self.resolved.variables

    @property
    def derived_names(self) -> list[str]:
        """Names of derived values (templated controls, then templated variables) in written order."""
        names = [ov.key for ov, _ in self.derived_controls]
        names += [v.name for v, t in zip(self.variables, self._variable_templates) if any(t)]
        return names

    def __len__(self) -> int:
        return sum(len(p.sweep) for p in self.parts) if self.parts else len(self.sweep)

    def _scope(self, point: RunPoint, values: dict[str, Any]) -> dict[str, Any]:
        scope = {"run_id": point.run_id, "run_index": point.index, "experiment": self.experiment.metadata,
                 "variables": values}
        for name, value in values.items():
            scope.setdefault(name, value)
        return scope

    @property
    def has_derived(self) -> bool:
        """Whether runs evaluate {{ ... }} values (templated controls or variable values)."""
        return bool(self.derived_controls) or any(any(t) for t in self._variable_templates)

    @property
    def output_dir_per_run(self) -> bool:
        """Whether a run may set output_dir itself (a variable or a derived value), not only the controls."""
        return self.has_derived or any(OUTPUT_DIR in v.paths for v in self.variables)

    @property
    def output_folder(self) -> Path | None:
        """The output folder the plan was made for (run output folders live in it by default)."""
        return self.folders.output_folder if self.folders is not None else self._output_folder

    def _identity(self, point: RunPoint, values: dict[str, Any], derived: dict[str, Any]) -> list[Override]:
        """The run's ``ttgen:`` block and tracker names, as overrides of the placeholders of the controlled tree."""
        if (IDENTITY_KEY,) not in self.controlled.origins:
            return []  # the base has a ttgen: key of its own, left as it is
        root_pos = self.experiment.doc.pos(())
        final = {name: derived.get(name, value) for name, value in values.items()}
        out = [Override(key=AUTO_RUN_IDENTITY, path=(IDENTITY_KEY, "run_id"), value=point.run_id, origin="auto",
                        pos=root_pos, doc_path=())]
        for var, choice in zip(self.variables, point.choices):
            # A value as written (3e-4 stays 3e-4), unless it was derived for this run.
            value = final[var.name]
            written = var.name not in derived and not (isinstance(value, str) and "${" in value)
            out.append(Override(key=AUTO_RUN_IDENTITY, path=(IDENTITY_KEY, "variables", var.name),
                                value=recorded(value), origin="auto", pos=root_pos,
                                doc_path=var.doc_path + (choice,) if written else (),
                                sources=var.sources if written else {}))
        component, keys = self.tracker
        if keys:
            fields = tracker_fields(component, experiment=self.experiment.name, run_id=point.run_id, values=final)
            out += [Override(key=AUTO_TRACKER, path=METRIC_LOGGER + (key,), value=fields[key], origin="auto",
                             pos=root_pos, doc_path=()) for key in keys]
        return out

    def iter_runs(self, shared: frozenset[Any] | None) -> Iterator[RunConfig]:
        """Runs with derived values evaluated; *shared* output_dirs get <dir>/<run_id> (None: never)."""
        if self.parts:
            for part in self.parts:
                yield from part.iter_runs(shared)
            return
        variables = self.variables
        names = [v.name for v in variables]
        values_of = [v.values for v in variables]
        static = self._static
        dynamic = self.has_derived
        base_dir = self.controlled.tree.get("output_dir")
        root_pos = self.experiment.doc.pos(())
        # Most sweeps never set output_dir per run: then whether it is shared is known once.
        may_set_output_dir = self.output_dir_per_run
        base_auto = shared is not None and isinstance(base_dir, str) and value_key(same_folder(base_dir)) in shared
        for point in self.sweep:
            choices = point.choices
            values = {name: vals[c] for name, vals, c in zip(names, values_of, choices)}
            if dynamic:
                overrides, derived = self._derive(point, values)
            else:
                # Almost every sweep: each run picks Overrides built once per value.
                overrides, derived = [ov for row, c in zip(static, choices) for ov in row[c]], {}
            out = base_dir
            if self.folders is not None:
                # experiment.yaml sets no output_dir: the run's own folder (output.run_dir).
                # In scope: run_id, run_index, experiment, and the run's variables as written
                # (a preset's name: output.run_dir: "{{ model }}/{{ run_id }}").
                out = self.folders.folder(self._scope(point, values))
                auto = True
                overrides.append(Override(key=AUTO_RUN_FOLDER, path=OUTPUT_DIR, value=out, origin="auto",
                                          pos=root_pos, doc_path=()))
            else:
                if may_set_output_dir:
                    for ov in overrides:
                        if ov.path == OUTPUT_DIR:
                            out = ov.value
                    auto = shared is not None and isinstance(out, str) and value_key(same_folder(out)) in shared
                else:
                    auto = base_auto
                if auto:
                    assert isinstance(out, str)  # only a text output_dir is ever shared
                    out = f"{out.rstrip('/')}/{point.run_id}"
                    overrides.append(Override(key=AUTO_SHARED_OUTPUT_DIR, path=OUTPUT_DIR, value=out, origin="auto",
                                              pos=root_pos, doc_path=()))
            overrides.extend(self.run_changes.get(point.run_id, ()))
            overrides.extend(self._identity(point, values, derived))
            yield RunConfig(point=point, variables=values, overrides=tuple(overrides), output_dir=out,
                            output_dir_auto=auto, derived=derived, base=self.base_index)

    def _derive(self, point: RunPoint, values: dict[str, Any]) -> tuple[list[Override], dict[str, Any]]:
        """A run's overrides with its {{ ... }} values evaluated, and those values by name."""
        scope = self._scope(point, values)
        overrides: list[Override] = []
        derived: dict[str, Any] = {}
        for vi, c in enumerate(point.choices):
            tpl = self._variable_templates[vi][c]
            if tpl is None:
                overrides.extend(self._static[vi][c])
                continue
            ov = self._static[vi][c][0]  # a template is one plain variable's value, never a preset
            value = tpl.evaluate(scope)
            derived[ov.key] = value
            overrides.append(Override(key=ov.key, path=ov.path, value=value, origin=ov.origin, pos=ov.pos,
                                      doc_path=ov.doc_path, positions=ov.positions))
        for ctl, tpl in self.derived_controls:
            value = tpl.evaluate(scope)
            derived[ctl.key] = value
            overrides.append(Override(key=ctl.key, path=ctl.path, value=value, origin="control", pos=ctl.pos,
                                      doc_path=ctl.doc_path, positions=ctl.positions))
        return overrides, derived

    def runs(self) -> Iterator[RunConfig]:
        """The runs in order; each is small: the configs themselves are built when rendered."""
        return self.iter_runs(self._shared_output_dirs)

    def merged(self, run: RunConfig) -> MergedConfig:
        """The run's full config tree (copies only the mappings its overrides touch), from its own base."""
        return merge_overrides(self.part(run).controlled, run.overrides)
