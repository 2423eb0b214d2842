"""Evaluation of every run (docs/evaluating.md): the evaluation: section, the files and scripts it
renders, and, for real, offline: the tiny CPU model trains, Inspect AI evaluates the checkpoint
through its Hugging Face provider (transformers) on the five-sample task of examples/tiny_cpu_eval,
and the score is read back from Inspect's log with `ttgen.jobs.evaluation.read_scores`; on the
real SLURM cluster, ``ttgen submit`` chains the evaluation array after the training array
(aftercorr) and ``ttgen status`` shows both states.

The eval extra (inspect-ai, transformers, accelerate) is installed by the README's test command.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import EXAMPLES, run_cli, write
from test_slurm import slurm_cluster  # noqa: F401  (the cluster fixture)
from test_training import RUN_TIMEOUT, Workspace, workspace  # noqa: F401  (tiny assets and the training environment)

EXAMPLE = "tiny_cpu_eval"
TASK = "tiny_arithmetic"
SAMPLES = 5  # examples/tiny_cpu_eval/tasks/tiny_arithmetic.py
CPU = ["--partition=debug", "--gres=none", "--mem=2G", "--cpus-per-task=1", "--time=00:10:00"]
BASE = "experiment: {name: e, framework: torchtune}\nframework_config: {base_config: llama3_2/1B_lora_single_device}\n"


def render(tmp_path: Path, evaluation: str, *, extra: str = "", variables: str = "{lora_rank: [4, 8]}") -> Any:
    write(tmp_path / "tasks" / "t.py", "# an Inspect AI task file\n")
    exp = write(tmp_path / "experiment.yaml", BASE + f"variables: {variables}\n" + extra + "evaluation:\n" + evaluation)
    return run_cli("render", exp, "--out", tmp_path / "out")


@pytest.mark.parametrize("evaluation, extra, message, where", [
    ("  tasks: [tasks/t.py]\n  epoch: last\n", "", "unknown field 'epoch' in evaluation", ":6:3:"),
    ("  tasks: [tasks/t.py]\n  epochs: first\n", "", "got string 'first'", ":6:11:"),
    ("  tasks: []\n", "", "empty list", ":5:10:"),
    ("  tasks: [tasks/missing.py@x]\n", "", "task file 'tasks/missing.py' not found", ":5:11:"),
    ("  tasks: [tasks/t.py@]\n", "", "got string 'tasks/t.py@'", ":5:11:"),
    ("  harness: torchtune\n  tasks: [tasks/t.py]\n", "", "harness torchtune evaluates lm_eval tasks by name",
     ":6:11:"),
    ("  harness: torchtune\n  tasks: [hellaswag]\n  config: {batch_sise: 4}\n", "",
     "'batch_sise' is not a key of torchtune's llama3_2/evaluation", ":7:12:"),
    ("  tasks: [tasks/t.py]\n  config: {batch_size: 4}\n", "", "it needs harness: torchtune", ":6:11:"),
    ("  tasks: [tasks/t.py@a, {task: tasks/t.py@a, args: {n: 1}}]\n", "", "task 'a' is listed twice", ":5:25:"),
    ("  tasks: [tasks/t.py]\n  epochs: [0, 3]\n", "controls: {epochs: 2}\n",
     "epoch 3 is evaluated, but the run trains 2 epochs", ":6:3:"),
    ("  tasks: [tasks/t.py]\n", "controls: {save_adapter_weights_only: true}\n",
     "save_adapter_weights_only is true, so training saves no model to evaluate", ":6:3:"),
    ("  tasks: [tasks/t.py]\n", "controls: {checkpointer: {_component_: torchtune.training.FullModelMetaCheckpointer}}\n",
     "Inspect AI loads checkpoints in Hugging Face's format", ":6:3:"),
])
def test_a_bad_evaluation_section_is_an_error_at_its_place(tmp_path: Path, evaluation: str, extra: str, message: str,
                                                           where: str) -> None:
    done = render(tmp_path, evaluation, extra=extra)
    assert done.code == 1, done.out + done.err
    assert message in done.err and f"experiment.yaml{where}" in done.err, done.err
    assert "hint:" in done.err
    assert not (tmp_path / "out").exists(), "nothing is written"


def test_every_run_epoch_and_task_is_listed_with_its_checkpoint_and_command(tmp_path: Path) -> None:
    done = render(tmp_path, "  tasks: [tasks/t.py@small, {task: inspect_evals/gsm8k, args: {fewshot: 0}}]\n"
                            "  epochs: all\n  limit: 3\n  baseline: true\n  generation: {max_tokens: 16}\n",
                  extra="controls: {epochs: 2}\nslurm: {}\n")
    assert done.code == 0, done.err
    out = (tmp_path / "out").resolve()
    listed = yaml.safe_load((out / "evaluation/evaluations.yaml").read_text(encoding="utf-8"))
    assert list(listed) == ["baseline", "run_000", "run_001"]
    assert [(e["epoch"], e["task_name"]) for e in listed["run_001"]] == [
        (0, "small"), (0, "inspect_evals/gsm8k"), (1, "small"), (1, "inspect_evals/gsm8k")]
    entry = listed["run_001"][2]
    # The run's own checkpoint folder as torchtune writes it: <output_dir>/epoch_N (no output_dir set:
    # <output folder>/runs/<run id>), and Inspect's logs inside the output folder.
    assert entry["checkpoint_dir"] == f"{out}/runs/run_001/epoch_1"
    assert entry["log_dir"] == f"{out}/evaluation/logs/run_001/epoch_1"
    assert entry["command"] == ["inspect", "eval", f"{tmp_path.resolve()}/tasks/t.py@small", "--model",
                                f"hf/{out}/runs/run_001/epoch_1", "--log-dir", entry["log_dir"],
                                "-M", "tokenizer=/tmp/Llama-3.2-1B-Instruct/", "--limit", "3", "--max-tokens", "16"]
    assert "-T" in listed["run_000"][1]["command"] and "fewshot=0" in listed["run_000"][1]["command"]
    assert listed["baseline"][0]["checkpoint_dir"] == "/tmp/Llama-3.2-1B-Instruct/"
    assert (out / "evaluation/logs").is_dir() and not any((out / "evaluation/logs").iterdir())
    array = (out / "slurm/evaluate_array.sh").read_text(encoding="utf-8")
    assert "#SBATCH --job-name=e_eval" in array and "#SBATCH --array=0-1" in array
    assert f"#SBATCH --output={out}/slurm/logs/eval_run_%3a-%A.out" in array
    assert "evaluate_inspect" in array and "eval_$run_id@$job" in array
    assert "run_id=baseline" in (out / "slurm/evaluate_baseline.sh").read_text(encoding="utf-8")
    if shutil.which("shellcheck"):
        sc = subprocess.run(["shellcheck", str(out / "slurm/evaluate_array.sh"), str(out / "slurm/evaluate_baseline.sh")],
                            capture_output=True, text=True)
        assert sc.returncode == 0, sc.stdout
    # The folder checks against its experiment, and a dry run shows the chain.
    assert run_cli("check", tmp_path / "experiment.yaml", "--against", out).code == 0
    dry = run_cli("submit", out, "--dry-run", "--", "--partition=debug")
    assert dry.code == 0, dry.err
    lines = dry.out.splitlines()
    assert lines[0].startswith("sbatch --parsable --array=0-1 --partition=debug") and lines[0].endswith("submit_array.sh")
    assert lines[1].startswith("sbatch --parsable '--dependency=aftercorr:<training job>' --array=0-1 "
                               "--kill-on-invalid-dep=yes --partition=debug")
    assert lines[1].endswith("evaluate_array.sh") and lines[2].endswith("evaluate_baseline.sh")


def test_torchtune_harness_writes_a_complete_eleuther_eval_config(tmp_path: Path) -> None:
    done = render(tmp_path, "  harness: torchtune\n  tasks: [hellaswag]\n  limit: 10\n  baseline: true\n"
                            "  config: {batch_size: 2}\n", extra="slurm: {}\n")
    assert done.code == 0, done.err
    out = (tmp_path / "out").resolve()
    config = yaml.safe_load((out / "evaluation/configs/run_001-epoch_0-task_0.yaml").read_text(encoding="utf-8"))
    # The shipped llama3_2/evaluation, with the run's model as its plain builder (the merged checkpoint
    # has no LoRA weights), the run's checkpoint folder, tokenizer, the task and limit.
    assert config["model"] == {"_component_": "torchtune.models.llama3_2.llama3_2_1b"}
    assert config["checkpointer"]["checkpoint_dir"] == f"{out}/runs/run_001/epoch_0"
    assert config["checkpointer"]["checkpoint_files"] == {"filename_format": "model-{}-of-{}.safetensors",
                                                          "max_filename": "00001"}
    assert config["tasks"] == ["hellaswag"] and config["limit"] == 10 and config["batch_size"] == 2
    assert config["max_seq_length"] == 4096 and config["enable_kv_cache"] is True  # kept from the shipped config
    baseline = yaml.safe_load((out / "evaluation/configs/baseline-task_0.yaml").read_text(encoding="utf-8"))
    assert baseline["checkpointer"]["checkpoint_dir"] == "/tmp/Llama-3.2-1B-Instruct/"
    assert baseline["checkpointer"]["checkpoint_files"] == ["model.safetensors"]
    array = (out / "slurm/evaluate_array.sh").read_text(encoding="utf-8")
    assert f'evaluate_tune "$tune" run eleuther_eval --config {out}/evaluation/configs/run_000-epoch_0-task_0.yaml' \
        in array
    assert "inspect=" not in array


def test_read_scores_without_logs_is_empty_and_a_broken_log_is_a_clear_error(tmp_path: Path) -> None:
    from ttgen.errors import JobsError
    from ttgen.jobs.evaluation import read_scores

    assert read_scores(tmp_path) == []
    write(tmp_path / "evaluation/logs/run_000/epoch_0/x.eval", "not a log")
    if importlib.util.find_spec("inspect_ai") is None:
        with pytest.raises(JobsError, match="needs inspect_ai"):
            read_scores(tmp_path)
        return
    with pytest.raises(JobsError, match="cannot read the Inspect AI log") as err:
        read_scores(tmp_path)
    assert err.value.problems[0].hint


# ---- for real: training, then Inspect AI on the checkpoint ------------------------------------


def example_copy(ws: Workspace) -> Path:
    """examples/tiny_cpu_eval beside the workspace's tiny_cpu (whose assets/ it reads)."""
    folder = ws.root / EXAMPLE
    if not folder.exists():
        shutil.copytree(EXAMPLES / EXAMPLE, folder, ignore=shutil.ignore_patterns("outputs", "__pycache__"))
    return folder


