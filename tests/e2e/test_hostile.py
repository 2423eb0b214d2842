"""Hostile and broken input, and hostile places to write: a clear error, never a traceback or a lost file.

The corpus lives in tests/cases/hostile/ as data, in the one format of all bad-input
cases (tests/helpers.py: `read_expectations`, `assert_problems`; the same as
tests/cases/errors/). Each case's first line is a ``#`` comment saying what it is,
followed by one line per problem the CLI must print and its optional hint lines::

    # expect: WHERE | PATH | text | text ...
    #   hint: text

WHERE is ``line:col`` in the case, ``other/file.yaml:line:col`` in another file, or
``-`` for no position; PATH is the dotted path printed after the position, or ``-``
when the problem prints none; the texts are substrings of the message, the hint a
substring of the hint lines. Files that cannot hold such a header (empty, binary, not
UTF-8) and the ones generate.py writes at test time (too big to commit) are rows of
expected.yaml with the same fields (at, path, says, hint), checked by the same code.

Every case (run as ``ttgen render CASE --out ...`` in its folder) must exit 1 with
exactly the expected problems on stderr: each problem line starting with exactly
``WHERE: PATH: `` (``WHERE: `` without a path), one line per problem and no other
(plus hint lines), the error count, nothing on stdout and nothing on disk.

The rest of the file covers places that refuse to be written (read-only, full,
/proc, a full stdout), ``--force`` aimed at a folder holding the inputs, input
quirks that must still render, and a property test that random experiment
structures never produce a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from helpers import CASES as ALL_CASES
from helpers import tmpfs
from helpers import (Expect, assert_clean_failure, assert_problems, folder_state, load_omegaconf, problem_block,
                     read_expectations, run_cli, write)
from ttgen.errors import UserError
from ttgen.yamlio.load import load_yaml_bytes
from ttgen.layout import TMP_MARK

HOSTILE = ALL_CASES / "hostile"
TABLE: dict[str, dict[str, Any]] = yaml.safe_load((HOSTILE / "expected.yaml").read_text(encoding="utf-8"))
GENERATED = sorted(name for name, row in TABLE.items() if row.get("generated"))
COMMITTED = sorted(p.name for p in HOSTILE.glob("*.yaml") if p.name != "expected.yaml")
SMALL_BASE = HOSTILE / "bases" / "small_lora.yaml"


def table_expectations(name: str) -> list[Expect]:
    """The expected.yaml row of a case that cannot hold a header: one problem."""
    row = TABLE[name]
    return [Expect.of(row["at"], row["path"], row["says"], (row["hint"],) if "hint" in row else (),
                      source=f"expected.yaml: {name}")]


def expectations(name: str) -> list[Expect]:
    return table_expectations(name) if name in TABLE else read_expectations(HOSTILE / name)


# The folder listing: every committed file with "# expect:" lines, and every row of expected.yaml.
HEADED = [name for name in COMMITTED if name not in TABLE and read_expectations(HOSTILE / name)]
CORPUS = sorted(set(HEADED) | set(TABLE))


@pytest.fixture(scope="session")
def generated_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = importlib.util.spec_from_file_location("hostile_generate", HOSTILE / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    folder = tmp_path_factory.mktemp("hostile_generated")
    assert sorted(module.generate(folder)) == GENERATED
    return folder


def assert_nothing_left(folder: Path, *, expected: list[str]) -> None:
    left = sorted(p.name for p in folder.iterdir())
    assert not [n for n in left if TMP_MARK in n], f"temporary folder left behind: {left}"
    assert left == sorted(expected), f"unexpected files: {left}"


# ---- the corpus --------------------------------------------------------------------------------

@pytest.mark.parametrize("case", [pytest.param(name, id=Path(name).stem) for name in CORPUS])
def test_hostile_case(case: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    folder = request.getfixturevalue("generated_dir") if case in GENERATED else HOSTILE
    expected = expectations(case)
    result = run_cli("render", case, "--out", tmp_path / "out", cwd=folder)
    assert_clean_failure(result, errors=sum(not e.warning for e in expected))
    assert_problems(result.err, case, expected, in_order=False)
    assert_nothing_left(tmp_path, expected=[])


def test_corpus_is_large_and_self_describing() -> None:
    assert len(COMMITTED) + len(GENERATED) >= 40
    assert sorted(COMMITTED + GENERATED) == CORPUS, "every case is in the corpus test"
    table_files = set(TABLE) - set(GENERATED)
    assert table_files <= set(COMMITTED), "every expected.yaml row names a committed file (or a generated one)"
    assert not set(GENERATED) & set(COMMITTED)
    for name in COMMITTED:
        path = HOSTILE / name
        assert path.stat().st_size < 100_000, f"{name}: committed cases stay small; generate big ones"
        if name in table_files:
            continue
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# ") and len(first) > 10, f"{name}: the first line must say what the case is"
        assert read_expectations(path), f"{name}: no '# expect:' line and no row in expected.yaml"
    for name, row in TABLE.items():
        assert row.get("what") and row.get("says"), f"expected.yaml: {name} needs what: and says:"
        assert row.get("at") and row.get("path"), f"expected.yaml: {name} needs at: and path: (\"-\" for none)"
        assert set(row) <= {"what", "generated", "at", "path", "says", "hint"}, f"expected.yaml: {name}: {set(row)}"


def test_generated_cases_are_really_big(generated_dir: Path) -> None:
    assert (generated_dir / "huge.yaml").stat().st_size > 16 * 1024 * 1024
    assert (generated_dir / "many_values.yaml").read_text().count(", ") >= 200_000


def test_unsafe_tags_never_run(tmp_path: Path) -> None:
    """The os.system tag case would create this file if anything constructed it."""
    marker = Path("/tmp/ttgen_pwned")
    marker.unlink(missing_ok=True)
    result = run_cli("render", "tag_python_apply_variable.yaml", "--out", tmp_path / "out", cwd=HOSTILE)
    assert result.code == 1
    assert not marker.exists()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.lists(st.sampled_from(
    list("{}[]:,-?!&*#'\"|>%@ \n\t\\ab0.~") + ["!!float ", "!!int ", "!!binary ", "&a ", "*a", "<<: ", "---\n",
                                                 "%YAML 1.1\n", "!!python/name:os.system ", "\ufeff", "\u2028"]),
    max_size=60).map(lambda parts: "".join(parts).encode("utf-8")))
def test_any_bytes_load_or_fail_cleanly(raw: bytes) -> None:
    """Random bytes and YAML-ish text: data or a UserError with one-line messages, nothing else."""
    try:
        load_yaml_bytes(raw, file="x.yaml")
    except UserError as err:
        assert err.problems
        for problem in err.problems:
            assert problem.pos is not None and problem.pos.file == "x.yaml"
            assert "\n" not in problem.message and problem.message.isprintable(), problem.message


# ---- random experiment structures: never a traceback ------------------------------------------

NAMES = ["lora_rank", "lora_alpha", "learning_rate", "epochs", "output_dir", "model", "optimizer", "optimizer.lr",
         "model.lora_rank", "+new", "+a.b", "seed", "model._component_", "", "+", ".", "a..b", "profiler",
         "${output_dir}/x", "{{ lora_rank }}", "{{ run_index * 2 }}", "{{ experiment.name }}-{{ run_id }}",
         "{{ x", "{% if %}", "{{ 1/0 }}", "{{ 'a' * 3 }}"]
SCALAR = (st.none() | st.booleans() | st.integers(-5, 2**70) | st.floats() | st.sampled_from(NAMES)
          | st.text(max_size=5))
VALUE = st.recursive(SCALAR, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(NAMES), c, max_size=3),
                     max_leaves=8)
SECTIONS = st.fixed_dictionaries({}, optional={
    "variables": st.dictionaries(st.sampled_from(NAMES), st.lists(VALUE, max_size=3) | VALUE, max_size=3) | VALUE,
    "controls": st.dictionaries(st.sampled_from(NAMES), VALUE, max_size=3) | VALUE,
    "delete": st.lists(st.sampled_from(NAMES), max_size=3) | VALUE,
    "sweep": st.fixed_dictionaries({}, optional={
        "max_runs": st.integers(-1, 5) | VALUE,
        "zip": st.lists(st.lists(st.sampled_from(NAMES), max_size=3), max_size=2) | VALUE,
        "exclude": st.lists(st.dictionaries(st.sampled_from(NAMES), VALUE, max_size=2), max_size=2) | VALUE}),
    "output": st.fixed_dictionaries({}, optional={"base_dir": VALUE}),
})


def _yaml_json(doc: Any) -> str:
    # JSON is YAML; non-finite floats are spelled the YAML way.
    text = json.dumps(doc, allow_nan=True)
    return text.replace("-Infinity", "-.inf").replace("Infinity", ".inf").replace("NaN", ".nan")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SECTIONS)
def test_random_experiment_structures_never_crash(sections: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        shutil.copy(SMALL_BASE, folder / "base.yaml")
        doc = {"experiment": {"name": "fz", "framework": "torchtune"},
               "framework_config": {"base_config_file": "base.yaml"}, **sections}
        write(folder / "experiment.yaml", _yaml_json(doc))
        result = run_cli("render", "experiment.yaml", "--out", "out", cwd=folder)
        assert result.code in (0, 1), result.err
        assert "Traceback" not in result.err
        if result.code == 1:
            assert_nothing_left(folder, expected=["base.yaml", "experiment.yaml"])
            for line in result.err.splitlines()[:-1]:
                assert line.startswith(("experiment.yaml", "base.yaml", "    ")), f"unexpected line: {line!r}"
        else:
            configs = sorted((folder / "out" / "configs").glob("run_*.yaml"))
            assert configs
            for config in configs:
                assert isinstance(load_omegaconf(config), dict)


# ---- inputs that are odd but valid: they render --------------------------------------------------

EXPERIMENT = """\
experiment:
  name: quirks
  framework: torchtune
