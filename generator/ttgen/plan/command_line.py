"""Overrides given on the command line: ``ttgen render exp.yaml epochs=1 ~profiler +new.key=1``.

torchtune's grammar (``tune run ... key=value``, ``~key`` to delete) with Hydra's ``+key``
for a new key. A value is typed as OmegaConf types a dotlist value (``1e-4`` is a float,
``true`` a bool, ``[q_proj, v_proj]`` a list). The keys then go through the same
resolution, type checks and errors as controls (`ttgen.plan.resolve`); problems point at
the argument (``command line: epochs=1.5: ...``). Command-line values win over controls
and may not set a variable's path.

Examples:
    >>> parse_overrides(["epochs=1", "optimizer.lr=3e-4", "~profiler", "+extra.note=hi"])
    CommandLine(sets=(('epochs=1', 'epochs', 1), ('optimizer.lr=3e-4', 'optimizer.lr', 0.0003), \
('+extra.note=hi', '+extra.note', 'hi')), deletes=(('~profiler', 'profiler'),))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from ..errors import Problem, ProblemCollector, SourcePos, UserError
from ..yamlio.load import load_yaml_text

COMMAND_LINE = SourcePos("command line")


@dataclass(frozen=True)
class CommandLine:
    """Parsed overrides: ``(argument, key, value)`` to set and ``(argument, key)`` to delete."""

    sets: tuple[tuple[str, str, Any], ...] = ()
    deletes: tuple[tuple[str, str], ...] = ()


def is_override(arg: str) -> bool:
    """Does a command-line word look like an override rather than a file?"""
    return "=" in arg or arg.startswith("~")


def override_value(text: str, *, file: str = "command line") -> Any:
    """The value of ``KEY=VALUE`` typed as OmegaConf types a dotlist value (an empty one is '').
    Raises `UserError` (positioned in *file*) when it is not YAML.

    Examples:
        >>> override_value("1e-4"), override_value("[q_proj, v_proj]"), override_value("")
        (0.0001, ['q_proj', 'v_proj'], '')
    """
    return load_yaml_text(f"v: {text}\n" if text.strip() else "v: ''\n", file=file).data["v"]


def parse_overrides(args: Sequence[str], problems: ProblemCollector | None = None) -> CommandLine:
    """Parse ``key=value``, ``+key=value`` and ``~key``; malformed ones are errors (collected, or raised)."""
    own = problems if problems is not None else ProblemCollector()
    sets: list[tuple[str, str, Any]] = []
    deletes: list[tuple[str, str]] = []
    for arg in args:
        if arg.startswith("~"):
            key = arg[1:]
            if "=" in key or not key.strip() or key != key.strip():
                own.error("a deletion is ~KEY, without a value", pos=COMMAND_LINE, path=arg,
                          hint="write ~profiler to delete the key profiler")
                continue
            deletes.append((arg, key))
            continue
        key, sep, text = arg.partition("=")
        if not sep or not key.strip("+").strip() or key != key.strip():
            own.error("an override is KEY=VALUE, +KEY=VALUE or ~KEY", pos=COMMAND_LINE, path=arg,
                      hint="e.g. epochs=1, +new.key=1 or ~profiler")
            continue
        try:
            value = override_value(text)
        except UserError as err:
            own.error(f"the value is not YAML: {err.problems[0].message if err.problems else err}",
                      pos=COMMAND_LINE, path=arg,
                      hint="quote the value for YAML inside quotes for the shell: 'key=\"a: b\"'")
            continue
        sets.append((arg, key, value))
    if problems is None and own.errors:
        from ..errors import ExperimentError

        raise ExperimentError(sorted(own.errors, key=Problem.sort_key))
    return CommandLine(tuple(sets), tuple(deletes))
