"""The whole render: plan an experiment, then stream every run's config into an output folder.

This is the Python API behind ``ttgen render``: `render_experiment` returns a
`RenderResult` and raises `UserError` subclasses; it never prints or exits.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import jinja2

from . import __version__
from .errors import ExperimentError, OutputError, Problem, SourcePos
from .experiment import Experiment
from .merge import MergeConflict
from .plan import Plan, RunConfig, plan_experiment
from .render import MANIFEST_TEMPLATE, MAPPING_TEMPLATE, ConfigRenderer, inline_text, load_template, make_environment
from .table import dotted
from .write import AtomicFolder
from .yamltext import key_text, value_text


@dataclass
class RenderResult:
    """What a render did: where it wrote, how many runs, and the warnings found."""

    plan: Plan
    output_dir: Path | None  # None for a dry run
    warnings: list[Problem] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256

    @property
    def run_count(self) -> int:
        return len(self.plan)


def default_output_dir(exp: Experiment, now: _dt.datetime) -> Path:
    """``<output.base_dir>/<name>_<YYYYmmdd_HHMMSS>`` (local time, the researcher's clock)."""
    return exp.output_base_dir / f"{exp.name}_{now.strftime('%Y%m%d_%H%M%S')}"


def _mapping_rows(plan: Plan) -> Iterator[dict[str, Any]]:
    """Per-run rows for the run_mapping template; text of values shared by runs is built once."""
    cache: dict[Any, str] = {}
    static_ids = plan.static_overrides()

    def entry(name: str, value: Any, source: str | None, key: Any) -> str:
        hit = cache.get(key) if key is not None else None
        if hit is None:
            inline, block = value_text(value, indent=4, source=source)
            hit = "    " + key_text(name) + ":" + (" " + inline if inline else "") + "\n" + block
            if key is not None:
                cache[key] = hit
        return hit

    for run in plan.runs():
        variables = "".join(entry(v.name, run.variables[v.name], v.source(c), ("v", vi, c))
                            for vi, (v, c) in enumerate(zip(plan.variables, run.point.choices)))
        overrides = "".join(
            entry(dotted(ov.path), ov.value, ov.source if id(ov) in static_ids else None,
                  ("o", id(ov)) if id(ov) in static_ids else None)
            for ov in run.overrides if ov.origin != "auto")
        derived = "".join(entry(name, value, None, None) for name, value in run.derived.items())
        yield {
            "run_id": run.run_id,
            "variables": run.variables,
            "variables_text": variables,
            "overrides_text": overrides,
            "derived_text": derived,
            "output_dir": run.output_dir,
            "output_dir_auto": run.output_dir_auto,
        }


def write_output(plan: Plan, target: Path, *, force: bool = False, unique: bool = False,
                 env: jinja2.Environment | None = None, now: _dt.datetime | None = None,
                 final_dir: Path | None = None) -> tuple[Path, dict[str, str]]:
    """Render every run into *target*, atomically; returns the final folder and file hashes.

    *final_dir* is where the folder will be used from, when that is not *target*
    (``ttgen check`` renders into a temporary place as if into the user's folder):
    absolute paths written into files (SLURM scripts) point there.
    """
    env = env or make_environment()
    now = now or _dt.datetime.now(_dt.timezone.utc)
    renderer = ConfigRenderer(plan, env=env)
    mapping = load_template(env, MAPPING_TEMPLATE)
    manifest = load_template(env, MANIFEST_TEMPLATE)
    exp, base = plan.experiment, plan.base
    with AtomicFolder(target, force=force, unique=unique) as folder:
        folder.write_bytes("experiment.yaml", exp.raw)
        folder.write_bytes("base_config.yaml", base.doc.raw)
        folder.mkdir("configs")
        run: RunConfig | None = None
        try:
            for run in plan.runs():
                folder.write_text(f"configs/{run.run_id}.yaml", renderer.render(run))
        except MergeConflict as conflict:
            p = conflict.problem
            raise ExperimentError([Problem(f"{run.run_id if run else 'a run'}: {p.message}", pos=p.pos,
                                           path=p.path, hint=p.hint)]) from None
        except jinja2.TemplateError as exc:
            raise OutputError([Problem(f"config template failed: {exc}", pos=SourcePos("config.yaml.j2"))]) from None
        folder.stream_text("configs/run_mapping.yaml", mapping.generate(
            experiment_name=exp.name, run_count=len(plan), runs=_mapping_rows(plan)))
        if exp.slurm is not None:
            from .slurm import write_slurm_scripts

            write_slurm_scripts(plan, folder, final_dir=(final_dir or folder.target).resolve(), env=env)
        files = dict(sorted(folder.files.items()))
        folder.write_text("manifest.yaml", manifest.render(
            ttgen_version=__version__,
            torchtune_version=base.torchtune_version,
            created_at=now.isoformat(timespec="seconds"),
            experiment_name=exp.name,
            experiment_sha256=files["experiment.yaml"],
            base_source=base.source,
            base_kind=base.kind,
            recipe=base.recipe,
            base_sha256=files["base_config.yaml"],
            run_count=len(plan),
            files=list(files.items()),
        ))
    return folder.target, dict(folder.files)


def render_experiment(experiment_path: Path | str, *, out: Path | str | None = None, force: bool = False,
                      dry_run: bool = False, max_runs: int | None = None, template_dir: Path | str | None = None,
                      now: _dt.datetime | None = None) -> RenderResult:
    """Plan and render an experiment (SPEC §6). Raises `UserError` on any input problem."""
    plan = plan_experiment(experiment_path, max_runs=max_runs)
    result = RenderResult(plan=plan, output_dir=None, warnings=list(plan.warnings))
    if dry_run:
        return result
    env = make_environment(Path(template_dir) if template_dir else None)
    local_now = (now or _dt.datetime.now(_dt.timezone.utc)).astimezone()
    target = Path(out) if out is not None else default_output_dir(plan.experiment, local_now)
    result.output_dir, result.files = write_output(plan, target, force=force, unique=out is None, env=env,
                                                   now=local_now)
    return result


__all__ = ["RenderResult", "render_experiment", "write_output", "default_output_dir", "inline_text"]
