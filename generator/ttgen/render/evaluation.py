"""The evaluation files of an output folder (docs/evaluating.md).

`write_evaluations` lists every run x epoch x task (and the baseline's) in
``evaluation/evaluations.yaml``, writes one eleuther_eval config per evaluation for
harness torchtune, and creates ``evaluation/logs/`` empty (Inspect AI writes there;
`ttgen check` ignores what appears in it). It returns the evaluations by run id,
for the SLURM scripts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


from ..errors import ExperimentError, ValueProblem
from ..yamlio.dump import document_text
from ..layout import BASELINE, EVAL_CONFIGS_DIR, EVAL_FILE, EVAL_LOG_DIR
from ..plan.evaluation import Evaluation, baseline_evaluations, run_evaluations
from ..plan.runs import Plan
from .folder import AtomicFolder

_MAX_SHOWN = 20  # problems reported from one render; the rest are the same mistake in more runs

_HEADER = """\
# Every evaluation of this sweep, written by ttgen (docs/evaluating.md): run id -> one entry per
# epoch x task, with the checkpoint folder as torchtune's checkpointer writes it (epoch_N), where
# Inspect AI writes its logs, and the exact command the evaluation job runs. A relative path is read
# from the job's working folder, as `tune run` read it while training.
"""


def plan_evaluations(plan: Plan, *, final_dir: Path) -> dict[str, list[Evaluation]]:
    """Every run's evaluations (``baseline`` first when asked); all problems raised at once."""
    settings = plan.evaluation
    assert settings is not None
    pos = plan.experiment.doc.pos(("evaluation",))
    found: dict[str, list[Evaluation]] = {}
    problems = []
    first_tree: dict[str, Any] | None = None
    for run in plan.runs():
        tree = plan.merged(run).tree
        if first_tree is None:
            first_tree = tree
        try:
            found[run.run_id] = run_evaluations(settings, run_id=run.run_id, tree=tree, folder=final_dir, pos=pos)
        except ValueProblem as err:
            problems.append(err.problem)
    if problems:
        raise ExperimentError(problems[:_MAX_SHOWN])
    if settings.baseline and first_tree is not None:
        found = {BASELINE: baseline_evaluations(settings, tree=first_tree, folder=final_dir), **found}
    return found


def write_evaluations(plan: Plan, folder: AtomicFolder, *, final_dir: Path) -> dict[str, list[Evaluation]]:
    """Write evaluation/evaluations.yaml (and harness torchtune's configs); returns the evaluations."""
    found = plan_evaluations(plan, final_dir=final_dir)
    folder.mkdir(EVAL_LOG_DIR)
    if any(e.config is not None for evaluations in found.values() for e in evaluations):
        folder.mkdir(EVAL_CONFIGS_DIR)
    for evaluations in found.values():
        for e in evaluations:
            if e.config is not None and e.config_tree is not None:
                folder.write_text(e.config, f"# eleuther_eval config of {e.run_id}"
                                            f"{'' if e.epoch is None else f', epoch {e.epoch}'}, task "
                                            f"{e.task.written}, written by ttgen (evaluation/evaluations.yaml)\n"
                                  + document_text(e.config_tree))
    body = {run_id: [e.to_entry() for e in evaluations] for run_id, evaluations in found.items()}
    folder.write_text(EVAL_FILE, _HEADER + document_text(body))
    return found
