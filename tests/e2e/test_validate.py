"""``ttgen validate`` and ``render --validate`` (docs/contract.md §9): level 1 without torch, level 2 with torchtune.

Level 2 tests import the real torchtune 0.6.1 (and torch) once for the session and
check real rendered sweeps: experiments under tests/cases/validate/ that each put
one defect into one run, and the examples.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from helpers import CASES as ALL_CASES
from helpers import EXAMPLES, REPO, run_cli, shipped_configs, write
from ttgen.inputs.catalog import load_catalog
from ttgen.render.output import render_experiment

CASES = ALL_CASES / "validate"
LORA = EXAMPLES / "lora_rank_sweep" / "experiment.yaml"
FULL_LEVEL2 = "at level 2"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every case of tests/cases/validate and the LoRA example, rendered once (without validation)."""
    root = tmp_path_factory.mktemp("validate")
    out = {"lora_rank_sweep": render_experiment(LORA, out=root / "lora_rank_sweep").output_dir}
    for case in sorted(CASES.glob("*.yaml")):
        # Configs with the mistakes `ttgen validate` must find, as an older ttgen (before the
        # render-time value checks) or a hand edit would leave them.
        out[case.stem] = render_experiment(case, out=root / case.stem, check_values=False).output_dir
    return {k: v for k, v in out.items() if v is not None}


def error_lines(err: str) -> list[str]:
    """The problem lines of stderr (not the hint lines or notes)."""
    return [line for line in err.splitlines() if re.match(r"\S+:\d+:\d+: ", line)]


def errors_only(err: str) -> list[str]:
    """The error lines of stderr: `error_lines` without warnings."""
    return [line for line in error_lines(err) if ": warning: " not in line]


# The cases' data files are cluster paths (/scratch/data/...): level 2 warns that they are not here.
DATA_WARNING = re.compile(r"\S+:\d+:\d+: .*: warning: data_files path '/scratch/data/\S+' does not exist on this machine")