framework_config:
  base_config_file: base.yaml
variables:
  lora_rank: [4, 8]
controls:
  learning_rate: 1e-5
"""


@pytest.mark.parametrize("encode", [
    pytest.param(lambda t: t.replace("\n", "\r\n").encode(), id="crlf-line-endings"),
    pytest.param(lambda t: b"\xef\xbb\xbf" + t.encode(), id="utf8-byte-order-mark"),
    pytest.param(lambda t: t.rstrip("\n").encode(), id="no-final-newline"),
    pytest.param(lambda t: t.replace("\n", "   \n").encode(), id="trailing-spaces"),
    pytest.param(lambda t: ("%YAML 1.1\n---\n" + t + "...\n").encode(), id="directive-and-document-markers"),
])
def test_quirky_but_valid_input_renders(encode: Any, tmp_path: Path) -> None:
    shutil.copy(SMALL_BASE, tmp_path / "base.yaml")
    (tmp_path / "experiment.yaml").write_bytes(encode(EXPERIMENT))
    result = run_cli("render", "experiment.yaml", "--out", "out", cwd=tmp_path)
    assert result.code == 0, result.err
    assert (tmp_path / "out" / "experiment.yaml").read_bytes() == (tmp_path / "experiment.yaml").read_bytes()
    for i, rank in enumerate([4, 8]):
        cfg = OmegaConf.load(tmp_path / "out" / "configs" / f"run_00{i}.yaml")
        assert cfg.model.lora_rank == rank and cfg.optimizer.lr == 1e-5


# ---- places that cannot be written -------------------------------------------------------------

def _make_experiment(folder: Path, *, runs: int = 4) -> Path:
    shutil.copy(SMALL_BASE, folder / "base.yaml")
    values = ", ".join(str(i) for i in range(1, runs + 1))
    return write(folder / "experiment.yaml", EXPERIMENT.replace("lora_rank: [4, 8]", f"lora_rank: [{values}]"))


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[str]:
    """Make *folder* unwritable for this process, honestly; yields how.

    Root ignores permission bits, so as root the folder becomes a read-only bind
    mount (EROFS), or failing that immutable (chattr +i, EPERM). Otherwise 0o555.
    """
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield "chmod 0o555"
        finally:
            folder.chmod(0o755)
        return
    if _mount("--bind", str(folder), str(folder)):
        if _mount("-o", "remount,bind,ro", str(folder)):
            try:
                yield "read-only bind mount"
            finally:
                subprocess.run(["umount", str(folder)], check=True)
            return
        subprocess.run(["umount", str(folder)], check=True)
    if shutil.which("chattr") and subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0:
        try:
            yield "chattr +i"
        finally:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        return
    pytest.fail("cannot make a folder read-only here: running as root without CAP_SYS_ADMIN (mount) or "
                "CAP_LINUX_IMMUTABLE (chattr); run the tests as a normal user, or as root in a container "
                "that may mount (as CI does)")


def test_read_only_target_parent(tmp_path: Path) -> None:
    experiment = _make_experiment(tmp_path)
    parent = tmp_path / "ro"
    parent.mkdir()
    with read_only(parent) as how:
        result = run_cli("render", experiment, "--out", parent / "out")
        left = sorted(p.name for p in parent.iterdir())
    assert_clean_failure(result, errors=1)
    block = problem_block(result.err, f"{parent}: cannot create the output folder: ")
    reason = {"read-only bind mount": "Read-only file system", "chattr +i": "Operation not permitted",
              "chmod 0o555": "Permission denied"}[how]
    assert reason in block[0], (how, block)
    assert "hint: " in block[-1] and "--out" in block[-1]
    assert left == []


def test_read_only_target_with_force_keeps_the_old_folder(tmp_path: Path) -> None:
    experiment = _make_experiment(tmp_path)
    parent = tmp_path / "ro"
    old = parent / "out"
    (old / "configs").mkdir(parents=True)
    (old / "configs" / "run_000.yaml").write_text("earlier: results\n")
    (old / "manifest.yaml").write_text("ttgen_version: 0.1.0\n")  # an earlier render: --force may replace it
    before = folder_state(parent)
    with read_only(parent):
        result = run_cli("render", experiment, "--out", old, "--force")
    assert_clean_failure(result, errors=1)
    assert "cannot create the output folder" in result.err
    assert folder_state(parent) == before


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: a real full disk (ENOSPC)."""
    with tmpfs(tmp_path / "disk", size="64k") as disk:
        yield disk


