"""``ttgen submit``: submit a rendered sweep to SLURM and record it (docs/running.md).

Prints each sbatch command and the job it made; ``--dry-run`` prints the commands
only. Arguments after ``--`` go to sbatch and override the script's ``#SBATCH`` lines.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import TYPE_CHECKING, Any

from .output import EXIT_OK, add_folder_argument, plural, print_problems

if TYPE_CHECKING:  # the core is imported inside run(), so `ttgen --help` stays fast
    from ..jobs.submit import SubmitResult


def add_sbatch_args(p: argparse.ArgumentParser) -> None:
    # Split off by ttgen.cli.app before parsing; only documented here.
    p.set_defaults(sbatch_args=[])
    p.usage = f"{p.prog} [DIR] [options] [-- SBATCH_ARGS ...]"
    p.epilog = ("SBATCH_ARGS: after --, options for sbatch; they override the script's #SBATCH lines "
                "(e.g. -- --partition=debug --time=00:10:00)\n\n" + (p.epilog or ""))


def register(sub: Any) -> None:
    p = sub.add_parser("submit", help="submit a rendered sweep to SLURM and record the jobs",
                       description="Submit the runs of DIR (an output folder with SLURM scripts) as one job array "
                                   "(split into chained arrays above the cluster's MaxArraySize), and record every "
                                   "submission in DIR/slurm/state/submissions.jsonl.",
                       epilog="examples:\n  ttgen submit outputs/study_20261204_101500\n"
                              "  ttgen submit DIR --runs 0,3-5 --dry-run\n"
                              "  ttgen submit DIR -- --partition=debug --gres=none",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_folder_argument(p)
    p.add_argument("--runs", metavar="RUNS", help="only these runs: numbers or run ids, ranges with - (0,3-5)")
    p.add_argument("--dry-run", action="store_true", help="print the sbatch commands; submit and record nothing")
    p.add_argument("--force", action="store_true",
                   help="submit even when a run has a live job or files in its output_dir")
    p.add_argument("--resume", action="store_true",
                   help="runs with files in their output_dir continue from their last checkpoint")
    add_sbatch_args(p)
    p.set_defaults(func=run, json_command="submit")


def report(result: SubmitResult) -> None:
    """Print what was (or would be) submitted."""
    print_problems(result.warnings)
    for i, call in enumerate(result.calls):
        if result.dry_run:
            print(shlex.join(call.command()))
            continue
        sub = result.submissions[i]
        print(f"job {sub.job}: {plural(len(call.runs), 'run')} ({call.runs[0]}"
              f"{' .. ' + call.runs[-1] if len(call.runs) > 1 else ''}): {shlex.join(sub.command)}")
    for call in result.eval_calls if result.dry_run else []:
        print(shlex.join(call.command()))
    for sub in result.eval_submissions:
        what = "the baseline" if not sub.array else f"evaluation of {plural(len(sub.runs), 'run')}"
        after = f", each task after training task {sub.after}_<i> (aftercorr)" if sub.after else ""
        print(f"job {sub.job}: {what}{after}: {shlex.join(sub.command)}")
    runs = plural(result.run_count, "run")
    if result.dry_run:
        print(f"dry run: {runs} would be submitted in {plural(len(result.calls), 'sbatch call')}; nothing was "
              "submitted", file=sys.stderr)
    else:
        print(f"Submitted {runs} of {result.folder}; follow them with: ttgen status {shlex.quote(str(result.folder))}")


def run(args: argparse.Namespace) -> int:
    from ..jobs.resubmit import resume_runs
    from ..jobs.submit import submit_sweep
    from ..review.folders import find_output_folder

    args.dir = find_output_folder(args.dir)
    if args.resume:
        result = resume_runs(args.dir, runs=args.runs, sbatch_args=args.sbatch_args, dry_run=args.dry_run,
                             force=args.force)
    else:
        result = submit_sweep(args.dir, runs=args.runs, sbatch_args=args.sbatch_args, dry_run=args.dry_run,
                              force=args.force)
    report(result)
    return EXIT_OK
