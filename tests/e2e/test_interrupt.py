"""Interrupted and disturbed renders: nothing half-written, nothing lost (docs/contract.md §6, docs/guarantees.md).

`ttgen render` runs as a real subprocess on a 10,000-run sweep. Once its hidden
temporary folder (``.<name>.ttgen-tmp-*``) holds some configs, the test sends a
signal and checks what is left on disk:

- SIGINT, SIGTERM, SIGHUP: exit 130, "interrupted" on stderr, no output folder and
  no temporary folder; with ``--force`` the previous folder is byte-identical.
- SIGKILL (nothing can clean up): no output folder; the temporary folder stays
  hidden and clearly named, and ttgen ignores it afterwards.

A base config or experiment.yaml edited while a render runs makes the render fail
(exit 1, nothing written): the output must come from one version of each file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from helpers import folder_state, run_cli, write
from ttgen.render import folder as write_module
from ttgen.inputs.catalog import load_catalog
from ttgen.layout import OLD_MARK, TMP_MARK, host_tag
from ttgen.render.folder import AtomicFolder

BASE_NAME = "llama3_2/1B_lora_single_device"
SWEEP = f"""\
experiment:
  name: big_sweep
  framework: torchtune
framework_config:
  {{base}}
variables:                      # 20 x 20 x 25 = 10,000 runs
  lora_rank: [{", ".join(str(i) for i in range(1, 21))}]
  lora_alpha: [{", ".join(str(i) for i in range(1, 21))}]
  seed: [{", ".join(str(i) for i in range(1, 26))}]
"""
SMALL = f"""\
experiment:
  name: small
  framework: torchtune
framework_config:
  base_config: {BASE_NAME}
variables:
  lora_rank: [8, 16]
  learning_rate: [1e-4, 3e-4]
"""
# Enough configs on disk that the render is really in the middle of writing.
MIN_CONFIGS = 50


def sweep_file(folder: Path, *, base_file: bool = False) -> Path:
    """The 10,000-run experiment; with *base_file*, its base is a copy beside it."""
    if base_file:
        (folder / "base.yaml").write_bytes(load_catalog().configs[BASE_NAME].path.read_bytes())
        return write(folder / "experiment.yaml", SWEEP.format(base="base_config_file: base.yaml"))
    return write(folder / "experiment.yaml", SWEEP.format(base=f"base_config: {BASE_NAME}"))


def _default_signals() -> None:
    # A test runner started in the background may ignore SIGINT/SIGHUP, and the
    # child would inherit that; ttgen must get them as a user's shell delivers them.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def start_render(experiment: Path, *args: str | Path) -> subprocess.Popen[str]:
    # The autouse fixture in conftest has removed TTGEN_TRACEBACK from the environment the child inherits.
    return subprocess.Popen([sys.executable, "-m", "ttgen", "render", str(experiment), *map(str, args)],
                            cwd=experiment.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_signals)


def temp_folders(parent: Path) -> list[Path]:
    return sorted(p for p in parent.iterdir() if TMP_MARK in p.name) if parent.is_dir() else []


def count_configs(tmp: Path) -> int:
    try:
        with os.scandir(tmp / "configs") as it:
            return sum(1 for _ in it)
    except FileNotFoundError:
        return 0


def wait_mid_render(proc: subprocess.Popen[str], parent: Path, timeout: float = 120) -> Path:
    """Wait until the render's temporary folder holds some configs; return that folder."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for tmp in temp_folders(parent):
            if count_configs(tmp) >= MIN_CONFIGS:
                return tmp
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the render ended (exit {proc.returncode}) before it could be interrupted:\n{err}")
        time.sleep(0.005)
    proc.kill()
    pytest.fail("no temporary folder with configs appeared")


