"""``python -m ttgen``: the same as the ``ttgen`` command.

Everything runs inside one ``try``, so Ctrl-C while the modules are still being
imported (before `ttgen.cli.main` can catch it) ends with exit 130 and one line on
stderr, as a later Ctrl-C does, never a traceback (docs/guarantees.md).
"""

try:
    import sys

    from .cli import main

    code = main()
except BaseException as exc:  # Ctrl-C, also as Python may wrap it (ttgen.cli.interrupted)
    import sys

    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, KeyboardInterrupt):
        cause = cause.__cause__
    if cause is None:
        raise

    try:
        print("ttgen: interrupted", file=sys.stderr)
    except (OSError, ValueError):
        pass
    code = 130

sys.exit(code)
