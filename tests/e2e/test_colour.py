"""Colour on a terminal, never elsewhere (docs/editors-and-shells.md).

The commands run as a user runs them, ``python -m ttgen ...``, with stdout and stderr on a
real pseudo-terminal (``os.openpty``): errors red, warnings yellow, hints dim, and the
CHANGE column of ``ttgen diff`` green, red or yellow. ``NO_COLOR``, ``TERM=dumb`` and a pipe
turn it off; ``FORCE_COLOR`` turns it on in a pipe. The escapes never move a column.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import EXAMPLES, on_terminal, run_cli, write

ESC = re.compile(r"\x1b\[[0-9;]*m")
RED, GREEN, YELLOW, DIM, RESET = "\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[2m", "\x1b[0m"


def _env(**changes: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS")}
    env["TERM"] = "xterm-256color"
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def piped(*args: str | os.PathLike[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ttgen", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=60)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding one rendered sweep under outputs/ (4 runs against a shipped base)."""
    home = tmp_path_factory.mktemp("colour")
    shutil.copy(EXAMPLES / "lora_rank_sweep" / "experiment.yaml", home / "experiment.yaml")
    made = run_cli("render", home / "experiment.yaml")
    assert made.code == 0, made.err
    return home


def test_an_error_is_red_and_its_hint_dim_on_a_terminal(tmp_path: Path) -> None:
    code, out = on_terminal("init", "llama3_2/1B_lora_singl", "--out", "x.yaml", cwd=tmp_path, env=_env())
    assert code == 1
    assert f"{RED}<command line>: torchtune" in out
    assert f"{DIM}    hint: did you mean llama3_2/1B_lora_single_device" in out
    plain = piped("init", "llama3_2/1B_lora_singl", "--out", "x.yaml", cwd=tmp_path, env=_env())
    assert plain.returncode == 1 and "\x1b" not in plain.stderr
    assert ESC.sub("", out) == plain.stderr, "colour adds escapes and nothing else"


def test_a_warning_is_yellow_on_a_terminal(tmp_path: Path) -> None:
    exp = write(tmp_path / "experiment.yaml",
                "experiment: {name: warn, framework: torchtune}\n"
                "framework_config: {base_config: llama3_2/1B_lora_single_device}\n"
                "delete: [no_such_key]\n")
    code, out = on_terminal("render", exp, "--dry-run", cwd=tmp_path, env=_env())
    assert code == 0, out
    warning = next(line for line in out.splitlines() if "warning:" in line)
    assert warning.startswith(YELLOW) and warning.endswith(RESET) and "no_such_key" in warning


@pytest.mark.parametrize("env", [{"NO_COLOR": "1"}, {"NO_COLOR": "yes", "FORCE_COLOR": "1"}, {"TERM": "dumb"}],
                         ids=["NO_COLOR", "NO_COLOR-beats-FORCE_COLOR", "TERM=dumb"])
def test_no_colour_when_asked_even_on_a_terminal(env: dict[str, str], rendered: Path) -> None:
    code, out = on_terminal("diff", "run_003", cwd=rendered, env=_env(COLUMNS="200", **env))
    assert code == 0 and "added" in out and "\x1b" not in out
    code, out = on_terminal("init", "nope", "--out", "x.yaml", cwd=rendered, env=_env(**env))
    assert code == 1 and "hint:" in out and "\x1b" not in out


def test_an_empty_no_color_does_not_turn_colour_off(rendered: Path) -> None:
    """no-color.org: only a non-empty NO_COLOR counts."""
    code, out = on_terminal("diff", "run_003", cwd=rendered, env=_env(COLUMNS="200", NO_COLOR=""))
    assert code == 0 and f"{GREEN}added{RESET}" in out


def test_no_colour_in_a_pipe_unless_forced(rendered: Path) -> None:
    plain = piped("diff", "run_003", cwd=rendered, env=_env(COLUMNS="200"))
    assert plain.returncode == 0 and "\x1b" not in plain.stdout + plain.stderr
    forced = piped("diff", "run_003", cwd=rendered, env=_env(COLUMNS="200", FORCE_COLOR="1"))
    assert f"{GREEN}added{RESET}" in forced.stdout
    assert ESC.sub("", forced.stdout) == plain.stdout


@pytest.mark.parametrize("columns", ["200", "60"], ids=["table", "stacked"])
def test_diff_colours_the_change_column_without_moving_columns(columns: str, rendered: Path) -> None:
    code, out = on_terminal("diff", "run_003", cwd=rendered, env=_env(COLUMNS=columns))
    assert code == 0, out
    assert f"{GREEN}added{RESET}" in out and f"{YELLOW}changed{RESET}" in out and f"{RED}removed{RESET}" in out
    plain = piped("diff", "run_003", cwd=rendered, env=_env(COLUMNS=columns))
    # Padding is added before the colour: without the escapes, the text is the plain table's.
    assert ESC.sub("", out) == plain.stdout
    if columns == "200":
        header = next(line for line in out.splitlines() if line.startswith("PATH"))
        assert "\x1b" not in header
        before_at = header.index("BEFORE")
        rows = [line for line in out.splitlines() if GREEN in line or RED in line or YELLOW in line]
        assert rows
        for line in rows:
            # What follows CHANGE starts under the header's BEFORE, once escapes are removed.
            text = ESC.sub("", line)
            assert text[before_at - 2:before_at] == "  " and text[before_at] != " "


def test_two_runs_diff_colours_changed(rendered: Path) -> None:
    code, out = on_terminal("diff", "run_000", "run_003", cwd=rendered, env=_env(COLUMNS="200"))
    assert code == 0 and f"{YELLOW}changed{RESET}" in out and GREEN not in out
