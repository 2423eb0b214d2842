"""``ttgen report``: one self-contained HTML file of the sweep's results (plots embedded)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .output import EXIT_OK, add_folder_argument, print_problems


def register(sub: Any) -> None:
    p = sub.add_parser("report", help="write one self-contained HTML report of the sweep's results",
                       description="Write one HTML file, readable offline and printable: the question and "
                                   "hypothesis, the design (variables, controls, run count), every run's loss curve "
                                   "(coloured by a variable, one panel per value of the others), the final and best "
                                   "value of a metric against each variable with the spread over the other "
                                   "variables, evaluation scores, the table of runs, and the failed runs with their "
                                   "logs.",
                       epilog="examples:\n  ttgen report\n  ttgen report outputs/study_20261204_101500 --out report.html\n"
                              "  ttgen report --colour-by lora_rank --metric loss",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_folder_argument(p)
    p.add_argument("--out", type=Path, metavar="FILE", help="where to write it (default: DIR/results/report.html)")
    p.add_argument("--metric", default="loss", metavar="NAME",
                   help="the metric plotted against each variable (default: loss)")
    p.add_argument("--colour-by", "--color-by", dest="colour_by", metavar="VARIABLE",
                   help="colour the loss curves by this variable (default: the first variable)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..results.collect import collect_results
    from ..results.report import write_report
    from ..results.select import check_metrics
    from ..review.folders import find_output_folder
    from ..text import shown_path

    folder = find_output_folder(args.dir)
    results = collect_results(folder)
    check_metrics(results, [args.metric])
    print_problems(results.warnings)
    target = write_report(folder, out=args.out, results=results, metric=args.metric, colour_by=args.colour_by)
    print(f"Wrote {shown_path(target)}")
    return EXIT_OK