@pytest.fixture
def previous_output(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A complete earlier render at tmp_path/work/out, and the snapshot of its bytes."""
    small = write(tmp_path / "small" / "experiment.yaml", SMALL)
    out = tmp_path / "work" / "out"
    result = run_cli("render", small, "--out", out)
    assert result.code == 0, result.err
    (out / "notes.txt").write_text("the researcher's notes beside the configs\n")
    yield out, folder_state(out)


INTERRUPTS = [
    pytest.param(signal.SIGINT, id="SIGINT"),
    pytest.param(signal.SIGTERM, id="SIGTERM"),
    pytest.param(signal.SIGHUP, id="SIGHUP"),
]


@pytest.mark.parametrize("sig", INTERRUPTS)
def test_interrupt_mid_render_leaves_nothing(sig: signal.Signals, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    experiment = sweep_file(work)
    proc = start_render(experiment, "--out", work / "out")
    tmp = wait_mid_render(proc, work)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted; nothing was written" in err
    assert "Traceback" not in err
    assert not (work / "out").exists(), "an interrupted render must not leave an output folder"
    assert not tmp.exists() and temp_folders(work) == [], "the temporary folder must be removed"
    assert sorted(p.name for p in work.iterdir()) == ["experiment.yaml"]


@pytest.mark.parametrize("sig", INTERRUPTS)
def test_interrupt_with_force_keeps_previous_folder(sig: signal.Signals, tmp_path: Path,
                                                    previous_output: tuple[Path, dict[str, str]]) -> None:
    out, before = previous_output
    experiment = sweep_file(tmp_path)
    proc = start_render(experiment, "--out", out, "--force")
    wait_mid_render(proc, out.parent)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert folder_state(out) == before, "the previous output folder must be byte-identical"
    assert sorted(p.name for p in out.parent.iterdir()) == ["out"], "no temporary or old folder may be left"


def test_sigkill_leaves_only_a_hidden_temporary_folder(tmp_path: Path) -> None:
    experiment = sweep_file(tmp_path)
    outputs = tmp_path / "outputs"  # the default output.base_dir: a timestamped folder would appear here
    proc = start_render(experiment)
    tmp = wait_mid_render(proc, outputs)
    proc.kill()
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    left = sorted(p.name for p in outputs.iterdir())
    # The temporary folder, and the empty folder that held the default name (taken first, so
    # that a render in the same second picks _2): nothing else, and nothing in it.
    reserved = tmp.name[1:].split(TMP_MARK)[0]
    assert left == sorted([tmp.name, reserved]), f"only the temporary folder may remain: {left}"
    assert list((outputs / reserved).iterdir()) == []
    assert tmp.name.startswith(".big_sweep_") and TMP_MARK in tmp.name, "it must be hidden and clearly named"
    assert count_configs(tmp) >= MIN_CONFIGS  # really killed mid-way, not after the rename

    # ttgen ignores the leftover: a new render gets a normal folder, and diff finds that one.
    small = write(tmp_path / "experiment.yaml", SMALL)
    done = run_cli("render", small, cwd=tmp_path)
    assert done.code == 0, done.err
    visible = [p for p in outputs.iterdir() if not p.name.startswith(".") and any(p.iterdir())]
    assert [p.name.startswith("small_") for p in visible] == [True]
    assert tmp.exists(), "ttgen must not delete a temporary folder it did not create"
    diff = run_cli("diff", "run_000", cwd=tmp_path)
    assert diff.code == 0, diff.err
    assert "model.lora_rank" in diff.out


def test_sigkill_with_force_keeps_previous_folder(tmp_path: Path,
                                                  previous_output: tuple[Path, dict[str, str]]) -> None:
    out, before = previous_output
    experiment = sweep_file(tmp_path)
    proc = start_render(experiment, "--out", out, "--force")
    tmp = wait_mid_render(proc, out.parent)
    proc.kill()
    proc.communicate(timeout=120)
    assert folder_state(out) == before
    left = sorted(p.name for p in out.parent.iterdir())
    assert left == sorted(["out", tmp.name]) and tmp.name.startswith(".out" + TMP_MARK)


def test_force_swaps_the_folders_in_one_atomic_exchange(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On Linux --force exchanges old and new with renameat2: at no instant is --out empty."""
    target = tmp_path / "out"
    (target / "configs").mkdir(parents=True)
    (target / "configs" / "run_000.yaml").write_text("old: true\n")
    exchanged: list[bool] = []
    real_exchange = write_module.exchange

    def spy(a: Path, b: Path) -> bool:
        exchanged.append(real_exchange(a, b))
        return exchanged[-1]

    def no_rename(src: str | Path, dst: str | Path) -> None:
        raise AssertionError(f"a rename was used instead of the exchange: {src} -> {dst}")

    monkeypatch.setattr(write_module, "exchange", spy)
    monkeypatch.setattr(write_module.os, "rename", no_rename)
    with AtomicFolder(target, force=True) as folder:
        folder.mkdir("configs")
        folder.write_text("configs/run_000.yaml", "new: true\n")
    assert exchanged == [True]
    assert (target / "configs" / "run_000.yaml").read_text() == "new: true\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "the previous folder must be removed"


def test_ctrl_c_right_after_the_exchange_keeps_the_new_folder(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """After the exchange the new folder is in place; an interrupt while the old one is being
    removed leaves the old one hidden beside it, and the next render there removes it."""
    target = tmp_path / "out"
    (target / "configs").mkdir(parents=True)
    (target / "configs" / "run_000.yaml").write_text("old: true\n")

    def interrupted_rmtree(path: str | Path, ignore_errors: bool = False) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(write_module.shutil, "rmtree", interrupted_rmtree)
    with pytest.raises(KeyboardInterrupt):
        with AtomicFolder(target, force=True) as folder:
            folder.write_text("new.txt", "new\n")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    [left] = [p for p in tmp_path.iterdir() if p.name != "out"]
    assert left.name.startswith(".out" + TMP_MARK) and (left / "configs" / "run_000.yaml").exists()
    # The same state as if the process had been killed there: what a dead process left is
    # tidied by the next render into the same folder (here: pretend the pid has ended).
    monkeypatch.undo()
    monkeypatch.setattr(write_module, "_alive", lambda pid: False)
    with AtomicFolder(target, force=True) as folder:
        folder.write_text("newer.txt", "newer\n")
    assert folder.leftovers_removed == [left]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_ctrl_c_between_the_two_renames_puts_the_old_folder_back(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an atomic exchange (not Linux, some network file systems), --force moves the old
    folder aside, then the new one in: an interrupt in between restores the old."""
    target = tmp_path / "out"
    (target / "configs").mkdir(parents=True)
    (target / "configs" / "run_000.yaml").write_text("old: true\n")
    before = folder_state(target)
    real_rename = os.rename
    calls: list[tuple[str, str]] = []

    def rename(src: str | Path, dst: str | Path) -> None:
        calls.append((Path(src).name, Path(dst).name))
        if len(calls) == 2:  # the new folder into place: the user presses Ctrl-C right now
            raise KeyboardInterrupt
        real_rename(src, dst)

    monkeypatch.setattr(write_module, "exchange", lambda a, b: False)
    monkeypatch.setattr(write_module.os, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        with AtomicFolder(target, force=True) as folder:
            folder.mkdir("configs")
            folder.write_text("configs/run_000.yaml", "new: true\n")
    assert OLD_MARK in calls[0][1] and TMP_MARK in calls[1][0]
    assert folder_state(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def _ended_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_a_previous_folder_left_aside_by_a_kill_is_put_back(tmp_path: Path,
                                                            previous_output: tuple[Path, dict[str, str]]) -> None:
    """A kill between the two renames (no exchange) leaves nothing at --out and the previous
    folder hidden: the next render into that folder first puts it back, then refuses as usual."""
    out, before = previous_output
    aside = out.parent / f".out{OLD_MARK}{_ended_pid()}-{host_tag()}-abcd"
    os.rename(out, aside)
    experiment = write(tmp_path / "experiment.yaml", SMALL)
    result = run_cli("render", experiment, "--out", out)
    assert result.code == 1 and "output folder already exists" in result.err, result.err
    assert folder_state(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["out"]


def test_leftovers_of_running_or_other_machines_renders_are_not_touched(
        tmp_path: Path, previous_output: tuple[Path, dict[str, str]]) -> None:
    out, _ = previous_output
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        keep = [out.parent / f".out{TMP_MARK}{sleeper.pid}-{host_tag()}-aaaa",  # a render still running
                out.parent / f".out{TMP_MARK}{_ended_pid()}-000000-bbbb",       # made on another machine
                out.parent / f".other{TMP_MARK}{_ended_pid()}-{host_tag()}-cccc"]  # another folder's
        gone = out.parent / f".out{TMP_MARK}{_ended_pid()}-{host_tag()}-dddd"
        for folder in [*keep, gone]:
            (folder / "configs").mkdir(parents=True)
        experiment = write(tmp_path / "experiment.yaml", SMALL)
        result = run_cli("render", experiment, "--out", out, "--force")
        assert result.code == 0, result.err
        assert all(folder.is_dir() for folder in keep) and not gone.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


# ---- inputs edited while a render runs --------------------------------------------------------

@pytest.mark.parametrize("edited", ["base.yaml", "experiment.yaml"])
def test_input_edited_mid_render_is_an_error(edited: str, tmp_path: Path) -> None:
    experiment = sweep_file(tmp_path, base_file=True)
    proc = start_render(experiment, "--out", tmp_path / "out")
    wait_mid_render(proc, tmp_path)
    with open(tmp_path / edited, "a", encoding="utf-8") as fh:
        fh.write("# edited while rendering\n")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    what = "base config" if edited == "base.yaml" else "experiment file"
    assert f"{tmp_path / edited}: {what} changed on disk during the render" in err
    assert "hint: save your edits, then render again" in err
    assert "ttgen: 1 error; nothing was written" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.yaml", "experiment.yaml"]


class _EditOnRun:
    """Wraps the config renderer: runs *action* just before rendering run *at*."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, at: int, action: object) -> None:
        from ttgen.render import config_text as pipeline

        real = pipeline.ConfigRenderer.render

        def render(renderer: object, run: object) -> str:
            if getattr(run, "index") == at:
                action()  # type: ignore[operator]
            return real(renderer, run)  # type: ignore[arg-type]

        monkeypatch.setattr(pipeline.ConfigRenderer, "render", render)


def _small_with_base_file(folder: Path) -> Path:
    (folder / "base.yaml").write_bytes(load_catalog().configs[BASE_NAME].path.read_bytes())
    return write(folder / "experiment.yaml", SMALL.replace(f"base_config: {BASE_NAME}", "base_config_file: base.yaml"))


def test_base_rewritten_during_render_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Deterministic twin of the subprocess test: the base changes exactly between runs 1 and 2."""
    experiment = _small_with_base_file(tmp_path)
    base = tmp_path / "base.yaml"
    _EditOnRun(monkeypatch, 2, lambda: base.write_text(base.read_text().replace("lr: 3e-4", "lr: 1e-3")))
    result = run_cli("render", experiment, "--out", tmp_path / "out", cwd=tmp_path)
    assert result.code == 1
    assert f"{base}: base config changed on disk during the render" in result.err
    assert not (tmp_path / "out").exists() and temp_folders(tmp_path) == []


def test_base_deleted_during_render(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    experiment = _small_with_base_file(tmp_path)
    base = tmp_path / "base.yaml"
    _EditOnRun(monkeypatch, 1, base.unlink)
    result = run_cli("render", experiment, "--out", tmp_path / "out", cwd=tmp_path)
    assert result.code == 1
    assert f"{base}: base config became unreadable (No such file or directory) during the render" in result.err
    assert not (tmp_path / "out").exists() and temp_folders(tmp_path) == []


def test_unchanged_inputs_render_and_copies_are_the_bytes_used(tmp_path: Path) -> None:
    """The other side of the check: an untouched render succeeds and copies exactly what it read."""
    experiment = _small_with_base_file(tmp_path)
    result = run_cli("render", experiment, "--out", tmp_path / "out", cwd=tmp_path)
    assert result.code == 0, result.err
    assert (tmp_path / "out" / "base_config.yaml").read_bytes() == (tmp_path / "base.yaml").read_bytes()
    assert (tmp_path / "out" / "experiment.yaml").read_bytes() == experiment.read_bytes()
