"""Derived values: ``{{ ... }}`` Jinja expressions in controls and variable values (docs/contract.md §5).

A string containing ``{{`` is a template evaluated per run in Jinja's immutable
sandbox with strict undefined names. In scope: the run's variables by their
written names (also as the mapping ``variables``), ``run_id``, ``run_index`` and
``experiment`` (its metadata). A string that is one whole expression yields a
native value (``"{{ 2 * lora_rank }}"`` is an int); an expression inside text
yields text. OmegaConf's ``${...}`` is plain text to Jinja and is left alone.

Templates are compiled once, when the plan is built, so syntax errors are
reported with their position before anything is written.

Every value is bounded in time and memory (docs/experiment.md, "Derived values"):
only ``{{ expression }}`` (no ``{% ... %}`` statements, so no loops); a whitelist of
filters (`ALLOWED_FILTERS`) and methods (`ALLOWED_METHODS`), none of which takes a
size, with joins, replaces, repeats, powers and format widths checked before they
run; expressions nested at most `MAX_NESTING` deep; results of at most `MAX_TEXT`
characters per string and `MAX_SIZE` in all, holding only values YAML can hold
(no undefined names, no functions or methods).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import jinja2
import jinja2.sandbox
from jinja2 import nodes
from jinja2.environment import TemplateExpression

from ..errors import Problem, SourcePos, ValueProblem

_ALLOWED = (str, int, float, bool, type(None))

MAX_POWER_BITS = 4096  # results of ** larger than this are refused (9**9**9 would hang)
MAX_REPEAT = 100_000  # 'a' * n, [x] * n, joins and replaces larger than this are refused
MAX_TEXT = 10_000  # characters: of a template, and of any string it gives
MAX_SIZE = 100_000  # a whole result: characters of its strings plus its items
MAX_WIDTH = 100  # widths and precisions in '%5d' % x, '{:5d}'.format(x) and |format
MAX_NESTING = 32  # levels of nested expressions (brackets, calls, operators)

ALLOWED_FILTERS = frozenset({
    "abs", "capitalize", "count", "d", "default", "dictsort", "first", "float", "format", "int", "items", "join",
    "last", "length", "list", "lower", "map", "max", "min", "reject", "rejectattr", "replace", "reverse", "round",
    "select", "selectattr", "sort", "string", "sum", "title", "trim", "truncate", "unique", "upper", "wordcount",
})
ALLOWED_METHODS: dict[type, frozenset[str]] = {
    str: frozenset({
        "capitalize", "casefold", "count", "endswith", "find", "format", "index", "isalnum", "isalpha", "isdecimal",
        "isdigit", "islower", "isnumeric", "isspace", "istitle", "isupper", "join", "lower", "lstrip", "partition",
        "removeprefix", "removesuffix", "replace", "rfind", "rindex", "rpartition", "rsplit", "rstrip", "split",
        "splitlines", "startswith", "strip", "swapcase", "title", "upper"}),
    dict: frozenset({"get", "items", "keys", "values"}),
    list: frozenset({"count", "index"}),
    tuple: frozenset({"count", "index"}),
}
_HINT_LIMIT = "derived values are bounded: see docs/experiment.md, Derived values"


class LimitError(Exception):
    """An expression would exceed one of the bounds on derived values."""


def is_template(value: Any) -> bool:
    """Does *value* (at any depth) hold a string with a Jinja expression or statement?"""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, list):
        return any(is_template(v) for v in value)
    if isinstance(value, dict):
        return any(is_template(v) for v in value.values())
    return False


def _size(value: Any, limit: int = MAX_SIZE) -> int:
    """About how large *value* is (characters of strings, digits of numbers, items), counted to just past *limit*."""
    total = 0
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            total += max(len(v), 1)
        elif isinstance(v, bool) or v is None or isinstance(v, float):
            total += 1
        elif isinstance(v, int):
            total += max(v.bit_length() // 3, 1)
        elif isinstance(v, range):
            total += max(len(v), 1)
        elif isinstance(v, (list, tuple)):
            total += 0 if v else 1
            stack.extend(v)
        elif isinstance(v, dict):
            total += 0 if v else 1
            stack.extend(v)
            stack.extend(v.values())
        else:
            total += 1
        if total > limit:
            break
    return total


_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?", re.S)


def _check_width(number: str | None, text: str) -> None:
    if number == "*":
        raise LimitError(f"a width taken from the arguments (*) in {_short(text)} is not allowed")
    if number and (len(number) > 6 or int(number) > MAX_WIDTH):
        raise LimitError(f"width {number} in {_short(text)} is too large (at most {MAX_WIDTH})")


def _check_printf(fmt: str) -> None:
    """'%5d' % x: refuse widths and precisions above MAX_WIDTH, and ones taken from the arguments."""
    for m in _PRINTF.finditer(fmt):
        _check_width(m.group(1), fmt)
        _check_width(m.group(2), fmt)


def _check_format(fmt: str) -> None:
    """'{:5d}'.format(x): the same bounds; a field inside a format spec ({0:{1}}) is refused."""
    for _, field, spec, _ in string.Formatter().parse(fmt):
        if field is None or not spec:
            continue
        if "{" in spec:
            raise LimitError(f"a nested field in the format spec {spec!r} is not allowed")
        for number in re.findall(r"\d+", spec):
            _check_width(number, fmt)


def _check_join(items: list[Any], sep: Any) -> None:
    total = _size(items, MAX_REPEAT) + _size(sep, MAX_REPEAT) * max(len(items) - 1, 0)
    if total > MAX_REPEAT:
        raise LimitError(f"joining {len(items)} items would give more than {MAX_REPEAT} characters: too large")


def _check_replace(text: str, old: str, new: str, count: int | None = None) -> None:
    n = text.count(old) if old else len(text) + 1
    if count is not None and count >= 0:
        n = min(n, count)
    if len(text) + n * max(len(new) - len(old), 0) > MAX_REPEAT:
        raise LimitError(f"replacing {n} times would give more than {MAX_REPEAT} characters: too large")


class _BoundedSandbox(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """The immutable sandbox, plus bounds on operators, filters and methods so an expression cannot hang the render."""

    intercepted_binops = frozenset(["**", "*", "%"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1 \
                    and right * max(abs(left).bit_length(), 1) > MAX_POWER_BITS:
                raise LimitError(f"{left} ** {right} is too large")
            return left**right
        if operator == "%":
            if isinstance(left, str):
                _check_printf(left)
            return left % right
        for seq, n in ((left, right), (right, left)):  # "ab" * 3 and 3 * "ab"
            if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and n > 1 \
                    and _size(seq, MAX_REPEAT) * n > MAX_REPEAT:
                raise LimitError(f"repeating a sequence {n} times is too large")
        return left * right

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if not super().is_safe_attribute(obj, attr, value):
            return False
        if callable(value):  # methods: only the listed ones, of plain values
            return attr in ALLOWED_METHODS.get(type(obj), frozenset())
        return True

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        if attribute.startswith("_"):
            return super().unsafe_undefined(obj, attribute)
        allowed = ", ".join(sorted(ALLOWED_METHODS.get(type(obj), ()))) or "none"
        return self.undefined(f"the method {attribute!r} of {type(obj).__name__!r} is not allowed in derived values "
                              f"(allowed: {allowed})", name=attribute, obj=obj, exc=jinja2.sandbox.SecurityError)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt = value.__self__
        is_map = value.__name__ == "format_map"

        def checked(*args: Any, **kwargs: Any) -> str:
            if is_map:
                raise jinja2.sandbox.SecurityError("format_map is not allowed in derived values; use format")
            _check_format(fmt)
            return wrapped(*args, **kwargs)

        checked.ttgen_allowed = True  # type: ignore[attr-defined]
        return checked

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        if isinstance(__obj, jinja2.Undefined):  # nope(): say that nope is undefined
            __obj._fail_with_undefined_error()
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", type(__obj).__name__)
        if __obj is jinja2.sandbox.safe_range or __obj is dict or getattr(__obj, "ttgen_allowed", False):
            pass
        elif owner is not None and name in ALLOWED_METHODS.get(type(owner), frozenset()):
            if isinstance(owner, str) and name == "join" and args:
                items = list(args[0])
                _check_join(items, owner)
                args = (items,) + args[1:]
            elif isinstance(owner, str) and name == "replace" and len(args) >= 2:
                _check_replace(owner, str(args[0]), str(args[1]), *[a for a in args[2:3] if isinstance(a, int)])
        else:
            raise jinja2.sandbox.SecurityError(f"calling {name!r} is not allowed in derived values")
        return super().call(__context, __obj, *args, **kwargs)


def _bounded_filters(env: jinja2.Environment) -> dict[str, Any]:
    """The allowed filters; join, replace, format and sum checked before they run."""
    filters = {name: f for name, f in env.filters.items() if name in ALLOWED_FILTERS}
    join, replace, format_, sum_ = filters["join"], filters["replace"], filters["format"], filters["sum"]

    @jinja2.pass_eval_context
    def do_join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> str:
        items = list(value)
        _check_join(items, d)
        return join(eval_ctx, items, d, attribute)  # type: ignore[no-any-return]

    @jinja2.pass_eval_context
    def do_replace(eval_ctx: Any, s: Any, old: Any, new: Any, count: int | None = None) -> str:
        _check_replace(str(s), str(old), str(new), count)
        return replace(eval_ctx, s, old, new, count)  # type: ignore[no-any-return]

    def do_format(value: Any, *args: Any, **kwargs: Any) -> str:
        _check_printf(str(value))
        return format_(value, *args, **kwargs)  # type: ignore[no-any-return]

    @jinja2.pass_environment
    def do_sum(environment: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
        if not isinstance(start, (int, float)):  # adding lists or strings is quadratic
            raise LimitError("sum adds numbers only")
        return sum_(environment, iterable, attribute, start)

    filters.update(join=do_join, replace=do_replace, format=do_format, sum=do_sum)
    return filters


def make_sandbox() -> jinja2.sandbox.ImmutableSandboxedEnvironment:
    # No loader: templates cannot include or import other files. The sandbox refuses
    # attribute access to Python internals (__class__, __globals__, ...) and mutation.
    # Not optimized: Jinja's optimizer would evaluate constant parts while compiling.
    env = _BoundedSandbox(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True,
                          optimized=False)
    # Keep the namespace small: no helper globals that hand out Python objects (the
    # sandbox's own bounded `range` and `dict` stay).
    for name in ("lipsum", "cycler", "joiner", "namespace"):
        env.globals.pop(name, None)
    env.filters = _bounded_filters(env)
    env.tests.pop("callable", None)
    return env


@dataclass
class Derivation:
    """A compiled value: call it with a run's scope to get the run's value."""

    raw: Any
    pos: SourcePos
    where: str  # dotted experiment path, for messages
    _fn: Callable[[Mapping[str, Any]], Any]
    # The names of the experiment's derived values: not in scope of one another (for hints).
    derived_names: tuple[str, ...] = ()

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        try:
            value = self._fn(scope)
        except jinja2.UndefinedError as exc:
            message = exc.message or str(exc)
            raise self._problem(message, self._undefined_hint(message, scope)) from None
        except jinja2.sandbox.SecurityError as exc:
            raise self._problem(f"not allowed: {exc}",
                                "expressions may use values, arithmetic and the allowed filters and methods "
                                "(docs/experiment.md), not Python internals") from None
        except LimitError as exc:
            raise self._problem(str(exc), _HINT_LIMIT) from None
        except _NotYaml as exc:
            raise self._problem(str(exc), "expressions must give numbers, strings, booleans, null, lists or "
                                          "mappings") from None
        except RecursionError:
            raise self._problem("nested too deeply", f"nest expressions at most {MAX_NESTING} levels deep") from None
        except Exception as exc:  # any error raised by the user's expression is input, not a bug
            raise self._problem(f"{type(exc).__name__}: {exc}", "check the expression") from None
        return value

    def _undefined_hint(self, message: str, scope: Mapping[str, Any]) -> str:
        """Why a name is undefined, when the reason is one of the two that surprise people."""
        m = re.match(r"'([^']+)' is undefined", message)
        name = m[1] if m else ""
        dotted_names = [k for k in scope if isinstance(k, str) and k.startswith(name + ".")] if name else []
        if dotted_names:
            full = dotted_names[0]
            return (f"variable {full!r} has a dotted name, which an expression cannot write as is: use "
                    f"{{{{ variables['{full}'] }}}}, or give the variable a short name (docs/experiment.md)")
        if name and name in self.derived_names:
            return (f"{name!r} is a derived value: derived values are computed from the variables, run_id, "
                    "run_index and experiment, not from one another; repeat its expression here")
        return "names in scope: the variables, run_id, run_index, experiment"

    def _problem(self, message: str, hint: str) -> ValueProblem:
        return ValueProblem(Problem(f"in {_short(self.raw)}: {message}", pos=self.pos, path=self.where, hint=hint))


class _NotYaml(Exception):
    """An expression gives something a YAML config cannot hold."""


def _short(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 80 else text[:76] + " ..."


def _plain(value: Any, depth: int = 0) -> Any:
    """*value* as YAML can hold it: tuples become lists; raises on undefined names, functions and other types."""
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    if depth > MAX_NESTING * 2:
        raise LimitError("the value is nested too deeply")
    kind = type(value)
    if kind is str:
        if len(value) > MAX_TEXT:
            raise LimitError(f"a string of {len(value)} characters is too large (at most {MAX_TEXT})")
        return value
    if kind in _ALLOWED:
        return value
    if kind in (list, tuple):
        return [_plain(v, depth + 1) for v in value]
    if kind is dict:
        out = {}
        for k, v in value.items():
            if isinstance(k, jinja2.Undefined):
                k._fail_with_undefined_error()
            if type(k) is not str:
                raise _NotYaml("gives a mapping with non-string keys, which a YAML config cannot hold")
            out[k] = _plain(v, depth + 1)
        return out
    if callable(value) and not isinstance(value, type):
        name = getattr(value, "__name__", "?")
        raise _NotYaml(f"gives the function or method {name!r}, not a value: a YAML config cannot hold it")
    raise _NotYaml(f"gives a {kind.__name__}, which a YAML config cannot hold")


def _checked(value: Any) -> Any:
    if _size(value) > MAX_SIZE:
        raise LimitError(f"the value is too large (more than {MAX_SIZE} characters and items)")
    return _plain(value)


def _text(value: Any) -> str:
    """One ``{{ }}`` inside text, as text (what Jinja would print), after the same checks."""
    plain = _checked(value)
    if not isinstance(value, str) and _size(plain, MAX_TEXT) > MAX_TEXT:
        raise LimitError(f"the value is too large for text (more than {MAX_TEXT} characters)")
    return value if isinstance(value, str) else str(value)


class _CompileError(Exception):
    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def _depth(node: nodes.Node) -> int:
    """How deeply *node*'s expressions nest (iterative: no recursion on hostile input)."""
    deepest = 0
    stack = [(node, 1)]
    while stack:
        current, d = stack.pop()
        deepest = max(deepest, d)
        stack.extend((child, d + 1) for child in current.iter_child_nodes())
    return deepest


