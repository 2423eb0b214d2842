"""The command line's body: build the parser, dispatch, map errors to exit codes.

Each subcommand lives in ``ttgen.cli.<name>`` (``register`` adds its parser,
``run`` does the work and returns the exit code); this module only assembles
them and turns `UserError`s into ``file:line:col: path: message`` lines on
stderr with exit code 1 (0 success, 2 usage, 130 interrupted). The commands
import the core inside ``run``, so ``ttgen --help`` and ``ttgen ls`` start
fast. ``TTGEN_TRACEBACK=1`` shows Python tracebacks of user errors too.

Whatever happens, `main` ends without a traceback (docs/guarantees.md): text
stdout or stderr cannot encode is printed as escapes, a closed pipe or full stdout on
the success or the failure path keeps the command's exit code, and Ctrl-C from the
first line of `main` (building the parser included) exits 130. The entry point,
`ttgen.cli.main`, imports this module inside its own guard.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import io
import os
import re
import signal
import sys
from typing import Any, Callable, Sequence

from ..version import __version__
from ..errors import UserError
from ..text import did_you_mean
from .interrupt import interrupted
from .output import EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, envelope, plural, print_json, print_problems

SBATCH_COMMANDS = ("submit", "resubmit")  # they take sbatch's options after "--"
COMMAND_MODULES = ("render", "diff", "check", "validate", "ls", "init", "submit", "status", "resubmit", "results", "report", "completion")


def build_parser(prog: str = "ttgen") -> argparse.ArgumentParser:
    """The whole parser, every command registered."""
    return _parsers(prog)[0]


def _parsers(prog: str) -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser and each command's own parser by name (aliases included)."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Turn one experiment.yaml into a folder of complete torchtune configs.",
        epilog="examples:\n  ttgen init llama3_2/1B_lora_single_device\n  ttgen render experiment.yaml --dry-run\n"
               "  ttgen render experiment.yaml epochs=1\n\n`ttgen COMMAND --help` describes each command.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"ttgen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f".{name}", __package__).register(sub)
    return parser, dict(sub.choices)


def _options(parser: argparse.ArgumentParser) -> list[str]:
    """The long options a command's parser knows, read from its usage text."""
    return sorted(set(re.findall(r"--[A-Za-z][\w-]*", parser.format_help())))


def _parse(argv: list[str], *, prog: str) -> argparse.Namespace | None:
    """Parse *argv*; None when there was nothing to run (bare ``ttgen``: the command list is printed).

    Beyond argparse: a mistyped command or option gets a did-you-mean, and the commands that
    take command-line overrides (render, check) collect ``KEY=VALUE``, ``+KEY=VALUE`` and
    ``~KEY`` words wherever they stand among the options.
    """
    parser, commands = _parsers(prog)
    if not argv:
        print(parser.format_help(), end="")
        return None
    command = next((a for a in argv if not a.startswith("-")), None)
    if command is not None and command not in commands and not any(a in ("-h", "--help", "--version") for a in argv):
        parser.error(f"unknown command {command!r}: "
                     + (did_you_mean(command, commands) or "see `ttgen --help` for the commands"))
    args, extra = parser.parse_known_args(argv)
    own = commands[args.command]
    words: list[str] = []
    unknown: list[str] = []
    for word in extra:
        (words if getattr(args, "takes_overrides", False) and not word.startswith("-") else unknown).append(word)
    if unknown:
        first = unknown[0]
        # Compared without the dashes, which every option shares and which would make
        # any short option look close (--bogus is not --out).
        suggestion = did_you_mean(first.split("=", 1)[0].lstrip("-"), [o.lstrip("-") for o in _options(own)],
                                  prefix="--") if first.startswith("-") else None
        own.error(f"unrecognized argument{'s' if len(unknown) > 1 else ''}: {' '.join(unknown)}"
                  + (f" ({suggestion})" if suggestion else ""))
    if words:
        args.words = [*args.words, *words]
    return args


def _on_sigterm(signum: int, frame: Any) -> None:
    # Turn SIGTERM into the same clean unwind as Ctrl-C: temporary folders are removed.
    raise KeyboardInterrupt


