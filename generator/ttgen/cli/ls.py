"""``ttgen ls``: torchtune's shipped configs and their recipes, without importing torch."""

from __future__ import annotations

import argparse
import fnmatch
import sys
from typing import Any

from ..errors import Problem
from .output import EXIT_INVALID, EXIT_OK, envelope, print_json


def register(sub: Any) -> None:
    p = sub.add_parser("ls", help="list torchtune's shipped configs and their recipes",
                       description="List the configs torchtune ships, with their recipes (torch is not imported).",
                       epilog="examples:\n  ttgen ls\n  ttgen ls llama3_2\n  ttgen ls '*lora*' --json",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pattern", nargs="?", metavar="PATTERN", help="substring or glob, e.g. llama3_2 or '*lora*'")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=run, json_command="ls")


def run(args: argparse.Namespace) -> int:
    from ..inputs.catalog import load_catalog, torchtune_version

    catalog = load_catalog()
    names = sorted(catalog.configs)
    if args.pattern:
        pat = args.pattern if any(c in args.pattern for c in "*?[") else f"*{args.pattern}*"
        names = [n for n in names if fnmatch.fnmatch(n, pat)]
    none = [] if names else [Problem(f"no shipped config matches {args.pattern!r}", hint="`ttgen ls` lists them all")]
    if args.json:
        print_json(envelope("ls", ok=bool(names), errors=none, pattern=args.pattern,
                            torchtune_version=torchtune_version(),
                            configs=[{"config": n, "recipe": catalog.configs[n].recipe,
                                      "file_exists": catalog.configs[n].exists} for n in names]))
        return EXIT_OK if names else EXIT_INVALID
    if none:
        print(none[0].message, file=sys.stderr)
        return EXIT_INVALID
    width = max(len(n) for n in names)
    print(f"{'CONFIG'.ljust(width)}  RECIPE")
    for n in names:
        cfg = catalog.configs[n]
        mark = "" if cfg.exists else "  (listed by torchtune, but its file is missing from the package)"
        print(f"{n.ljust(width)}  {cfg.recipe}{mark}")
    return EXIT_OK