def _expression(env: jinja2.Environment, expr: nodes.Expr) -> Callable[[Mapping[str, Any]], Any]:
    if _depth(expr) > MAX_NESTING:
        raise _CompileError(f"the expression is nested more than {MAX_NESTING} levels deep",
                            "split it into simpler expressions")
    body: list[nodes.Node] = [nodes.Assign(nodes.Name("result", "store"), expr, lineno=1)]
    compiled = TemplateExpression(env.from_string(nodes.Template(body, lineno=1)), undefined_to_none=False)
    return lambda scope: compiled(**scope)


def _compile_string(env: jinja2.Environment, text: str) -> Callable[[Mapping[str, Any]], Any]:
    if len(text) > MAX_TEXT:
        raise _CompileError(f"a value with expressions may be at most {MAX_TEXT} characters, this one has {len(text)}",
                            _HINT_LIMIT)
    try:
        tree = env.parse(text)
    except RecursionError:
        raise _CompileError("the expression is nested too deeply", f"nest at most {MAX_NESTING} levels") from None
    parts: list[str | Callable[[Mapping[str, Any]], Any]] = []
    for node in tree.body:
        if not isinstance(node, nodes.Output):
            raise _CompileError("statements ({% ... %}) are not allowed in derived values",
                                "write one or more {{ expression }}; use a filter or a conditional expression "
                                "(a if cond else b) instead of a statement")
        for child in node.nodes:
            parts.append(child.data if isinstance(child, nodes.TemplateData) else _expression(env, child))
    calls = [p for p in parts if not isinstance(p, str)]
    if len(calls) == 1 and all(isinstance(p, str) and not p.strip() for p in parts if p is not calls[0]):
        whole = calls[0]  # one whole expression (blanks around it allowed): its native value
        return lambda scope: _checked(whole(scope))

    def render(scope: Mapping[str, Any]) -> str:
        out = "".join(p if isinstance(p, str) else _text(p(scope)) for p in parts)
        if len(out) > MAX_TEXT:
            raise LimitError(f"the text is {len(out)} characters long: too large (at most {MAX_TEXT})")
        return out

    return render


