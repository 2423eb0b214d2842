"""Proof that generated configs train: torchtune runs every config ttgen renders for the tiny CPU examples.

A module fixture copies examples/tiny_cpu and examples/tiny_cpu_full into a temporary
folder and runs examples/tiny_cpu/make_assets.py there, as their comments tell a user to:
a tiny random Llama-3.2-style model, a byte-level tokenizer and a 32-record JSON dataset,
written in a few seconds, offline. Each test renders one example's real experiment.yaml
with `ttgen render`, then runs `tune run <recipe> --config configs/run_NNN.yaml` on every
generated config from the example's folder (relative paths in a torchtune config are read
from there), offline, and checks what each run left in its own output_dir: exit status 0,
checkpoint files, a loss log with finite losses for every step, and that training changed
the weights the sweep shaped.

Needs torch, torchao and torchtune with their dependencies (CI: `pip install torch==2.13.0
torchao==0.11.0 torchtune==0.6.1`). About 10 s per run on 2 cores; see the timings below.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import EXAMPLES, run_cli

pytestmark = pytest.mark.needs_torch

EXAMPLE_FOLDERS = ("tiny_cpu", "tiny_cpu_full")
VOCAB_SIZE = 272  # examples/tiny_cpu/make_assets.py: DIMS.vocab_size
STEPS = 4  # max_steps_per_epoch of both examples (one epoch)
RUN_TIMEOUT = 240  # seconds per `tune run`; a run takes about 10 s, more when the cores are busy
INSTALL_HINT = "pip install torch==2.13.0 torchao==0.11.0 torchtune==0.6.1"
LOSS_LINE = re.compile(r"^Step (\d+) \| loss:(\S+)", re.MULTILINE)


@dataclass(frozen=True)
class Workspace:
    """Copies of the tiny examples beside freshly made assets, and the environment to train in."""

    root: Path
    env: dict[str, str]

    def example(self, name: str) -> Path:
        return self.root / name


@dataclass(frozen=True)
class Run:
    """One `tune run` of a generated config: its id, mapping entry, output folder and process result."""

    run_id: str
    mapping: dict[str, Any]
    output_dir: Path
    proc: subprocess.CompletedProcess[str]
    seconds: float

    def describe(self) -> str:
        tail = "\n".join((self.proc.stdout + self.proc.stderr).splitlines()[-40:])
        return f"{self.run_id} (exit {self.proc.returncode}, {self.seconds:.1f} s); last output lines:\n{tail}"


def training_env(root: Path) -> dict[str, str]:
    """The process environment for `tune run`: offline, and no cache outside *root*."""
    env = dict(os.environ)
    env.update({
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HOME": str(root / "hf_home"),  # `datasets` caches the JSON split under HF_HOME
        # tiktoken caches a tokenizer by its path under the temp dir; a file regenerated at the
        # same path would be read from the stale cache. An empty value turns the cache off.
        "TIKTOKEN_CACHE_DIR": "",
        "TQDM_DISABLE": "1",  # progress bars only bloat the captured output
    })
    env.pop("TTGEN_TRACEBACK", None)
    return env


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    missing = [m for m in ("torch", "torchao", "torchtune", "safetensors", "numpy")
               if importlib.util.find_spec(m) is None]
    assert not missing, f"training tests need {', '.join(missing)}: {INSTALL_HINT}"
    root = tmp_path_factory.mktemp("tiny_cpu")
    for name in EXAMPLE_FOLDERS:
        shutil.copytree(EXAMPLES / name, root / name,
                        ignore=shutil.ignore_patterns("assets", "outputs", "__pycache__"))
    env = training_env(root)
    started = time.monotonic()
    # The command the examples document (`python make_assets.py` in examples/tiny_cpu), run on the copy.
    proc = subprocess.run([sys.executable, "make_assets.py"], cwd=root / "tiny_cpu", env=env,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert proc.returncode == 0, f"make_assets.py failed:\n{proc.stdout}\n{proc.stderr}"
    print(f"make_assets.py: {time.monotonic() - started:.1f} s")
    assets = root / "tiny_cpu" / "assets"
    assert sorted(p.relative_to(assets).as_posix() for p in assets.rglob("*") if p.is_file()) == [
        "data.json", "model/config.json", "model/model.safetensors", "model/tokenizer.json",
        "model/tokenizer_config.json", "special_tokens.json", "tokenizer.model"]
    assert len(json.loads((assets / "data.json").read_text(encoding="utf-8"))) == 32
    return Workspace(root=root, env=env)


def render_and_train(ws: Workspace, example: str) -> list[Run]:
    """Render the example into outputs/rendered and `tune run` every config from the example's folder."""
    folder = ws.example(example)
    rendered = folder / "outputs" / "rendered"
    result = run_cli("render", folder / "experiment.yaml", "--out", rendered)
    assert result.code == 0, result.err
    assert "warning" not in result.err, result.err
    recipe = yaml.safe_load((rendered / "manifest.yaml").read_text(encoding="utf-8"))["base_config"]["recipe"]
    mapping = yaml.safe_load((rendered / "configs" / "run_mapping.yaml").read_text(encoding="utf-8"))
    runs = []
    for run_id, entry in mapping.items():
        config = Path("outputs", "rendered", "configs", entry["config"])
        assert (folder / config).is_file()
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "torchtune._cli.tune", "run", recipe, "--config", str(config)],
                              cwd=folder, env=ws.env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
        seconds = time.monotonic() - started
        print(f"{example} {run_id}: tune run {recipe}: {seconds:.1f} s")
        runs.append(Run(run_id=run_id, mapping=entry, output_dir=folder / entry["output_dir"], proc=proc,
                        seconds=seconds))
    return runs