def run_python(code: str, *, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


# ---------------------------------------------------------------- level 1


def test_level1_never_imports_torch(rendered: dict[str, Path]) -> None:
    proc = run_python(f"""
        import sys
        from ttgen.cli import main
        rc = main(["validate", "--level", "1", {str(rendered["lora_rank_sweep"])!r}])
        print(rc, sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchtune", "torchao")))
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "0 []"


def test_help_imports_no_validation_code() -> None:
    proc = run_python("""
        import sys
        from ttgen.cli import build_parser
        build_parser().format_help()
        print(sorted(m for m in sys.modules if m.startswith("ttgen.validate") or m.split(".")[0] == "omegaconf"))
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


BLOCK_TORCHTUNE = """
    import sys
    sys.modules["torchtune"] = None  # `import torchtune` now raises ImportError, as without torch
    from ttgen.cli import main
    sys.exit(main({args!r}))
"""


def test_without_torchtune_level1_runs_and_says_so_once(rendered: dict[str, Path]) -> None:
    args = ["validate", str(rendered["lora_rank_sweep"]), str(rendered["bad_interpolation"]),
            str(rendered["misspelled_kwarg"])]
    proc = run_python(BLOCK_TORCHTUNE.format(args=args))
    # Level 1 still catches the bad interpolation; the misspelt kwarg needs level 2.
    assert proc.returncode == 1
    notes = [line for line in proc.stderr.splitlines() if "note:" in line]
    assert len(notes) == 1 and "torchtune cannot be imported" in notes[0] and "level 1 checks only" in notes[0]
    assert [line.split(": ")[1:3] for line in error_lines(proc.stderr)] == [["run_001", "metric_logger.log_dir"]]
    assert "8 configs checked at level 1: 1 error in 1 of 8 configs" in proc.stdout

    good = run_python(BLOCK_TORCHTUNE.format(args=["validate", str(rendered["lora_rank_sweep"])]))
    assert good.returncode == 0 and "4 configs checked at level 1: all passed" in good.stdout

    required = run_python(BLOCK_TORCHTUNE.format(args=["validate", "--level", "2", str(rendered["lora_rank_sweep"])]))
    assert required.returncode == 1
    assert "level 2 validation needs torchtune" in required.stderr and "drop --level 2" in required.stderr


def base_with_a_defect(folder: Path) -> Path:
    """An experiment whose base config file (a copy of a shipped one) has epochs: 1.5: the render's
    value checks cover what experiment.yaml sets, not the base, so only validation finds it."""
    from ttgen.inputs.catalog import load_catalog

    shipped = load_catalog().configs["llama3_2/1B_lora_single_device"].path.read_text(encoding="utf-8")
    assert "\nepochs: 1\n" in shipped
    write(folder / "base.yaml", shipped.replace("\nepochs: 1\n", "\nepochs: 1.5\n"))
    return write(folder / "experiment.yaml", "experiment: {name: base_defect, framework: torchtune}\n"
                 "framework_config: {base_config_file: base.yaml, recipe: lora_finetune_single_device}\n"
                 "variables: {lora_rank: [4, 8]}\ndelete: [profiler]\n")


def hand_edited(tmp_path: Path, rendered: dict[str, Path], edits: dict[str, tuple[str, str]]) -> Path:
    """Copies of run_000 of the LoRA sweep, each with one text replacement."""
    text = (rendered["lora_rank_sweep"] / "configs" / "run_000.yaml").read_text()
    folder = tmp_path / "configs"
    for name, (old, new) in edits.items():
        assert old in text, old
        write(folder / f"{name}.yaml", text.replace(old, new, 1))
    return folder


def test_level1_findings_name_file_position_run_and_path(tmp_path: Path, rendered: dict[str, Path]) -> None:
    folder = hand_edited(tmp_path, rendered, {
        "run_000": ("epochs: 3  # control", 'epochs: "3"'),
        "run_001": ("dtype: bf16", "dtype: bfloat16"),
        "run_002": ("_component_: torch.optim.AdamW", "_component_: AdamW"),
        "run_003": ("log_dir: ${output_dir}/logs", "log_dir: ${outptu_dir}/logs"),
        "run_004": ("lora_attn_modules: [q_proj, v_proj, output_proj]", "lora_attn_modules: [q_proj, vproj]"),
        "run_005": ("seed: null", "seed: ???"),
        "run_006": ("batch_size: 4", "batch_size: [4"),
        "run_007": ("lora_dropout: 0.0", "lora_dropout: 1.5"),
        "run_008": ("log_dir: ${output_dir}/logs", "log_dir: ${oc.env:TTGEN_TEST_SURELY_UNSET}/logs"),
    })
    result = run_cli("validate", "--level", "1", folder)
    assert result.code == 1
    lines = error_lines(result.err)
    f = str(folder)
    expected = [
        (f"{f}/run_000.yaml:", "run_000: epochs: must be a positive whole number"),
        (f"{f}/run_001.yaml:", "run_001: dtype: must be one of fp16, bf16, fp32, fp64"),
        (f"{f}/run_002.yaml:", "run_002: optimizer._component_: _component_ 'AdamW' is not a dotted Python name"),
        (f"{f}/run_003.yaml:", "run_003: metric_logger.log_dir: interpolation '${outptu_dir}/logs' does not resolve"),
        (f"{f}/run_004.yaml:", "run_004: model.lora_attn_modules: must be a list of q_proj, k_proj, v_proj, output_proj"),
        (f"{f}/run_005.yaml:", "run_005: seed: value is ???"),
        (f"{f}/run_006.yaml:", "run_006: invalid YAML"),
        (f"{f}/run_007.yaml:", "run_007: model.lora_dropout: must be a number from 0 up to (not including) 1"),
        (f"{f}/run_008.yaml:", "run_008: metric_logger.log_dir: warning: environment variable "
                               "TTGEN_TEST_SURELY_UNSET is not set here"),
    ]
    assert len(lines) == len(expected), result.err
    for line, (file, rest) in zip(lines, expected):
        assert line.startswith(file) and rest in line, line
    # positions point at the edited value
    text = (folder / "run_001.yaml").read_text().splitlines()
    line_no, col = map(int, lines[1].split(":")[1:3])
    assert text[line_no - 1][col - 1:] == "bfloat16"
    hints = result.err
    assert "remove the quotes" in hints and "torchtune calls it bf16" in hints
    assert "did you mean ${output_dir}?" in hints and "did you mean v_proj?" in hints
    assert "fine when TTGEN_TEST_SURELY_UNSET is set where the job runs" in hints
    assert "9 configs checked at level 1: 8 errors, 1 warning in 8 of 9 configs" in result.out


def test_level1_accepts_every_config_torchtune_ships() -> None:
    from ttgen.validate.static import check_static

    catalog = load_catalog()
    shipped = shipped_configs()
    problems: list[str] = []
    for name in shipped:
        result = check_static(catalog.configs[name].path, display=name, run_id=name)
        problems.extend(i.format() for i in result.issues)
    assert len(shipped) > 100
    assert problems == []


def test_targets_folders_configs_folders_and_files(tmp_path: Path, rendered: dict[str, Path]) -> None:
    out = rendered["lora_rank_sweep"]
    both = run_cli("validate", "--level", "1", out, out / "configs", out / "configs" / "run_002.yaml")
    assert both.code == 0
    assert "4 configs checked at level 1: all passed" in both.out  # duplicates once; run_mapping.yaml is no run
    missing = run_cli("validate", tmp_path / "nope", tmp_path)
    assert missing.code == 1
    assert f"{tmp_path / 'nope'}: no such file or folder" in missing.err
    assert f"{tmp_path}: no configs (run_*.yaml) in this folder" in missing.err
    # No target: the output folder found as `ttgen diff` finds it; here there is none.
    nothing = run_cli("validate", cwd=tmp_path)
    assert nothing.code == 1 and "no output folder here" in nothing.err and "hint: " in nothing.err


def test_json_document(rendered: dict[str, Path]) -> None:
    result = run_cli("validate", "--level", "1", "--json", rendered["wrong_type"])
    assert result.code == 1
    doc = json.loads(result.out)
    assert doc["ok"] is False and doc["level"] == 1
    assert [c["run_id"] for c in doc["configs"]] == ["run_000", "run_001"]
    assert doc["format"] == "ttgen.validate" and doc["warnings"] == []
    [problem] = doc["errors"]
    assert problem["run_id"] == "run_001" and problem["path"] == "gradient_accumulation_steps"
    assert problem["level"] == 1 and problem["severity"] == "error"
    assert problem["file"].endswith("configs/run_001.yaml") and problem["line"] > 0
    assert problem["hint"] == "write 2 (no decimal point): 2.0 is read as a float"


# ---------------------------------------------------------------- level 2 (real torchtune)


@pytest.mark.needs_torch
@pytest.mark.parametrize("case", ["lora_rank_sweep", "good_nested"])
def test_good_sweeps_pass_level2(case: str, rendered: dict[str, Path]) -> None:
    result = run_cli("validate", "--level", "2", rendered[case])
    assert result.code == 0, result.err
    assert FULL_LEVEL2 in result.out and "all passed" in result.out
    assert all(DATA_WARNING.fullmatch(line) for line in result.err.splitlines() if not line.startswith("    "))


@pytest.mark.needs_torch
@pytest.mark.parametrize(("case", "run_id", "path", "at", "message", "hint"), [
    ("nested_typo", "run_001", "dataset[1].train_on_inpt", "train_on_inpt: true",
     "torchtune.datasets.instruct_dataset has no parameter 'train_on_inpt'", "did you mean train_on_input?"),
    ("wrong_component", "run_002", "model._component_", "torchtune.models.llama3_2.lora_llama3_2_1bb",
     "component torchtune.models.llama3_2.lora_llama3_2_1bb cannot be used: "
     "'torchtune.models.llama3_2' has no attribute 'lora_llama3_2_1bb'",
     "did you mean torchtune.models.llama3_2.lora_llama3_2_1b,"),
    ("bad_interpolation", "run_001", "metric_logger.log_dir", "${outptu_dir}/logs",
     "interpolation '${outptu_dir}/logs' does not resolve", "did you mean ${output_dir}?"),
    ("wrong_type", "run_001", "gradient_accumulation_steps", "2.0  # variable",
     "must be a positive whole number", "write 2 (no decimal point)"),
    ("swapped_component", "run_000", "lr_scheduler.num_warmup_steps", "num_warmup_steps: 100",
     "torch.optim.lr_scheduler.ConstantLR has no parameter 'num_warmup_steps'",
     "left over from the base config's torchtune.training.lr_schedulers.get_cosine_schedule_with_warmup"),
    ("misspelled_kwarg", "run_000", "model.lora_rnak", "lora_rnak: 16",
     "torchtune.models.llama3_2.lora_llama3_2_1b has no parameter 'lora_rnak'",
     "did you mean lora_rank? It is set too, so remove lora_rnak"),
])
def test_each_defect_is_caught_with_its_run_and_path(case: str, run_id: str, path: str, at: str, message: str,
                                                     hint: str, rendered: dict[str, Path]) -> None:
    folder = rendered[case]
    result = run_cli("validate", folder)
    assert result.code == 1
    assert FULL_LEVEL2 in result.out
    first = errors_only(result.err)[0]
    file, line, col, rest = first.split(":", 3)
    assert file == f"{folder}/configs/{run_id}.yaml"
    # The same defect in several runs is one finding, naming its runs (the first is this one).
    assert re.match(rf" ({run_id}|\d+ runs \({run_id}(, run_\d+)*\)): {re.escape(path)}: ", rest) and \
        message in rest, first
    assert hint in result.err
    # the position is the key (or value) the problem is about
    source = (folder / "configs" / f"{run_id}.yaml").read_text().splitlines()[int(line) - 1]
    assert source[int(col) - 1:].startswith(at), source


@pytest.mark.needs_torch
def test_only_the_defective_runs_fail_and_every_config_is_checked(rendered: dict[str, Path]) -> None:
    folders = [rendered[c] for c in ("wrong_component", "lora_rank_sweep", "nested_typo", "misspelled_kwarg")]
    result = run_cli("validate", *folders)
    assert result.code == 1
    failing = [(line.split(":")[0].split("/")[-3], line.split(": ")[1]) for line in errors_only(result.err)]
    # The misspelt keyword is the same in both runs of its folder: one finding, with both runs.
    assert failing == [("wrong_component", "run_002"), ("nested_typo", "run_001"),
                       ("misspelled_kwarg", "2 runs (run_000, run_001)")]
    assert "11 configs checked at level 2" in result.out and "4 errors, 1 warning in 4 of 11 configs" in result.out


@pytest.mark.needs_torch
def test_components_are_located_and_bound_once(monkeypatch: pytest.MonkeyPatch, rendered: dict[str, Path]) -> None:
    import ttgen.validate.components as vc
    from ttgen.validate.validator import find_configs, validate_configs

    located: list[str] = []
    bound: list[tuple[int, tuple[str, ...]]] = []
    real_locate, real_bind = vc.locate, vc.unbindable_keys

    def counting_locate(name: str) -> Any:
        located.append(name)
        return real_locate(name)

    def counting_bind(sig: Any, keys: tuple[str, ...]) -> Any:
        bound.append((id(sig), keys))
        return real_bind(sig, keys)

    monkeypatch.setattr(vc, "locate", counting_locate)
    monkeypatch.setattr(vc, "unbindable_keys", counting_bind)
    configs = find_configs([rendered["lora_rank_sweep"], rendered["wrong_component"]])
    report = validate_configs(configs, level=2)
    assert len(report.results) == 7
    assert len(located) == len(set(located)) == len(report.components) == 10
    assert len(bound) == len(set(bound))  # each (component, keys) pair once, however many runs share it


@pytest.mark.needs_torch
def test_nested_components_are_checked_where_tune_validate_is_not_looking(rendered: dict[str, Path]) -> None:
    """torchtune's own validate binds top-level components only; the nested typo passes it."""
    from omegaconf import OmegaConf
    from torchtune import config

    cfg = OmegaConf.load(rendered["nested_typo"] / "configs" / "run_001.yaml")
    config.validate(cfg)  # raises ConfigError on what it finds; it finds nothing here
    assert run_cli("validate", rendered["nested_typo"]).code == 1


# ---------------------------------------------------------------- render --validate


@pytest.mark.needs_torch
def test_render_validate_passes_and_records_the_report(tmp_path: Path) -> None:
    out = tmp_path / "o"
    result = run_cli("render", CASES / "good_nested.yaml", "--out", out, "--validate")
    assert result.code == 0, result.err
    assert "Validation passed: 2 configs checked at level 2" in result.out
    report = (out / "validation_report.txt").read_text()
    assert report.startswith("# ttgen validation report\nresult: passed\n")
    assert "  run_001: configs/run_001.yaml: ok" in report and str(tmp_path) not in report
    manifest = (out / "manifest.yaml").read_text()
    import hashlib

    digest = hashlib.sha256((out / "validation_report.txt").read_bytes()).hexdigest()
    assert f"  validation_report.txt: {digest}" in manifest


@pytest.mark.needs_torch
def test_render_validate_failure_exits_1_with_the_folder_in_place(tmp_path: Path) -> None:
    out = tmp_path / "o"
    result = run_cli("render", CASES / "wrong_component.yaml", "--out", out, "--validate")
    assert result.code == 1
    assert "Validation FAILED" in result.out and "validation_report.txt" in result.out
    assert sorted(p.name for p in (out / "configs").iterdir()) == [
        "run_000.yaml", "run_001.yaml", "run_002.yaml", "run_mapping.yaml"]
    [line] = error_lines(result.err)[-1:]
    assert line.startswith(f"{out}/configs/run_002.yaml:9:16: run_002: model._component_: ")
    report = (out / "validation_report.txt").read_text()
    assert "result: FAILED" in report
    assert "configs/run_002.yaml:9:16: run_002: model._component_: component " in report
    assert [p.name for p in tmp_path.iterdir()] == ["o"]  # no temporary folder left


@pytest.mark.needs_torch
def test_render_validate_json_and_dry_run(tmp_path: Path) -> None:
    exp = base_with_a_defect(tmp_path)
    result = run_cli("render", exp, "--out", tmp_path / "j", "--validate", "--json")
    assert result.code == 1
    doc = json.loads(result.out)
    assert doc["validation"]["ok"] is False
    # The base's defect is in both runs: one finding, with both runs.
    assert [p["runs"] for p in doc["validation"]["errors"]] == [["run_000", "run_001"]]
    assert doc["ok"] is False and doc["errors"] == doc["validation"]["errors"]
    dry = run_cli("render", exp, "--dry-run", "--validate")
    assert dry.code == 2 and "--dry-run" in dry.err


@pytest.mark.needs_torch
def test_render_validate_report_is_deterministic(tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert run_cli("render", CASES / "nested_typo.yaml", "--out", tmp_path / name, "--validate").code == 1
    assert (tmp_path / "a" / "validation_report.txt").read_bytes() == \
        (tmp_path / "b" / "validation_report.txt").read_bytes()


# ---------------------------------------------------------------- progress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_and_plain_lines_otherwise() -> None:
    from ttgen.cli.validate import PLAIN_PROGRESS_MIN
    from ttgen.cli.progress import Progress

    def Progress_(total: int, *, stream: Any) -> Progress:  # as `ttgen validate` makes it
        return Progress(total, label="validating", unit="configs", stream=stream, delay=0.0,
                        plain_min=PLAIN_PROGRESS_MIN)

    tty = FakeTerminal()
    bar = Progress_(200, stream=tty)
    for done in range(1, 201):
        bar.update(done)
    bar.clear()
    text = tty.getvalue()
    assert "\r\033[K" in text and "200/200 configs" in text and text.endswith("\r\033[K")

    plain = io.StringIO()
    lines = Progress_(200, stream=plain)
    for done in range(1, 201):
        lines.update(done)
    assert plain.getvalue().splitlines() == [f"validating {n}/200 configs" for n in range(20, 201, 20)]

    short = io.StringIO()
    quiet = Progress_(10, stream=short)
    for done in range(1, 11):
        quiet.update(done)
    assert short.getvalue() == ""
