"""``ttgen validate``: check generated configs in one process (docs/contract.md §9), with a progress bar on a terminal."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .output import EXIT_INVALID, EXIT_OK, envelope, print_json, print_problems
from .progress import PLAIN_PROGRESS_MIN, Progress



def register(sub: Any) -> None:
    p = sub.add_parser(
        "validate", help="validate generated configs (all runs, one process)",
        description="Validate generated torchtune configs: output folders of `ttgen render` (their "
                    "configs/run_*.yaml) or config files. Level 1 (always): each config loads with OmegaConf, "
                    "interpolations resolve, _component_ values are dotted names, well-known keys have the "
                    "types recipes need. Level 2 (when torchtune is importable): every _component_, nested "
                    "ones included, imports and accepts its keyword arguments.",
        epilog="examples:\n  ttgen validate outputs/study\n  ttgen validate --level 1   (the newest output folder)\n"
               "  ttgen validate outputs/study/configs/run_003.yaml --json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("targets", nargs="*", type=Path, metavar="DIR_OR_CONFIGS",
                   help="output folders, configs/ folders or config files (default: the current folder when it is "
                        "an output folder, else the newest output folder of ./experiment.yaml, else of ./outputs)")
    p.add_argument("--level", type=int, choices=(1, 2),
                   help="1: never import torch; 2: require torchtune (default: 2 when torchtune is importable, else 1)")
    p.add_argument("--json", action="store_true", help="print one JSON document for automation")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    p.set_defaults(func=run, json_command="validate")


def run(args: argparse.Namespace) -> int:
    from ..validate.validator import IMPORT_NOTE, Validator, find_configs

    from ..review.folders import find_output_folder

    configs = find_configs(args.targets or [find_output_folder(None)])
    validator = Validator(level=args.level)
    # As before the move to cli/progress.py: shown at once, and plain lines for long runs in logs.
    progress = Progress(len(configs), label="validating", unit="configs", stream=sys.stderr, delay=0.0,
                        plain_min=PLAIN_PROGRESS_MIN, quiet=args.quiet)
    if validator.wants_torchtune():
        progress.status(IMPORT_NOTE)
    try:
        report = validator.start()
    finally:
        progress.clear()
    if report.level2_unavailable:
        print(f"ttgen validate: note: {report.level2_unavailable}; running level 1 checks only", file=sys.stderr)
    try:
        for done, config in enumerate(configs, 1):
            validator.check(config)
            progress.update(done)
    finally:
        progress.clear()
    if not args.json:
        # At the end, each once: the same mistake in 100 runs is one finding with its runs.
        print_problems(report.findings)
    if args.json:
        data = report.to_json()
        for key in ("ok", "errors", "warnings"):  # the envelope's own fields
            del data[key]
        findings = report.findings
        print_json(envelope("validate", ok=report.ok, errors=[f for f in findings if f.severity == "error"],
                            warnings=[f for f in findings if f.severity == "warning"], **data))
    else:
        print(f"{'Validated' if report.ok else 'Validation failed'}: {report.summary()}")
    return EXIT_OK if report.ok else EXIT_INVALID