def _used_bytes(folder: Path) -> int:
    st = os.statvfs(folder)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def test_full_disk(tmp_path: Path, tiny_disk: Path) -> None:
    experiment = _make_experiment(tmp_path, runs=200)  # ~200 configs of ~0.6 KB: more than 64 KiB
    used_before = _used_bytes(tiny_disk)
    result = run_cli("render", experiment, "--out", tiny_disk / "out")
    assert_clean_failure(result, errors=1)
    block = problem_block(result.err, str(tiny_disk / ".out"))
    assert "No space left on device" in block[0]
    assert "hint: the disk is full" in block[-1]
    assert_nothing_left(tiny_disk, expected=[])
    assert _used_bytes(tiny_disk) == used_before, "the partial output must be removed, freeing the space"


def test_full_disk_with_force_keeps_the_old_folder(tmp_path: Path, tiny_disk: Path) -> None:
    old = tiny_disk / "out"
    small = run_cli("render", _make_experiment(tmp_path), "--out", old)
    assert small.code == 0, small.err
    before = folder_state(old)
    big = tmp_path / "big"
    big.mkdir()
    result = run_cli("render", _make_experiment(big, runs=200), "--out", old, "--force")
    assert_clean_failure(result, errors=1)
    assert "No space left on device" in result.err
    assert folder_state(old) == before
    assert_nothing_left(tiny_disk, expected=["out"])


