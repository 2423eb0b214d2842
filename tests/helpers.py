"""Shared test helpers: the repository's folders, an in-process CLI runner, and small checks.

Test modules import these (``from helpers import run_cli``); conftest.py keeps the fixtures.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
from omegaconf import OmegaConf

from ttgen.cli import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
CASES = REPO / "tests" / "cases"  # input files of the tests, one folder per kind


def example_names() -> list[str]:
    """The folders under examples/ that hold an experiment.yaml."""
    return sorted(p.name for p in EXAMPLES.iterdir() if (p / "experiment.yaml").exists())


def shipped_configs() -> list[str]:
    """The names of the configs the installed torchtune ships (the registry entries whose file exists)."""
    from ttgen import load_catalog

    return sorted(name for name, cfg in load_catalog().configs.items() if cfg.exists)


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_cli(*args: str | os.PathLike[str], cwd: Path | None = None) -> CliResult:
    """Run ``ttgen ARGS`` in this process, capturing stdout, stderr and the exit code."""
    out, err = io.StringIO(), io.StringIO()
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:  # argparse usage errors
                code = int(exc.code or 0)
    finally:
        os.chdir(old)
    return CliResult(code, out.getvalue(), err.getvalue())


def assert_clean_failure(result: CliResult, *, errors: int) -> None:
    """Exit 1, no traceback, nothing on stdout, and the error count as the last line of stderr."""
    assert result.code == 1, result.err
    assert "Traceback" not in result.err, result.err
    assert result.out == "", "results go to stdout, errors to stderr only"
    summary = f"ttgen: {errors} error{'s' if errors != 1 else ''}; nothing was written"
    assert result.err.splitlines()[-1] == summary, result.err


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types in equal key order (bool is not int, int is not float, -0.0 is not 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return bool(a == b)


def problem_block(err: str, prefix: str) -> list[str]:
    """The problem line of stderr starting with *prefix*, and its indented hint lines."""
    lines = err.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(prefix):
            block = [line]
            for more in lines[i + 1:]:
                if not more.startswith("    "):
                    break
                block.append(more)
            return block
    raise AssertionError(f"no problem starting with {prefix!r} in stderr:\n{err}")


def load_omegaconf(path: Path) -> Any:
    """A YAML file as OmegaConf reads it, as plain containers, interpolations left unresolved."""
    return OmegaConf.to_container(OmegaConf.load(path), resolve=False)


def folder_state(folder: Path) -> dict[str, str]:
    """Every file below *folder* (relative path -> sha256), and every folder (-> "dir")."""
    return {p.relative_to(folder).as_posix(): ("dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*"))}


# ---- expectations of bad-input cases, written in the case files themselves -------------------------
#
# A case file (tests/cases/errors/, tests/cases/hostile/) starts with a comment saying what it is,
# then one line per problem the command must print, then optional hint lines:
#
#   # expect: WHERE | PATH | text | text ...     an error
#   # warn: WHERE | PATH | text | text ...       a warning
#   #   hint: text                               a substring of that problem's hint
#
# WHERE is ``line:col`` in the case file, ``other/file.yaml:line:col`` in another file, or ``-``
# for no position; PATH is the dotted path printed after the position, or ``-`` when the problem
# prints none; each text is a substring of the message line. The problem line must start with
# exactly ``WHERE: PATH: `` (``WHERE: `` without a path), a ``# warn:`` one then says ``warning: ``.

import re  # noqa: E402  (this section is appended; the imports above stay as they are)

EXPECT_TAGS = {"# expect: ": False, "# warn: ": True}  # tag -> is a warning
HINT_TAG = "#   hint: "
_WHERE = re.compile(r"-|\d+:\d+|\S+:\d+:\d+")
_SUMMARY = re.compile(r"ttgen: \d+ errors?; nothing was written")
_PATH_FIRST = re.compile(r"[A-Za-z_][\w.\[\]]*: ")  # a message that starts with a dotted path


@dataclass(frozen=True)
class Expect:
    """One problem the command must print for a case (see the format above)."""

    where: str | None  # "line:col" in the case file, "other/file.yaml:line:col", None: no position
    path: str | None  # the dotted path printed after the position; None: the problem prints none
    says: tuple[str, ...]  # substrings of the message line
    hints: tuple[str, ...] = ()  # substrings of the hint
    warning: bool = False  # a warning (`# warn:`), not an error (`# expect:`)

    @classmethod
    def of(cls, where: str | None, path: str | None, says: Any, hints: Any = (), *, warning: bool = False,
           source: str = "") -> Expect:
        """Build one from the written fields (``-`` or None: none), checking them; *source* names the origin."""
        where = None if where in (None, "-") else str(where)
        path = None if path in (None, "-") else str(path)
        says = (says,) if isinstance(says, str) else tuple(str(s) for s in says)
        hints = (hints,) if isinstance(hints, str) else tuple(str(h) for h in hints)
        if where is not None and not _WHERE.fullmatch(where):
            raise ValueError(f"{source}: WHERE must be line:col, file:line:col or -, not {where!r}")
        if path is not None and (not path or any(c.isspace() for c in path)):
            raise ValueError(f"{source}: PATH must be a dotted path or -, not {path!r} (is the PATH field missing?)")
        if not says or not all(says) or not all(hints):
            raise ValueError(f"{source}: give at least one non-empty text of the message (and no empty hint)")
        return cls(where, path, says, hints, warning)

    def prefix(self, case: str) -> str:
        """How the problem line starts when the command ran on *case* (as the user typed it)."""
        if self.where is None:
            where = case
        elif re.fullmatch(r"\d+:\d+", self.where):
            where = f"{case}:{self.where}"
        else:
            where = self.where
        return f"{where}: {self.path}: " if self.path is not None else f"{where}: "


def read_expectations(path: Path) -> list[Expect]:
    """The ``# expect:`` / ``# warn:`` / ``#   hint:`` lines of the leading comment of a case file.

    An empty list when there are none (or the file has no leading comment, as a binary file). A
    malformed line, a hint without its problem, or an expectation below the leading comment raises
    ValueError, so a mistake in a case cannot silently drop its check.
    """
    lines = [line.removesuffix("\r") for line in path.read_bytes().decode("utf-8", errors="replace").split("\n")]
    out: list[Expect] = []
    header = True  # still in the leading comment
    after_problem = False  # the previous line was an expect/warn/hint line
    for number, line in enumerate(lines, 1):
        source = f"{path.name}:{number}"
        tag = next((t for t in EXPECT_TAGS if line.startswith(t)), None)
        header = header and line.startswith("#")
        if not header:
            if tag or line.startswith(HINT_TAG):
                raise ValueError(f"{source}: expectations belong in the comment at the top of the file")
        elif tag is not None:
            fields = [part.strip() for part in line[len(tag):].split(" | ")]
            if len(fields) < 3:
                raise ValueError(f"{source}: write {tag.strip()} WHERE | PATH | text ..., not {line!r}")
            where, path_, *says = fields
            out.append(Expect.of(where, path_, says, warning=EXPECT_TAGS[tag], source=source))
            after_problem = True
        elif line.startswith(HINT_TAG):
            if not after_problem:
                raise ValueError(f"{source}: a hint line must follow its '# expect:' or '# warn:' line")
            last = out.pop()
            out.append(Expect.of(last.where, last.path, last.says, last.hints + (line[len(HINT_TAG):].strip(),),
                                 warning=last.warning, source=source))
        else:
            after_problem = False
    return out


def problem_lines(stderr: str) -> list[str]:
    """The problem lines of stderr: not the indented hint lines, not the closing error count."""
    return [line for line in stderr.splitlines() if not line.startswith("    ") and not _SUMMARY.fullmatch(line)]


def assert_problems(stderr: str, case: str, expected: list[Expect], *, in_order: bool,
                    unlisted_warnings: bool = False) -> None:
    """stderr of ``ttgen ... CASE`` holds exactly the *expected* problems.

    Each problem line starts with exactly its prefix (`Expect.prefix`), then ``warning: `` for a
    warning and not for an error (and, for PATH ``-``, no dotted path); each text is in that line,
    each hint in the hint lines below it.
    There are as many problem lines as expectations (*unlisted_warnings*: only error lines are
    counted, so a warning case may print more warnings than it lists); with *in_order* the
    problems come in the order they are listed, which is file order.
    """
    lines = stderr.splitlines()
    problems = problem_lines(stderr)
    counted = [p for p in problems if ": warning: " not in p] if unlisted_warnings else problems
    wanted = [e for e in expected if not e.warning] if unlisted_warnings else expected
    assert len(counted) == len(wanted), \
        f"{case}: {len(wanted)} problem line(s) expected, one per problem and only those, got:\n{stderr}"
    taken: list[int] = []
    for exp in expected:
        prefix = exp.prefix(case)
        at = next((i for i, line in enumerate(lines) if line.startswith(prefix) and i not in taken), None)
        assert at is not None, f"no problem line starting with {prefix!r} in stderr:\n{stderr}"
        taken.append(at)
        block = [lines[at]]
        for more in lines[at + 1:]:
            if not more.startswith("    "):
                break
            block.append(more)
        message = block[0][len(prefix):]
        assert message.startswith("warning: ") == exp.warning, \
            f"{'a warning' if exp.warning else 'an error'} expected:\n{block[0]}"
        if exp.path is None:
            assert not _PATH_FIRST.match(message.removeprefix("warning: ")), \
                f"the problem prints a path: write it as PATH instead of '-':\n{block[0]}"
        for text in exp.says:
            assert text in block[0], f"{text!r} not in the message:\n{block[0]}"
        text = "\n".join(block)
        for hint in exp.hints:
            assert "\n    hint: " in text and hint in text.split("\n    hint: ", 1)[1], \
                f"hint should mention {hint!r}:\n{text}"
    if in_order:
        assert taken == sorted(taken), f"problems are reported in file order:\n{stderr}"


def require(tool: str, variable: str, reason: str, *, name: str | None = None) -> str:
    """The path of *tool*; a failure when it is missing and *variable*=1 (as CI sets it), else a skip."""
    path = shutil.which(tool)
    shown = name or tool
    if path is None:
        if os.environ.get(variable) == "1":
            pytest.fail(f"{shown} is not installed but {variable}=1: install it ({reason})")
        pytest.skip(f"{shown} not installed (CI installs it)")
    return path


@contextlib.contextmanager
def tmpfs(folder: Path, *, size: str) -> Iterator[Path]:
    """A tmpfs of *size* mounted on *folder*: a real full disk. Fails (never skips) without root."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                                                    str(folder)], capture_output=True).returncode == 0
    if not mounted:
        pytest.fail(f"mounting a {size} tmpfs needs root with CAP_SYS_ADMIN, as CI has")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def on_terminal(*args: str | os.PathLike[str], cwd: Path, env: dict[str, str] | None = None,
                timeout: float = 300) -> tuple[int, str]:
    """Run ``python -m ttgen ARGS`` with stdin, stdout and stderr on one real pseudo-terminal, as in a
    user's shell; its exit code and everything it drew (line ends as the terminal gives them back)."""
    import sys

    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "ttgen", *map(str, args)], stdin=slave, stdout=slave,
                            stderr=slave, cwd=cwd, env=env, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed its side
            break
        if not data:
            break
        chunks.append(data)
    code = proc.wait(timeout=timeout)
    os.close(master)
    return code, b"".join(chunks).decode("utf-8", errors="replace").replace("\r\n", "\n")
