"""Catch it before the queue (issue 21): value checks at render time that point at experiment.yaml,
findings grouped across runs, unset environment variables, and hints that name the fix.

Through the real command (`run_cli`), on experiments and configs written by the tests.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from helpers import on_terminal, run_cli, write

HEAD = ("experiment: {name: checks, framework: torchtune}\n"
        "framework_config: {base_config: llama3_2/1B_lora_single_device}\n")


def experiment(folder: Path, body: str) -> Path:
    return write(folder / "experiment.yaml", HEAD + body)


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


# --- value checks at render time ------------------------------------------------------------


def test_a_wrong_control_is_one_error_at_its_line_in_experiment_yaml(tmp_path: Path) -> None:
    seeds = ", ".join(str(i) for i in range(100))
    exp = experiment(tmp_path, f"variables: {{seed: [{seeds}]}}\ncontrols:\n  dtype: bfloat16\n")
    for args in (["--dry-run"], ["--out", str(tmp_path / "out")]):
        done = run_cli("render", exp, *args)
        assert done.code == 1
        problems = [line for line in done.err.splitlines() if not line.startswith(("    hint:", "ttgen:"))]
        assert problems == [f"{exp}:{line_of(exp, 'dtype: bfloat16')}:10: controls.dtype: must be one of fp16, bf16, "
                            "fp32, fp64 (training.get_dtype accepts only these names), got string 'bfloat16' "
                            "(all 100 runs)"], done.err
        assert "    hint: torchtune calls it bf16" in done.err
    assert not (tmp_path / "out").exists() and not (tmp_path / "outputs").exists()


def test_a_wrong_variable_value_names_the_runs_it_is_in(tmp_path: Path) -> None:
    exp = experiment(tmp_path, "variables:\n  lora_rank: [4, 8]\n  lora_dropout: [0.1, 1.5]\n")
    done = run_cli("render", exp, "--dry-run")
    assert done.code == 1
    assert f"{exp}:5:23: 2 runs (run_001, run_003): variables.lora_dropout[1]: must be a number from 0 up to " \
           "(not including) 1 (it is a dropout probability), got float 1.5" in done.err, done.err


def test_derived_values_and_command_line_values_are_checked_too(tmp_path: Path) -> None:
    exp = experiment(tmp_path, "variables: {lora_rank: [4, 8]}\ncontrols:\n  epochs: \"{{ lora_rank / 8 }}\"\n")
    done = run_cli("render", exp, "--dry-run")
    assert done.code == 1
    assert re.search(r"controls\.epochs: must be a positive whole number .* got float 0\.5 \(derived\)", done.err)
    assert "1 run (run_000)" not in done.err and "run_000" in done.err  # only the run whose value is wrong
    ok = experiment(tmp_path / "b", "variables: {lora_rank: [4, 8]}\n")
    cli = run_cli("render", ok, "--dry-run", "dtype=float16", "seed=-1")
    assert cli.code == 1
    assert "command line: seed=-1: must be a whole number from 0 to 4294967295 or null" in cli.err, cli.err
    assert "dtype=float16: must be one of" in cli.err and "torchtune calls it fp16" in cli.err


def test_interpolations_and_component_names_set_by_the_experiment(tmp_path: Path) -> None:
    exp = experiment(tmp_path, "controls:\n  seed: ${nothere}\n  optimizer: {_component_: AdamW}\n")
    done = run_cli("render", exp, "--dry-run")
    assert done.code == 1
    assert "controls.seed: interpolation '${nothere}' names no key of the config" in done.err
    assert "controls.optimizer._component_: _component_ 'AdamW' is not a dotted Python name" in done.err
    assert "ttgen: 2 errors" in done.err and done.err.count("    hint: ") >= 2


def test_with_a_recipe_file_of_your_own_the_rules_only_warn(tmp_path: Path) -> None:
    write(tmp_path / "my_recipe.py", "print('my recipe')\n")
    exp = write(tmp_path / "experiment.yaml", "experiment: {name: own, framework: torchtune}\n"
                "framework_config: {base_config: llama3_2/1B_lora_single_device, recipe: my_recipe.py}\n"
                "controls: {dtype: bfloat16}\n")
    done = run_cli("render", exp, "--out", tmp_path / "out")
    assert done.code == 0, done.err
    assert "controls.dtype: warning: must be one of fp16" in done.err


# --- hints that name the fix ----------------------------------------------------------------


@pytest.mark.parametrize("body, says, hint", [
    ("variables: {lora_attn_modules: [q_proj, v_proj]}\n",
     "variable 'lora_attn_modules' gives 2 values for model.lora_attn_modules, which holds a list",
     "lora_attn_modules: [[q_proj, v_proj]]"),
    ("controls: {learning_rate: \"3e-4\"}\n", "cannot set string '3e-4' over float",
     "remove the quotes: '3e-4' in quotes is text, 3e-4 without them is a number"),
    ("variables: {model.lora_rank: [8, 16]}\ncontrols: {lora_alpha: \"{{ model.lora_rank * 2 }}\"}\n",
     "'model' is undefined", "use {{ variables['model.lora_rank'] }}"),
    ("variables: {lora_rank: [8, 16]}\ncontrols: {lora_alpha: \"{{ lora_rank * 2 }}\", seed: \"{{ lora_alpha }}\"}\n",
     "'lora_alpha' is undefined", "'lora_alpha' is a derived value: derived values are computed from the variables"),
    ("controls: {epochs: 1.5}\n", "must be a positive whole number", "write a whole number, e.g. 2"),
])
def test_hints_send_the_researcher_the_right_way(tmp_path: Path, body: str, says: str, hint: str) -> None:
    done = run_cli("render", experiment(tmp_path, body), "--dry-run")
    assert done.code == 1 and says in done.err, done.err
    assert hint in done.err, done.err


def test_an_alias_written_inside_its_mapping_gets_a_did_you_mean(tmp_path: Path) -> None:
    done = run_cli("render", experiment(tmp_path, "controls:\n  optimizer: {learning_rate: 1e-3}\n"), "--dry-run")
    assert done.code == 0
    assert "'optimizer.learning_rate' is a new key; did you mean 'optimizer.lr'?" in done.err


# --- findings grouped across runs; unset environment variables -------------------------------


def test_the_same_finding_in_many_runs_is_reported_once_everywhere(tmp_path: Path) -> None:
    exp = experiment(tmp_path, "variables: {lora_rank: [4, 8, 16]}\n")
    out = tmp_path / "out"
    assert run_cli("render", exp, "--out", out).code == 0
    for config in sorted((out / "configs").glob("run_0*.yaml")):  # the same hand edit in every run
        config.write_text(config.read_text().replace("\nepochs: 1\n", "\nepochs: 0\n"))
    done = run_cli("validate", "--level", "1", out)
    assert done.code == 1
    [line] = [x for x in done.err.splitlines() if "epochs" in x]
    assert line.startswith(f"{out}/configs/run_000.yaml:") and ": 3 runs (run_000, run_001, run_002): epochs: " in line
    assert "3 configs checked at level 1: 3 errors in 3 of 3 configs" in done.out
    doc = json.loads(run_cli("validate", "--level", "1", "--json", out).out)
    assert [e["runs"] for e in doc["errors"]] == [["run_000", "run_001", "run_002"]]
    rendered = run_cli("render", exp, "--out", tmp_path / "again")
    assert rendered.code == 0


def test_an_unset_environment_variable_is_one_warning_not_errors(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TTGEN_SCRATCH_UNSET", raising=False)
    exp = experiment(tmp_path, "variables: {lora_rank: [4, 8]}\n"
                     "controls: {output_dir: '${oc.env:TTGEN_SCRATCH_UNSET}/runs/x'}\n")
    out = tmp_path / "out"
    assert run_cli("render", exp, "--out", out).code == 0
    done = run_cli("validate", "--level", "1", out)
    assert done.code == 0, done.err
    warnings = [x for x in done.err.splitlines() if not x.startswith("    hint:")]
    assert len(warnings) == 1, done.err
    assert "2 runs (run_000, run_001): output_dir: warning: environment variable TTGEN_SCRATCH_UNSET is not set " \
           "here; 4 keys read it (output_dir, checkpointer.output_dir, metric_logger.log_dir" in warnings[0]
    assert "hint: fine when TTGEN_SCRATCH_UNSET is set where the job runs" in done.err


# --- render --validate: the same progress as validate -----------------------------------------


@pytest.mark.slow
@pytest.mark.needs_torch
def test_render_validate_shows_the_import_note_and_progress_on_a_terminal(tmp_path: Path) -> None:
    exp = experiment(tmp_path, "variables: {lora_rank: [4, 8, 16]}\n")
    code, text = on_terminal("render", exp, "--out", tmp_path / "o", "--validate", cwd=tmp_path)
    assert code == 0, text
    assert "importing torchtune (and torch) for level 2 checks ..." in text
    assert re.search(r"validating \[[#.]{30}\] 3/3 configs", text), text


def test_a_failing_torch_import_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """torchao's import errors span many lines; the note that level 2 cannot run is one."""
    import importlib

    import ttgen.validate.components as components

    real = importlib.import_module

    def failing(name: str, *args: object, **kwargs: object) -> object:
        if name == "torchtune":
            raise ImportError("torchao 0.12 is not compatible\nwith this torch\n  (see the release notes)")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(components.importlib, "import_module", failing)
    monkeypatch.delitem(sys.modules, "torchtune", raising=False)
    exp = experiment(tmp_path, "variables: {lora_rank: [4]}\n")
    assert run_cli("render", exp, "--out", tmp_path / "o").code == 0
    done = run_cli("validate", tmp_path / "o")
    assert done.code == 0
    notes = [line for line in done.err.splitlines() if "cannot be imported" in line]
    assert notes == ["ttgen validate: note: torchtune cannot be imported (ImportError: torchao 0.12 is not "
                     "compatible); running level 1 checks only"], done.err


def test_the_report_file_groups_findings_too(tmp_path: Path) -> None:
    from test_validate import base_with_a_defect

    out = tmp_path / "out"
    done = run_cli("render", base_with_a_defect(tmp_path), "--out", out, "--validate")
    assert done.code == 1
    report = (out / "validation_report.txt").read_text()
    [line] = [x for x in report.splitlines() if "epochs: must be" in x]
    assert line.startswith("configs/run_000.yaml:") and ": 2 runs (run_000, run_001): epochs: " in line
    assert "problems (each once, with the runs it is in):" in report
