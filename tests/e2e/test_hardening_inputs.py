"""Hardening of the inputs (issue 16): derived values, names, delete paths, paths and special files.

Each test is a finding of the outside security and reliability review: it failed before
its fix. Inputs that could hang or exhaust memory run as a subprocess with a timeout (and
a memory cap), so a regression fails the test instead of hanging the suite.
"""

from __future__ import annotations

import os
import re
import resource
import stat
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from helpers import run_cli, write
from ttgen.plan.build import plan_experiment
from ttgen.resources import load_schema

BASE = """\
output_dir: /tmp/out
model:
  _component_: torchtune.models.llama3_2.lora_llama3_2_1b
  lora_rank: 64
  lora_alpha: 128
optimizer:
  _component_: torch.optim.AdamW
  lr: 0.0003
  weight_decay: 0.01
seed: 0
"""

HEAD = ("experiment: {name: t, framework: torchtune}\n"
        "framework_config: {base_config_file: base.yaml, recipe: lora_finetune_single_device}\n")

# `file:line:col: path: message` as the CLI prints every problem.
PROBLEM = re.compile(r"^\S*experiment\.yaml:\d+:\d+: [\w.+\[\]]+: ", re.M)


def experiment(tmp_path: Path, body: str, *, head: str = HEAD, base: str = BASE) -> Path:
    write(tmp_path / "base.yaml", base)
    return write(tmp_path / "experiment.yaml", head + body)


def derived(tmp_path: Path, expression: str, key: str = "+extra") -> Path:
    """An experiment with one derived control; the expression is written as a YAML double-quoted string."""
    quoted = '"' + expression.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return experiment(tmp_path, f"variables:\n  lora_rank: [8, 16]\ncontrols:\n  {key}: {quoted}\n")


def _limit_memory() -> None:  # a safety net: a regression must fail, not take the machine down
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def run_sub(*args: str | os.PathLike[str], cwd: Path | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """``python -m ttgen ARGS`` in a child process; a hang is a test failure (TimeoutExpired)."""
    env = {k: v for k, v in os.environ.items() if k != "TTGEN_TRACEBACK"}
    return subprocess.run([sys.executable, "-m", "ttgen", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=env, preexec_fn=_limit_memory, stdin=subprocess.DEVNULL)


def assert_positioned_failure(proc: subprocess.CompletedProcess[str], out: Path, *needles: str) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-3000:])
    assert PROBLEM.search(proc.stderr), proc.stderr[-3000:]
    assert "MemoryError" not in proc.stderr  # the bound must be ttgen's own, not the memory cap's
    for needle in needles:
        assert needle in proc.stderr, proc.stderr[-3000:]
    assert not out.exists()


# --- 1. every derived value is bounded in time and memory -------------------------------------------

BOMBS = [
    pytest.param("{{ 'a'.center(10**9) }}", id="str-center"),
    pytest.param("{{ 'a'.ljust(999999999) ~ 'b'.zfill(999999999) }}", id="str-ljust-zfill"),
    pytest.param("{{ '{0:>1e9}'.format(1) }}", id="str-format-as-reported"),
    pytest.param("{{ '{0:>999999999}'.format(1) }}", id="str-format-width"),
    pytest.param("{{ '{0:{1}}'.format(1, 999999999) }}", id="str-format-nested-width"),
    pytest.param("{{ '%0999999999d' % 1 }}", id="percent-width"),
    pytest.param("{{ '%*d' % (999999999, 1) }}", id="percent-star-width"),
    pytest.param("{{ '%0999999999d'|format(1) }}", id="format-filter"),
    pytest.param("{{ 'x'|indent(10**9, true) }}", id="indent-filter"),
    pytest.param("{{ 'x'|center(999999999) }}", id="center-filter"),
    pytest.param("{{ ('x' * 100000)|join('y' * 100000) }}", id="join-filter-separator"),
    pytest.param("{{ ('y' * 100000).join('x' * 100000) }}", id="str-join"),
    pytest.param("{{ (['x' * 100000] * 100000)|join }}", id="join-of-repeated-list"),
    pytest.param("{{ ['x' * 100000] * 100000 }}", id="repeated-list-result"),
    pytest.param("{{ ('x' * 100000).replace('x', 'y' * 100000) }}", id="str-replace"),
    pytest.param("{{ ('x' * 100000)|replace('x', 'y' * 100000) }}", id="replace-filter"),
    pytest.param("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
                 id="nested-loops"),
    pytest.param("{{ " + "(" * 70 + "1" + ")" * 70 + " }}", id="nested-parentheses"),
    pytest.param("{{ " + "[" * 200 + "1" + "]" * 200 + " }}", id="nested-lists"),
    pytest.param("{{ 'a'|e }}", id="escape-filter-markup"),
    pytest.param("{{ 'a'|tojson }}", id="tojson-markup"),
]


