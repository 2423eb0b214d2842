"""The Jinja environment every rendered file goes through, and loading its templates.

The user's own template folder (``--templates``) comes first, then the shipped
templates; undefined names are errors. Filters: ``yaml`` (one-line YAML text of
a value), ``comment`` (text safe inside a ``#`` comment), and for SLURM
scripts ``sh`` (one bash word), ``sh_dq`` (text inside a double-quoted bash
string) and ``sbatch_quote`` (one ``#SBATCH`` argument).

Every template, shipped or the user's, renders in Jinja's immutable sandbox
(docs/output.md, "Templates"): a template cannot reach Python internals
(``__class__``, ``__globals__``, ...) nor change the values it is given. A
template that tries is an `OutputError` at its line, never a traceback.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

import jinja2
import jinja2.sandbox

from ..errors import OutputError, Problem, SourcePos
from ..plan.slurm import sbatch_unfit
from ..resources import (CONFIG_TEMPLATE, MANIFEST_TEMPLATE, MAPPING_TEMPLATE, SLURM_ARRAY_TEMPLATE,
                         SLURM_RUN_TEMPLATE, templates_dir)
from ..text import comment_text
from ..yamlio.dump import flow_text

SANDBOX_HINT = ("templates render in Jinja's sandbox, which refuses Python internals (names starting with _, "
                "str.format on them) and changing the values a template is given; docs/output.md lists what "
                "each template receives")

# sbatch reads `#SBATCH` lines with its own small parser: quotes and backslashes are
# special and an unquoted `#` starts a comment, so such values are written quoted.
_SBATCH_SPECIAL = re.compile(r"[\s\"'\\#]")


def shell_quote(value: Any) -> str:
    """*value* as one bash word (single-quoted when it needs quoting)."""
    return shlex.quote(str(value))


def shell_dquoted(value: Any) -> str:
    """*value* as text inside a double-quoted bash string: ``$``, backquote, ``"`` and ``\\`` escaped.

    Bash expands nothing in the result, and a value without these characters is
    unchanged (so ``echo "ttgen: starting ..."`` lines read as before).
    """
    return re.sub(r'([$`"\\])', r"\\\1", str(value))


class SbatchValueError(jinja2.TemplateRuntimeError, ValueError):
    """A value an ``#SBATCH`` line cannot carry (in a template: an error at the template's line)."""


def sbatch_quote(value: str) -> str:
    """*value* as one argument of an ``#SBATCH`` line, as sbatch's own parser reads it.

    Planning refuses slurm: values that cannot be written (`ttgen.plan.slurm.sbatch_unfit`);
    this raises `SbatchValueError` for any that still arrives (from a template, say).
    """
    unfit = sbatch_unfit(value)
    if unfit:
        raise SbatchValueError(f"{unfit}: {value!r}")
    if not _SBATCH_SPECIAL.search(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _template_pos(tb: TracebackType | None) -> SourcePos | None:
    """The innermost template line in a traceback (the one whose code raised)."""
    pos = None
    while tb is not None:
        template = tb.tb_frame.f_globals.get("__jinja_template__")
        if isinstance(template, jinja2.Template):
            name = template.filename or template.name or "<template>"
            pos = SourcePos(name, template.get_corresponding_lineno(tb.tb_lineno), 1)
        tb = tb.tb_next
    return pos


# Attribute values that are plain data: never callable, never a way into Python's internals.
_PLAIN = frozenset([str, int, float, bool, type(None)])


class Sandbox(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """The immutable sandbox; a template it refuses is an `OutputError` with its file and line."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        # Fast path for the fields of ttgen's own records (``run.run_id``, ``entry.value``, one
        # per run and field): a public attribute holding plain data is what the sandbox's own
        # checks would allow too. Everything else takes the sandbox's full checks.
        if not attribute.startswith("_"):
            try:
                value = getattr(obj, attribute)
            except AttributeError:
                pass
            else:
                if type(value) in _PLAIN:
                    return value
        return super().getattr(obj, attribute)

    def handle_exception(self, source: str | None = None) -> NoReturn:
        _, exc, tb = sys.exc_info()
        if isinstance(exc, jinja2.sandbox.SecurityError):
            raise OutputError([Problem(f"unsafe template: {exc}", pos=_template_pos(tb), hint=SANDBOX_HINT)]) from None
        pos = _template_pos(tb)
        if pos is not None and not _shipped(pos.file) and isinstance(exc, Exception) \
                and not isinstance(exc, (OutputError, jinja2.TemplateError)):  # Jinja's own: reported by the caller
            # A template of the user's failed (1/0, including itself, ...): their input, not a bug of ttgen's.
            what = "includes itself (endless recursion)" if isinstance(exc, RecursionError) else \
                f"failed: {type(exc).__name__}: {exc}"
            raise OutputError([Problem(f"template {what}", pos=pos,
                                       hint="fix the template; docs/output.md lists what each template "
                                            "receives")]) from None
        super().handle_exception(source)


def _shipped(file: str) -> bool:
    """Is *file* one of the templates that ship with ttgen (whose failures are ttgen's bugs)?"""
    try:
        return Path(file).resolve().parent == Path(str(templates_dir())).resolve()
    except (OSError, ValueError):
        return False


def _check_template_dir(template_dir: Path) -> None:
    if Path(template_dir).is_dir():
        return
    what = "no such folder" if not Path(template_dir).exists() else "not a folder"
    names = ", ".join([CONFIG_TEMPLATE, MAPPING_TEMPLATE, MANIFEST_TEMPLATE, SLURM_ARRAY_TEMPLATE, SLURM_RUN_TEMPLATE])
    raise OutputError([Problem(what, pos=SourcePos(str(template_dir)), path="--templates",
                               hint=f"--templates names a folder of your own templates ({names}); "
                                    "leave it out to use the shipped ones")])


def make_environment(template_dir: Path | None = None) -> jinja2.Environment:
    """Sandboxed Jinja environment over the user's template folder (if any), then the shipped templates.

    A *template_dir* that is not a folder is an `OutputError`.
    """
    loaders: list[jinja2.BaseLoader] = []
    if template_dir is not None:
        _check_template_dir(template_dir)
        loaders.append(jinja2.FileSystemLoader(str(template_dir)))
    loaders.append(jinja2.FileSystemLoader(str(templates_dir())))
    env = Sandbox(loader=jinja2.ChoiceLoader(loaders), undefined=jinja2.StrictUndefined,
                  trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)
    env.filters["yaml"] = flow_text
    env.filters["comment"] = comment_text
    env.filters["sh"] = shell_quote
    env.filters["sh_dq"] = shell_dquoted
    env.filters["sbatch_quote"] = sbatch_quote
    return env


def load_template(env: jinja2.Environment, name: str) -> jinja2.Template:
    """A template by name; a syntax error or a missing file is an `OutputError`."""
    try:
        return env.get_template(name)
    except jinja2.TemplateSyntaxError as exc:
        raise OutputError([Problem(f"template syntax error: {exc.message}",
                                   pos=SourcePos(exc.filename or name, exc.lineno or 0, 1),
                                   hint="fix the Jinja syntax at that line (docs/output.md, Templates)")]) from None
    except jinja2.TemplateNotFound:
        raise OutputError([Problem(f"template {name!r} not found", pos=SourcePos(name),
                                   hint="a template folder must contain " + name)]) from None
    except UnicodeDecodeError as exc:
        raise OutputError([Problem(f"template {name!r} is not valid UTF-8 (byte 0x{exc.object[exc.start]:02x})",
                                   pos=SourcePos(name), hint="save the template as UTF-8")]) from None