def _limit_file_size() -> None:
    # Any file over 1 KiB fails with EFBIG (Python ignores SIGXFSZ, so write() reports it).
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))


def test_file_size_limit(tmp_path: Path) -> None:
    """Unprivileged twin of the full-disk test: `ulimit -f` makes writes fail mid-render."""
    experiment = _make_experiment(tmp_path, runs=20)
    proc = subprocess.run([sys.executable, "-m", "ttgen", "render", str(experiment), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, preexec_fn=_limit_file_size)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "File too large" in proc.stderr and "hint: a file size limit was hit (ulimit -f)" in proc.stderr
    assert_nothing_left(tmp_path, expected=["base.yaml", "experiment.yaml"])


@pytest.mark.parametrize("target, says", [
    pytest.param("/proc/ttgen-out", "No such file or directory", id="proc"),
    pytest.param("/dev/full/out", "File exists", id="under-a-device-file"),
    pytest.param("/dev/null", "output path exists and is not a folder", id="a-device-file"),
])
def test_unwritable_system_places(target: str, says: str, tmp_path: Path) -> None:
    result = run_cli("render", _make_experiment(tmp_path), "--out", target)
    assert_clean_failure(result, errors=1)
    assert says in result.err and "hint: " in result.err and "--out" in result.err


def test_output_path_through_a_file(tmp_path: Path) -> None:
    experiment = _make_experiment(tmp_path)
    result = run_cli("render", experiment, "--out", tmp_path / "base.yaml" / "out")
    assert_clean_failure(result, errors=1)
    assert "hint: a file is in the way" in result.err
    assert_nothing_left(tmp_path, expected=["base.yaml", "experiment.yaml"])


@pytest.mark.parametrize("args", [
    pytest.param(("--dry-run",), id="dry-run-table"),
    pytest.param(("--dry-run", "--json"), id="dry-run-json"),
    pytest.param(("--out", "OUT"), id="render"),
])
def test_stdout_on_a_full_device(args: tuple[str, ...], tmp_path: Path) -> None:
    experiment = _make_experiment(tmp_path)
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in args]
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "ttgen", "render", str(experiment), *argv],
                              stdout=full, stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 1
    assert proc.stderr == "ttgen: cannot print the results: No space left on device\n"