def eval_env(ws: Workspace) -> dict[str, str]:
    env = dict(ws.env, INSPECT_DISPLAY="plain")
    missing = [m for m in ("inspect_ai", "transformers", "accelerate") if importlib.util.find_spec(m) is None]
    assert not missing, f"evaluation tests need the eval extra ({', '.join(missing)}): pip install -e '.[test,eval]'"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # inspect and tune of this venv
    return env


@pytest.mark.needs_torch
@pytest.mark.slow
def test_inspect_evaluates_the_trained_checkpoint_and_the_score_is_read_back(workspace: Workspace) -> None:
    from ttgen.jobs.evaluation import read_scores

    folder = example_copy(workspace)
    env = eval_env(workspace)
    out = folder / "outputs" / "rendered"
    done = run_cli("render", folder / "experiment.yaml", "--out", out, cwd=folder)
    assert done.code == 0, done.err
    # The tiny model's folder is what transformers needs: config, weights, tokenizer built offline.
    model = workspace.example("tiny_cpu") / "assets" / "model"
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= {
        p.name for p in model.iterdir()}

    train = subprocess.run([sys.executable, "-m", "torchtune._cli.tune", "run", "lora_finetune_single_device",
                            "--config", "outputs/rendered/configs/run_000.yaml"], cwd=folder, env=env,
                           capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert train.returncode == 0, train.stderr[-3000:]
    epoch = folder / "outputs/train/tiny_eval/run_000/epoch_0"
    assert (epoch / "model-00001-of-00001.safetensors").is_file()

    # The evaluation job's own script, as SLURM would run array task 0 and the baseline's job.
    for script, task in (("evaluate_array.sh", "0"), ("evaluate_baseline.sh", "")):
        started = time.monotonic()
        job = subprocess.run(["bash", str(out / "slurm" / script)], cwd=folder, capture_output=True, text=True,
                             env=dict(env, SLURM_ARRAY_TASK_ID=task), timeout=RUN_TIMEOUT)
        print(f"{script}: {time.monotonic() - started:.1f} s")
        assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-3000:]
        assert "ttgen: evaluating" in job.stdout and "failed" not in job.stderr

    write(out / "evaluation/logs/run_000/epoch_0/notes.json", "{}\n")  # not a log: Inspect's listing skips it
    scores = read_scores(out)
    assert [(s.run_id, s.epoch, s.task, s.scorer, s.metric) for s in scores] == [
        ("baseline", None, TASK, "includes", "accuracy"), ("baseline", None, TASK, "includes", "stderr"),
        ("run_000", 0, TASK, "includes", "accuracy"), ("run_000", 0, TASK, "includes", "stderr")]
    from inspect_ai.log import read_eval_log

    for score in scores:
        assert score.log_path.is_file() and score.log_path.is_absolute()
        if score.metric != "accuracy":
            continue
        log = read_eval_log(str(score.log_path))
        assert log.status == "success" and log.eval.model.startswith("hf/")
        assert len(log.samples or []) == SAMPLES
        # The accuracy read back is the mean of the samples' own scores (C correct, I incorrect).
        values = [1.0 if s.scores["includes"].value == "C" else 0.0 for s in log.samples or []]
        assert score.value == pytest.approx(sum(values) / len(values))
    run_log = read_eval_log(str(scores[2].log_path), header_only=True)
    assert run_log.eval.model == "hf/outputs/train/tiny_eval/run_000/epoch_0"  # the run's own checkpoint

    # `inspect eval` exits 0 when its task fails (transformers refuses temperature 0 while sampling):
    # the job still fails, because no successful log was added, and read_scores skips the failed log.
    failing = folder / "failing_eval.yaml"
    failing.write_text((folder / "experiment.yaml").read_text(encoding="utf-8")
                       .replace("    max_tokens: 8\n", "    max_tokens: 8\n    temperature: 0.0\n")
                       .replace("    do_sample: false", "    do_sample: true"), encoding="utf-8")
    failed_out = folder / "outputs" / "failing"
    assert run_cli("render", failing, "--out", failed_out, cwd=folder).code == 0
    job = subprocess.run(["bash", str(failed_out / "slurm/evaluate_array.sh")], cwd=folder, capture_output=True,
                         text=True, env=dict(env, SLURM_ARRAY_TASK_ID="0"), timeout=RUN_TIMEOUT)
    assert job.returncode == 1, job.stdout[-2000:] + job.stderr[-2000:]
    assert "no successful Inspect AI log was added" in job.stderr
    assert [p.read_text().split()[-1] for p in (failed_out / "slurm/state").glob("*.ended")] == ["exit=1"]
    assert list((failed_out / "evaluation/logs/run_000/epoch_0").glob("*.eval")), "Inspect logged the failure"
    assert read_scores(failed_out) == []

    # harness torchtune: the generated eleuther_eval config loads the trained checkpoint into its model.
    tuned = folder / "torchtune_eval.yaml"
    tuned.write_text((folder / "experiment.yaml").read_text(encoding="utf-8").split("evaluation:")[0]
                     + "evaluation:\n  harness: torchtune\n  tasks: [hellaswag]\n  limit: 2\n", encoding="utf-8")
    tt_out = folder / "outputs" / "torchtune_eval"
    assert run_cli("render", tuned, "--out", tt_out, cwd=folder).code == 0
    check = subprocess.run([sys.executable, "-c", LOAD_EVAL_CONFIG, str(tt_out / "evaluation/configs/run_000-epoch_0-task_0.yaml")],
                           cwd=folder, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert check.returncode == 0, check.stderr[-3000:]
    assert check.stdout.strip().endswith("loaded 20 tensors strictly into llama3_2")
    # Running it needs lm_eval, which ttgen does not install: the recipe says so.
    if importlib.util.find_spec("lm_eval") is None:
        run = subprocess.run([sys.executable, "-m", "torchtune._cli.tune", "run", "eleuther_eval", "--config",
                              str(tt_out / "evaluation/configs/run_000-epoch_0-task_0.yaml")], cwd=folder, env=env,
                             capture_output=True, text=True, timeout=RUN_TIMEOUT)
        assert run.returncode != 0 and "lm_eval" in run.stderr, run.stderr[-2000:]


# Instantiate the eval config's model, checkpointer and tokenizer as eleuther_eval does, and load strictly.
LOAD_EVAL_CONFIG = """
import sys
from omegaconf import OmegaConf
from torchtune import config, training
cfg = OmegaConf.load(sys.argv[1])
checkpointer = config.instantiate(cfg.checkpointer)
state = checkpointer.load_checkpoint()[training.MODEL_KEY]
model = config.instantiate(cfg.model)
model.load_state_dict(state, strict=True)
config.instantiate(cfg.tokenizer)
print(f"loaded {len(state)} tensors strictly into {type(model).__name__.lower().replace('transformerdecoder', 'llama3_2')}")
"""


@pytest.mark.needs_slurm
@pytest.mark.needs_torch
@pytest.mark.slow
def test_submit_chains_evaluation_after_training_and_status_shows_both(
        workspace: Workspace, slurm_cluster: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ttgen.jobs.evaluation import evaluation_states, read_scores

    folder = example_copy(workspace)
    env = eval_env(workspace)
    # run_001's training fails (a stand-in for tune); run_000 trains for real.
    stand_in = tmp_path / "tune_fails_run_001"
    stand_in.write_text("#!/bin/bash\nfor arg in \"$@\"; do [[ $arg == *run_001.yaml ]] && { echo 'bad run' >&2; "
                        "exit 3; }; done\nexec tune \"$@\"\n", encoding="utf-8")
    stand_in.chmod(0o755)
    env["TTGEN_TUNE"] = str(stand_in)
    for key, value in env.items():  # sbatch passes this process's environment to the jobs
        monkeypatch.setenv(key, value)
    exp = folder / "slurm_eval.yaml"
    exp.write_text((folder / "experiment.yaml").read_text(encoding="utf-8").replace(
        "output_dir: outputs/train/tiny_eval", "output_dir: outputs/train/slurm_eval"), encoding="utf-8")
    out = folder / "slurm_out"
    assert run_cli("render", exp, "--out", out, cwd=folder).code == 0

    sub = run_cli("submit", out, "--", *CPU, cwd=folder)
    assert sub.code == 0, sub.err
    records = [json.loads(line) for line in (out / "slurm/state/submissions.jsonl").read_text().splitlines()]
    train, evaluation, baseline = records
    assert (train["kind"], evaluation["kind"], baseline["kind"]) == ("submit", "evaluate", "evaluate")
    assert evaluation["after"] == train["job"] and evaluation["array"] == "0-1"
    assert f"--dependency=aftercorr:{train['job']}" in evaluation["command"]
    assert evaluation["runs"] == {"run_000": f"{evaluation['job']}_0", "run_001": f"{evaluation['job']}_1"}
    assert baseline["runs"] == {"baseline": baseline["job"]} and baseline["after"] is None
    assert f"evaluation of 2 runs, each task after training task {train['job']}_<i> (aftercorr)" in sub.out

    # While training runs, the evaluations wait for it.
    first = json.loads(run_cli("status", out, "--json", cwd=folder).out)
    assert first["evaluates"] is True
    assert first["runs"][0]["evaluation"]["state"] in ("PENDING", "RUNNING", "COMPLETED")

    deadline = time.monotonic() + 600
    while True:
        doc = json.loads(run_cli("status", out, "--json", cwd=folder).out)
        states = [r["evaluation"]["state"] for r in doc["runs"]] + [doc["baseline"]["state"]]
        if all(s not in ("PENDING", "RUNNING") for s in states):
            break
        assert time.monotonic() < deadline, json.dumps(doc, indent=1)
        time.sleep(3)
    rows = {r["run_id"]: r for r in doc["runs"]}
    assert rows["run_000"]["state"] == "COMPLETED" and rows["run_001"]["state"] == "FAILED", doc
    assert rows["run_000"]["evaluation"]["state"] == "COMPLETED", rows["run_000"]
    assert rows["run_000"]["evaluation"]["exit_code"] == 0
    assert Path(rows["run_000"]["evaluation"]["log"]).is_file()
    # Training task 1 failed, so SLURM never starts evaluation task 1 (aftercorr) and drops it.
    assert rows["run_001"]["evaluation"]["state"] == "CANCELLED", rows["run_001"]
    assert doc["baseline"]["state"] == "COMPLETED"
    assert doc["eval_counts"] == {"COMPLETED": 2, "CANCELLED": 1}
    started = sorted(p.name.split("@")[0] for p in (out / "slurm/state").glob("eval_*.started"))
    assert started == ["eval_baseline", "eval_run_000"]
    text = run_cli("status", out, cwd=folder).out
    assert "EVAL" in text.splitlines()[0] and "2 runs: 1 COMPLETED, 1 FAILED; evaluations: 2 COMPLETED, 1 CANCELLED" in text
    assert {k: v.state for k, v in evaluation_states(out).items()} == {
        "baseline": "COMPLETED", "run_000": "COMPLETED", "run_001": "CANCELLED"}
    assert [(s.run_id, s.epoch, s.metric) for s in read_scores(out) if s.metric == "accuracy"] == [
        ("baseline", None, "accuracy"), ("run_000", 0, "accuracy")]

    # ttgen results and ttgen report show the scores beside training, the base model as the control.
    accuracy = {s.run_id: s.value for s in read_scores(out) if s.metric == "accuracy"}
    found = run_cli("results", out, "--json", cwd=folder)
    assert found.code == 0, found.err
    results = json.loads(found.out)
    by_run = {r["run_id"]: r for r in results["runs"]}
    assert by_run["run_000"]["scores"][f"{TASK}/accuracy"] == accuracy["run_000"]
    assert [e["epoch"] for e in by_run["run_000"]["evaluations"] if e["metric"] == "accuracy"] == [0]
    assert by_run["run_001"]["state"] == "FAILED" and by_run["run_001"]["scores"] == {}
    assert results["baseline"][f"{TASK}/accuracy"] == accuracy["baseline"]
    assert f"{TASK}/accuracy" in results["scores"]
    table = run_cli("results", out, cwd=folder).out
    assert f"{TASK}/accuracy".upper() in table.splitlines()[0] and "baseline (the untouched base model)" in table
    assert run_cli("report", out, "--out", tmp_path / "report.html", cwd=folder).code == 0
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'id="score-table"' in html and "baseline (base model)" in html and "the untouched base model" in html


def test_an_evaluated_folder_is_rendered_again_from_its_copy_by_resubmit_and_diff(tmp_path: Path) -> None:
    """The folder's copy of experiment.yaml is not beside the task files: the targets recorded in
    evaluations.yaml are used, so `resubmit --set` changes only the run's config."""
    from ttgen.jobs.resubmit import apply_changes

    assert render(tmp_path, "  tasks: [tasks/t.py]\n  baseline: true\n", extra="slurm: {}\n").code == 0
    out = tmp_path / "out"
    before = (out / "evaluation/evaluations.yaml").read_text(encoding="utf-8")
    changed = apply_changes(out, {"run_001": {"batch_size": 1}})
    assert changed == ["configs/run_001.yaml", "configs/run_mapping.yaml"]
    assert (out / "evaluation/evaluations.yaml").read_text(encoding="utf-8") == before
    diff = run_cli("diff", "run_000", "run_001", "--dir", out)
    assert diff.code == 0 and "warning" not in diff.err, diff.err


def test_force_never_replaces_a_folder_whose_evaluations_wrote_logs(tmp_path: Path) -> None:
    assert render(tmp_path, "  tasks: [tasks/t.py]\n").code == 0
    write(tmp_path / "out/evaluation/logs/run_000/epoch_0/x.eval", "a log")
    again = run_cli("render", tmp_path / "experiment.yaml", "--out", tmp_path / "out", "--force")
    assert again.code == 1 and "holds the logs of its evaluations" in again.err, again.err
    assert (tmp_path / "out/evaluation/logs/run_000/epoch_0/x.eval").read_text() == "a log"
    # What the evaluations write is not what the render wrote: `ttgen check` ignores it.
    check = run_cli("check", tmp_path / "experiment.yaml", "--against", tmp_path / "out")
    assert check.code == 0, check.out + check.err


@pytest.mark.parametrize("ended, again", [("exit=0", False), ("exit=1", True), (None, True)])
def test_the_baseline_is_submitted_until_it_has_succeeded(tmp_path: Path, ended: str | None, again: bool) -> None:
    """Submitted once; again (by the next submit or resubmit) only when its job ended without success."""
    from ttgen.jobs.cluster import Cluster
    from ttgen.jobs.submit import submit_sweep

    assert render(tmp_path, "  tasks: [tasks/t.py]\n  baseline: true\n", extra="slurm: {}\n").code == 0
    out = tmp_path / "out"
    record = {"version": 1, "job": "40", "kind": "evaluate", "time": "t", "command": ["sbatch"], "array": "",
              "runs": {"baseline": "40"}, "log_pattern": "slurm/logs/eval_baseline-%j.out"}
    write(out / "slurm/state/submissions.jsonl", json.dumps(record) + "\n")
    write(out / "slurm/state/eval_baseline@40.started", "time=1 host=h job=40\n")
    if ended is not None:
        write(out / "slurm/state/eval_baseline@40.ended", f"time=9 {ended}\n")

    def left_the_queue(argv: Any) -> Any:  # squeue: no live job; scontrol: SLURM's defaults
        return subprocess.CompletedProcess(argv, 0, "", "")

    result = submit_sweep(out, dry_run=True, cluster=Cluster(runner=left_the_queue))
    scripts = [Path(c.script).name for c in result.eval_calls]
    assert scripts == ["evaluate_array.sh"] + (["evaluate_baseline.sh"] if again else [])
