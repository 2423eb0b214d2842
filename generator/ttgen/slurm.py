"""SLURM submit scripts for a sweep (SPEC §8): placeholder until issue 5 lands."""

from __future__ import annotations

from pathlib import Path

import jinja2

from .errors import ExperimentError, Problem
from .plan import Plan
from .write import AtomicFolder


def write_slurm_scripts(plan: Plan, folder: AtomicFolder, *, final_dir: Path, env: jinja2.Environment) -> None:
    """Write slurm/submit_array.sh and slurm/submit_run_<id>.sh into *folder*."""
    exp = plan.experiment
    raise ExperimentError([Problem("the slurm: section is not supported by this version of ttgen yet",
                                   pos=exp.doc.pos(("slurm",)), path="slurm",
                                   hint="remove the slurm: section for now")])