@pytest.mark.parametrize("expression", BOMBS)
def test_derived_value_bombs_end_fast_with_a_positioned_error(tmp_path: Path, expression: str) -> None:
    """Each expression of the review ends within seconds: exit 1, `file:line:col: path: message`, no traceback."""
    exp = derived(tmp_path, expression)
    proc = run_sub("render", exp, "--out", tmp_path / "o", timeout=30)
    assert_positioned_failure(proc, tmp_path / "o", "controls.+extra")


def test_statements_are_refused_with_a_clear_message(tmp_path: Path) -> None:
    result = run_cli("render", derived(tmp_path, "{% if lora_rank %}x{% endif %}"), "--out", tmp_path / "o")
    assert result.code == 1 and "Traceback" not in result.err
    assert "experiment.yaml:6:11: controls.+extra:" in result.err
    assert "statements ({% ... %}) are not allowed" in result.err


def test_long_string_results_are_refused(tmp_path: Path) -> None:
    result = run_cli("render", derived(tmp_path, "{{ 'x' * 10001 }}"), "--out", tmp_path / "o")
    assert result.code == 1 and "Traceback" not in result.err
    assert "experiment.yaml:6:11: controls.+extra:" in result.err and "10000" in result.err.replace(",", "")


def test_bounded_expressions_still_work(tmp_path: Path) -> None:
    """The bounds leave everyday expressions alone: formatting, joins, methods, filters."""
    exp = experiment(tmp_path, "variables:\n  lora_rank: [8, 16]\ncontrols:\n"
                               "  +a: \"{{ '%.0e' % 0.0003 }}\"\n"
                               "  +b: \"{{ '{:03d}'.format(lora_rank) }}\"\n"
                               "  +c: \"{{ ['r', lora_rank]|join('-') }}\"\n"
                               "  +d: \"{{ experiment.name.upper() ~ '_' ~ run_id|replace('run_', '') }}\"\n"
                               "  +e: \"{{ range(3)|list|sum + variables['lora_rank'] }}\"\n"
                               "  +f: \"{{ '%d-%s'|format(lora_rank, 'x') }}\"\n")
    runs = list(plan_experiment(exp).runs())
    assert [r.derived for r in runs][1] == {"+a": "3e-04", "+b": "016", "+c": "r-16", "+d": "T_001", "+e": 19,
                                            "+f": "16-x"}


# --- 2. undefined names anywhere in a result, and methods as results, are errors ------------------------

@pytest.mark.parametrize("expression, needle", [
    ("{{ [lora_rnk] }}", "'lora_rnk' is undefined"),
    ("{{ {'a': [1, lora_rnk]} }}", "'lora_rnk' is undefined"),
    ("r{{ [lora_rnk] }}", "'lora_rnk' is undefined"),
    ("{{ variables.items }}", "method"),
    ("r{{ variables.items }}", "method"),
    ("{{ [variables.keys] }}", "method"),
])
def test_undefined_names_and_methods_in_results_are_errors(tmp_path: Path, expression: str, needle: str) -> None:
    result = run_cli("render", derived(tmp_path, expression), "--out", tmp_path / "o")
    assert result.code == 1 and "Traceback" not in result.err, result.err
    assert "experiment.yaml:6:11: controls.+extra:" in result.err
    assert needle in result.err
    assert not (tmp_path / "o").exists()


# --- 3. "one whole expression" is decided from the parsed template ------------------------------------

