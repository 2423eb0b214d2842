"""Hardening of the SLURM scripts and of templates (issue 16, an outside security review).

- Every value ttgen writes into a script is inert: bash never runs any part of it
  (docs/slurm.md, "What is quoted"). Each test renders hostile values into every field
  that reaches a script, runs the scripts with bash and a stand-in `tune`, and checks
  that the command hidden in the value did not run (it would create a marker file).
  A value SLURM's `#SBATCH` lines cannot carry is a clear error, never a broken script.
- Templates (`--templates DIR`, `slurm.template`) render in Jinja's sandbox: a template
  that reaches for Python internals is refused with its position (docs/output.md,
  "Templates").
- `--templates` must name a folder.
- The documented template variables are exactly the ones templates receive.
- The benchmarks run without `ttgen` on PATH.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jinja2
import pytest

from helpers import require, EXAMPLES, REPO, CliResult, run_cli, write

MARKER = "PWNED"
# Each would create MARKER in the current folder if any part of it ran as shell code.
PAYLOADS = [
    f"$(touch {MARKER})",
    f"`touch {MARKER}`",
    f"'$(touch {MARKER})'",
    f'"$(touch {MARKER})"',
    f"x'; touch {MARKER}; '",
    f'x"; touch {MARKER}; "',
    f'x\\"; touch {MARKER}; #',
    f"x\ntouch {MARKER}",
    f"x\rtouch {MARKER}",
    f"x\r\ntouch {MARKER}\n",
    f"x\n#SBATCH --wrap='touch {MARKER}'",
]
PAYLOAD_IDS = ["subst", "backticks", "single-quoted-subst", "double-quoted-subst", "single-quote",
               "double-quote", "backslash-quote", "newline", "cr", "crlf", "newline-directive"]
BREAKS = ("\n", "\r")
# slurm: fields written into #SBATCH lines (job_name, time and mem have a schema pattern,
# which a value with a trailing line break still matches).
SBATCH_FIELDS = ["job_name", "partition", "account", "qos", "constraint", "mail_user", "mail_type", "mem", "time"]


def experiment(folder: Path, *, recipe: str | None = None, slurm: dict[str, Any] | None = None,
               base: str = "llama3_2/1B_lora_single_device") -> Path:
    """An experiment.yaml with one run; values are written as JSON strings (YAML reads those exactly)."""
    framework: dict[str, Any] = {"base_config": base}
    if recipe is not None:
        framework["recipe"] = recipe
    doc = {"experiment": {"name": "hardening", "framework": "torchtune"}, "framework_config": framework,
           "variables": {"lora_rank": [8]}, "slurm": slurm or {}}
    return write(folder / "experiment.yaml", json.dumps(doc, indent=1) + "\n")


def stand_in(folder: Path) -> tuple[Path, Path]:
    """A fake `tune` that writes its arguments, one per line, to a file."""
    record = folder / "tune_args.txt"
    script = write(folder / "fake_tune.sh", f'#!/bin/bash\nprintf "%s\\n" "$@" > {str(record)!r}\n')
    script.chmod(0o755)
    return script, record


def run_bash(script: Path, tune: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.update(TTGEN_TUNE=str(tune), SLURM_ARRAY_TASK_ID="0", SLURM_JOB_ID="42")
    return subprocess.run(["bash", str(script)], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def markers(root: Path) -> list[Path]:
    return list(root.rglob(MARKER))


def run_every_script(out: Path, tmp_path: Path) -> list[list[str]]:
    """Run the array script (task 0) and the run's own script with bash, from a folder of their own.

    Returns the arguments the stand-in got from each; asserts no marker was created anywhere.
    """
    tune, record = stand_in(tmp_path / "tune")
    calls = []
    for name in ("submit_array.sh", "submit_run_000.sh"):
        cwd = tmp_path / f"cwd_{name}"
        cwd.mkdir()
        record.unlink(missing_ok=True)
        done = run_bash(out / "slurm" / name, tune, cwd)
        assert markers(tmp_path) == [], f"{name} ran an injected command:\n{done.stdout}{done.stderr}"
        assert done.returncode == 0, f"{name} failed:\n{done.stdout}{done.stderr}"
        calls.append(record.read_bytes().decode().split("\n")[:-1])  # \r stays in its argument
    return calls


def assert_refused(result: CliResult, out: Path, *texts: str) -> None:
    assert result.code == 1, result.out + result.err
    assert "Traceback" not in result.err, result.err
    for text in texts:
        assert text in result.err, result.err
    assert not out.exists()


# --- 1. values in scripts are inert -------------------------------------------------------------


@pytest.mark.parametrize("payload", [*PAYLOADS, f"recipes/$(touch {MARKER}).py"], ids=[*PAYLOAD_IDS, "recipe-file"])
def test_recipe_in_scripts_is_inert(tmp_path: Path, payload: str) -> None:
    """framework_config.recipe reaches the echo and exec lines: it is passed on as one word, never run."""
    out = tmp_path / "out"
    result = run_cli("render", experiment(tmp_path, recipe=payload), "--out", out)
    assert result.code == 0, result.err
    recipe = str(tmp_path.resolve() / payload) if payload.endswith(".py") else payload
    config = str(out.resolve() / "configs" / "run_000.yaml")
    expected = "\n".join(["run", recipe, "--config", config]).split("\n")
    for args in run_every_script(out, tmp_path):
        assert args == expected  # the stand-in got the recipe exactly, as one argument


@pytest.mark.parametrize("payload", PAYLOADS, ids=PAYLOAD_IDS)
@pytest.mark.parametrize("field", SBATCH_FIELDS)
def test_sbatch_fields_are_inert_or_refused(tmp_path: Path, field: str, payload: str) -> None:
    """A value for an #SBATCH line: quoted for sbatch and bash, or (with a line break) a clear error."""
    out = tmp_path / "out"
    result = run_cli("render", experiment(tmp_path, slurm={field: payload}), "--out", out)
    if any(b in payload for b in BREAKS):
        assert_refused(result, out, f"slurm.{field}")
        return
    if result.code != 0:  # the schema's pattern (job_name, time, mem) refuses it
        assert_refused(result, out, f"slurm.{field}")
        return
    run_every_script(out, tmp_path)


