"""`ttgen render` on bad input: every class of user error, through the command line.

Each case is a small file in tests/cases/errors/ (its first comment says what is
wrong) and a row of `ERROR_CASES`: where the error must point (``line:col`` in the
case file, or ``other/file.yaml:line:col``), the dotted path, words of the message
and of the hint. Every case must exit 1 with ``file:line:col: path: message`` on
stderr, no traceback, nothing on stdout, and no output folder, not even a
half-written temporary one. The CLI runs in tests/cases/errors/, so files are shown
as the user typed them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import CASES as ALL_CASES
from helpers import CliResult, assert_clean_failure, problem_block, run_cli
from ttgen.layout import TMP_MARK

CASES = ALL_CASES / "errors"


@dataclass(frozen=True)
class Expect:
    """One problem the CLI must print."""

    where: str  # "line:col" in the case file, or "file:line:col" for another file
    path: str | None  # dotted path printed after the position (None: the problem has none)
    says: tuple[str, ...]  # substrings of the message
    hint: str | None = None  # substring of the hint line

    def prefix(self, case: str) -> str:
        where = self.where if not re.fullmatch(r"\d+:\d+", self.where) else f"{case}:{self.where}"
        return f"{where}: {self.path}: " if self.path else f"{where}: "


def E(where: str, path: str | None, *says: str, hint: str | None = None) -> Expect:
    return Expect(where, path, says, hint)


def render(tmp_path: Path, case: str, *extra: str) -> CliResult:
    return run_cli("render", case, "--out", tmp_path / "out", *extra, cwd=CASES)


def assert_nothing_written(tmp_path: Path) -> None:
    left = sorted(p.name for p in tmp_path.iterdir())
    assert not (tmp_path / "out").exists(), "an output folder was created for invalid input"
    assert not [n for n in left if TMP_MARK in n], f"temporary folder left behind: {left}"
    assert left == [], f"unexpected files: {left}"


ERROR_CASES = [
    # --- reading YAML
    pytest.param("yaml_syntax.yaml", [E("9:9", None, "invalid YAML", "flow sequence", "expected ',' or ']'")],
                 id="yaml-syntax-error"),
    pytest.param("tab_indent.yaml", [E("8:1", None, "invalid YAML", r"'\t'", hint="spaces, not tabs")],
                 id="tab-indentation"),
    pytest.param("duplicate_key.yaml",
                 [E("10:3", "controls.epochs", "duplicate key 'epochs'", "first written on line 8", hint="keep one")],
                 id="duplicate-key"),
    pytest.param("python_tag.yaml",
                 [E("8:15", "controls.output_dir", "python/object/apply:os.getcwd", "not allowed",
                    hint="safe loading")],
                 id="python-tag"),
    pytest.param("empty_experiment.yaml", [E("1:1", None, "experiment file is empty")], id="empty-experiment"),
    pytest.param("list_experiment.yaml", [E("2:1", None, "must be a mapping of sections", "got list")],
                 id="list-instead-of-mapping"),
    # --- the shape of experiment.yaml (JSON Schema)
    pytest.param("unknown_section.yaml",
                 [E("7:1", "varaibles", "unknown field 'varaibles' at the top level",
                    hint="did you mean 'variables'?")],
                 id="unknown-top-level-section"),
    pytest.param("unknown_field_experiment.yaml",
                 [E("5:3", "experiment.hypothesys", "unknown field 'hypothesys' in experiment",
                    hint="did you mean 'hypothesis'?")], id="unknown-field-experiment"),
    pytest.param("unknown_field_framework_config.yaml",
                 [E("7:3", "framework_config.recipes", "unknown field 'recipes' in framework_config",
                    hint="did you mean 'recipe'?")], id="unknown-field-framework_config"),
    pytest.param("unknown_field_sweep.yaml",
                 [E("10:3", "sweep.max_run", "unknown field 'max_run' in sweep", hint="did you mean 'max_runs'?")],
                 id="unknown-field-sweep"),
    pytest.param("unknown_field_output.yaml",
                 [E("8:3", "output.basedir", "unknown field 'basedir' in output", hint="did you mean 'base_dir'?")],
                 id="unknown-field-output"),
    pytest.param("missing_required.yaml",
                 [E("3:3", "experiment.framework", "missing required field 'framework'")], id="missing-required-field"),
    pytest.param("bad_name.yaml",
                 [E("3:9", "experiment.name", "'lora rank/v2'", "not allowed", hint="letters, digits")],
                 id="bad-name"),
    pytest.param("both_bases.yaml",
                 [E("6:3", "framework_config", "both base_config and base_config_file", hint="exactly one")],
                 id="both-base_config-and-file"),
    pytest.param("neither_base.yaml",
                 [E("6:3", "framework_config", "neither base_config nor base_config_file", hint="exactly one")],
                 id="neither-base_config-nor-file"),
    pytest.param("empty_variable.yaml",
                 [E("8:14", "variables.lora_rank", "empty list", hint="give values")], id="empty-variable"),
    # --- the base config
    pytest.param("unknown_shipped_config.yaml",
                 [E("6:16", "framework_config.base_config", "ships no config named 'llama3_2/1B_lora_single_devce'",
                    hint="did you mean llama3_2/1B_lora_single_device")], id="unknown-shipped-config"),
    pytest.param("registry_file_missing.yaml",
                 [E("6:16", "framework_config.base_config", "'llama2/7B_full_early_exit'",
                    "missing from the installed package", hint="ttgen ls")], id="registry-name-file-missing"),
    pytest.param("missing_base_file.yaml",
                 [E("6:21", "framework_config.base_config_file", "'bases/no_such_base.yaml' not found",
                    hint="relative to the folder of experiment.yaml")], id="missing-base_config_file"),
    pytest.param("base_file_is_folder.yaml",
                 [E("6:21", "framework_config.base_config_file", "'bases' is a folder", hint="inside it")],
                 id="base_config_file-is-folder"),
    pytest.param("base_not_mapping.yaml",
                 [E("bases/list_base.yaml:2:1", None, "base config must be a mapping", "got list")],
                 id="base-not-a-mapping"),
    pytest.param("empty_base.yaml",
                 [E("6:21", "framework_config.base_config_file", "base config", "empty_base.yaml is empty")],
                 id="base-empty-file"),
    # --- resolving keys
    pytest.param("unknown_key.yaml",
                 [E("9:3", "controls.lerning_rate", "unknown key 'lerning_rate'",
                    hint="did you mean learning_rate (optimizer.lr)?")], id="unknown-key-did-you-mean"),
    pytest.param("ambiguous_name.yaml",
                 [E("8:3", "controls.recipe_checkpoint", "'recipe_checkpoint' is ambiguous",
                    "checkpointer.recipe_checkpoint, ref_checkpointer.recipe_checkpoint", hint="full dotted path")],
                 id="ambiguous-bare-name"),
    pytest.param("add_under_scalar.yaml",
                 [E("9:5", "controls.batch_size.per_device", "cannot add 'batch_size.per_device'",
                    "batch_size is integer 4, not a mapping", hint="delete:")], id="add-under-scalar"),
    pytest.param("variable_and_control.yaml",
                 [E("11:5", "controls.model.lora_rank", "model.lora_rank is set twice", "variable 'lora_rank'",
                    "line 8", hint="not both")], id="same-path-variable-and-control"),
    # --- merging: types must stay compatible
    pytest.param("type_string_over_float.yaml",
                 [E("8:18", "controls.learning_rate", "type mismatch at optimizer.lr", "string 'fast'", "float 0.0003",
                    hint="delete:")], id="type-string-over-float"),
    pytest.param("type_bool_over_int.yaml",
                 [E("10:15", "controls.batch_size", "type mismatch at batch_size", "boolean", "integer 4")],
                 id="type-bool-over-int"),
    pytest.param("type_list_over_string.yaml",
                 [E("9:11", "controls.tokenizer.path", "type mismatch at tokenizer.path", "list",
                    "string '/tmp/Llama-3.2-1B-Instruct/original/tokenizer.model'")], id="type-list-over-string"),
    pytest.param("type_mapping_over_scalar.yaml",
                 [E("9:7", "variables.epochs[0]", "type mismatch at epochs", "mapping {count: 1}", "integer 1"),
                  E("10:7", "variables.epochs[1]", "type mismatch at epochs", "mapping {count: 2}", "integer 1")],
                 id="type-mapping-over-scalar"),
    pytest.param("type_in_variable_mapping.yaml",
                 [E("11:19", "variables.model[0].lora_alpha", "type mismatch at model.lora_alpha", "string 'sixteen'",
                    "integer 128")], id="type-mismatch-inside-variable-mapping"),
    # --- sweeps
    pytest.param("duplicate_values.yaml",
                 [E("8:22", "variables.lora_rank[2]", "duplicate value 8", "also item 0", hint="remove the repeat")],
                 id="duplicate-variable-value"),
    pytest.param("over_max_runs.yaml",
                 [E("11:13", "sweep.max_runs", "6 runs (3 x 2)", "more than max_runs 4", hint="--max-runs")],
                 id="sweep-over-max_runs"),
    # --- several problems in one file, reported together in file order
    pytest.param("several_errors.yaml",
                 [E("8:22", "variables.lora_rank[2]", "duplicate value 8"),
                  E("10:3", "controls.lerning_rate", "unknown key 'lerning_rate'", hint="did you mean learning_rate"),
                  E("11:15", "controls.batch_size", "type mismatch at batch_size", "string 'eight'"),
                  E("12:3", "controls.epochs.count", "cannot add 'epochs.count'", "not a mapping")],
                 id="several-errors-together"),
]


@pytest.mark.parametrize("case, expected", ERROR_CASES)
def test_user_error(case: str, expected: list[Expect], tmp_path: Path) -> None:
    result = render(tmp_path, case)
    assert_clean_failure(result, errors=len(expected))
    offsets = []
    for exp in expected:
        block = "\n".join(problem_block(result.err, exp.prefix(case)))
        for text in exp.says:
            assert text in block.splitlines()[0], f"{text!r} not in the message:\n{block}"
        if exp.hint is not None:
            assert "\n    hint: " in block and exp.hint in block.split("\n    hint: ", 1)[1], \
                f"hint should mention {exp.hint!r}:\n{block}"
        offsets.append(result.err.index(exp.prefix(case)))
    assert offsets == sorted(offsets), "problems are reported in file order"
    assert_nothing_written(tmp_path)


def test_every_case_file_is_used() -> None:
    """A case file without a row (or a row without its file) is a mistake."""
    used = ({p.values[0] for p in ERROR_CASES} | {p.values[0] for p in WARNING_CASES}
            | {"four_runs.yaml", "warn_component_swap.yaml"})
    present = {p.name for p in CASES.glob("*.yaml")}
    assert present == used


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
    pytest.param(("render", "four_runs.yaml", "--out", "OUT", "--bogus"), "unrecognized arguments: --bogus",
                 id="unknown-option"),
    pytest.param(("render", "--out", "OUT"), "the following arguments are required: EXPERIMENT",
                 id="missing-argument"),
    pytest.param(("render", "four_runs.yaml", "--out", "OUT", "--max-runs", "0"), "--max-runs: expected a positive",
                 id="bad-option-value"),
    pytest.param(("render", "four_runs.yaml", "--out", "OUT", "--max-runs", "many"), "--max-runs: expected a whole",
                 id="non-numeric-option-value"),
    pytest.param(("render", "four_runs.yaml", "--out"), "--out: expected one argument", id="option-missing-value"),
    pytest.param((), "COMMAND", id="no-command"),
    pytest.param(("rendr", "four_runs.yaml"), "invalid choice: 'rendr'", id="unknown-command"),
])
def test_usage_error(args: tuple[str, ...], says: str, tmp_path: Path) -> None:
    result = run_cli(*(tmp_path / "out" if a == "OUT" else a for a in args), cwd=CASES)
    assert result.code == 2, result.err
    assert "usage:" in result.err and says in result.err, result.err
    assert "Traceback" not in result.err
    assert result.out == ""
    assert list(tmp_path.iterdir()) == []


# --- warnings: exit 0, output written, a positioned warning on stderr

WARNING_CASES = [
    pytest.param("warn_delete_missing.yaml",
                 E("7:10", "delete[0]", "warning: delete: 'profilr' does not exist in the base config",
                   "nothing deleted", hint="did you mean 'profiler'?"), id="delete-missing-path"),
    pytest.param("warn_new_key_near.yaml",
                 E("10:5", "controls.dataset.pakced", "warning: 'dataset.pakced' is a new key",
                   "did you mean 'dataset.packed'?", hint="+dataset.pakced"), id="new-key-near-existing"),
    pytest.param("warn_new_key_in_variable_value.yaml",
                 E("10:7", "variables.model[0].lora_rnk", "warning:", "did you mean 'model.lora_rank'?"),
                 id="new-key-near-existing-in-variable-value"),
]


@pytest.mark.parametrize("case, expected", WARNING_CASES)
def test_warning(case: str, expected: Expect, tmp_path: Path) -> None:
    result = render(tmp_path, case)
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    assert result.out.startswith("Rendered ")
    assert (tmp_path / "out" / "configs" / "run_000.yaml").is_file()
    block = "\n".join(problem_block(result.err, expected.prefix(case)))
    for text in expected.says:
        assert text in block.splitlines()[0], f"{text!r} not in the warning:\n{block}"
    if expected.hint is not None:
        assert "\n    hint: " in block and expected.hint in block, block
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