def test_nested_mapping_literal_is_a_mapping(tmp_path: Path) -> None:
    exp = derived(tmp_path, "{{ {'a': lora_rank, 'b': {'c': lora_rank}} }}")
    runs = list(plan_experiment(exp).runs())
    assert runs[1].derived["+extra"] == {"a": 16, "b": {"c": 16}}
    result = run_cli("render", exp, "--out", tmp_path / "o")
    assert result.code == 0, result.err
    cfg = yaml.safe_load((tmp_path / "o" / "configs" / "run_001.yaml").read_text())
    assert cfg["extra"] == {"a": 16, "b": {"c": 16}}


def test_two_expressions_are_text_and_whitespace_around_one_is_not(tmp_path: Path) -> None:
    exp = experiment(tmp_path, "variables:\n  lora_rank: [8, 16]\ncontrols:\n"
                               "  +a: \"{{ lora_rank }}{{ lora_rank }}\"\n"
                               "  +b: \" {{ [lora_rank] }} \"\n")
    run = list(plan_experiment(exp).runs())[0]
    assert run.derived == {"+a": "88", "+b": [8]}


# --- 4. every failing derived value is reported -----------------------------------------------------------

def test_every_failing_derived_value_is_reported(tmp_path: Path) -> None:
    exp = experiment(tmp_path, "variables:\n  lora_rank: [8, 16]\ncontrols:\n"
                               "  +a: \"{{ nope_a }}\"\n"
                               "  +b: \"{{ nope_b }}\"\n"
                               "  +c: \"{{ 1 // (lora_rank - 16) }}\"\n")
    result = run_cli("render", exp, "--out", tmp_path / "o")
    assert result.code == 1
    assert "'nope_a' is undefined" in result.err
    assert "'nope_b' is undefined" in result.err
    assert "ZeroDivisionError" in result.err  # run_001 only


# --- 5. names cannot end in a line break -----------------------------------------------------------------

@pytest.mark.parametrize("where, value", [
    (("experiment", "name"), "abc\n"),
    (("experiment", "name"), "..\n"),
    (("slurm", "job_name"), "abc\n"),
    (("slurm", "time"), "02:00:00\n"),
    (("slurm", "mem"), "64G\n"),
])
def test_schema_patterns_refuse_a_trailing_newline(where: tuple[str, str], value: str) -> None:
    doc: dict = {"experiment": {"name": "ok", "framework": "torchtune"},
                 "framework_config": {"base_config": "x"}, "slurm": {}}
    validator = jsonschema.Draft202012Validator(load_schema())
    section, key = where
    doc[section][key] = value.rstrip("\n")
    assert value.rstrip("\n") == ".." or not list(validator.iter_errors(doc))  # the value itself is fine
    doc[section][key] = value
    assert list(validator.iter_errors(doc)), f"{section}.{key} = {value!r} passes the schema"


@pytest.mark.parametrize("text, expected", [
    ('experiment: {name: "abc\\n", framework: torchtune}\n'
     "framework_config: {base_config_file: base.yaml}\n",
     'experiment.yaml:1:20: experiment.name: "abc\\n" is not allowed here'),
    ("experiment: {name: t, framework: torchtune}\n"
     "framework_config: {base_config_file: base.yaml, recipe: lora_finetune_single_device}\n"
     'slurm: {job_name: "abc\\n"}\n',
     "experiment.yaml:3:19: slurm.job_name: a line break cannot be written into an #SBATCH line"),
], ids=["name", "job_name"])
def test_trailing_newline_in_names_is_a_positioned_error(tmp_path: Path, text: str, expected: str) -> None:
    write(tmp_path / "base.yaml", BASE)
    exp = write(tmp_path / "experiment.yaml", text)
    result = run_cli("render", exp, "--out", tmp_path / "o")
    assert result.code == 1 and "Traceback" not in result.err, result.err
    assert expected in result.err, result.err
    assert len(result.err.splitlines()) == 3  # the problem, its hint, the count: the value's break is escaped
    assert not (tmp_path / "o").exists()


# --- 6. malformed delete paths are errors ------------------------------------------------------------------