@pytest.mark.parametrize("field", ["job_name", "time", "mem"])
def test_trailing_line_break_in_a_patterned_field_is_an_error(tmp_path: Path, field: str) -> None:
    """A JSON Schema `$` also matches before a final newline: such a value must still not reach #SBATCH.

    (The schema or the plan's own check refuses it: either way an error with its position.)
    """
    value = {"job_name": "lr_sweep", "time": "01:00:00", "mem": "64G"}[field] + "\n"
    out = tmp_path / "out"
    result = run_cli("render", experiment(tmp_path, slurm={field: value}), "--out", out)
    assert_refused(result, out, f"experiment.yaml:", f"slurm.{field}: ")
    dry = run_cli("render", experiment(tmp_path, slurm={field: value}), "--dry-run")
    assert dry.code == 1 and f"slurm.{field}: " in dry.err and "Traceback" not in dry.err


@pytest.mark.parametrize(("value", "message"), [
    ("gpu\u2028x", "a line break cannot be written into an #SBATCH line"),
    ("gpu\x85x", "a line break cannot be written into an #SBATCH line"),
    ("gpu\x0bx", "a line break cannot be written into an #SBATCH line"),
    ("gpu\x00x", "the control character U+0000 cannot be written into an #SBATCH line"),
    ("gpu\x1bx", "the control character U+001B cannot be written into an #SBATCH line"),
])
@pytest.mark.parametrize("field", ["job_name", "partition", "mail_user"])
def test_any_line_break_or_control_character_in_an_sbatch_field_is_an_error(
        tmp_path: Path, field: str, value: str, message: str) -> None:
    """Not only \\n and \\r: whatever ends a line for bash, sbatch or an editor, and control characters."""
    out = tmp_path / "out"
    result = run_cli("render", experiment(tmp_path, slurm={field: value}), "--out", out)
    if field == "job_name":  # its schema pattern refuses it first
        assert_refused(result, out, "slurm.job_name: ")
        return
    assert_refused(result, out, f"slurm.{field}: {message}", "hint: write the value on one line")
    directive = run_cli("render", experiment(tmp_path, slurm={"extra_directives": [f"--comment={value}"]}),
                        "--out", out)
    assert_refused(directive, out, "slurm.extra_directives[0]: ", "is not one #SBATCH option")


@pytest.mark.parametrize("payload", PAYLOADS, ids=PAYLOAD_IDS)
def test_extra_directives_are_inert_or_refused(tmp_path: Path, payload: str) -> None:
    out = tmp_path / "out"
    exp = experiment(tmp_path, slurm={"extra_directives": ["--exclusive", f"--comment={payload}", payload]})
    result = run_cli("render", exp, "--out", out)
    if any(b in payload for b in BREAKS):
        assert_refused(result, out, "slurm.extra_directives[1]")
        return
    # An item that is not an option (does not start with -) is refused as such.
    assert_refused(result, out, "slurm.extra_directives[2]", "is not one #SBATCH option")
    exp = experiment(tmp_path, slurm={"extra_directives": ["--exclusive", f"--comment={payload}"]})
    result = run_cli("render", exp, "--out", out)
    assert result.code == 0, result.err
    run_every_script(out, tmp_path)


