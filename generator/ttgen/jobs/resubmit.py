"""Submitting runs again: the failed ones or chosen ones, changed or not (``ttgen resubmit``).

Changes are never silent. ``--set KEY=VALUE``, ``--oom-retry`` (half the batch, twice
the gradient accumulation: the same effective batch) and ``--resume`` become values
with origin "resubmit": the folder is rendered again from its own experiment.yaml and
recorded base config with those values, and only the files that change (the runs'
configs, run_mapping.yaml, manifest.yaml) are replaced, each by one rename. The
manifest records the changes, so ``ttgen check`` and ``ttgen diff`` apply them too;
the record of submissions names them per run.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import JobsError, Problem, SourcePos, UserError
from ..layout import CONFIGS_DIR, EXPERIMENT_FILE, MANIFEST_FILE, MAPPING_FILE, config_file
from ..plan.command_line import override_value
from ..render.output import render_experiment
from ..review.folders import recorded_eval_tasks
from ..review.diff import recorded_base_config
from ..review.folders import read_file, read_run_mapping, recorded_in
from .cluster import Cluster
from .record import latest_jobs, read
from .status import FAILED_STATES, sweep_status
from .submit import SubmitResult, holds_results, job_folders, parse_runs, run_output_dir, submit_sweep


def parse_set(items: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` items as typed values (YAML, read the way OmegaConf reads a config).

    Examples:
        >>> parse_set(["optimizer.lr=1e-4", "batch_size=2", "+extra.note=hi"])
        {'optimizer.lr': 0.0001, 'batch_size': 2, '+extra.note': 'hi'}
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise JobsError([Problem(f"--set {item!r} is not KEY=VALUE", hint="e.g. --set optimizer.lr=1e-4")])
        try:
            value = override_value(text, file="--set")
        except UserError as err:
            raise JobsError([Problem(f"--set {item!r}: the value is not YAML: {err.problems[0].message}",
                                     hint="quote it for the shell and for YAML: --set 'key=\"a: b\"'")]) from None
        out[key.strip()] = value
    return out


def _config(folder: Path, run_id: str) -> dict[str, Any]:
    doc = read_file(folder, config_file(run_id), what=f"{run_id}'s config")
    return doc.data if isinstance(doc.data, dict) else {}


def oom_retry(config: dict[str, Any], run_id: str) -> dict[str, Any]:
    """Half the batch and twice the gradient accumulation: the effective batch stays the same.

    Examples:
        >>> oom_retry({"batch_size": 8, "gradient_accumulation_steps": 2}, "run_000")
        {'batch_size': 4, 'gradient_accumulation_steps': 4}
    """
    batch, steps = config.get("batch_size"), config.get("gradient_accumulation_steps", 1)
    if not isinstance(batch, int) or isinstance(batch, bool) or not isinstance(steps, int):
        raise JobsError([Problem(f"{run_id}: --oom-retry needs whole numbers in batch_size and "
                                 f"gradient_accumulation_steps (they are {batch!r} and {steps!r})",
                                 hint="set them with --set instead")])
    if batch < 2:
        raise JobsError([Problem(f"{run_id}: batch_size is already {batch}; it cannot be halved further",
                                 hint="free memory another way: --set enable_activation_checkpointing=True, "
                                      "a shorter tokenizer.max_seq_len, or a GPU with more memory")])
    if batch % 2:
        raise JobsError([Problem(f"{run_id}: batch_size {batch} is odd; halving it would change the effective "
                                 "batch", hint=f"set it yourself: --set batch_size={batch // 2} "
                                               f"--set gradient_accumulation_steps=...")])
    return {"batch_size": batch // 2, "gradient_accumulation_steps": steps * 2}


RECIPE_STATE = "recipe_state/recipe_state.pt"  # where torchtune 0.6.1 saves it, under the run's output_dir
_EPOCH = re.compile(r"epoch_(\d+)")
# A full model's weights as torchtune's checkpointers write them into epoch_N/.
_MODEL_FILES = re.compile(r"(model-\d+-of-\d+\.safetensors|.*_model_\d+\.pt|pytorch_model-\d+-of-\d+\.bin|"
                          r"hf_model_\d+_\d+\.pt|meta_model_\d+\.pt)")


def resume(config: dict[str, Any], run_id: str, *, output_dir: Path) -> dict[str, Any]:
    """The values that make a run continue from its last checkpoint, as torchtune 0.6.1 resumes.

    torchtune saves the recipe state (optimizer, epochs run, data order) to
    ``<output_dir>/recipe_state/recipe_state.pt`` after every epoch but the last, and the
    weights to ``<output_dir>/epoch_N/``. With ``resume_from_checkpoint: True`` it reads
    the recipe state, and for LoRA the newest ``epoch_N/adapter_model.pt`` on top of the
    original base model (which ``checkpoint_dir`` must keep naming). A full finetune loads
    its weights from ``checkpoint_files`` relative to output_dir: those become the newest
    epoch's model files. (docs/running.md, "Resuming")
    """
    state = output_dir / RECIPE_STATE
    if not state.is_file():
        raise JobsError([Problem(f"{run_id}: there is no checkpoint to resume from ({state} is missing)",
                                 pos=SourcePos(str(output_dir)),
                                 hint="torchtune saves the recipe state after every epoch but the last; a run "
                                      "stopped during its first epoch starts over: resubmit it without --resume")])
    if state.stat().st_size == 0:
        # torch.save truncates the file first: a job stopped while saving leaves it empty.
        raise JobsError([Problem(f"{run_id}: its recipe state is empty ({state}): the run was stopped while "
                                 "torchtune was saving it", pos=SourcePos(str(output_dir)),
                                 hint="that checkpoint cannot be resumed from; resubmit the run without --resume")])
    epochs = sorted((int(m[1]), p) for p in output_dir.iterdir() if (m := _EPOCH.fullmatch(p.name)) and p.is_dir())
    if not epochs:
        raise JobsError([Problem(f"{run_id}: no epoch_N checkpoint folder in {output_dir}",
                                 pos=SourcePos(str(output_dir)), hint="resubmit it without --resume")])
    _, newest = epochs[-1]
    change: dict[str, Any] = {"resume_from_checkpoint": True}
    if (newest / "adapter_model.pt").is_file():
        return change  # LoRA: the recipe finds the newest adapter and the recipe state itself
    files = sorted(p.name for p in newest.iterdir() if _MODEL_FILES.fullmatch(p.name))
    if not files:
        raise JobsError([Problem(f"{run_id}: {newest} holds neither an adapter nor model weights to resume from",
                                 pos=SourcePos(str(newest)), hint="resubmit it without --resume")])
    change["checkpointer.checkpoint_files"] = [f"{newest.name}/{name}" for name in files]
    return change


def apply_changes(folder: Path, changes: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Render *folder* again with *changes* added to what it records, and replace the files that
    change; returns them. Anything else that would change is an error, and nothing is replaced."""
    manifest = read_file(folder, MANIFEST_FILE, what="manifest").data
    manifest = manifest if isinstance(manifest, dict) else {}
    record = recorded_in(manifest)  # from the manifest just read: no second read
    merged = record.changes
    for run_id, values in changes.items():
        merged[run_id] = {**merged.get(run_id, {}), **values}
    recorded = manifest.get("base_config")
    recorded = recorded if isinstance(recorded, dict) else {}
    version = manifest.get("torchtune_version")
    base = recorded_base_config(folder, recorded, torchtune_version=str(version) if version else None)
    axis = manifest.get("base_configs")  # a base axis: every base, as recorded (docs/comparing-models.md)
    bases = [recorded_base_config(folder, entry, torchtune_version=str(version) if version else None)
             for entry in axis if isinstance(entry, dict)] if isinstance(axis, list) and axis else None
    old_files = manifest.get("files")
    old_files = old_files if isinstance(old_files, dict) else {}
    # Beside the folder, on the same file system, so each replacement is one rename.
    with tempfile.TemporaryDirectory(prefix=".ttgen-resubmit-", dir=folder.resolve().parent) as tmp:
        fresh = Path(tmp) / "folder"
        result = render_experiment(folder / EXPERIMENT_FILE, out=fresh, final_dir=folder.resolve(), base=base, bases=bases,
                                   run_changes=merged, max_runs=sys.maxsize, overrides=record.overrides,
                                   eval_tasks=recorded_eval_tasks(folder))
        changed = sorted(rel for rel, digest in result.files.items() if old_files.get(rel) != digest)
        allowed = {MAPPING_FILE, MANIFEST_FILE} | {f"{CONFIGS_DIR}/{r}.yaml" for r in merged}
        surprising = [rel for rel in changed if rel not in allowed]
        if surprising:
            raise JobsError([Problem(f"rendering this folder again would also change {', '.join(surprising[:3])}",
                                     pos=SourcePos(str(folder)),
                                     hint="the folder was edited, or rendered by another ttgen: render the "
                                          "experiment again and submit the new folder")])
        # Configs first, the manifest last: a crash in between leaves a manifest that
        # `ttgen check` shows as not matching, never a config that silently differs.
        for rel in sorted(changed, key=lambda r: (r == MANIFEST_FILE, r == MAPPING_FILE, r)):
            os.replace(fresh / rel, folder / rel)
        return [rel for rel in changed if rel != MANIFEST_FILE]


