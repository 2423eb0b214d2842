"""`ttgen render` on bad input: every class of user error, through the command line.

Each case is a small file in tests/cases/errors/ that says, in its leading comment,
what is wrong and what the command must print, in the one format of all bad-input
cases (tests/helpers.py: `read_expectations`, `assert_problems`; the same as
tests/cases/hostile/)::

    # Duplicate key: epochs is written twice under controls.
    # expect: 12:3 | controls.epochs | duplicate key 'epochs' | first written on line 10
    #   hint: keep one

One ``# expect: WHERE | PATH | text | text ...`` line per error (``# warn:`` for a
warning), each followed by optional ``#   hint: text`` lines. WHERE is ``line:col`` in
the case file (counting these header lines), ``other/file.yaml:line:col`` for another
file, or ``-`` for no position; PATH is the dotted path printed after the position, or
``-`` when the problem prints none; the texts are substrings of the message line, a
hint a substring of the hint lines.

An error case must exit 1 with its problems on stderr, each line starting with exactly
``WHERE: PATH: `` (``WHERE: `` without a path), one line per problem and no other, in
file order; then the error count, no traceback, nothing on stdout and no output
folder, not even a half-written temporary one. A warning case (only ``# warn:``
lines) must render, with each listed warning on stderr and no error. The CLI runs in
tests/cases/errors/, so files are shown as the user typed them. Cases whose output is
checked otherwise (four_runs.yaml, warn_component_swap.yaml) have dedicated tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import CASES as ALL_CASES
from helpers import CliResult, assert_clean_failure, assert_problems, problem_block, read_expectations, run_cli
from ttgen.layout import TMP_MARK

CASES = ALL_CASES / "errors"
EXPECTED = {p.name: read_expectations(p) for p in sorted(CASES.glob("*.yaml"))}
ERROR_CASES = [name for name, expected in EXPECTED.items() if any(not e.warning for e in expected)]
WARNING_CASES = [name for name, expected in EXPECTED.items() if expected and all(e.warning for e in expected)]
DEDICATED = {"four_runs.yaml", "warn_component_swap.yaml"}  # checked by their own tests below


def render(tmp_path: Path, case: str, *extra: str) -> CliResult:
    return run_cli("render", case, "--out", tmp_path / "out", *extra, cwd=CASES)


def assert_nothing_written(tmp_path: Path) -> None:
    left = sorted(p.name for p in tmp_path.iterdir())
    assert not (tmp_path / "out").exists(), "an output folder was created for invalid input"
    assert not [n for n in left if TMP_MARK in n], f"temporary folder left behind: {left}"
    assert left == [], f"unexpected files: {left}"


@pytest.mark.parametrize("case", [pytest.param(name, id=Path(name).stem) for name in ERROR_CASES])
def test_user_error(case: str, tmp_path: Path) -> None:
    expected = EXPECTED[case]
    result = render(tmp_path, case)
    assert_clean_failure(result, errors=sum(not e.warning for e in expected))
    assert_problems(result.err, case, expected, in_order=True)
    assert_nothing_written(tmp_path)


def test_every_case_file_is_used() -> None:
    """Every case file says what it is, and has expectations or a dedicated test (not both)."""
    for name in EXPECTED:
        first = (CASES / name).read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# ") and not first.startswith(("# expect:", "# warn:")) and len(first) > 10, \
            f"{name}: the first line must say what the case is"
    with_expectations = {name for name, expected in EXPECTED.items() if expected}
    assert with_expectations == set(ERROR_CASES) | set(WARNING_CASES)
    assert not with_expectations & DEDICATED
    assert set(EXPECTED) == with_expectations | DEDICATED, "a case file without '# expect:' lines or its own test"
    assert len(ERROR_CASES) >= 34 and len(WARNING_CASES) >= 3


def test_max_runs_on_command_line(tmp_path: Path) -> None:
    result = render(tmp_path, "four_runs.yaml", "--max-runs", "3")
    assert_clean_failure(result, errors=1)
    block = "\n".join(problem_block(result.err, "four_runs.yaml:9:3: variables: "))
    assert "4 runs (2 x 2), more than max_runs 3" in block
    assert "--max-runs" in block
    assert_nothing_written(tmp_path)


def test_max_runs_on_command_line_allows_exact_size(tmp_path: Path) -> None:
    result = render(tmp_path, "four_runs.yaml", "--max-runs", "4")
    assert result.code == 0, result.err
    assert sorted(p.name for p in (tmp_path / "out" / "configs").iterdir())[:4] == [f"run_00{i}.yaml" for i in range(4)]


def test_experiment_file_not_found(tmp_path: Path) -> None:
    result = render(tmp_path, "no_such_experiment.yaml")
    assert_clean_failure(result, errors=1)
    assert result.err.startswith("no_such_experiment.yaml: experiment file not found")
    assert_nothing_written(tmp_path)


# --- the output folder

def test_existing_out_without_force(tmp_path: Path) -> None:
    old = tmp_path / "out"
    (old / "configs").mkdir(parents=True)
    (old / "configs" / "run_000.yaml").write_text("earlier: results\n")
    (old / "notes.txt").write_text("keep me\n")
    result = render(tmp_path, "four_runs.yaml")
    assert_clean_failure(result, errors=1)
    block = "\n".join(problem_block(result.err, f"{old}: "))
    assert "already exists" in block and "--force" in block and "--out" in block
    assert sorted(p.relative_to(old).as_posix() for p in old.rglob("*")) == ["configs", "configs/run_000.yaml",
                                                                            "notes.txt"]
    assert (old / "configs" / "run_000.yaml").read_text() == "earlier: results\n"
    assert (old / "notes.txt").read_text() == "keep me\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "no temporary folder may be left behind"


def test_force_with_invalid_input_keeps_old_folder(tmp_path: Path) -> None:
    old = tmp_path / "out"
    old.mkdir()
    (old / "notes.txt").write_text("keep me\n")
    result = render(tmp_path, "several_errors.yaml", "--force")
    assert_clean_failure(result, errors=4)
    assert [p.name for p in old.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# --- command-line usage: exit 2

@pytest.mark.parametrize("args, says", [
    pytest.param(("render", "four_runs.yaml", "--out", "OUT", "--bogus"), "unrecognized argument: --bogus",
                 id="unknown-option"),
    pytest.param(("render", "four_runs.yaml", "--out", "OUT", "--fore"), "--fore (did you mean --force?)",
                 id="misspelt-option"),
    pytest.param(("diff",), "the following arguments are required: RUN", id="missing-argument"),
    pytest.param(("render", "four_runs.yaml", "--out", "OUT", "--max-runs", "0"), "--max-runs: expected a positive",
                 id="bad-option-value"),
    pytest.param(("render", "four_runs.yaml", "--out", "OUT", "--max-runs", "many"), "--max-runs: expected a whole",
                 id="non-numeric-option-value"),
    pytest.param(("render", "four_runs.yaml", "--out"), "--out: expected one argument", id="option-missing-value"),
    pytest.param(("rendr", "four_runs.yaml"), "unknown command 'rendr': did you mean render?", id="unknown-command"),
])
def test_usage_error(args: tuple[str, ...], says: str, tmp_path: Path) -> None:
    result = run_cli(*(tmp_path / "out" if a == "OUT" else a for a in args), cwd=CASES)
    assert result.code == 2, result.err
    assert "usage:" in result.err and says in result.err, result.err
    assert "Traceback" not in result.err
    assert result.out == ""
    assert list(tmp_path.iterdir()) == []


# --- warnings: exit 0, output written, a positioned warning on stderr

@pytest.mark.parametrize("case", [pytest.param(name, id=Path(name).stem) for name in WARNING_CASES])
def test_warning(case: str, tmp_path: Path) -> None:
    result = render(tmp_path, case)
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    assert result.out.startswith("Rendered ")
    assert (tmp_path / "out" / "configs" / "run_000.yaml").is_file()
    assert_problems(result.err, case, EXPECTED[case], in_order=False, unlisted_warnings=True)
    assert " error" not in result.err


def test_component_swap_warned_once_at_the_control(tmp_path: Path) -> None:
    result = render(tmp_path, "warn_component_swap.yaml")
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    warnings = [line for line in result.err.splitlines() if ": warning: " in line]
    assert len(warnings) == 1, result.err
    assert warnings[0].startswith("warn_component_swap.yaml:13:18: ")
    assert "dataset._component_ changes from torchtune.datasets.alpaca_cleaned_dataset to " \
           "torchtune.datasets.instruct_dataset" in warnings[0]
    assert "packed" in warnings[0]
    assert "variable seed" not in result.err
