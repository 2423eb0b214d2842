"""``ttgen status``: one row per run (state, elapsed, exit code, last step and loss, log).

One squeue call and one sacct call per look, never one per run. ``--watch`` looks
again every few seconds until every run has finished; ``--json`` prints one document.
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

from .diff import terminal_width
from .output import EXIT_OK, add_folder_argument, envelope, format_columns, print_json, print_problems

if TYPE_CHECKING:  # the core is imported inside run(), so `ttgen --help` stays fast
    from ..jobs.status import SweepStatus


def register(sub: Any) -> None:
    p = sub.add_parser("status", help="show the state of every run of a submitted sweep",
                       description="One row per run of DIR: its variables, state (NOT_SUBMITTED, PENDING, RUNNING, "
                                   "COMPLETED, FAILED, OUT_OF_MEMORY, TIMEOUT, CANCELLED), elapsed time, exit code, "
                                   "last logged step and loss, its evaluation's state (EVAL, when the folder "
                                   "evaluates runs) and its log; then a count per state.",
                       epilog="examples:\n  ttgen status outputs/study_20261204_101500\n"
                              "  ttgen status --watch\n  ttgen status DIR --json",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_folder_argument(p)
    p.add_argument("--watch", type=float, nargs="?", const=10.0, metavar="SECONDS",
                   help="look again every SECONDS (default 10) until every run has finished")
    p.add_argument("--json", action="store_true", help="print one JSON document for automation")
    p.set_defaults(func=run, json_command="status")


def table(status: SweepStatus) -> list[list[str]]:
    """Header and rows: RUN, each variable, STATE, ELAPSED, EXIT, STEP, LOSS, LOG."""
    from ..text import elapsed_text, number
    from ..yamlio.dump import flow_text

    names: list[str] = []
    for row in status.runs:
        names += [n for n in row.variables if n not in names]
    evaluated = ["EVAL"] if status.evaluates else []
    rows = [["RUN", *(n.upper() for n in names), "STATE", "ELAPSED", "EXIT", "STEP", "LOSS", *evaluated, "LOG"]]
    for r in status.runs:
        rows.append([r.run_id, *(flow_text(r.variables[n]) if n in r.variables else "-" for n in names), r.state,
                     elapsed_text(r.elapsed), "-" if r.exit_code is None else str(r.exit_code),
                     "-" if r.step is None else str(r.step), number(r.loss),
                     *([r.evaluation.state if r.evaluation else "-"] if evaluated else []), r.log or "-"])
    if status.baseline is not None:
        b = status.baseline
        rows.append(["baseline", *("-" for _ in names), "-", elapsed_text(b.elapsed),
                     "-" if b.exit_code is None else str(b.exit_code), "-", "-", b.state, b.log or "-"])
    return rows


def _show(status: SweepStatus, *, as_json: bool) -> None:
    print_problems(status.warnings)
    if as_json:
        print_json(envelope("status", ok=True, warnings=status.warnings, folder=str(status.folder),
                            accounting=status.accounting, counts=status.counts,
                            runs=[r.to_json() for r in status.runs], evaluates=status.evaluates,
                            eval_counts=status.eval_counts,
                            baseline=status.baseline.to_json() if status.baseline is not None else None))
        return
    print(format_columns(table(status), width=terminal_width()))
    print(status.summary())


def run(args: argparse.Namespace) -> int:
    from ..jobs.status import FINISHED, sweep_status
    from ..review.folders import find_output_folder

    folder = find_output_folder(args.dir)
    while True:
        status = sweep_status(folder)
        _show(status, as_json=args.json)
        if not args.watch or all(r.state in FINISHED and (r.evaluation is None or r.evaluation.state in FINISHED
                                                          or r.evaluation.state == "NOT_SUBMITTED")
                                 for r in status.runs):
            return EXIT_OK
        time.sleep(max(1.0, args.watch))
        print()