def _silence(stream: Any) -> None:
    """Point *stream*'s file at /dev/null, so the final flush at exit does not fail again."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, stream.fileno())
        os.close(fd)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass  # not a real file (tests capture stdout in memory)


def _silence_stdout() -> None:
    _silence(sys.stdout)


def _escape_what_cannot_be_encoded() -> None:
    """Print characters stdout/stderr cannot encode as escapes (``\\xfc``) instead of failing.

    An ASCII terminal (``PYTHONIOENCODING=ascii``, an old locale) or a file name that is
    not UTF-8 would otherwise end a command in a UnicodeEncodeError.
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is None:
            continue
        try:
            reconfigure(errors="backslashreplace")
        except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
            pass


def _say(text: str) -> None:
    """One line on stderr, whatever state stderr is in."""
    try:
        print(text, file=sys.stderr)
    except (OSError, ValueError):
        _silence(sys.stderr)


def _report(err: UserError, args: argparse.Namespace, *, prog: str, written: str) -> int:
    """A failure's problems on stderr (and its JSON document on stdout); a closed pipe does not change the exit."""
    try:
        print_problems(err.problems)
        print(f"{prog}: {plural(len(err.errors), 'error')}{written}", file=sys.stderr)
        if getattr(args, "json", False):
            # Automation reading stdout gets one JSON document on failure too.
            print_json(envelope(args.json_command, ok=False, errors=err.errors,
                                warnings=[p for p in err.problems if p.severity == "warning"]))
            sys.stdout.flush()  # here, where a closed pipe is caught, not at exit
    except OSError:  # a closed pipe, a full disk: the failure's exit code stands
        _silence(sys.stdout)
        _silence(sys.stderr)
    return EXIT_INVALID


def main(argv: Sequence[str] | None = None, *, prog: str = "ttgen") -> int:
    """Run one command; returns its exit code. Never ends in a traceback for input, Ctrl-C or a closed pipe."""
    try:
        _escape_what_cannot_be_encoded()
        return _main(argv, prog=prog)
    except (KeyboardInterrupt, RuntimeError) as exc:
        # Ctrl-C while starting up (building the parser imports every command); Python may
        # have wrapped it in a RuntimeError (`interrupted`).
        if not interrupted(exc):
            raise
        _say(f"{prog}: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence(sys.stdout)
        return EXIT_OK


def _main(argv: Sequence[str] | None, *, prog: str) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after "--" is for sbatch (submit, resubmit), split off before argparse,
    # which cannot tell an optional positional list from the options after it.
    command = next((a for a in argv if not a.startswith("-")), None)
    passed: list[str] | None = None
    if command in SBATCH_COMMANDS and "--" in argv:
        at = argv.index("--")
        argv, passed = argv[:at], argv[at + 1:]
    parsed = _parse(argv, prog=prog)
    if parsed is None:
        return EXIT_OK
    args = parsed
    if passed is not None:
        args.sbatch_args = passed
    func: Callable[[argparse.Namespace], int] = args.func

    written = "; nothing was written" if getattr(args, "writes_output", False) else ""
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    # A dropped ssh session (SIGHUP) unwinds the same way, unless nohup made it ignored.
    hup = getattr(signal, "SIGHUP", None)
    previous_hup = signal.signal(hup, _on_sigterm) if hup and signal.getsignal(hup) == signal.SIG_DFL else None
    try:
        code = func(args)
        sys.stdout.flush()  # a closed pipe or a full disk shows here, not in the flush at exit
        return code
    except UserError as err:
        if os.environ.get("TTGEN_TRACEBACK"):
            raise
        return _report(err, args, prog=prog, written=written)
    except KeyboardInterrupt:
        _say(f"{prog}: interrupted{written}")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence(sys.stdout)
        return EXIT_OK
    except OSError as exc:
        # Core stages turn file errors into UserErrors; what reaches here is printing the
        # results to a stdout that cannot take them (`> /dev/full`, a full disk).
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO):
            raise
        _silence_stdout()
        _say(f"{prog}: cannot print the results: {exc.strerror}")
        return EXIT_INVALID
    finally:
        signal.signal(signal.SIGTERM, previous)
        if hup is not None and previous_hup is not None:
            signal.signal(hup, previous_hup)
