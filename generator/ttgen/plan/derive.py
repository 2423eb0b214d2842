"""Derived values: ``{{ ... }}`` Jinja expressions in controls and variable values (docs/contract.md §5).

A string containing ``{{`` is a template evaluated per run in Jinja's immutable
sandbox with strict undefined names. In scope: the run's variables by their
written names (also as the mapping ``variables``), ``run_id``, ``run_index`` and
``experiment`` (its metadata). A string that is one whole expression yields a
native value (``"{{ 2 * lora_rank }}"`` is an int); an expression inside text
yields text. OmegaConf's ``${...}`` is plain text to Jinja and is left alone.

Templates are compiled once, when the plan is built, so syntax errors are
reported with their position before anything is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import jinja2
import jinja2.sandbox

from ..errors import Problem, SourcePos, ValueProblem

_WHOLE = re.compile(r"^\s*\{\{(?P<expr>.*)\}\}\s*$", re.S)
_ALLOWED = (str, int, float, bool, type(None))


def is_template(value: Any) -> bool:
    """Does *value* (at any depth) hold a string with a Jinja expression or statement?"""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, list):
        return any(is_template(v) for v in value)
    if isinstance(value, dict):
        return any(is_template(v) for v in value.values())
    return False


MAX_POWER_BITS = 4096  # results of ** larger than this are refused (9**9**9 would hang)
MAX_REPEAT = 100_000  # 'a' * n and [x] * n longer than this are refused


class _BoundedSandbox(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """The immutable sandbox, plus bounds on ** and * so an expression cannot hang the render."""

    intercepted_binops = frozenset(["**", "*"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1 \
                    and right * max(abs(left).bit_length(), 1) > MAX_POWER_BITS:
                raise jinja2.sandbox.SecurityError(f"{left} ** {right} is too large")
            return left**right
        for seq, n in ((left, right), (right, left)):  # "ab" * 3 and 3 * "ab"
            if isinstance(seq, (str, list)) and isinstance(n, int) and len(seq) * n > MAX_REPEAT:
                raise jinja2.sandbox.SecurityError(f"repeating a sequence {n} times is too large")
        return left * right


def make_sandbox() -> jinja2.sandbox.ImmutableSandboxedEnvironment:
    # No loader: templates cannot include or import other files. The sandbox refuses
    # attribute access to Python internals (__class__, __globals__, ...) and mutation.
    env = _BoundedSandbox(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
    # Keep the namespace small: no helper globals that hand out Python objects (the
    # sandbox's own bounded `range` and `dict` stay).
    for name in ("lipsum", "cycler", "joiner", "namespace"):
        env.globals.pop(name, None)
    return env


@dataclass
class Derivation:
    """A compiled value: call it with a run's scope to get the run's value."""

    raw: Any
    pos: SourcePos
    where: str  # dotted experiment path, for messages
    _fn: Callable[[Mapping[str, Any]], Any]

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        try:
            value = self._fn(scope)
        except jinja2.UndefinedError as exc:
            raise ValueProblem(Problem(f"in {_short(self.raw)}: {exc.message}", pos=self.pos, path=self.where,
                                      hint="names in scope: the variables, run_id, run_index, experiment")) from None
        except jinja2.sandbox.SecurityError as exc:
            raise ValueProblem(Problem(f"in {_short(self.raw)}: not allowed: {exc}", pos=self.pos, path=self.where,
                                      hint="expressions may use values and arithmetic, not Python internals")) from None
        except Exception as exc:  # any error raised by the user's expression is input, not a bug
            raise ValueProblem(Problem(f"in {_short(self.raw)}: {type(exc).__name__}: {exc}", pos=self.pos,
                                      path=self.where, hint="check the expression")) from None
        bad = _unsupported(value)
        if bad is not None:
            raise ValueProblem(Problem(f"{_short(self.raw)} gives {bad}, which a YAML config cannot hold",
                                      pos=self.pos, path=self.where,
                                      hint="expressions must give numbers, strings, booleans, null, lists or mappings"))
        return value


def _short(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 80 else text[:76] + " ..."


def _unsupported(value: Any) -> str | None:
    if isinstance(value, _ALLOWED):
        return None
    if isinstance(value, (list, tuple)):
        return next((b for b in map(_unsupported, value) if b), None)
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            return "a mapping with non-string keys"
        return next((b for b in map(_unsupported, value.values()) if b), None)
    return f"a {type(value).__name__}"


def _compile_string(env: jinja2.Environment, text: str) -> Callable[[Mapping[str, Any]], Any]:
    whole = _WHOLE.match(text)
    if whole and "{{" not in whole.group("expr") and "}}" not in whole.group("expr"):
        expr = env.compile_expression(whole.group("expr"), undefined_to_none=False)
        return lambda scope: _native(expr(**scope))
    template = env.from_string(text)
    return lambda scope: template.render(**scope)


def _native(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_native(v) for v in value]
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    return value


def compile_value(env: jinja2.Environment, raw: Any, *, pos: SourcePos, where: str) -> Derivation:
    """Compile every template string inside *raw*; a syntax error is a `ValueProblem` at *pos*."""

    def build(value: Any) -> Callable[[Mapping[str, Any]], Any]:
        if isinstance(value, str) and is_template(value):
            try:
                return _compile_string(env, value)
            except jinja2.TemplateSyntaxError as exc:
                raise ValueProblem(Problem(f"invalid expression {_short(value)}: {exc.message}", pos=pos,
                                          path=where, hint="write {{ expression }}; a literal {{ is {{ '{{' }}")) from None
        if isinstance(value, list):
            parts = [build(v) for v in value]
            return lambda scope: [p(scope) for p in parts]
        if isinstance(value, dict):
            items = [(k, build(v)) for k, v in value.items()]
            return lambda scope: {k: p(scope) for k, p in items}
        return lambda scope: value

    return Derivation(raw=raw, pos=pos, where=where, _fn=build(raw))