@pytest.mark.parametrize("payload", [p for p in PAYLOADS if not any(b in p for b in BREAKS)],
                         ids=[i for p, i in zip(PAYLOADS, PAYLOAD_IDS) if not any(b in p for b in BREAKS)])
def test_output_folder_path_is_inert(tmp_path: Path, payload: str) -> None:
    out = tmp_path / ("out " + payload.replace("\\", "_"))
    result = run_cli("render", experiment(tmp_path, slurm={"partition": "gpu"}), "--out", out)
    assert result.code == 0, result.err
    calls = run_every_script(out, tmp_path)
    assert calls[0][-1] == str(out.resolve() / "configs" / "run_000.yaml")


@pytest.mark.parametrize("name", ["back\\slash", "new\nline", "carriage\rreturn"])
def test_output_folder_path_sbatch_cannot_carry(tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    result = run_cli("render", experiment(tmp_path, slurm={}), "--out", out)
    assert_refused(result, out, "hint: choose another folder with --out")


def test_setup_lines_are_shell_by_design(tmp_path: Path) -> None:
    """setup: lines are the one place meant to hold shell: they run as written."""
    out = tmp_path / "out"
    result = run_cli("render", experiment(tmp_path, slurm={"setup": [f"touch {MARKER}"]}), "--out", out)
    assert result.code == 0, result.err
    tune, _ = stand_in(tmp_path / "tune")
    done = run_bash(out / "slurm" / "submit_array.sh", tune, tmp_path)
    assert done.returncode == 0 and (tmp_path / MARKER).exists(), done.stderr


def test_hostile_values_stay_shellcheck_clean(tmp_path: Path) -> None:
    shellcheck = require("shellcheck", "TTGEN_REQUIRE_SHELLCHECK", "apt-get install -y shellcheck")
    scripts = []
    for i, payload in enumerate(p for p in PAYLOADS if not any(b in p for b in BREAKS)):
        folder = tmp_path / str(i)
        slurm = {"partition": payload, "extra_directives": [f"--comment={payload}"]}
        out = tmp_path / f"out {i} {payload.replace(chr(92), '_')}"
        result = run_cli("render", experiment(folder, recipe=payload, slurm=slurm), "--out", out)
        assert result.code == 0, result.err
        scripts += [str(out / "slurm" / "submit_array.sh"), str(out / "slurm" / "submit_run_000.sh")]
    # SC2016 ("expressions don't expand in single quotes") is the point here: `$(...)` stays text.
    done = subprocess.run([shellcheck, "--shell=bash", "--severity=style", "--exclude=SC2016", *scripts],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


# --- 2. templates render in the sandbox ---------------------------------------------------------

ESCAPES = {
    "globals": f"{{{{ cycler.__init__.__globals__.os.system('touch {MARKER}') }}}}",
    "subclasses": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "format": "{{ '{0.__class__.__mro__}'.format(run_count) }}",
}
# Each escape on line 3 of a template that is otherwise valid for its file.
TEMPLATE_TEXT = {
    "config.yaml.j2": "# {{{{ run_id }}}}\n#\n# {escape}\n{{{{ body }}}}",
    "run_mapping.yaml.j2": "# {{{{ run_count }}}}\n#\n# {escape}\n",
    "manifest.yaml.j2": "# {{{{ run_count }}}}\n#\n# {escape}\n",
    "slurm_array.sh.j2": "#!/bin/bash\n#\n# {escape}\n",
}


def escape_refused(result: CliResult, template: Path, tmp_path: Path) -> None:
    assert result.code == 1, result.out + result.err
    assert "Traceback" not in result.err, result.err
    assert f"{template}:3:1: unsafe template:" in result.err, result.err
    assert "hint: templates render in Jinja's sandbox" in result.err, result.err
    assert markers(tmp_path) == []


@pytest.mark.parametrize("escape", ESCAPES, ids=list(ESCAPES))
@pytest.mark.parametrize("name", TEMPLATE_TEXT)
def test_templates_folder_is_sandboxed_on_render(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 name: str, escape: str) -> None:
    monkeypatch.chdir(tmp_path)  # where os.system('touch ...') would write
    template = write(tmp_path / "tpl" / name, TEMPLATE_TEXT[name].format(escape=ESCAPES[escape]))
    out = tmp_path / "out"
    result = run_cli("render", experiment(tmp_path, slurm={}), "--out", out, "--templates", tmp_path / "tpl")
    escape_refused(result, template, tmp_path)
    assert not out.exists()


@pytest.mark.parametrize("escape", ESCAPES, ids=list(ESCAPES))
def test_templates_folder_is_sandboxed_on_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                escape: str) -> None:
    monkeypatch.chdir(tmp_path)
    exp = experiment(tmp_path, slurm={})
    assert run_cli("render", exp, "--out", tmp_path / "out").code == 0
    template = write(tmp_path / "tpl" / "config.yaml.j2",
                     TEMPLATE_TEXT["config.yaml.j2"].format(escape=ESCAPES[escape]))
    result = run_cli("check", exp, "--against", tmp_path / "out", "--templates", tmp_path / "tpl")
    escape_refused(result, template, tmp_path)


@pytest.mark.parametrize("escape", ESCAPES, ids=list(ESCAPES))
def test_own_slurm_template_is_sandboxed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, escape: str) -> None:
    monkeypatch.chdir(tmp_path)
    template = write(tmp_path / "mine.sh.j2", "#!/bin/bash\n# {{ array }}\n# " + ESCAPES[escape] + "\n")
    exp = experiment(tmp_path, slurm={"template": "mine.sh.j2"})
    out = tmp_path / "out"
    escape_refused(run_cli("render", exp, "--out", out), template.resolve(), tmp_path)
    assert not out.exists()
    # ttgen check renders the same template: refused there too.
    out.mkdir()
    escape_refused(run_cli("check", exp, "--against", out), template.resolve(), tmp_path)


