"""The ``ttgen`` command line: one module per command, `app` assembles them.

Each subcommand lives in ``ttgen.cli.<name>`` (``register`` adds its parser, ``run``
does the work and returns the exit code); `ttgen.cli.app` builds the parser,
dispatches and maps errors to exit codes (0 success, 1 invalid, 2 usage, 130
interrupted); `ttgen.cli.output` prints.

This module is the console script's entry point and stays nearly empty on purpose:
the ``ttgen`` command imports it before anything of ttgen can catch Ctrl-C, so
everything else is imported inside `main`'s guard (docs/guarantees.md).
"""

from __future__ import annotations

import sys

# Not `from typing import TYPE_CHECKING`: see ttgen/__init__.py.
TYPE_CHECKING = False

from .interrupt import interrupted

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence


def main(argv: Sequence[str] | None = None, *, prog: str = "ttgen") -> int:
    """Run one ttgen command and return its exit code; never ends in a traceback for
    input, Ctrl-C (start-up included) or a closed pipe.

    Examples:
        >>> main(["--version"])  # doctest: +SKIP
        ttgen 0.1.0
    """
    try:
        from .app import main as app_main

        return app_main(argv, prog=prog)
    except BaseException as exc:  # Ctrl-C while the command's modules are still being imported
        if not interrupted(exc):
            raise
        try:
            print(f"{prog}: interrupted", file=sys.stderr)
        except (OSError, ValueError):
            pass
        return 130


def build_parser(prog: str = "ttgen") -> argparse.ArgumentParser:
    """The whole argument parser, every command registered (for documentation and tests)."""
    from .app import build_parser as build

    return build(prog)


if __name__ == "__main__":
    sys.exit(main())
