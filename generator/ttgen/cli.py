"""The ``ttgen`` command line: parse arguments, call the core, print, pick the exit code.

Exit codes: 0 success; 1 invalid input or failed validation/check; 2 wrong usage.
Results go to stdout (one JSON document with ``--json``), warnings and errors to
stderr. Heavy modules are imported inside the commands so ``--help`` is fast.
Set ``TTGEN_TRACEBACK=1`` to see Python tracebacks of user errors too.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from . import __version__

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def _print_problems(problems: Sequence[Any]) -> None:
    for p in problems:
        print(p.format(), file=sys.stderr)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _run_table(result: Any) -> str:
    from .render import inline_text

    plan = result.plan
    names = [v.name for v in plan.variables]
    header = ["run", *names, "output_dir"]
    rows = [header]
    for run in plan.runs():
        out = inline_text(run.output_dir) + (" (auto)" if run.output_dir_auto else "")
        rows.append([run.run_id, *(inline_text(run.variables[n]) for n in names), out])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def cmd_render(args: argparse.Namespace) -> int:
    from .pipeline import render_experiment

    result = render_experiment(args.experiment, out=args.out, force=args.force, dry_run=args.dry_run,
                               max_runs=args.max_runs, template_dir=args.templates)
    _print_problems(result.warnings)
    plan = result.plan
    if args.json:
        from .render import inline_text  # noqa: F401  (values are JSON-native already)

        doc = {
            "experiment": plan.experiment.name,
            "base_config": plan.base.source,
            "recipe": plan.base.recipe,
            "run_count": result.run_count,
            "output_dir": str(result.output_dir) if result.output_dir else None,
            "dry_run": args.dry_run,
            "runs": [{"run_id": r.run_id, "config": f"configs/{r.run_id}.yaml", "variables": r.variables,
                      "output_dir": r.output_dir, "output_dir_auto": r.output_dir_auto} for r in plan.runs()],
            "warnings": [w.to_json() for w in result.warnings],
        }
        print(json.dumps(doc, indent=2, sort_keys=False, default=str))
        return EXIT_OK
    if args.dry_run:
        print(_run_table(result))
        print(f"{result.run_count} run{'s' if result.run_count != 1 else ''} (dry run: nothing written)")
        return EXIT_OK
    assert result.output_dir is not None
    n = result.run_count
    print(f"Rendered {n} config{'s' if n != 1 else ''} of {plan.experiment.name} into {_rel(result.output_dir)}")
    return EXIT_OK


def cmd_ls(args: argparse.Namespace) -> int:
    import fnmatch

    from .catalog import load_catalog

    catalog = load_catalog()
    names = sorted(catalog.configs)
    if args.pattern:
        pat = args.pattern if any(c in args.pattern for c in "*?[") else f"*{args.pattern}*"
        names = [n for n in names if fnmatch.fnmatch(n, pat)]
    if args.json:
        print(json.dumps([{"config": n, "recipe": catalog.configs[n].recipe, "file_exists": catalog.configs[n].exists}
                          for n in names], indent=2))
        return EXIT_OK
    width = max((len(n) for n in names), default=6)
    print(f"{'CONFIG'.ljust(width)}  RECIPE")
    for n in names:
        cfg = catalog.configs[n]
        mark = "" if cfg.exists else "  (listed by torchtune, but its file is missing from the package)"
        print(f"{n.ljust(width)}  {cfg.recipe}{mark}")
    if not names:
        print(f"no shipped config matches {args.pattern!r}", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


def build_parser(prog: str = "ttgen") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Turn one experiment.yaml into a folder of complete torchtune configs.")
    parser.add_argument("--version", action="version", version=f"ttgen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    for name in ("render", "generate"):
        p = sub.add_parser(name, help="render one config per run" + (" (alias of render)" if name == "generate" else ""),
                           description="Render one torchtune config per run of EXPERIMENT into an output folder.")
        p.add_argument("experiment", type=Path, metavar="EXPERIMENT", help="the experiment.yaml file")
        p.add_argument("--out", type=Path, metavar="DIR",
                       help="output folder (default: <output.base_dir>/<name>_<timestamp>)")
        p.add_argument("--force", action="store_true", help="replace an existing --out folder once the new one is complete")
        p.add_argument("--dry-run", action="store_true", help="print the run table and write nothing")
        p.add_argument("--max-runs", type=_positive_int, metavar="N", help="refuse sweeps larger than N runs (default 10000)")
        p.add_argument("--templates", type=Path, metavar="DIR", help="a folder of your own Jinja templates")
        p.add_argument("--json", action="store_true", help="print one JSON document for automation")
        p.set_defaults(func=cmd_render)

    p = sub.add_parser("ls", help="list torchtune's shipped configs and their recipes",
                       description="List the configs torchtune ships, with their recipes (torch is not imported).")
    p.add_argument("pattern", nargs="?", metavar="PATTERN", help="substring or glob, e.g. llama3_2 or '*lora*'")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=cmd_ls)
    return parser


def _on_sigterm(signum: int, frame: Any) -> None:
    # Turn SIGTERM into the same clean unwind as Ctrl-C: temporary folders are removed.
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None, *, prog: str = "ttgen") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    from .errors import UserError

    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return func(args)
    except UserError as err:
        if os.environ.get("TTGEN_TRACEBACK"):
            raise
        _print_problems(err.problems)
        n = len(err.errors)
        written = "; nothing was written" if func is cmd_render else ""
        print(f"{prog}: {n} error{'s' if n != 1 else ''}{written}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; nothing was written", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
