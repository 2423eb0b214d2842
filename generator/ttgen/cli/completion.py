"""``ttgen completion``: shell completion for bash, zsh and fish.

``ttgen completion SHELL`` prints a small script for that shell. The script holds no
command names, flags or values of its own: on every TAB it calls back into
``ttgen completion SHELL --complete --word=:W ...`` (hidden) with the words typed so far,
and this module answers from the real argparse parser (`ttgen.cli.app.build_parser`),
so a new command or flag completes without an edit here. Dynamic values come from the
same places the commands read them: torchtune's shipped config names
(`ttgen.inputs.catalog.load_catalog`, for ``init`` and ``ls``) and the run ids of an
output folder (``--dir``, else the folder `ttgen.review.folders.find_output_folder`
picks, for ``diff``).

The callback runs on every TAB, so it imports nothing heavy: the catalog reads
torchtune's registry file without torch, the run ids come from the run mapping's
top-level keys, and Jinja, jsonschema, deepdiff and OmegaConf stay unimported.

Answer format, one item per line (what the shell scripts below read): a candidate
(``value``, or ``value<TAB>description`` for zsh and fish), or a directive for the
shell's own completion: ``@files`` (file names) or ``@dirs`` (folder names). A
candidate is only the value part of an ``--option=value`` word; the scripts put the
``--option=`` back where their shell needs it.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .output import EXIT_OK

SHELLS = ("bash", "zsh", "fish")
FILES, DIRS = "@files", "@dirs"  # directives: let the shell complete file or folder names
# Every --word value starts with this mark: argparse drops a value that is exactly "--"
# (and older versions treat others specially), so no word is passed bare.
WORD_MARK = ":"


def register(sub: Any) -> None:
    p = sub.add_parser("completion", help="print a shell completion script (bash, zsh or fish)",
                       description="Print the completion script for SHELL on stdout; see docs/editors-and-shells.md "
                                   "for where to put it.",
                       epilog="examples:\n  ttgen completion bash > ~/.local/share/bash-completion/completions/ttgen\n"
                              "  ttgen completion zsh > ~/.zfunc/_ttgen\n"
                              "  ttgen completion fish > ~/.config/fish/completions/ttgen.fish",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("shell", choices=SHELLS, metavar="SHELL", help="one of: " + ", ".join(SHELLS))
    # The scripts' callback, not for people: answer one TAB press from the words typed so far.
    p.add_argument("--complete", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--word", action="append", default=[], help=argparse.SUPPRESS)
    p.set_defaults(func=run)


# ---- what to offer, from the parser -------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One completion: the value to insert and what it is (shown by zsh and fish)."""

    value: str
    help: str = ""


@dataclass
class Answer:
    """What one TAB offers: candidates, and whether the shell should add file or folder names."""

    candidates: list[Candidate] = field(default_factory=list)
    directive: str | None = None  # FILES, DIRS or None


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:  # type: ignore[type-arg]
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


def _visible(action: argparse.Action) -> bool:
    return action.help != argparse.SUPPRESS


def _flags(parser: argparse.ArgumentParser, *, used: set[str]) -> list[Candidate]:
    """The long options of *parser* not given yet (an option that may repeat stays offered)."""
    out = []
    for action in parser._actions:
        if not _visible(action) or isinstance(action, argparse._SubParsersAction):
            continue
        repeats = isinstance(action, (argparse._AppendAction, argparse._CountAction))
        if not repeats and used & set(action.option_strings):
            continue
        out += [Candidate(s, action.help or "") for s in action.option_strings if s.startswith("--")]
    return out


def _takes_value(action: argparse.Action) -> bool:
    return action.nargs != 0


def _shipped_configs() -> list[Candidate]:
    from ..inputs.catalog import load_catalog

    try:
        configs = load_catalog().configs
    except Exception:  # no torchtune here, or an unreadable registry: nothing to offer, never a traceback
        return []
    return [Candidate(name, cfg.recipe) for name, cfg in sorted(configs.items()) if cfg.exists]


def _run_ids(words: Sequence[str]) -> list[Candidate]:
    """The run ids of the folder ``--dir`` names among *words*, else of the folder diff would read."""
    from ..errors import UserError
    from ..review.folders import find_output_folder, run_ids

    given = _option_value(words, "--dir")
    try:
        folder = find_output_folder(Path(given).expanduser() if given else None)
        _, ids = run_ids(folder)
    except (UserError, OSError, ValueError):
        return []
    return [Candidate(run_id) for run_id in ids]