def losses(run: Run) -> list[float]:
    """The losses of the run's only DiskLogger log, in step order; checks there is one per step."""
    logs = sorted((run.output_dir / "logs").glob("log_*.txt"))
    assert len(logs) == 1, f"{run.run_id}: expected one log file under logs/, found {logs}"
    found = [(int(step), float(loss)) for step, loss in LOSS_LINE.findall(logs[0].read_text(encoding="utf-8"))]
    assert [step for step, _ in found] == list(range(1, STEPS + 1)), f"{run.run_id}: steps logged: {found}"
    return [loss for _, loss in found]


def check_finished(run: Run) -> None:
    """Exit 0, a finite, plausible loss for every step, and the config torchtune saved is the run's."""
    assert run.proc.returncode == 0, run.describe()
    assert run.output_dir.is_dir(), f"{run.run_id}: no output_dir {run.output_dir}\n{run.describe()}"
    values = losses(run)
    assert all(math.isfinite(v) for v in values), f"{run.run_id}: losses {values}"
    # Random weights predict about uniformly: loss near ln(vocab). Far above it would mean the
    # checkpoint was not loaded as written (e.g. an untouched N(0, 1) embedding gives ~59).
    assert all(0 < v < 2 * math.log(VOCAB_SIZE) for v in values), f"{run.run_id}: losses {values}"
    saved = yaml.safe_load((run.output_dir / "torchtune_config.yaml").read_text(encoding="utf-8"))
    assert Path(saved["output_dir"]) == Path(run.mapping["output_dir"])


def read_safetensors(path: Path) -> dict[str, Any]:
    from safetensors.numpy import load_file

    return load_file(str(path))


def test_lora_rank_sweep_trains(workspace: Workspace) -> None:
    runs = render_and_train(workspace, "tiny_cpu")
    assert [r.run_id for r in runs] == ["run_000", "run_001"]
    for run in runs:
        check_finished(run)

    # Each run wrote into its own output_dir: the one ttgen made per run, <output_dir>/<run_id>.
    base = workspace.example("tiny_cpu") / "outputs" / "train" / "tiny_lora"
    assert [r.output_dir for r in runs] == [base / "run_000", base / "run_001"]
    assert all(r.mapping["output_dir_auto"] is True for r in runs)
    assert sorted(p.name for p in base.iterdir()) == ["run_000", "run_001"], "nothing written beside the runs"

    import numpy as np

    for run, rank in zip(runs, (4, 8)):
        assert run.mapping["variables"] == {"lora_rank": rank}
        epoch = run.output_dir / "epoch_0"
        for name in ("adapter_model.safetensors", "adapter_model.pt", "adapter_config.json"):
            assert (epoch / name).is_file(), f"{run.run_id}: no epoch_0/{name}\n{run.describe()}"
        assert json.loads((epoch / "adapter_config.json").read_text(encoding="utf-8"))["r"] == rank
        # The swept rank reached the model: every LoRA matrix has it, and training moved
        # lora_B away from its zero initialisation.
        adapter = read_safetensors(epoch / "adapter_model.safetensors")
        lora_a = {k: v for k, v in adapter.items() if k.endswith("lora_A.weight")}
        lora_b = {k: v for k, v in adapter.items() if k.endswith("lora_B.weight")}
        # 2 layers x (q, v, output projections + w1, w2, w3 of the MLP)
        assert len(lora_a) == len(lora_b) == 2 * 6, sorted(adapter)
        assert {v.shape[0] for v in lora_a.values()} == {rank}
        assert {v.shape[1] for v in lora_b.values()} == {rank}
        assert all(np.isfinite(v).all() for v in adapter.values())
        assert any(np.abs(v).max() > 0 for v in lora_b.values()), f"{run.run_id}: lora_B still all zeros"
        saved = yaml.safe_load((run.output_dir / "torchtune_config.yaml").read_text(encoding="utf-8"))
        assert saved["model"]["lora_rank"] == rank
        # tune run took the ttgen: block along (a tracker logging the config sees the run's identity).
        assert saved["ttgen"] == {"experiment": "tiny_cpu_lora_rank", "run_id": run.run_id,
                                  "variables": {"lora_rank": rank}}
        # Exactly one training log in its own folder: no other run logged there.
        assert len(list((run.output_dir / "logs").glob("log_*.txt"))) == 1
        assert saved["device"] == "cpu" and saved["dtype"] == "fp32"


def test_full_finetune_trains(workspace: Workspace) -> None:
    runs = render_and_train(workspace, "tiny_cpu_full")
    assert [r.run_id for r in runs] == ["run_000"]
    run = runs[0]
    check_finished(run)
    # A single run keeps output_dir as written.
    assert run.mapping["output_dir_auto"] is False
    assert run.output_dir == workspace.example("tiny_cpu_full") / "outputs" / "train" / "tiny_full"

    import numpy as np

    checkpoint = run.output_dir / "epoch_0" / "model-00001-of-00001.safetensors"
    assert checkpoint.is_file(), f"no {checkpoint.name}\n{run.describe()}"
    before = read_safetensors(workspace.example("tiny_cpu") / "assets" / "model" / "model.safetensors")
    after = read_safetensors(checkpoint)
    assert sorted(after) == sorted(before)
    assert all(np.isfinite(v).all() for v in after.values())
    changed = [k for k in before if not np.array_equal(before[k], after[k])]
    assert len(changed) == len(before), f"weights left unchanged by training: {sorted(set(before) - set(changed))}"