def test_sandboxed_templates_still_do_their_job(tmp_path: Path) -> None:
    """The sandbox refuses internals only: loops, filters, macros, set and namespaces still work."""
    write(tmp_path / "tpl" / "config.yaml.j2", """\
{% set ns = namespace(n=0) %}
{% for name, value in variables.items() %}{% set ns.n = ns.n + 1 %}{% endfor %}
{% macro line(k, v) %}# {{ k }}={{ v | yaml }}{% endmacro %}
{{ line("vars", ns.n) }}
# {{ "%s of %d" | format(run_id, run_count) }} {{ experiment_name | upper }} {{ range(3) | list }}
{{ body }}""")
    out = tmp_path / "out"
    result = run_cli("render", experiment(tmp_path), "--out", out, "--templates", tmp_path / "tpl")
    assert result.code == 0, result.err
    assert (out / "configs" / "run_000.yaml").read_text().startswith(
        "# vars=1\n# run_000 of 1 HARDENING [0, 1, 2]\noutput_dir: ")


# --- 3. --templates must name a folder ----------------------------------------------------------


@pytest.mark.parametrize("what", ["missing", "file"])
@pytest.mark.parametrize("command", ["render", "check"])
def test_templates_must_be_a_folder(tmp_path: Path, command: str, what: str) -> None:
    exp = experiment(tmp_path, slurm={})
    out = tmp_path / "out"
    templates = tmp_path / "tpl"
    if what == "file":
        write(templates, "{{ body }}\n")
    if command == "render":
        result = run_cli("render", exp, "--out", out, "--templates", templates)
    else:
        assert run_cli("render", exp, "--out", out).code == 0
        result = run_cli("check", exp, "--against", out, "--templates", templates)
    assert result.code == 1, result.out + result.err
    assert "Traceback" not in result.err
    reason = "no such folder" if what == "missing" else "not a folder"
    assert f"{templates}: --templates: {reason}" in result.err, result.err
    assert "hint: --templates names a folder of your own templates" in result.err, result.err
    if command == "render":
        assert not out.exists()


# --- 4. the documented template variables are the real ones ---------------------------------------