# Values only ttgen knows, by (command, argument's dest); everything else follows from the parser.
DYNAMIC: dict[tuple[str, str], Callable[[Sequence[str]], list[Candidate]]] = {
    ("init", "base"): lambda words: _shipped_configs(),
    ("ls", "pattern"): lambda words: _shipped_configs(),
    ("diff", "run"): _run_ids,
    ("diff", "other"): _run_ids,
}
# A base config may also be a YAML file of one's own.
ALSO_FILES = {("init", "base")}
# An argument whose metavar names a file takes file names even when argparse gets it as
# text (render's "[EXPERIMENT] [KEY=VALUE ...]" words).
FILE_METAVAR = re.compile(r"\b(EXPERIMENT|FILE)S?\b")


def _option_value(words: Sequence[str], option: str) -> str | None:
    """The last value given to *option* in *words* (``--dir X`` or ``--dir=X``)."""
    found = None
    for i, word in enumerate(words):
        if word == option and i + 1 < len(words):
            found = words[i + 1]
        elif word.startswith(option + "="):
            found = word[len(option) + 1:]
    return found


def _values(command: str, action: argparse.Action, words: Sequence[str]) -> Answer:
    """What may follow *action* (an option that takes a value, or a positional)."""
    dynamic = DYNAMIC.get((command, action.dest))
    if dynamic is not None:
        return Answer(dynamic(words), FILES if (command, action.dest) in ALSO_FILES else None)
    if action.choices is not None:
        return Answer([Candidate(str(c)) for c in action.choices])
    metavar = action.metavar if isinstance(action.metavar, str) else ""
    if metavar == "DIR":
        return Answer(directive=DIRS)
    if (isinstance(action.type, type) and issubclass(action.type, Path)) or FILE_METAVAR.search(metavar):
        return Answer(directive=FILES)
    return Answer()  # a number, a run list, KEY=VALUE: nothing sensible to offer


def _joined(words: Sequence[str]) -> list[str]:
    """Bash splits ``--dir=out`` into ``--dir``, ``=``, ``out`` (``=`` is a word break): join them again."""
    out: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word == "=" and out and out[-1].startswith("--") and "=" not in out[-1]:
            out[-1] += "=" + (words[i + 1] if i + 1 < len(words) else "")
            i += 2
            continue
        out.append(word)
        i += 1
    return out


def complete(parser: argparse.ArgumentParser, words: Sequence[str]) -> Answer:
    """What to offer for the last of *words* (the word being typed; ``words[0]`` is the program)."""
    words = _joined(words)
    *before, current = words or [""]
    before = before[1:]  # the program's own name
    sub = _subparsers(parser)
    commands = {} if sub is None else dict(sub.choices)
    at = next((i for i, w in enumerate(before) if not w.startswith("-")), None)
    if at is None or before[at] not in commands:
        if current.startswith("-"):
            return _filtered(Answer(_flags(parser, used=set(before))), current)
        listed = [] if sub is None else [Candidate(c.dest, c.help or "") for c in sub._choices_actions]
        return _filtered(Answer(listed), current)
    command, cmd_parser = before[at], commands[before[at]]
    after = before[at + 1:]
    if "--" in after:
        return Answer()  # what follows "--" is sbatch's (submit, resubmit): not ours to guess
    by_option = {s: a for a in cmd_parser._actions for s in a.option_strings}
    positionals = [a for a in cmd_parser._actions if not a.option_strings]

    # Walk the words before the current one: which options are given, how many positionals.
    used: set[str] = set()
    filled = 0
    pending: argparse.Action | None = None  # an option still waiting for its value
    for word in after:
        if pending is not None:
            pending = None
            continue
        if word.startswith("-") and word != "-":
            name = word.split("=", 1)[0]
            used.add(name)
            action = by_option.get(name)
            if action is not None and "=" not in word and _takes_value(action) and action.nargs != "?":
                pending = action
            continue
        filled += 1

    if current.startswith("--") and "=" in current:
        name, value = current.split("=", 1)
        action = by_option.get(name)
        if action is None or not _takes_value(action):
            return Answer()
        return _filtered(_values(command, action, words), value)
    if pending is not None:
        return _filtered(_values(command, pending, words), current)
    if current.startswith("-"):
        return _filtered(Answer(_flags(cmd_parser, used=used)), current)
    positional = _positional_at(positionals, filled)
    return _filtered(_values(command, positional, words) if positional else Answer(), current)


def _positional_at(positionals: list[argparse.Action], filled: int) -> argparse.Action | None:
    """The positional argument the next word fills, when *filled* words were given before it."""
    for action in positionals:
        if action.nargs in ("*", "+", argparse.REMAINDER):
            return action  # takes every further word
        count = action.nargs if isinstance(action.nargs, int) else 1
        if filled < count:
            return action
        filled -= count
    return None


