"""``ttgen validate``: check generated configs in one process (docs/contract.md §9), with a progress bar on a terminal."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from .output import EXIT_INVALID, EXIT_OK, envelope, print_json, print_problems

PLAIN_PROGRESS_MIN = 100  # without a terminal, report progress only for runs this long
BAR_WIDTH = 30


def register(sub: Any) -> None:
    p = sub.add_parser(
        "validate", help="validate generated configs (all runs, one process)",
        description="Validate generated torchtune configs: output folders of `ttgen render` (their "
                    "configs/run_*.yaml) or config files. Level 1 (always): each config loads with OmegaConf, "
                    "interpolations resolve, _component_ values are dotted names, well-known keys have the "
                    "types recipes need. Level 2 (when torchtune is importable): every _component_, nested "
                    "ones included, imports and accepts its keyword arguments.")
    p.add_argument("targets", nargs="+", type=Path, metavar="DIR_OR_CONFIGS",
                   help="output folders, configs/ folders or config files")
    p.add_argument("--level", type=int, choices=(1, 2),
                   help="1: never import torch; 2: require torchtune (default: 2 when torchtune is importable, else 1)")
    p.add_argument("--json", action="store_true", help="print one JSON document for automation")
    p.set_defaults(func=run, json_command="validate")


class Progress:
    """A progress bar on a terminal; a plain line every tenth of a long run otherwise."""

    def __init__(self, total: int, *, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.tty = stream.isatty()
        self.active = self.tty or total >= PLAIN_PROGRESS_MIN
        self._last_draw = 0.0
        self._shown = False
        self._next_plain = max(1, total // 10)

    def status(self, text: str) -> None:
        if not self.active:
            return
        if self.tty:
            self.stream.write("\r\033[K" + text)
            self._shown = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def update(self, done: int) -> None:
        if not self.active:
            return
        if self.tty:
            now = time.monotonic()
            if done < self.total and now - self._last_draw < 0.1:
                return
            self._last_draw = now
            filled = BAR_WIDTH * done // max(self.total, 1)
            self.status(f"validating [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{self.total} configs")
        elif done >= self._next_plain or done == self.total:
            self.status(f"validated {done}/{self.total} configs")
            self._next_plain = done + max(1, self.total // 10)

    def clear(self) -> None:
        if self.tty and self._shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._shown = False


def run(args: argparse.Namespace) -> int:
    from ..validate.validator import Validator, find_configs

    configs = find_configs(args.targets)
    validator = Validator(level=args.level)
    progress = Progress(len(configs), stream=sys.stderr)
    if validator.wants_torchtune():
        progress.status("importing torchtune (and torch) for level 2 checks ...")
    try:
        report = validator.start()
    finally:
        progress.clear()
    if report.level2_unavailable:
        print(f"ttgen validate: note: {report.level2_unavailable}; running level 1 checks only", file=sys.stderr)
    try:
        for done, config in enumerate(configs, 1):
            result = validator.check(config)
            if result.issues and not args.json:
                progress.clear()
                print_problems(result.issues)
            progress.update(done)
    finally:
        progress.clear()
    if args.json:
        data = report.to_json()
        for key in ("ok", "errors", "warnings"):  # the envelope's own fields
            del data[key]
        print_json(envelope("validate", ok=report.ok, errors=report.errors, warnings=report.warnings, **data))
    else:
        print(f"{'Validated' if report.ok else 'Validation failed'}: {report.summary()}")
    return EXIT_OK if report.ok else EXIT_INVALID
