"""The Jinja environment every rendered file goes through, and loading its templates.

The user's own template folder (``--templates``) comes first, then the shipped
templates; undefined names are errors. Filters: ``yaml`` (one-line YAML text of
a value), ``comment`` (text safe inside a ``#`` comment), and for SLURM
scripts ``sh`` (one bash word) and ``sbatch_quote`` (one ``#SBATCH`` argument).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import jinja2

from ..errors import OutputError, Problem, SourcePos
from ..resources import templates_dir
from ..text import comment_text
from ..yamlio.dump import flow_text

# sbatch reads `#SBATCH` lines with its own small parser: quotes and backslashes are
# special and an unquoted `#` starts a comment, so such values are written quoted.
_SBATCH_SPECIAL = re.compile(r"[\s\"'\\#]")


def shell_quote(value: Any) -> str:
    """*value* as one bash word (single-quoted when it needs quoting)."""
    return shlex.quote(str(value))


def sbatch_quote(value: str) -> str:
    """*value* as one argument of an ``#SBATCH`` line, as sbatch's own parser reads it."""
    if "\n" in value or "\r" in value:
        raise ValueError("an #SBATCH line cannot hold a line break")
    if not _SBATCH_SPECIAL.search(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def make_environment(template_dir: Path | None = None) -> jinja2.Environment:
    """Jinja environment over the user's template folder (if any), then the shipped templates."""
    loaders: list[jinja2.BaseLoader] = []
    if template_dir is not None:
        loaders.append(jinja2.FileSystemLoader(str(template_dir)))
    loaders.append(jinja2.FileSystemLoader(str(templates_dir())))
    env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             autoescape=False)
    env.filters["yaml"] = flow_text
    env.filters["comment"] = comment_text
    env.filters["sh"] = shell_quote
    env.filters["sbatch_quote"] = sbatch_quote
    return env


def load_template(env: jinja2.Environment, name: str) -> jinja2.Template:
    """A template by name; a syntax error or a missing file is an `OutputError`."""
    try:
        return env.get_template(name)
    except jinja2.TemplateSyntaxError as exc:
        raise OutputError([Problem(f"template syntax error: {exc.message}",
                                   pos=SourcePos(exc.filename or name, exc.lineno or 0, 1))]) from None
    except jinja2.TemplateNotFound:
        raise OutputError([Problem(f"template {name!r} not found", pos=SourcePos(name),
                                   hint="a template folder must contain " + name)]) from None