def _filtered(answer: Answer, prefix: str) -> Answer:
    return Answer([c for c in answer.candidates if c.value.startswith(prefix)], answer.directive)


def answer_lines(answer: Answer, *, shell: str) -> Iterable[str]:
    """The callback's output for *shell*: one candidate or directive per line."""
    for c in answer.candidates:
        if shell == "bash" or not c.help:
            yield c.value
        else:
            # Descriptions are one line; a tab inside one would split the candidate.
            yield f"{c.value}\t{' '.join(c.help.split())}"
    if answer.directive:
        yield answer.directive


# ---- the scripts ---------------------------------------------------------------------------------

BASH = r"""# bash completion for ttgen (`ttgen completion bash`).
# Load it with: source <(ttgen completion bash)
_ttgen() {
    local cur="${COMP_WORDS[COMP_CWORD]}" line i
    local -a args=()
    for ((i = 0; i <= COMP_CWORD; i++)); do
        args+=("--word=:${COMP_WORDS[i]}")
    done
    # "=" is a word break in bash: right after "--dir=" the word typed so far is "=".
    [[ $cur == "=" ]] && cur=""
    COMPREPLY=()
    while IFS= read -r line; do
        case $line in
            @files) compopt -o filenames 2>/dev/null
                    while IFS= read -r i; do COMPREPLY+=("$i"); done < <(compgen -f -- "$cur") ;;
            @dirs)  compopt -o filenames 2>/dev/null
                    while IFS= read -r i; do COMPREPLY+=("$i"); done < <(compgen -d -- "$cur") ;;
            ?*)     COMPREPLY+=("$line") ;;
        esac
    done < <(command ttgen completion bash --complete "${args[@]}" 2>/dev/null)
}
complete -F _ttgen ttgen
"""

ZSH = r"""#compdef ttgen
# zsh completion for ttgen (`ttgen completion zsh`).
# Load it with `source <(ttgen completion zsh)` after compinit, or save it as _ttgen in a folder of $fpath.
_ttgen() {
    local -a args cands
    local line w
    for w in "${(@)words[1,CURRENT-1]}"; do
        args+=("--word=:$w")
    done
    args+=("--word=:$PREFIX")
    # The answer holds only the value of an --option=value word.
    [[ $PREFIX == --*=* ]] && compset -P '*='
    for line in "${(@f)$(command ttgen completion zsh --complete "${args[@]}" 2>/dev/null)}"; do
        case $line in
            @files) _files ;;
            @dirs)  _files -/ ;;
            ?*)     w=${line%%$'\t'*}
                    if [[ $line == *$'\t'* ]]; then
                        cands+=("${w//:/\\:}:${line#*$'\t'}")
                    else
                        cands+=("${w//:/\\:}")
                    fi ;;
        esac
    done
    (( $#cands )) && _describe -t values ttgen cands
    return 0
}
if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then
    _ttgen "$@"
else
    compdef _ttgen ttgen
fi
"""

FISH = r"""# fish completion for ttgen (`ttgen completion fish`).
# Load it with `ttgen completion fish | source`, or save it as ~/.config/fish/completions/ttgen.fish
function __ttgen_complete
    set -l tok (commandline -ct)
    set -l args
    for w in (commandline -opc)
        set -a args "--word=:$w"
    end
    set -a args "--word=:$tok"
    # The answer holds only the value of an --option=value word: put the option back.
    set -l prefix (string match -r -- '^--[^=]*=' "$tok")
    set -l value (string replace -r -- '^--[^=]*=' '' "$tok")
    for line in (command ttgen completion fish --complete $args 2>/dev/null)
        switch $line
            case '@files'
                for p in (__fish_complete_path "$value")
                    echo "$prefix$p"
                end
            case '@dirs'
                for p in (__fish_complete_directories "$value")
                    echo "$prefix$p"
                end
            case '*'
                echo "$prefix$line"
        end
    end
end
complete -c ttgen -f -a '(__ttgen_complete)'
"""

SCRIPTS = {"bash": BASH, "zsh": ZSH, "fish": FISH}


def run(args: argparse.Namespace) -> int:
    if not args.complete:
        sys.stdout.write(SCRIPTS[args.shell])
        return EXIT_OK
    from .app import build_parser  # the whole parser, every command registered

    words = [w[len(WORD_MARK):] if w.startswith(WORD_MARK) else w for w in args.word]
    for line in answer_lines(complete(build_parser(), words), shell=args.shell):
        print(line)
    return EXIT_OK