# ---- --force never deletes the inputs ----------------------------------------------------------

@pytest.mark.parametrize("out", [
    pytest.param(".", id="the-experiment-folder"),
    pytest.param("ABS", id="the-experiment-folder-absolute"),
    pytest.param("..", id="its-parent"),
    pytest.param("/", id="the-root"),
])
def test_force_refuses_a_folder_holding_the_inputs(out: str, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    experiment = _make_experiment(project)
    (project / "notes.txt").write_text("months of work\n")
    before = folder_state(tmp_path)
    result = run_cli("render", "experiment.yaml", "--out", str(project) if out == "ABS" else out, "--force",
                     cwd=project)
    assert_clean_failure(result, errors=1)
    assert "--force would delete" in result.err and "which holds the experiment file" in result.err
    assert "hint: give the output a folder of its own" in result.err
    assert folder_state(tmp_path) == before
    assert experiment.is_file()


def test_force_refuses_the_current_folder(tmp_path: Path) -> None:
    inputs, work = tmp_path / "inputs", tmp_path / "work"
    inputs.mkdir()
    work.mkdir()
    experiment = _make_experiment(inputs)
    (work / "data.txt").write_text("not ttgen's\n")
    result = run_cli("render", experiment, "--out", ".", "--force", cwd=work)
    assert_clean_failure(result, errors=1)
    assert "which holds the current folder" in result.err
    assert (work / "data.txt").read_text() == "not ttgen's\n"


def test_experiment_that_is_not_a_regular_file(tmp_path: Path) -> None:
    result = run_cli("render", "/dev/zero", "--out", tmp_path / "out")
    assert_clean_failure(result, errors=1)
    assert result.err.startswith("/dev/zero: experiment file is not a regular file")
    folder = run_cli("render", tmp_path, "--out", tmp_path / "out")
    assert_clean_failure(folder, errors=1)
    assert "experiment file is a folder" in folder.err


def test_errno_hints_cover_write_failures() -> None:
    """Every errno a write can plausibly hit has a hint naming --out."""
    from ttgen.render.folder import _os_problem

    for code in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.ENOENT,
                 errno.EEXIST, errno.ENOTDIR):
        problem = _os_problem(OSError(code, os.strerror(code)), Path("/x"), "write a file").problems[0]
        assert problem.hint and "--out" in problem.hint, code