def test_malformed_delete_paths_are_errors(tmp_path: Path) -> None:
    exp = experiment(tmp_path, "delete:\n  - .lr\n  - optimizer..lr\n  - lr.\n  - seed\n")
    result = run_cli("render", exp, "--out", tmp_path / "o")
    assert result.code == 1, result.err
    lines = result.err.splitlines()
    for n, (line, written) in enumerate(zip((4, 5, 6), (".lr", "optimizer..lr", "lr."))):
        at = next(i for i, text in enumerate(lines) if f"experiment.yaml:{line}:5: delete[{n}]: " in text)
        assert f"{written!r} is not a valid path" in lines[at]
        assert lines[at + 1].lstrip().startswith("hint:")
    assert "3 errors" in result.err
    assert not (tmp_path / "o").exists()


# --- 7. ~ in paths is the home folder -----------------------------------------------------------------------

def test_tilde_in_base_dir_and_base_config_file_is_the_home_folder(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    write(home / "bases" / "base.yaml", BASE)
    work = tmp_path / "work"
    exp = write(work / "experiment.yaml", "experiment: {name: t, framework: torchtune}\n"
                "framework_config: {base_config_file: ~/bases/base.yaml, recipe: lora_finetune_single_device}\n"
                "output:\n  base_dir: ~/outputs\n")
    monkeypatch.setenv("HOME", str(home))
    result = run_cli("render", exp, cwd=work)
    assert result.code == 0, result.err
    assert not (work / "~").exists()
    made = list((home / "outputs").iterdir())
    assert len(made) == 1 and (made[0] / "configs" / "run_000.yaml").is_file()


# --- 8. special files: refused at once with a clear message ----------------------------------------------------

def test_fifo_as_base_config_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "base.yaml")
    exp = write(tmp_path / "experiment.yaml", HEAD)
    proc = run_sub("render", exp, "--out", tmp_path / "o", timeout=30)
    assert "Traceback" not in proc.stderr and proc.returncode == 1, proc.stderr
    assert "experiment.yaml:2:38: framework_config.base_config_file: base config file 'base.yaml' is not a regular file (a pipe)" \
        in proc.stderr, proc.stderr
    assert not (tmp_path / "o").exists()


def test_fifo_as_experiment_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "experiment.yaml")
    proc = run_sub("render", tmp_path / "experiment.yaml", "--out", tmp_path / "o", timeout=30)
    assert "Traceback" not in proc.stderr and proc.returncode == 1, proc.stderr
    assert "experiment file is not a regular file (a pipe)" in proc.stderr
    assert "save it to a file" in proc.stderr


def test_process_substitution_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    write(tmp_path / "base.yaml", BASE)
    write(tmp_path / "experiment.yaml", HEAD)
    cmd = f"{sys.executable} -m ttgen render <(cat experiment.yaml) --out o"
    proc = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)
    assert "Traceback" not in proc.stderr and proc.returncode == 1, proc.stderr
    assert re.match(r"/dev/fd/\d+: experiment file is not a regular file \(a pipe\)", proc.stderr), proc.stderr
    assert "save it to a file" in proc.stderr
    assert not (tmp_path / "o").exists()


# --- 9. a base_config_file is a regular file once symlinks are resolved ------------------------------------------

def test_base_config_symlink_to_a_special_file_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "base.yaml").symlink_to(tmp_path / "pipe")
    exp = write(tmp_path / "experiment.yaml", HEAD)
    proc = run_sub("render", exp, "--out", tmp_path / "o", timeout=30)
    assert "Traceback" not in proc.stderr and proc.returncode == 1, proc.stderr
    assert "framework_config.base_config_file: base config file 'base.yaml' is not a regular file (a pipe)" in proc.stderr
    assert f"a link to {tmp_path / 'pipe'}" in proc.stderr
    assert not stat.S_ISREG(os.stat(tmp_path / "pipe").st_mode)


def test_copies_of_inputs_keep_a_restrictive_mode(tmp_path: Path) -> None:
    """A 0600 base config is not copied out world-readable."""
    base = write(tmp_path / "base.yaml", "output_dir: /tmp/x\nseed: null\n")
    base.chmod(0o600)
    exp = write(tmp_path / "experiment.yaml", "experiment: {name: m, framework: torchtune}\n"
                                              "framework_config: {base_config_file: base.yaml}\n")
    assert run_cli("render", exp, "--out", tmp_path / "o").code == 0
    assert (tmp_path / "o" / "base_config.yaml").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "o" / "experiment.yaml").stat().st_mode & 0o077 == (exp.stat().st_mode & 0o044)
