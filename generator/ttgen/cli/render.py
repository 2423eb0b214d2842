"""``ttgen render`` (alias ``generate``): write one config per run into an output folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .output import (EXIT_INVALID, EXIT_OK, EXIT_USAGE, add_experiment_and_overrides, envelope,
                     experiment_and_overrides, plural, positive_int, print_json, print_problems, shown_path)
from .progress import Stages

SHOWN_VALIDATION_PROBLEMS = 20  # the rest are in validation_report.txt


def register(sub: Any) -> None:
    for name in ("render", "generate"):
        p = sub.add_parser(name, help="render one config per run" + (" (alias of render)" if name == "generate" else ""),
                           description="Render one torchtune config per run of EXPERIMENT into an output folder.",
                           epilog="examples:\n  ttgen render experiment.yaml --dry-run\n"
                                  "  ttgen render experiment.yaml --out outputs/study\n"
                                  "  ttgen render epochs=1 model.lora_rank=16 ~profiler   "
                                  "(./experiment.yaml, with overrides)",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        add_experiment_and_overrides(p)
        p.add_argument("--out", type=Path, metavar="DIR",
                       help="output folder (default: <output.base_dir>/<name>_<timestamp>)")
        p.add_argument("--force", action="store_true",
                       help="replace an existing --out folder once the new one is complete")
        p.add_argument("--dry-run", action="store_true", help="print the run table and write nothing")
        p.add_argument("--max-runs", type=positive_int, metavar="N",
                       help="refuse sweeps larger than N runs (default 10000)")
        p.add_argument("--templates", type=Path, metavar="DIR", help="a folder of your own Jinja templates")
        p.add_argument("--validate", action="store_true",
                       help="validate the written configs (as `ttgen validate`) into validation_report.txt; "
                            "exit 1 if any fails (the folder is still written)")
        p.add_argument("--json", action="store_true", help="print one JSON document for automation")
        p.add_argument("--quiet", "-q", action="store_true", help="no progress display on a terminal")
        p.set_defaults(func=run, writes_output=True, json_command="render")


def run_table(plan: Any) -> str:
    """The dry-run table: one row per run, one column per variable and derived value, and output_dir."""
    from ..yamlio.dump import flow_text

    names = [v.name for v in plan.variables]
    derived = [n for n in plan.derived_names if n not in names and n != "output_dir"]
    bases = [part.base.source for part in plan.parts]  # a base axis: which base each run starts from
    header = ["run", *(["base_config"] if bases else []), *names, *derived, "output_dir"]
    rows = [header]
    for r in plan.runs():
        out = flow_text(r.output_dir) + (" (auto)" if r.output_dir_auto else "")
        cells = [flow_text(r.derived[v.name]) if v.name in r.derived else v.text(c)
                 for v, c in zip(plan.variables, r.point.choices)]
        rows.append([r.run_id, *([bases[r.base]] if bases else []), *cells,
                     *(flow_text(r.derived[n]) for n in derived), out])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def run(args: argparse.Namespace) -> int:
    from ..layout import config_file
    from ..render.output import render_experiment

    if args.validate and args.dry_run:
        print("ttgen render: --validate checks the written configs, so it cannot be combined with --dry-run",
              file=sys.stderr)
        return EXIT_USAGE
    experiment, overrides = experiment_and_overrides(args.words)
    progress = Stages(stream=sys.stderr, quiet=args.quiet or args.json)
    try:
        result = render_experiment(experiment, out=args.out, force=args.force, dry_run=args.dry_run,
                                   max_runs=args.max_runs, template_dir=args.templates, validate=args.validate,
                                   overrides=overrides, progress=progress.update, note=progress.note)
    finally:
        progress.clear()
    print_problems(result.warnings)
    plan = result.plan
    if args.json:
        validation = result.validation
        ok = validation is None or validation.ok
        print_json(envelope(
            "render", ok=ok,
            errors=[f for f in validation.findings if f.severity == "error"] if validation is not None else (),
            warnings=result.warnings + ([f for f in validation.findings if f.severity == "warning"]
                                        if validation is not None else []),
            experiment=plan.experiment.name,
            base_config=plan.base.source,
            recipe=plan.base.recipe,
            run_count=result.run_count,
            output_dir=str(result.output_dir) if result.output_dir else None,
            dry_run=args.dry_run,
            runs=[{"run_id": r.run_id, "config": config_file(r.run_id), "variables": r.variables,
                   "derived": r.derived, "output_dir": r.output_dir, "output_dir_auto": r.output_dir_auto,
                   **({"base_config": plan.part(r).base.source} if plan.parts else {})}
                  for r in plan.runs()],
            sbatch=_sbatch(result),
            validation=validation.to_json() if validation is not None else None,
        ))
        return EXIT_OK if ok else EXIT_INVALID
    if args.dry_run:
        print(run_table(plan))
        print(f"{plural(result.run_count, 'run')} (dry run: nothing written)")
        return EXIT_OK
    assert result.output_dir is not None
    print(f"Rendered {plural(result.run_count, 'config')} of {plan.experiment.name} into {shown_path(result.output_dir)}")
    if result.validation is not None and not _print_validation(result.validation, result.output_dir):
        return EXIT_INVALID
    print("Next:")
    for line in next_steps(result):
        print(f"  {line}")
    return EXIT_OK


def next_steps(result: Any) -> list[str]:
    """The commands a researcher runs after a render, with this folder's real paths."""
    import shlex

    from ..layout import config_file

    folder = shown_path(result.output_dir)
    q = shlex.quote(folder)
    first = next(iter(result.plan.sweep)).run_id
    lines = [f"ttgen validate {q}", f"ttgen diff {first} --dir {q}"]
    plan = result.plan
    if plan.slurm is not None:
        words = plan.slurm.launch.tune_args
    elif plan.base.recipe:
        recipe = plan.base.recipe
        if recipe.endswith(".py"):
            recipe = str((plan.experiment.folder / recipe).resolve())
        words = ["run", *(["--nproc_per_node", "1"] if plan.base.supports_distributed else []), recipe]
    else:
        words = ["run", "RECIPE"]  # a base_config_file without framework_config.recipe
    config = f"{folder}/{config_file(first)}"
    lines.append(f"tune {shlex.join(words)} --config {shlex.quote(config)}   # train {first} here")
    command = _sbatch(result)
    if command:
        lines.append(f"ttgen submit {q}   # every run on SLURM (or: {command})")
    return lines


