"""Hardening of the command line (issue 16): what never happens, whatever the input or the place.

- ``ttgen init`` writes only regular files, never its own input, and leaves no
  temporary file or traceback behind when the place refuses the write;
- ``validate`` and ``render --validate`` never print or store a resolved
  environment value;
- ``validate`` resolves chained interpolations once per key, and refuses an
  expansion over 1 MiB instead of hanging;
- ``check`` reports symbolic links (and other non-regular files) as differences;
- ``diff`` warns whenever the base config's sha256 cannot be verified;
- no traceback on a stdout that cannot encode the text, a closed pipe on the
  failure path, or Ctrl-C during start-up.

The rules are documented in docs/guarantees.md, docs/validate.md and
docs/diff-check.md.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import tmpfs, CASES, EXAMPLES, run_cli, write
from ttgen.layout import TMP_MARK

SMALL_BASE = CASES / "hostile" / "bases" / "small_lora.yaml"
SECRET = "not-a-number-s3cr3t"


def ttgen(*args: str | os.PathLike[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 120,
          input: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m ttgen ARGS`` in a subprocess."""
    full = {**os.environ, **(env or {})}
    full.pop("TTGEN_TRACEBACK", None)
    return subprocess.run([sys.executable, "-m", "ttgen", *map(str, args)], cwd=cwd, env=full, capture_output=True,
                          text=True, errors="replace", timeout=timeout)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if TMP_MARK in p.name)


def assert_init_refused(result, *, says: str, hint: str = "hint:") -> None:
    assert result.code == 1, result.out + result.err
    assert "Traceback" not in result.err, result.err
    assert says in result.err, result.err
    assert hint in result.err, result.err
    assert result.out == ""


# ---------------------------------------------------------------- 1. ttgen init


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return Path(shutil.copy(SMALL_BASE, tmp_path / "base.yaml"))


