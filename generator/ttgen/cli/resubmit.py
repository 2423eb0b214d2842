"""``ttgen resubmit``: submit failed or chosen runs again, with recorded changes (docs/running.md)."""

from __future__ import annotations

import argparse
from typing import Any

from .output import EXIT_OK, add_folder_argument
from .submit import add_sbatch_args, report


def register(sub: Any) -> None:
    p = sub.add_parser("resubmit", help="submit failed or chosen runs again (OOM retry, changed values, resume)",
                       description="Submit runs of DIR again as a new array with the same run ids. Changes "
                                   "(--set, --oom-retry, --resume) are written into those runs' configs with origin "
                                   "'resubmit' and recorded in run_mapping.yaml, manifest.yaml and the record of "
                                   "submissions.",
                       epilog="examples:\n  ttgen resubmit DIR --failed\n"
                              "  ttgen resubmit DIR --failed --oom-retry\n"
                              "  ttgen resubmit DIR --runs 3 --set optimizer.lr=1e-4 -- --time=08:00:00",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_folder_argument(p)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--failed", action="store_true",
                       help="the runs ttgen status shows as FAILED, OUT_OF_MEMORY, TIMEOUT or CANCELLED")
    which.add_argument("--runs", metavar="RUNS", help="these runs: numbers or run ids, ranges with - (0,3-5)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="sets",
                   help="change a config value of those runs (repeatable); +KEY=VALUE adds a new key")
    p.add_argument("--oom-retry", action="store_true",
                   help="halve batch_size and double gradient_accumulation_steps (same effective batch)")
    p.add_argument("--resume", action="store_true", help="continue each run from its last checkpoint")
    p.add_argument("--dry-run", action="store_true", help="print the sbatch commands; change and submit nothing")
    add_sbatch_args(p)
    p.set_defaults(func=run, json_command="resubmit")


def run(args: argparse.Namespace) -> int:
    from ..jobs.resubmit import resubmit_runs
    from ..review.folders import find_output_folder

    args.dir = find_output_folder(args.dir)
    result = resubmit_runs(args.dir, failed=args.failed, runs=args.runs, sets=args.sets, oom_retry_=args.oom_retry,
                           resume_=args.resume, sbatch_args=args.sbatch_args, dry_run=args.dry_run)
    report(result)
    return EXIT_OK
