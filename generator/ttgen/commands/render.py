"""``ttgen render`` (alias ``generate``): write one config per run into an output folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ._common import EXIT_OK, plural, print_problems, rel


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def register(sub: Any) -> None:
    for name in ("render", "generate"):
        p = sub.add_parser(name, help="render one config per run" + (" (alias of render)" if name == "generate" else ""),
                           description="Render one torchtune config per run of EXPERIMENT into an output folder.")
        p.add_argument("experiment", type=Path, metavar="EXPERIMENT", help="the experiment.yaml file")
        p.add_argument("--out", type=Path, metavar="DIR",
                       help="output folder (default: <output.base_dir>/<name>_<timestamp>)")
        p.add_argument("--force", action="store_true",
                       help="replace an existing --out folder once the new one is complete")
        p.add_argument("--dry-run", action="store_true", help="print the run table and write nothing")
        p.add_argument("--max-runs", type=_positive_int, metavar="N",
                       help="refuse sweeps larger than N runs (default 10000)")
        p.add_argument("--templates", type=Path, metavar="DIR", help="a folder of your own Jinja templates")
        p.add_argument("--json", action="store_true", help="print one JSON document for automation")
        p.set_defaults(func=run, writes_output=True)


def run_table(plan: Any) -> str:
    """The dry-run table: one row per run, one column per variable and derived value, and output_dir."""
    from ..render import inline_text

    names = [v.name for v in plan.variables]
    derived = [n for n in plan.derived_names if n not in names and n != "output_dir"]
    header = ["run", *names, *derived, "output_dir"]
    rows = [header]
    for r in plan.runs():
        out = inline_text(r.output_dir) + (" (auto)" if r.output_dir_auto else "")
        cells = [inline_text(r.derived[v.name]) if v.name in r.derived else v.text(c)
                 for v, c in zip(plan.variables, r.point.choices)]
        rows.append([r.run_id, *cells, *(inline_text(r.derived[n]) for n in derived), out])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def run(args: argparse.Namespace) -> int:
    from ..pipeline import render_experiment

    result = render_experiment(args.experiment, out=args.out, force=args.force, dry_run=args.dry_run,
                               max_runs=args.max_runs, template_dir=args.templates)
    print_problems(result.warnings)
    plan = result.plan
    if args.json:
        doc = {
            "experiment": plan.experiment.name,
            "base_config": plan.base.source,
            "recipe": plan.base.recipe,
            "run_count": result.run_count,
            "output_dir": str(result.output_dir) if result.output_dir else None,
            "dry_run": args.dry_run,
            "runs": [{"run_id": r.run_id, "config": f"configs/{r.run_id}.yaml", "variables": r.variables,
                      "derived": r.derived, "output_dir": r.output_dir, "output_dir_auto": r.output_dir_auto}
                     for r in plan.runs()],
            "warnings": [w.to_json() for w in result.warnings],
        }
        print(json.dumps(doc, indent=2, default=str))
        return EXIT_OK
    if args.dry_run:
        print(run_table(plan))
        print(f"{plural(result.run_count, 'run')} (dry run: nothing written)")
        return EXIT_OK
    assert result.output_dir is not None
    print(f"Rendered {plural(result.run_count, 'config')} of {plan.experiment.name} into {rel(result.output_dir)}")
    return EXIT_OK