def test_init_never_replaces_a_fifo_or_a_device(tmp_path: Path, base: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for force in ([], ["--force"]):
        result = run_cli("init", base, "--out", fifo, *force)
        assert_init_refused(result, says="not a regular file")
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    # A symbolic link to a device is refused too (the device itself only as root: it is replaced then).
    link = tmp_path / "null.yaml"
    link.symlink_to(os.devnull)
    assert_init_refused(run_cli("init", base, "--out", link, "--force"), says="not a regular file")
    assert link.is_symlink() and stat.S_ISCHR(os.stat(link).st_mode)
    if os.geteuid() == 0:
        dev = tmp_path / "null"
        os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        assert_init_refused(run_cli("init", base, "--out", dev, "--force"), says="not a regular file")
        assert stat.S_ISCHR(os.lstat(dev).st_mode)
    assert leftovers(tmp_path) == []


def test_init_never_overwrites_its_own_input(tmp_path: Path, base: Path) -> None:
    before = base.read_bytes()
    result = run_cli("init", "base.yaml", "--out", "base.yaml", "--force", cwd=tmp_path)
    assert_init_refused(result, says="the base config it reads")
    # Also through another spelling of the path, and a symbolic link to it.
    (tmp_path / "sub").mkdir()
    assert_init_refused(run_cli("init", "base.yaml", "--out", "sub/../base.yaml", "--force", cwd=tmp_path),
                        says="the base config it reads")
    (tmp_path / "link.yaml").symlink_to(base)
    assert_init_refused(run_cli("init", "base.yaml", "--out", "link.yaml", "--force", cwd=tmp_path),
                        says="the base config it reads")
    assert base.read_bytes() == before
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("force", [False, True])
def test_init_out_naming_a_folder(tmp_path: Path, base: Path, force: bool) -> None:
    (tmp_path / "d").mkdir()
    result = run_cli("init", base, "--out", tmp_path / "d", *(["--force"] if force else []))
    assert_init_refused(result, says="is a folder", hint="d/experiment.yaml")
    assert (tmp_path / "d").is_dir() and list((tmp_path / "d").iterdir()) == []
    assert leftovers(tmp_path) == []


def test_init_places_that_refuse_the_file(tmp_path: Path, base: Path) -> None:
    # A file in the way of the folder.
    (tmp_path / "f").write_text("")
    assert_init_refused(run_cli("init", base, "--out", tmp_path / "f" / "x.yaml"), says="cannot")
    # A file name longer than the file system allows.
    assert_init_refused(run_cli("init", base, "--out", tmp_path / ("a" * 300 + ".yaml")), says="cannot")
    # A name just short enough: the temporary file beside it must fit too.
    ok = run_cli("init", base, "--out", tmp_path / ("b" * 250 + ".yaml"))
    assert ok.code == 0, ok.err
    assert leftovers(tmp_path) == []


def test_init_in_a_read_only_folder(tmp_path: Path, base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.geteuid() == 0:  # root writes anywhere: make the write itself refuse
            real_open = os.open

            def refuse(path, flags, *args, **kwargs):  # type: ignore[no-untyped-def]
                if str(path).startswith(str(ro)) and flags & os.O_CREAT:
                    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
                return real_open(path, flags, *args, **kwargs)

            monkeypatch.setattr(os, "open", refuse)
        result = run_cli("init", base, "--out", ro / "experiment.yaml")
    finally:
        ro.chmod(0o755)
    monkeypatch.undo()
    assert_init_refused(result, says="Permission denied", hint="permissions")
    assert list(ro.iterdir()) == []


def test_init_on_a_full_disk_removes_its_temporary_file(tmp_path: Path, base: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import ttgen.cli.init as init_cli

    real = init_cli._write_all

    def full(fd: int, data: bytes) -> None:
        real(fd, data[:10])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(init_cli, "_write_all", full)
    (tmp_path / "experiment.yaml").write_text("old\n")
    result = run_cli("init", base, "--out", tmp_path / "experiment.yaml", "--force")
    assert_init_refused(result, says="No space left on device", hint="disk is full")
    assert leftovers(tmp_path) == []
    assert (tmp_path / "experiment.yaml").read_text() == "old\n"  # the old file is kept whole


def test_init_on_a_real_full_tmpfs(tmp_path: Path, base: Path) -> None:
    with tmpfs(tmp_path / "mnt", size="4k") as mnt:
        (mnt / "filler").write_bytes(b"x" * 4096)
        result = ttgen("init", base, "--out", mnt / "experiment.yaml", cwd=tmp_path)
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr and "No space left on device" in result.stderr, result.stderr
        assert sorted(p.name for p in mnt.iterdir()) == ["filler"]


# ---------------------------------------------------------------- 2. no resolved environment values


def test_validate_never_shows_an_environment_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTGEN_TEST_SECRET", SECRET)
    monkeypatch.setenv("TTGEN_TEST_COMPONENT", "not a name " + SECRET)
    optimizer = "torch.optim.NoSuchOptimizer_s3cr3t"
    monkeypatch.setenv("TTGEN_TEST_OPTIMIZER", optimizer)
    write(tmp_path / "configs" / "run_000.yaml",
          "output_dir: /tmp/x\n"
          "epochs: ${oc.env:TTGEN_TEST_SECRET}\n"
          "batch_size: ${epochs}\n"
          "seed: 'prefix-${oc.env:TTGEN_TEST_SECRET}'\n"
          "tokenizer:\n  _component_: ${oc.env:TTGEN_TEST_COMPONENT}\n  path: /x\n"
          "optimizer:\n  _component_: ${oc.env:TTGEN_TEST_OPTIMIZER}\n  lr: 0.1\n")
    level2 = importlib.util.find_spec("torchtune") is not None
    for args in (["--level", "1"], ["--level", "1", "--json"], *([["--level", "2", "--json"]] if level2 else [])):
        result = run_cli("validate", tmp_path / "configs" / "run_000.yaml", *args)
        assert result.code == 1, result.err
        assert "epochs" in result.err + result.out
        assert SECRET not in result.out + result.err, result.out + result.err
        assert optimizer not in result.out + result.err, result.out + result.err
        assert "${oc.env:TTGEN_TEST_SECRET}" in result.out + result.err  # as written

    exp = write(tmp_path / "exp" / "experiment.yaml",
                "experiment: {name: secret_study, framework: torchtune}\n"
                f"framework_config: {{base_config_file: {SMALL_BASE}}}\n"
                "variables: {lora_rank: [8, 16]}\n"
                "delete: [epochs]\n"
                "controls:\n  epochs: ${oc.env:TTGEN_TEST_SECRET}\n")
    result = ttgen("render", exp, "--out", tmp_path / "out", "--validate", cwd=tmp_path,
                   env={"TTGEN_TEST_SECRET": SECRET})
    assert result.returncode == 1, result.stderr
    assert "epochs" in result.stderr
    assert SECRET not in result.stdout + result.stderr, result.stderr
    report = (tmp_path / "out" / "validation_report.txt").read_text()
    assert "epochs" in report and SECRET not in report, report


# ---------------------------------------------------------------- 3. chained interpolations


def test_chained_interpolations_resolve_once_each(tmp_path: Path) -> None:
    lines = ["output_dir: /tmp/x", "a0: x"] + [f"a{i}: ${{a{i - 1}}}${{a{i - 1}}}" for i in range(1, 26)]
    config = write(tmp_path / "run_000.yaml", "\n".join(lines) + "\n")
    result = ttgen("validate", config, "--level", "1", cwd=tmp_path, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "a20: interpolation '${a19}${a19}' expands to more than 1 MiB" in result.stderr, result.stderr
    assert "a19:" not in result.stderr  # 512 KiB is fine

    # A long chain that stays small resolves, and the type rules see its value.
    lines = ["output_dir: /tmp/x", "b0: 1"] + [f"b{i}: ${{b{i - 1}}}" for i in range(1, 200)] + ["epochs: ${b199}"]
    config = write(tmp_path / "run_001.yaml", "\n".join(lines) + "\n")
    assert ttgen("validate", config, "--level", "1", cwd=tmp_path, timeout=60).returncode == 0


# ---------------------------------------------------------------- 4. check and symbolic links


@pytest.fixture
def rendered(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLES / "lora_rank_sweep", tmp_path / "exp")
    assert run_cli("render", tmp_path / "exp" / "experiment.yaml", "--out", tmp_path / "out").code == 0
    return tmp_path / "out"


def test_check_reports_a_config_replaced_by_a_symlink(tmp_path: Path, rendered: Path) -> None:
    config = rendered / "configs" / "run_000.yaml"
    shutil.copy(config, tmp_path / "same.yaml")
    config.unlink()
    config.symlink_to(tmp_path / "same.yaml")
    result = run_cli("check", "exp/experiment.yaml", "--against", "out", cwd=tmp_path)
    assert result.code == 1, result.out + result.err
    assert "configs/run_000.yaml" in result.out + result.err
    assert "symbolic link" in result.out + result.err


def test_check_reports_an_extra_symlinked_folder_and_fifo(tmp_path: Path, rendered: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    write(tmp_path / "elsewhere" / "notes.txt", "x\n")
    (rendered / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    result = run_cli("check", "exp/experiment.yaml", "--against", "out", cwd=tmp_path)
    assert result.code == 1, result.out + result.err
    assert "extra in out" in result.out and "  linked\n" in result.out, result.out

    (rendered / "linked").unlink()
    os.mkfifo(rendered / "configs" / "pipe")
    result = run_cli("check", "exp/experiment.yaml", "--against", "out", cwd=tmp_path)  # must not block
    assert result.code == 1, result.out + result.err
    assert "  configs/pipe\n" in result.out, result.out


# ---------------------------------------------------------------- 5. diff and an unverifiable base


@pytest.mark.parametrize("manifest", ["corrupt", "unreadable", "no_sha", "missing"])
def test_diff_warns_when_the_base_cannot_be_verified(tmp_path: Path, rendered: Path, manifest: str) -> None:
    path = rendered / "manifest.yaml"
    if manifest == "corrupt":
        path.write_text("base_config: [unclosed\n  : : :\n")
    elif manifest == "unreadable":
        path.unlink()
        path.mkdir()  # unreadable as a file, even as root
    elif manifest == "no_sha":
        text = path.read_text()
        assert "sha256:" in text
        path.write_text("\n".join(line for line in text.splitlines()
                                  if not (line.startswith("  sha256:") or line.startswith("  sha256 :"))) + "\n")
    else:
        path.unlink()
    base = rendered / "base_config.yaml"
    base.write_text(base.read_text().replace("lora_rank: 8", "lora_rank: 99"))
    result = run_cli("diff", "run_000", "--dir", rendered)
    assert "Traceback" not in result.err
    assert "warning: " in result.err and "cannot verify base_config.yaml" in result.err, result.err


# ---------------------------------------------------------------- 6. tracebacks instead of messages


def unicode_experiment(tmp_path: Path) -> Path:
    return write(tmp_path / "exp" / "experiment.yaml",
                 "experiment: {name: unicode_study, framework: torchtune}\n"
                 f"framework_config: {{base_config_file: {SMALL_BASE}}}\n"
                 "variables: {lora_rank: [8, 16]}\n"
                 "controls:\n  output_dir: /data/ünïcode\n")


def test_stdout_that_cannot_encode_the_text(tmp_path: Path) -> None:
    exp = unicode_experiment(tmp_path)
    env = {"PYTHONIOENCODING": "ascii", "LC_ALL": "C"}
    dry = ttgen("render", exp, "--dry-run", cwd=tmp_path, env=env)
    assert dry.returncode == 0, dry.stderr
    assert "Traceback" not in dry.stderr
    assert "\\xfc" in dry.stdout  # ü, escaped
    out = ttgen("render", exp, "--out", tmp_path / "öut", cwd=tmp_path, env=env)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert "\\xf6ut" in out.stdout  # öut
    diff = ttgen("diff", "run_001", "--dir", tmp_path / "öut", cwd=tmp_path, env=env)
    assert diff.returncode == 0 and "Traceback" not in diff.stderr, diff.stderr
    assert "\\xfc" in diff.stdout
    # A non-ASCII file name in an error message, too.
    bad = write(tmp_path / "bäd.yaml", "experiment: {}\n")
    err = ttgen("render", bad, cwd=tmp_path, env=env)
    assert err.returncode == 1 and "Traceback" not in err.stderr, err.stderr


def test_broken_pipe_on_the_failure_path(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.yaml", "experiment: {}\n" + "# padding\n" * 10)
    env = {k: v for k, v in os.environ.items() if k != "TTGEN_TRACEBACK"}
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-m", "ttgen", "render", str(bad), "--json"], cwd=tmp_path,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None
        proc.stdout.close()  # `| (exit 0)`: nobody reads
        _, err = proc.communicate(timeout=60)
        text = err.decode(errors="replace")
        assert "Traceback" not in text and "Exception ignored" not in text, text
        assert proc.returncode == 1, text
        assert "missing required field" in text


def before_ttgen_runs(text: str) -> bool:
    """A traceback from before ttgen runs any code it can guard.

    Python's own start-up (importing the site module and its .pth files), then the
    launcher importing the package: runpy for ``python -m ttgen`` (``ttgen/__init__.py``,
    compiling ``ttgen/__main__.py``), the console script's wrapper for ``ttgen`` (locating
    the package, ``ttgen/__init__.py``, before ``ttgen.cli.main`` is called). None of it is
    the command line's to change (see docs/guarantees.md); everything from the
    first line of ``ttgen/__main__.py`` or ``ttgen/cli/__init__.py`` on must be clean.
    """
    if text.startswith("Fatal Python error: init_"):  # the interpreter's start-up: its streams, site
        return True
    if text.startswith("Error processing line") and "<frozen site>" in text:
        # Ctrl-C while the site module runs a .pth file (the editable install's finder): Python
        # reports it and skips the file, before any launcher or ttgen code runs.
        return "ttgen/__main__.py" not in text and "ttgen/cli" not in text
    if text.startswith("Exception ignored in: <function _get_module_lock"):
        # Ctrl-C inside importlib's own lock callback: Python reports it as unraisable and
        # carries on; no code of ttgen's is on that stack.
        return "ttgen" not in text
    launcher = "runpy" in text or "/bin/ttgen" in text or "argv[0]" in text
    return launcher and "ttgen/__main__.py" not in text and "ttgen/cli" not in text


LAUNCHERS = [pytest.param([sys.executable, "-m", "ttgen"], id="python-m-ttgen"),
             pytest.param([str(Path(sys.executable).parent / "ttgen")], id="ttgen-command")]


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_sigint_during_start_up(launcher: list[str], tmp_path: Path) -> None:
    exp = unicode_experiment(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "TTGEN_TRACEBACK"}
    seen = []
    for delay in [i * 0.002 for i in range(0, 60)]:
        proc = subprocess.Popen([*launcher, "render", str(exp), "--dry-run"], cwd=tmp_path,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        text = err.decode(errors="replace")
        seen.append(proc.returncode)
        if before_ttgen_runs(text):
            continue
        assert "Traceback" not in text, f"after {delay:.3f} s:\n{text}"
        assert proc.returncode in (0, 130, -signal.SIGINT), f"after {delay:.3f} s: {proc.returncode}\n{text}"
        if proc.returncode == 130:
            assert text.splitlines()[-1].startswith("ttgen: interrupted"), text
    assert 130 in seen


def test_ctrl_c_that_python_wrapped_in_a_runtime_error_is_still_an_interrupt(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A Ctrl-C landing in a class's __set_name__ while a module is imported comes out of the
    import as RuntimeError (caused by the KeyboardInterrupt): seen once under load in CI."""
    import ttgen.cli.app as app
    from ttgen.cli import main

    def wrapped(*args: object, **kwargs: object) -> int:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise RuntimeError("Error calling __set_name__ on 'cached_property' instance") from exc

    monkeypatch.setattr(app, "_main", wrapped)
    assert main(["ls"]) == 130
    assert capsys.readouterr().err == "ttgen: interrupted\n"

    def other(*args: object, **kwargs: object) -> int:
        raise RuntimeError("a real bug")

    monkeypatch.setattr(app, "_main", other)
    with pytest.raises(RuntimeError, match="a real bug"):
        main(["ls"])
