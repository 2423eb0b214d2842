"""``ttgen init``: write a commented starter experiment.yaml for a base config."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ..layout import TMP_MARK
from .output import EXIT_INVALID, EXIT_OK, shown_path


def register(sub: Any) -> None:
    p = sub.add_parser("init", help="write a starter experiment.yaml for a base config",
                       description="Write a commented starter experiment.yaml for BASE_CONFIG (a config torchtune "
                                   "ships, see `ttgen ls`, or a YAML file), listing its most common knobs.")
    p.add_argument("base", metavar="BASE_CONFIG", help="e.g. llama3_2/1B_lora_single_device, or my_base.yaml")
    p.add_argument("--out", type=Path, default=Path("experiment.yaml"), metavar="FILE",
                   help="where to write it (default: ./experiment.yaml)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..inputs.starter import starter_experiment

    out: Path = args.out
    if out.exists() and not args.force:
        print(f"{out}: already exists\n    hint: pass --force to overwrite it, or choose another file with --out",
              file=sys.stderr)
        return EXIT_INVALID
    text = starter_experiment(args.base, out=out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}{TMP_MARK}{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)  # never a half-written file
    print(f"Wrote {shown_path(out)}; next: ttgen render {shown_path(out)} --dry-run")
    return EXIT_OK