def resubmit_runs(folder: Path | str, *, failed: bool = False, runs: str | None = None,
                  sets: Sequence[str] = (), oom_retry_: bool = False, resume_: bool = False,
                  sbatch_args: Sequence[str] = (), dry_run: bool = False,
                  cluster: Cluster | None = None) -> SubmitResult:
    """Submit runs again as a new array with the same run ids (``ttgen resubmit``).

    Examples:
        >>> result = resubmit_runs("outputs/study", failed=True, oom_retry_=True)  # doctest: +SKIP
    """
    folder = Path(folder)
    cluster = cluster if cluster is not None else Cluster()
    mapping = read_run_mapping(folder)
    run_ids = list(mapping)
    if failed == (runs is not None):
        raise JobsError([Problem("say which runs: --failed, or --runs 0,3-5 (not both)",
                                 hint="ttgen status shows which runs failed")])
    if failed:
        status = sweep_status(folder, cluster=cluster)
        chosen = [r.run_id for r in status.runs if r.state in FAILED_STATES]
        if not chosen:
            raise JobsError([Problem(f"no run failed ({status.summary()})", pos=SourcePos(str(folder)),
                                     hint="choose runs with --runs to submit them again")])
    else:
        assert runs is not None
        chosen = parse_runs(runs, run_ids)
    values = parse_set(sets)
    cwd = job_folders(latest_jobs(read(folder))) if resume_ else {}
    changes: dict[str, dict[str, Any]] = {}
    for run_id in chosen:
        change: dict[str, Any] = {}
        if oom_retry_ or resume_:
            config = _config(folder, run_id)
            if oom_retry_:
                change.update(oom_retry(config, run_id))
            if resume_:
                out = run_output_dir(mapping[run_id], cwd=cwd.get(run_id, os.getcwd()))
                if out is None:
                    raise JobsError([Problem(f"{run_id}: its output_dir is not a plain path, so its checkpoints "
                                             "cannot be found", pos=SourcePos(str(folder)),
                                             hint="resubmit it without --resume")])
                change.update(resume(config, run_id, output_dir=out))
        change.update(values)
        if change:
            changes[run_id] = change
    if changes and not dry_run:
        apply_changes(folder, changes)
    return submit_sweep(folder, sbatch_args=sbatch_args, dry_run=dry_run, force=True, cluster=cluster,
                        kind="resubmit", chosen=chosen, changes=changes)


def resume_runs(folder: Path | str, *, runs: str | None = None, sbatch_args: Sequence[str] = (),
                dry_run: bool = False, force: bool = False, cluster: Cluster | None = None) -> SubmitResult:
    """``ttgen submit --resume``: runs that already wrote files continue from their last
    checkpoint (`resume`); the others start as with a plain submit."""
    folder = Path(folder)
    mapping = read_run_mapping(folder)
    chosen = parse_runs(runs, list(mapping)) if runs else list(mapping)
    changes: dict[str, dict[str, Any]] = {}
    cwd = job_folders(latest_jobs(read(folder)))
    for run_id in chosen:
        out = run_output_dir(mapping[run_id], cwd=cwd.get(run_id, os.getcwd()))
        if holds_results(out):
            assert out is not None
            changes[run_id] = resume(_config(folder, run_id), run_id, output_dir=out)
    if changes and not dry_run:
        apply_changes(folder, changes)
    return submit_sweep(folder, sbatch_args=sbatch_args, dry_run=dry_run, force=force, resume=True,
                        cluster=cluster, chosen=chosen, changes=changes)