def documented(page: str, intro: str) -> set[str]:
    """The variable names of the table that follows the line *intro* on docs/<page>."""
    lines = (REPO / "docs" / page).read_text(encoding="utf-8").splitlines()
    start = lines.index(intro)
    names: set[str] = set()
    rows = 0
    for line in lines[start + 1:]:
        if not line.strip() and rows:
            break
        if line.startswith("|") and not line.startswith(("| variable", "|---")):
            rows += 1
            names.update(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", line.split("|")[1]))
    assert names, f"no table after {intro!r} in docs/{page}"
    return names


@pytest.fixture
def contexts(monkeypatch: pytest.MonkeyPatch) -> dict[str, set[str]]:
    """Template name -> the context keys it was rendered with (every render of it, united)."""
    seen: dict[str, set[str]] = {}
    render, generate = jinja2.Template.render, jinja2.Template.generate

    def name_of(template: jinja2.Template) -> str:
        return Path(template.filename or template.name or "<string>").name

    def spy_render(self: jinja2.Template, *args: Any, **kwargs: Any) -> str:
        seen.setdefault(name_of(self), set()).update(dict(*args, **kwargs))
        return render(self, *args, **kwargs)

    def spy_generate(self: jinja2.Template, *args: Any, **kwargs: Any) -> Any:
        seen.setdefault(name_of(self), set()).update(dict(*args, **kwargs))
        return generate(self, *args, **kwargs)

    monkeypatch.setattr(jinja2.Template, "render", spy_render)
    monkeypatch.setattr(jinja2.Template, "generate", spy_generate)
    return seen


def test_documented_template_variables_are_the_context(tmp_path: Path, contexts: dict[str, set[str]]) -> None:
    # `entries` is only built for a config template that mentions it.
    write(tmp_path / "tpl" / "config.yaml.j2", "{% for e in entries %}{{ e.dotted }}\n{% endfor %}")
    for i, extra in enumerate([[], ["--templates", str(tmp_path / "tpl")]]):
        result = run_cli("render", EXAMPLES / "slurm_sweep" / "experiment.yaml", "--out", tmp_path / f"o{i}", *extra)
        assert result.code == 0, result.err
    assert documented("output.md", "`config.yaml.j2` receives:") == contexts["config.yaml.j2"]
    assert documented("output.md", "`run_mapping.yaml.j2` receives:") == contexts["run_mapping.yaml.j2"]
    assert documented("output.md", "`manifest.yaml.j2` receives:") == contexts["manifest.yaml.j2"]
    slurm = documented("slurm.md", "A SLURM template receives:")
    assert slurm == contexts["slurm_array.sh.j2"] == contexts["slurm_run.sh.j2"]


def test_documented_filters_are_the_environment_s() -> None:
    from ttgen.render.environment import make_environment

    env = make_environment()
    own = set(env.filters) - set(jinja2.Environment().filters)
    text = (REPO / "docs" / "slurm.md").read_text(encoding="utf-8")
    filters = text[text.index("\nFilters:\n"):]
    filters = filters[:filters.index("\n\n", filters.index("- "))]
    assert set(re.findall(r"^- `([a-z_]+)`", filters, re.M)) | {"yaml", "comment"} == own


# --- 5. benchmarks need no ttgen on PATH --------------------------------------------------------


@pytest.mark.slow
def test_bench_render_runs_without_ttgen_on_path(tmp_path: Path) -> None:
    env = dict(os.environ, PATH="/usr/bin:/bin")  # the interpreter is named by its full path
    assert shutil.which("ttgen", path=env["PATH"]) is None
    proc = subprocess.run([sys.executable, "benchmarks/bench_render.py", "--runs", "2", "--repeat", "1",
                           "--keep", str(tmp_path)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^ttgen --help: [\d.]+ s wall", proc.stdout, re.M), proc.stdout


def test_a_training_command_stopped_by_sigterm_is_marked_as_stopped(tmp_path: Path) -> None:
    """SLURM signals every process of a job; when the training command dies of SIGTERM before
    the script's own trap runs, the end marker still says signal=TERM (status: CANCELLED), not
    exit=143 (status: FAILED)."""
    exp = write(tmp_path / "experiment.yaml",
                "experiment: {name: stop, framework: torchtune}\n"
                "framework_config: {base_config: llama3_2/1B_lora_single_device}\n"
                "variables: {lora_rank: [4, 8]}\nslurm: {}\n")
    assert run_cli("render", exp, "--out", tmp_path / "out").code == 0
    stand_in = write(tmp_path / "tune_stopped", "#!/bin/bash\nkill -TERM $$\n")
    stand_in.chmod(0o755)
    env = dict(os.environ, TTGEN_TUNE=str(stand_in), SLURM_ARRAY_JOB_ID="77", SLURM_ARRAY_TASK_ID="1")
    done = subprocess.run(["bash", str(tmp_path / "out/slurm/submit_array.sh")], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 143, done.stderr
    marker = (tmp_path / "out/slurm/state/run_001@77_1.ended").read_text(encoding="utf-8")
    assert marker.split()[-1] == "signal=TERM", marker

    from ttgen.jobs.markers import read_markers
    from ttgen.jobs.status import _from_markers

    attempt = read_markers(tmp_path / "out")[("run_001", "77_1")]
    assert _from_markers(attempt, limit=lambda: None) == "CANCELLED"