def compile_value(env: jinja2.Environment, raw: Any, *, pos: SourcePos, where: str) -> Derivation:
    """Compile every template string inside *raw*; a syntax error is a `ValueProblem` at *pos*."""

    def build(value: Any) -> Callable[[Mapping[str, Any]], Any]:
        if isinstance(value, str) and is_template(value):
            try:
                return _compile_string(env, value)
            except jinja2.TemplateSyntaxError as exc:
                message = exc.message or str(exc)
                hint = "write {{ expression }}; a literal {{ is {{ '{{' }}"
                if message.startswith("No filter named"):
                    hint = "allowed filters: " + ", ".join(sorted(ALLOWED_FILTERS))
                raise ValueProblem(Problem(f"invalid expression {_short(value)}: {message}", pos=pos,
                                          path=where, hint=hint)) from None
            except _CompileError as exc:
                raise ValueProblem(Problem(f"in {_short(value)}: {exc}", pos=pos, path=where, hint=exc.hint)) from None
            except (RecursionError, MemoryError, SyntaxError):  # Python's own compiler on an absurd expression
                raise ValueProblem(Problem(f"in {_short(value)}: the expression is too deeply nested or too large",
                                          pos=pos, path=where, hint=_HINT_LIMIT)) from None
        if isinstance(value, list):
            parts = [build(v) for v in value]
            return lambda scope: [p(scope) for p in parts]
        if isinstance(value, dict):
            items = [(k, build(v)) for k, v in value.items()]
            return lambda scope: {k: p(scope) for k, p in items}
        return lambda scope: value

    return Derivation(raw=raw, pos=pos, where=where, _fn=build(raw))