def _sbatch(result: Any) -> str | None:
    """The exact sbatch command for a rendered folder with SLURM scripts, else None."""
    if result.output_dir is None or result.plan.experiment.slurm is None:
        return None
    import shlex

    from ..render.slurm_scripts import array_scripts, sbatch_command

    scripts = array_scripts(result.plan)
    if len(scripts) > 1:  # runs with SLURM settings of their own: one array each
        return "; ".join("sbatch " + shlex.quote(str(Path(result.output_dir).resolve() / s)) for s in scripts)
    return sbatch_command(result.output_dir)


def _print_validation(report: Any, folder: Path) -> bool:
    """Problems (the first few) to stderr, the verdict to stdout; True when validation passed."""
    from ..layout import REPORT_FILE

    issues = report.findings
    for issue in issues[:SHOWN_VALIDATION_PROBLEMS]:  # positions in the report are relative to the folder
        print(f"{shown_path(folder)}/{issue.format()}" if issue.pos else issue.format(), file=sys.stderr)
    if len(issues) > SHOWN_VALIDATION_PROBLEMS:
        print(f"... and {len(issues) - SHOWN_VALIDATION_PROBLEMS} more", file=sys.stderr)
    if report.level2_unavailable:
        print(f"ttgen render: note: {report.level2_unavailable}; validated at level 1 only", file=sys.stderr)
    verdict = "Validation passed" if report.ok else "Validation FAILED"
    print(f"{verdict}: {report.summary()} (report: {shown_path(folder / REPORT_FILE)})")
    return bool(report.ok)
