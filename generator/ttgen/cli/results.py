"""``ttgen results``: one row per run (variables, state, steps, elapsed, final and best value of
each logged metric, evaluation scores), or rows grouped by a variable with ``--by``.

Printed as an aligned table, or with ``--json``, ``--csv`` or ``--markdown`` for other tools.
"""

from __future__ import annotations

import argparse
from typing import Any

from .output import EXIT_OK, add_folder_argument, envelope, format_columns, print_json, print_problems


def register(sub: Any) -> None:
    p = sub.add_parser("results", help="show every run's metrics and scores, read from its own logs",
                       description="One row per run of DIR: its variables, state, last step, elapsed time, the final "
                                   "value of each metric the run logged (loss, lr, tokens per second, peak memory) "
                                   "and its best (lowest loss, highest throughput: the <metric>_min or _max column), "
                                   "and evaluation scores where evaluations ran. Runs that failed or never started "
                                   "are listed with their state. With --by VARIABLE: one row per value of the "
                                   "variable, with the mean, standard deviation and count across the other "
                                   "variables (seeds, for example).",
                       epilog="examples:\n  ttgen results\n  ttgen results outputs/study_20261204_101500 --markdown\n"
                              "  ttgen results --by lora_rank --metric loss\n  ttgen results DIR --csv > runs.csv",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_folder_argument(p)
    p.add_argument("--metric", action="append", metavar="NAME",
                   help="show this metric (repeat for several; default: every logged metric; with --by: loss)")
    p.add_argument("--by", metavar="VARIABLE", help="group the runs by this variable: mean ± std (n) per value")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print one JSON document for automation")
    fmt.add_argument("--csv", action="store_true", help="print CSV (every digit kept)")
    fmt.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p.set_defaults(func=run, json_command="results")


def run(args: argparse.Namespace) -> int:
    from ..results.collect import collect_results, flat_records
    from ..results.group import group_by, group_records, group_table
    from ..results.select import check_metrics
    from ..results.tables import baseline_line, count_line, run_table, to_csv, to_markdown
    from ..review.folders import find_output_folder
    from .diff import terminal_width

    results = collect_results(find_output_folder(args.dir))
    metrics = check_metrics(results, args.metric)
    if args.by:
        metric = metrics[0] if metrics else "loss"
        groups = group_by(results, args.by, metric=metric)
        rows = group_table(groups, variable=args.by)
        if args.json:
            print_json(envelope("results", ok=True, warnings=results.warnings, folder=str(results.folder),
                                design=results.design.to_dict(), metrics=results.metric_names,
                                scores=results.score_names, baseline=results.baseline, by=args.by, metric=metric,
                                groups=[g.to_dict() for g in groups], runs=results.to_dicts()))
            return EXIT_OK
        print_problems(results.warnings)
        if args.csv:
            print(to_csv(group_records(groups, variable=args.by)), end="")
        elif args.markdown:
            print(to_markdown(rows), end="")
        else:
            print(format_columns([[c.upper() for c in rows[0]], *rows[1:]], width=None))
        return EXIT_OK
    if args.json:
        print_json(envelope("results", ok=True, warnings=results.warnings, folder=str(results.folder),
                            design=results.design.to_dict(), metrics=results.metric_names,
                            scores=results.score_names, baseline=results.baseline, runs=results.to_dicts()))
        return EXIT_OK
    print_problems(results.warnings)
    if args.csv:
        print(to_csv(flat_records(results, metrics=metrics)), end="")
    elif args.markdown:
        print(to_markdown(run_table(results, metrics=metrics)), end="")
    else:
        rows = run_table(results, metrics=metrics)
        print(format_columns([[c.upper() for c in rows[0]], *rows[1:]], width=terminal_width()))
        print(count_line(results))
    if results.baseline and not args.csv:
        print(baseline_line(results))
    return EXIT_OK
