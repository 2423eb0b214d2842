"""The command line researchers expect (issue 22): command-line overrides, next steps, defaults,
did-you-mean, examples in every --help, progress on a terminal, the distribution's own name.

Everything runs through the real `ttgen` entry point (in process with `run_cli`, or as a
subprocess on a real pseudo-terminal where what matters is the terminal).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from helpers import REPO, on_terminal, run_cli, write

LORA = REPO / "examples" / "lora_rank_sweep" / "experiment.yaml"
COMMANDS = ["render", "diff", "check", "validate", "ls", "init", "submit", "status", "resubmit", "completion"]


def small(folder: Path, *, base_dir: str | None = None, runs: int = 2, derived: bool = False) -> Path:
    out = f"output: {{base_dir: {base_dir}}}\n" if base_dir else ""
    ranks = ", ".join(str(4 * (i + 1)) for i in range(runs))
    alpha = ", lora_alpha: '{{ lora_rank * 2 }}'" if derived else ""  # evaluated per run: a slower render
    return write(folder / "experiment.yaml", "experiment: {name: conv, framework: torchtune}\n"
                 "framework_config: {base_config: llama3_2/1B_lora_single_device}\n"
                 f"variables: {{lora_rank: [{ranks}]}}\ncontrols: {{epochs: 3{alpha}}}\n" + out)


# --- overrides -------------------------------------------------------------------------------


def test_overrides_set_add_and_delete_typed_as_omegaconf_types_them(tmp_path: Path) -> None:
    exp = small(tmp_path)
    out = tmp_path / "out"
    done = run_cli("render", exp, "--out", out, "epochs=2", "optimizer.lr=1e-4", "compile=true",
                   "model.lora_attn_modules=[q_proj, v_proj]", "+extra.note='3'", "~profiler", "seed=null")
    assert done.code == 0, done.err
    cfg = OmegaConf.load(out / "configs" / "run_001.yaml")
    assert cfg.epochs == 2 and cfg.optimizer.lr == 1e-4 and isinstance(cfg.optimizer.lr, float)
    assert cfg.compile is True and list(cfg.model.lora_attn_modules) == ["q_proj", "v_proj"]
    assert cfg.extra.note == "3" and cfg.seed is None and "profiler" not in cfg
    assert cfg.model.lora_rank == 8  # the variable still varies
    text = (out / "configs" / "run_001.yaml").read_text()
    assert "\nepochs: 2  # command line\n" in text and "\n  lr: 1e-4  # command line\n" in text
    assert "\nseed: null  # command line\n" in text and "\n  note: '3'  # command line, new key\n" in text
    manifest = (out / "manifest.yaml").read_text()
    assert "command_line: [epochs=2, optimizer.lr=1e-4, compile=true" in manifest
    assert "# Command-line overrides of this render (every run; see manifest.yaml): epochs=2" in \
        (out / "configs" / "run_mapping.yaml").read_text()

    # check reproduces the folder from what the manifest records; other overrides differ.
    assert run_cli("check", exp, "--against", out).code == 0
    other = run_cli("check", exp, "--against", out, "epochs=5")
    assert other.code == 1 and "+epochs: 5  # command line" in other.out
    diff = run_cli("diff", "run_000", "--dir", out)
    assert re.search(r"^epochs\s+changed\s+1\s+2\s+command line$", diff.out, re.M), diff.out
    assert re.search(r"^extra\.note\s+added\s+-\s+'3'\s+command line$", diff.out, re.M), diff.out


def test_overrides_win_over_controls_and_show_on_dry_run(tmp_path: Path) -> None:
    exp = small(tmp_path)
    done = run_cli("render", exp, "--dry-run", "epochs=7", "output_dir=/scratch/x/{{ run_id }}")
    assert done.code == 0, done.err
    assert "/scratch/x/run_000" in done.out and "/scratch/x/run_001" in done.out


@pytest.mark.parametrize("words, says", [
    (["lora_rank=4"], "command line: lora_rank=4: model.lora_rank is variable 'lora_rank'"),
    (["~nothere"], "command line: ~nothere: delete: 'nothere' does not exist in the base config"),
    (["epochz=1"], "command line: epochz=1: unknown key 'epochz'"),
    (["=1"], "command line: =1: an override is KEY=VALUE, +KEY=VALUE or ~KEY"),
    (["~x=1"], "command line: ~x=1: a deletion is ~KEY, without a value"),
    (["epochs=[1"], "command line: epochs=[1: the value is not YAML"),
])
def test_override_errors_name_the_argument(tmp_path: Path, words: list[str], says: str) -> None:
    exp = small(tmp_path)
    done = run_cli("render", exp, "--dry-run", *words)
    assert done.code == 1 and says in done.err, done.err
    assert "hint: " in done.err and "Traceback" not in done.err


def test_overrides_stand_anywhere_among_the_options(tmp_path: Path) -> None:
    exp = small(tmp_path)
    done = run_cli("render", exp, "--out", tmp_path / "o", "epochs=1", "--force")
    assert done.code == 0, done.err
    assert "epochs: 1  # command line" in (tmp_path / "o" / "configs" / "run_000.yaml").read_text()


# --- after a render: the next commands, with real paths -------------------------------------


def test_next_steps_are_real_commands_that_work(tmp_path: Path) -> None:
    exp = write(tmp_path / "exp dir" / "experiment.yaml", (REPO / "examples/slurm_sweep/experiment.yaml").read_text())
    done = run_cli("render", exp, "--out", tmp_path / "my out", cwd=tmp_path)
    assert done.code == 0, done.err
    lines = done.out.splitlines()
    assert lines[1] == "Next:"
    steps = [line.strip() for line in lines[2:]]
    assert steps[0] == "ttgen validate 'my out'" and steps[1] == "ttgen diff run_000 --dir 'my out'"
    assert steps[2].startswith("tune run lora_finetune_single_device --config 'my out/configs/run_000.yaml'")
    assert steps[3].startswith("ttgen submit 'my out'") and "sbatch " in steps[3]
    for step in steps[:2]:  # the ttgen lines run as printed, from the same folder
        words = shlex.split(step.split("  #")[0])
        assert words[0] == "ttgen"
        level = ["--level", "1"] if words[1] == "validate" else []
        result = run_cli(*words[1:], *level, cwd=tmp_path)
        assert result.code == 0, (step, result.err)


# --- defaults: ./experiment.yaml, and its newest output folder --------------------------------


def test_render_and_check_default_to_the_experiment_here(tmp_path: Path) -> None:
    small(tmp_path, base_dir="runs_here")
    done = run_cli("render", cwd=tmp_path)
    assert done.code == 0, done.err
    [folder] = list((tmp_path / "runs_here").iterdir())
    # diff, validate and status find that folder beside the experiment, without --dir.
    diff = run_cli("diff", "run_001", cwd=tmp_path)
    assert diff.code == 0 and f"folder: {folder}" in diff.out or folder.name in diff.out, diff.out + diff.err
    assert run_cli("validate", "--level", "1", cwd=tmp_path).code == 0
    status = run_cli("status", cwd=tmp_path)
    assert status.code == 0 and "2 runs: 2 NOT_SUBMITTED" in status.out
    assert run_cli("check", "--against", folder, cwd=tmp_path).code == 0
    assert run_cli("render", "--dry-run", "epochs=1", cwd=tmp_path).code == 0


def test_no_experiment_here_says_how_to_make_one(tmp_path: Path) -> None:
    done = run_cli("render", cwd=tmp_path)
    assert done.code == 1
    assert "no EXPERIMENT given, and there is no experiment.yaml here" in done.err
    assert "ttgen init BASE_CONFIG" in done.err


# --- the parser: bare ttgen, did-you-mean, examples -------------------------------------------


def test_bare_ttgen_lists_the_commands() -> None:
    done = run_cli()
    assert done.code == 0 and done.err == ""
    for command in COMMANDS:
        assert re.search(rf"^    {command}\s+\S", done.out, re.M), command


@pytest.mark.parametrize("words, says", [
    (["rendr", "x.yaml"], "unknown command 'rendr': did you mean render?"),
    (["statsu"], "unknown command 'statsu': did you mean status?"),
    (["render", "x.yaml", "--dryrun"], "unrecognized argument: --dryrun (did you mean --dry-run?)"),
    (["diff", "run_000", "--dri", "x"], "(did you mean --dir?)"),
])
def test_mistakes_get_a_suggestion(words: list[str], says: str) -> None:
    done = run_cli(*words)
    assert done.code == 2 and says in done.err, done.err


@pytest.mark.parametrize("command", COMMANDS)
def test_every_help_ends_with_examples(command: str) -> None:
    done = subprocess.run([sys.executable, "-m", "ttgen", command, "--help"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0
    tail = done.stdout.rstrip().split("examples:")[-1]
    examples = [line for line in tail.splitlines() if line.startswith("  ttgen ")]
    assert "examples:" in done.stdout and 2 <= len(examples) <= 3, done.stdout
    assert all(line.split()[1] == command for line in examples), examples


# --- progress on a terminal -------------------------------------------------------------------


@pytest.mark.slow
def test_a_long_render_shows_count_rate_and_time_left_on_a_terminal(tmp_path: Path) -> None:
    # Long enough (about 3 s here) that the display, which waits one second, surely shows.
    exp = small(tmp_path, runs=15000, derived=True)
    code, drawn = on_terminal("render", exp, "--out", tmp_path / "o", "--max-runs", "20000", cwd=tmp_path)
    assert code == 0, drawn
    assert re.search(r"rendering \[[#.]{30}\] \d+/15000 configs  \d+/s  \d+ (s|min \d\d s) left", drawn), drawn
    assert drawn.endswith("\x1b[K") or "\r\x1b[K" in drawn  # the line is cleared at the end
    quiet_code, quiet = on_terminal("render", exp, "--out", tmp_path / "q", "--quiet", "--max-runs", "20000",
                                    cwd=tmp_path)
    assert quiet_code == 0 and "rendering" not in quiet


def test_no_progress_when_not_a_terminal(tmp_path: Path) -> None:
    exp = small(tmp_path, runs=50)
    done = subprocess.run([sys.executable, "-m", "ttgen", "render", str(exp), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stderr == ""


# --- the distribution's own name --------------------------------------------------------------


def test_install_lines_install_this_project() -> None:
    """`ttgen` on PyPI is an unrelated package: no page may tell anyone to `pip install ttgen`."""
    pages = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
    bad = [f"{p.relative_to(REPO)}: {line.strip()}" for p in pages for line in p.read_text().splitlines()
           if re.search(r"pip install (-U )?ttgen\b", line)]
    assert bad == []
    assert 'name = "torchtune-config-writer"' in (REPO / "pyproject.toml").read_text()
    assert 'ttgen = "ttgen.cli:main"' in (REPO / "pyproject.toml").read_text()
