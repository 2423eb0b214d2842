"""``ttgen completion``: the scripts complete in the real shells (docs/editors-and-shells.md).

bash is driven through its own completion machinery (``COMP_WORDS``, ``COMP_CWORD``, the
``_ttgen`` function the script registers); fish through ``complete -C``, which runs the real
completion of a command line; zsh loads the script after compinit. Each calls back into
the installed ``ttgen`` on PATH, as a user's shell does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import EXAMPLES, require, run_cli
from ttgen.cli import build_parser
from ttgen.cli.completion import complete
from ttgen.inputs.catalog import load_catalog

# The shells call back into the `ttgen` console script installed beside this Python (`_env`):
# installing the package installs it, so it missing is a failure, never a skip.
TTGEN = Path(sys.executable).parent / "ttgen"


@pytest.fixture(autouse=True)
def _installed_command() -> None:
    assert TTGEN.is_file(), f"{TTGEN} is missing: install the package (pip install -e .)"


def _env() -> dict[str, str]:
    """The shells find the same ttgen as this Python (the venv's bin first on PATH)."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with outputs/<one rendered sweep>, as `ttgen diff` finds it without --dir."""
    home = tmp_path_factory.mktemp("completion")
    shutil.copy(EXAMPLES / "lora_rank_sweep" / "experiment.yaml", home / "experiment.yaml")
    made = run_cli("render", home / "experiment.yaml")
    assert made.code == 0, made.err
    return home


def bash_complete(line: str, *, cwd: Path) -> list[str]:
    """What bash offers for the last word of *line* (a trailing space: a new, empty word)."""
    words = line.split()
    if line.endswith(" "):
        words.append("")
    quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in words)
    script = (f"source <(ttgen completion bash) || exit 9\n"
              f"COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}\n"
              'COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}\n'
              '_ttgen ttgen "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"\n'
              'printf "%s\\n" "${COMPREPLY[@]}"\n')
    done = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True,
                          cwd=cwd, env=_env(), timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return [w for w in done.stdout.splitlines() if w]


def test_completion_prints_each_script_and_refuses_other_shells() -> None:
    for shell in ("bash", "zsh", "fish"):
        made = run_cli("completion", shell)
        assert made.code == 0 and made.err == "" and "_ttgen" in made.out + "__ttgen_complete"
    wrong = run_cli("completion", "tcsh")
    assert wrong.code == 2 and "invalid choice: 'tcsh'" in wrong.err and wrong.out == ""


def test_bash_completes_commands_flags_configs_and_run_ids(rendered: Path) -> None:
    assert bash_complete("ttgen di", cwd=rendered) == ["diff"]
    assert bash_complete("ttgen comp", cwd=rendered) == ["completion"]
    assert bash_complete("ttgen render experiment.yaml --dr", cwd=rendered) == ["--dry-run"]
    assert set(bash_complete("ttgen diff --", cwd=rendered)) == {"--help", "--dir", "--json"}
    # The shipped configs come from torchtune's registry: both llama3_2/1B_lora configs.
    assert bash_complete("ttgen init llama3_2/1B_lo", cwd=rendered) == ["llama3_2/1B_lora",
                                                                        "llama3_2/1B_lora_single_device"]
    # Run ids of the newest output folder under ./outputs, for both RUN and OTHER.
    ids = ["run_000", "run_001", "run_002", "run_003"]
    assert bash_complete("ttgen diff ", cwd=rendered) == ids
    assert bash_complete("ttgen diff run_000 run_00", cwd=rendered) == ids
    # A path argument gets bash's own file names.
    assert bash_complete("ttgen render exp", cwd=rendered) == ["experiment.yaml"]


def test_bash_run_ids_come_from_the_folder_given_with_dir(rendered: Path, tmp_path: Path) -> None:
    folder = next((rendered / "outputs").iterdir())
    ids = ["run_000", "run_001", "run_002", "run_003"]
    # From elsewhere: no outputs/ here, so only --dir tells where the runs are.
    assert bash_complete("ttgen diff run_", cwd=tmp_path) == []
    assert bash_complete(f"ttgen diff --dir {folder} run_00", cwd=tmp_path) == ids
    # bash splits --dir=X at "=": the words are --dir, =, X.
    assert bash_complete(f"ttgen diff --dir = {folder} run_00", cwd=tmp_path) == ids
    assert bash_complete(f"ttgen diff --dir = {folder.parent}/", cwd=tmp_path) == [f"{folder}"]


def test_flags_follow_the_real_parser() -> None:
    """Every visible long option of every command completes: nothing is listed by hand."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, command in sub.choices.items():
        wanted = {s for a in command._actions if a.help != "==SUPPRESS==" for s in a.option_strings
                  if s.startswith("--")}
        offered = {c.value for c in complete(parser, ["ttgen", name, "--"]).candidates}
        assert offered == wanted, name
    assert "--complete" not in {c.value for c in complete(parser, ["ttgen", "completion", "--"]).candidates}


def test_completion_callback_imports_nothing_heavy(rendered: Path) -> None:
    """The callback runs on every TAB: no Jinja, jsonschema, deepdiff, OmegaConf or torch."""
    code = """
import contextlib, io, sys
from ttgen.cli import main
for words in (["ttgen", "init", "llama"], ["ttgen", "diff", ""]):
    with contextlib.redirect_stdout(io.StringIO()):
        main(["completion", "bash", "--complete", *("--word=:" + w for w in words)])
heavy = ("jinja2", "jsonschema", "deepdiff", "omegaconf", "torch", "torchtune")
print(sorted(m for m in sys.modules if m.split(".")[0] in heavy))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=rendered, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_fish_completes_for_real(rendered: Path) -> None:
    fish = require("fish", "TTGEN_REQUIRE_SHELLS", "apt-get install fish")

    def fish_complete(line: str) -> list[str]:
        done = subprocess.run([fish, "--no-config", "-c", f"ttgen completion fish | source; complete -C '{line}'"],
                              capture_output=True, text=True, cwd=rendered, env=_env(), timeout=60)
        assert done.returncode == 0 and done.stderr == "", done.stderr
        return [row.split("\t")[0] for row in done.stdout.splitlines()]

    assert fish_complete("ttgen di") == ["diff"]
    assert "--json" in fish_complete("ttgen diff --")
    assert fish_complete("ttgen init llama3_2/1B_lo") == ["llama3_2/1B_lora", "llama3_2/1B_lora_single_device"]
    assert fish_complete("ttgen diff run_00") == ["run_000", "run_001", "run_002", "run_003"]
    assert fish_complete("ttgen diff --dir=outp") == ["--dir=outputs/"]


def test_zsh_loads_the_script(rendered: Path) -> None:
    zsh = require("zsh", "TTGEN_REQUIRE_SHELLS", "apt-get install zsh")
    script = ("autoload -U compinit && compinit -u -d \"$PWD/.zcompdump\" && source <(ttgen completion zsh) "
              "&& print -r -- ${_comps[ttgen]}")
    done = subprocess.run([zsh, "-f", "-c", script], capture_output=True, text=True, cwd=rendered, env=_env(),
                          timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.strip() == "_ttgen"


def test_shipped_configs_all_complete() -> None:
    """Every shipped config name (155 with torchtune 0.6.1) is offered for init, none hard-coded."""
    names = sorted(n for n, c in load_catalog().configs.items() if c.exists)
    offered = [c.value for c in complete(build_parser(), ["ttgen", "init", ""]).candidates]
    assert offered == names
