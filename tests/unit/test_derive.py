"""Derived values: {{ ... }} expressions in controls and variable values (docs/contract.md §5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import load_omegaconf, run_cli
from test_plan import BASE, errors, experiment, plan
from ttgen.render.output import render_experiment


def test_whole_expression_gives_native_type_and_text_gives_text(tmp_path: Path) -> None:
    p = plan(tmp_path, "variables:\n  lora_rank: [8, 16]\ncontrols:\n  lora_alpha: '{{ 2 * lora_rank }}'\n"
                       "  output_dir: '/scratch/{{ experiment.name }}/{{ run_id }}_r{{ lora_rank }}'\n"
                       "  metric_logger.log_dir: '{{ run_index }}/${output_dir}/logs'\n")
    runs = list(p.runs())
    assert [r.derived["lora_alpha"] for r in runs] == [16, 32]
    assert type(runs[0].derived["lora_alpha"]) is int
    assert [r.output_dir for r in runs] == ["/scratch/t/run_000_r8", "/scratch/t/run_001_r16"]
    assert not any(r.output_dir_auto for r in runs)  # distinct after evaluation: left alone
    trees = [p.merged(r).tree for r in runs]
    assert trees[1]["model"]["lora_alpha"] == 32
    assert trees[1]["metric_logger"]["log_dir"] == "1/${output_dir}/logs"  # OmegaConf's ${} untouched


def test_rendered_file_holds_evaluated_values_with_origin(tmp_path: Path) -> None:
    exp = experiment(tmp_path, "variables:\n  lora_rank: [8, 16]\ncontrols:\n  lora_alpha: '{{ 2 * lora_rank }}'\n"
                               "  +note: \"{{ '{{' }} literal\"\n")
    result = render_experiment(exp, out=tmp_path / "o")
    text = (tmp_path / "o" / "configs" / "run_001.yaml").read_text()
    assert "  lora_alpha: 32  # control: lora_alpha\n" in text
    assert "#   lora_alpha = 32\n" in text  # header lists derived values
    cfg = load_omegaconf(tmp_path / "o" / "configs" / "run_001.yaml")
    assert cfg["model"]["lora_alpha"] == 32 and cfg["note"] == "{{ literal"
    mapping = (tmp_path / "o" / "configs" / "run_mapping.yaml").read_text()
    assert "  derived:\n    lora_alpha: 32\n" in mapping
    assert result.run_count == 2


def test_dry_run_table_has_derived_columns(tmp_path: Path) -> None:
    exp = experiment(tmp_path, "variables:\n  lora_rank: [8, 16]\ncontrols:\n  lora_alpha: '{{ 2 * lora_rank }}'\n")
    out = run_cli("render", exp, "--dry-run").out.splitlines()
    assert out[0].split() == ["run", "lora_rank", "lora_alpha", "output_dir"]
    assert out[2].split()[:3] == ["run_001", "16", "32"]


def test_variable_values_may_be_templates(tmp_path: Path) -> None:
    p = plan(tmp_path, "variables:\n  lora_rank: [8, 16]\n  seed: [1, '{{ run_index * 100 }}']\n", base=BASE + "seed: 0\n")
    assert [r.derived.get("seed") for r in p.runs()] == [None, 100, None, 300]


@pytest.mark.parametrize("value, needle", [
    ("'{{ nope * 2 }}'", "'nope' is undefined"),
    ("'{{ 2 * }}'", "invalid expression"),
    ("\"{{ ''.__class__.__mro__ }}\"", "__class__"),
    ("'{{ lipsum }}'", "'lipsum' is undefined"),
    ("'{{ cycler.__init__.__globals__ }}'", "not allowed"),
    ("'{% import \"os\" as os %}{{ os }}'", "lora_alpha"),
    ("'{{ (1).__class__.__base__.__subclasses__() }}'", "__class__"),
    ("'{{ 9 ** (9 ** 9) }}'", "too large"),
    ("'{{ (\"a\" * 10 ** 9) | length }}'", "too large"),
])
def test_bad_or_hostile_expressions_are_positioned_errors(tmp_path: Path, value: str, needle: str) -> None:
    exp = experiment(tmp_path, f"variables:\n  lora_rank: [8, 16]\ncontrols:\n  lora_alpha: {value}\n")
    result = run_cli("render", exp, "--out", tmp_path / "o")
    assert result.code == 1 and "Traceback" not in result.err
    assert "experiment.yaml:6:15: controls.lora_alpha:" in result.err
    assert needle in result.err
    assert not (tmp_path / "o").exists()


def test_evaluated_value_is_type_checked_against_the_base(tmp_path: Path) -> None:
    msg = errors(tmp_path, "variables:\n  lora_rank: [8, 16]\ncontrols:\n  lora_alpha: '{{ \"a\" ~ lora_rank }}'\n")
    assert "run_000: type mismatch at model.lora_alpha: cannot set string 'a8' over integer 128" in msg


def test_expression_output_dir_shared_by_runs_still_gets_per_run_dirs(tmp_path: Path) -> None:
    p = plan(tmp_path, "variables:\n  lora_rank: [8, 16]\n  batch_size: [1, 2]\n"
                       "controls:\n  output_dir: '/scratch/r{{ lora_rank }}'\n")
    assert [r.output_dir for r in p.runs()] == ["/scratch/r8/run_000", "/scratch/r8/run_001",
                                                "/scratch/r16/run_002", "/scratch/r16/run_003"]
