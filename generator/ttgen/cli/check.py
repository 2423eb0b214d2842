"""``ttgen check``: fail (exit 1) when an output folder is not exactly what its experiment renders now.

Meant for a user's CI: the fresh render happens in a temporary place, the
folder is never touched. Prints a unified diff per changed file and lists
missing and extra files; ``--json`` prints one document (``ttgen.check``, docs/json.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import Problem, SourcePos
from .output import (EXIT_INVALID, EXIT_OK, add_experiment_and_overrides, envelope, experiment_and_overrides, plural,
                     positive_int, print_json, print_problems)

if TYPE_CHECKING:  # the core is imported inside run(), so `ttgen --help` stays fast
    from ..review.check import CheckResult


def register(sub: Any) -> None:
    p = sub.add_parser("check", help="check that an output folder is exactly what EXPERIMENT renders now",
                       epilog="examples:\n  ttgen check experiment.yaml --against outputs/study\n"
                              "  ttgen check --against outputs/study --json   (./experiment.yaml)\n",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Render EXPERIMENT in a temporary place, as if into DIR, and compare every file "
                                   "with DIR (only manifest.yaml's created_at is ignored). Exit 0 when identical, "
                                   "1 with a unified diff per changed file otherwise.")
    add_experiment_and_overrides(p)
    p.add_argument("--against", type=Path, metavar="DIR", required=True,
                   help="the output folder to compare with (e.g. the one committed to your repository)")
    p.add_argument("--max-runs", type=positive_int, metavar="N", help="as for render")
    p.add_argument("--templates", type=Path, metavar="DIR", help="as for render: the templates DIR was rendered with")
    p.add_argument("--json", action="store_true", help="print one JSON document for automation")
    p.set_defaults(func=run, json_command="check")


def verdict(result: CheckResult, experiment: Path) -> str:
    """The one-line verdict, as the text output ends and the JSON document's error says it."""
    compared = plural(len(result.compared), "file")
    if result.ok:
        return f"ok: {result.against} is exactly what {experiment} renders ({compared} compared)"
    counts = [f"{len(result.changed)} changed", f"{len(result.missing)} missing", f"{len(result.extra)} extra"]
    return f"check failed: {result.against} differs from what {experiment} renders now ({', '.join(counts)}; " \
           f"{compared} compared)"


def json_report(result: CheckResult, experiment: Path) -> dict[str, Any]:
    # A failed check is an error a script can read, with the lists below as its detail.
    errors = [] if result.ok else [Problem(verdict(result, experiment).removeprefix("check failed: "),
                                           pos=SourcePos(str(result.against)),
                                           hint="render again if the change is intended, then commit the folder")]
    return envelope(
        "check", ok=result.ok, errors=errors, warnings=result.warnings,
        experiment=str(experiment),
        against=str(result.against),
        compared=len(result.compared),
        changed=[{"file": c.path, "diff": c.diff} for c in result.changed],
        missing=result.missing,
        extra=result.extra,
        ignored=result.ignored,
    )


def text_report(result: CheckResult) -> str:
    out = [c.diff for c in result.changed]
    where = str(result.against)
    if result.missing:
        out.append(f"missing from {where} (rendered now, not in the folder):\n"
                   + "".join(f"  {rel}\n" for rel in result.missing))
    if result.extra:
        out.append(f"extra in {where} (not rendered now):\n" + "".join(f"  {rel}\n" for rel in result.extra))
    if result.ignored:
        out.append("not compared (validation report of render --validate, or files written while jobs run):\n"
                   + "".join(f"  {rel}\n" for rel in result.ignored))
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    from ..review.check import check_experiment

    experiment, overrides = experiment_and_overrides(args.words)
    # No overrides given: those the folder records (its manifest), so it reproduces exactly.
    result = check_experiment(experiment, against=args.against, max_runs=args.max_runs,
                              template_dir=args.templates, overrides=overrides or None)
    print_problems(result.warnings)
    if args.json:
        print_json(json_report(result, experiment))
        return EXIT_OK if result.ok else EXIT_INVALID
    report = text_report(result)
    if report:
        sys.stdout.write(report)
    print(verdict(result, experiment), file=sys.stdout if result.ok else sys.stderr)
    return EXIT_OK if result.ok else EXIT_INVALID
