"""One module per ``ttgen`` subcommand: each parses its arguments and prints its results.

Every module defines ``register(subparsers)``, which adds its parser with
``set_defaults(func=run)``, and ``run(args) -> int`` (the exit code). Modules
import the core lazily inside ``run`` so ``ttgen --help`` stays fast.
"""

COMMAND_MODULES = ("render", "diff", "check", "validate", "ls", "init")
