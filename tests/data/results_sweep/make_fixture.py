"""Make this fixture again: train the sweep of experiment.yaml for real and keep what
`ttgen results` reads. Needs torch 2.13, torchao 0.11 and torchtune 0.6.1 (the test extras).

    python tests/data/results_sweep/make_fixture.py

- run_000 .. run_003 train to the end (2 epochs of 3 steps);
- run_004 is killed once its first epoch's checkpoint exists: UNFINISHED;
- run_005 never starts: NOT_SUBMITTED.

Checkpoint weights are deleted afterwards (the folders and their small JSON files stay),
and so are the tiny model's assets: the committed fixture is only text.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
FOLDER = HERE / "folder"
TRAIN = HERE / "train"
ASSETS = HERE / "assets"
RUN_TIMEOUT = 600


def main() -> None:
    for old in (FOLDER, TRAIN, ASSETS):
        shutil.rmtree(old, ignore_errors=True)
    env = dict(os.environ, TIKTOKEN_CACHE_DIR="", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               HF_HOME=tempfile.mkdtemp(prefix="hf-"), CUDA_VISIBLE_DEVICES="")
    subprocess.run([sys.executable, str(REPO / "examples" / "tiny_cpu" / "make_assets.py"), str(ASSETS)],
                   check=True, env=env)
    subprocess.run([sys.executable, "-m", "ttgen", "render", "experiment.yaml", "--out", "folder", "--quiet"],
                   cwd=HERE, check=True, env=env)
    tune = [sys.executable, "-m", "torchtune._cli.tune", "run", "lora_finetune_single_device", "--config"]
    for index in range(4):
        subprocess.run([*tune, f"folder/configs/run_{index:03d}.yaml"], cwd=HERE, env=env, check=True,
                       timeout=RUN_TIMEOUT, stdout=subprocess.DEVNULL)
    proc = subprocess.Popen([*tune, "folder/configs/run_004.yaml"], cwd=HERE, env=env, stdout=subprocess.DEVNULL,
                            start_new_session=True)
    first = TRAIN / "run_004" / "epoch_0" / "adapter_config.json"
    deadline = time.monotonic() + RUN_TIMEOUT
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (TRAIN / "run_004" / "epoch_1").exists(), "run_004 finished before it was stopped: run again"
    for path in TRAIN.rglob("*"):
        if path.is_file() and path.suffix in (".safetensors", ".pt", ".bin"):
            path.unlink()
    shutil.rmtree(ASSETS)
    print("fixture written:", FOLDER, TRAIN)


if __name__ == "__main__":
    main()
