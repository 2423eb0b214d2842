"""``ttgen diff``: what a run changes against the recorded base config, or against another run.

Prints an aligned table (path, change, before, after, origin) cut to the
terminal's width, or with ``--json`` one JSON document (``ttgen.diff``,
docs/json.md) for automation.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .output import EXIT_OK, envelope, plural, print_json, print_problems
from .style import GREEN, RED, YELLOW, colour_enabled, paint

if TYPE_CHECKING:  # the core is imported inside run(), so `ttgen --help` stays fast
    from ..review.diff import DiffResult, Side

ABSENT = "-"  # a string "-" is written '-' in YAML, so the marker cannot be mistaken for a value
CHANGE_TEXT = {"added": "added", "removed": "removed", "changed": "changed", "type_changed": "type"}
# The CHANGE column's colour on a terminal, by its text.
CHANGE_COLOUR = {"added": GREEN, "removed": RED, "changed": YELLOW, "type": YELLOW}
GAP = "  "
# Narrowest value column of the table; below it each difference is printed as a block of lines.
MIN_VALUE, MIN_PATH = 16, 16


def register(sub: Any) -> None:
    p = sub.add_parser("diff", help="show what a run changes against the base config (or another run)",
                       description="List every difference of RUN against the base config recorded in the output "
                                   "folder, or against OTHER (before = RUN, after = OTHER, as in git diff A B).",
                       epilog="examples:\n  ttgen diff run_001   (the newest output folder here)\n"
                              "  ttgen diff 1 3 --dir outputs/study\n  ttgen diff run_002 --json",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", metavar="RUN", help="a run id: run_002 (or run_2, or 2)")
    p.add_argument("other", nargs="?", metavar="OTHER", help="a second run id: compare RUN with it")
    p.add_argument("--dir", type=Path, metavar="DIR",
                   help="the output folder (default: the current folder when it holds configs/run_mapping.yaml, "
                        "else the newest output folder under ./outputs)")
    p.add_argument("--json", action="store_true", help="print one JSON document for automation")
    p.set_defaults(func=run, json_command="diff")


def terminal_width() -> int | None:
    """The width to fit: ``COLUMNS`` when set, the terminal's when stdout is one, else no limit."""
    cols = os.environ.get("COLUMNS", "")
    if cols.isdigit() and int(cols) > 0:
        return int(cols)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def _cut(text: str, width: int, *, keep_end: bool = False) -> str:
    if len(text) <= width:
        return text
    if width <= 3:
        return text[:width]
    return "..." + text[-(width - 3):] if keep_end else text[: width - 3] + "..."


def _aligned(rows: list[list[str]], widths: list[int]) -> list[str]:
    return [GAP.join(_cut(cell, w, keep_end=(i == 0)).ljust(w) for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
            for row in rows]


def _coloured(line: str, *, start: int, width: int) -> str:
    """*line* (already aligned and cut) with its CHANGE cell, at *start* and *width* wide, coloured.

    Colour goes on last: the escapes take no room on screen but count as characters,
    so padding or cutting a coloured cell would shift every column after it. A cell cut
    short (no known change word left) stays plain.
    """
    cell = line[start:start + width]
    word = cell.rstrip()
    code = CHANGE_COLOUR.get(word)
    if code is None:
        return line
    return line[:start] + paint(word, code, on=True) + line[start + len(word):]


def format_table(rows: list[list[str]], *, width: int | None, colour: bool = False) -> str:
    """Rows (header first) of PATH, CHANGE, BEFORE, AFTER, ORIGIN, aligned to fit *width*.

    Too wide: the two value columns are narrowed (the wider first) and cut with "...";
    when they would get narrower than MIN_VALUE, each difference becomes a block of
    lines instead: path, change and origin, then ``- before`` and ``+ after``.
    """
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    excess = 0 if width is None else sum(widths) + len(GAP) * (len(widths) - 1) - width
    if excess > 0:
        room = widths[2] + widths[3] - excess
        if room < 2 * MIN_VALUE:
            assert width is not None
            return "\n".join(_stacked(rows[1:], width=width, colour=colour))
        # Narrow the wider value column first, so short values keep their full text.
        small, large = sorted((2, 3), key=lambda i: widths[i])
        widths[small] = min(widths[small], room // 2)
        widths[large] = room - widths[small]
    lines = _aligned(rows, widths)
    if colour:  # not the header: its CHANGE is no change word
        lines[1:] = [_coloured(line, start=widths[0] + len(GAP), width=widths[1]) for line in lines[1:]]
    return "\n".join(lines)


def _stacked(rows: list[list[str]], *, width: int, colour: bool = False) -> list[str]:
    heads = [[path, change, origin] for path, change, _, _, origin in rows]
    widths = [max(len(h[i]) for h in heads) for i in range(3)]
    over = sum(widths) + 2 * len(GAP) - width
    if over > 0:
        widths[0] = max(MIN_PATH, widths[0] - over)
    lines = []
    for head, (_, _, before, after, _) in zip(_aligned(heads, widths), rows):
        head = _cut(head, width)
        lines.append(_coloured(head, start=widths[0] + len(GAP), width=widths[1]) if colour else head)
        for mark, value in (("-", before), ("+", after)):
            if value != ABSENT:
                lines.append(_cut(f"    {mark} {value}", width))
    return lines


def _describe(side: Side, base_source: str | None) -> str:
    if side.kind == "base":
        return f"base config {base_source or side.file} (as recorded in {side.file})"
    return f"{side.name} ({side.file})" + (f" {side.variables_text}" if side.variables_text else "")


def text_report(result: DiffResult, *, width: int | None, colour: bool = False) -> str:
    """The table ``ttgen diff`` prints; *colour*: the CHANGE column coloured (a terminal)."""
    lines = [f"before: {_describe(result.before, result.base_source)}",
             f"after:  {_describe(result.after, result.base_source)}",
             f"folder: {result.folder}", ""]
    if not result.differences:
        return "\n".join(lines + ["no differences"]) + "\n"
    rows = [["PATH", "CHANGE", "BEFORE", "AFTER", "ORIGIN"]]
    for d in result.differences:
        rows.append([d.dotted, CHANGE_TEXT[d.change], ABSENT if d.before_text is None else d.before_text,
                     ABSENT if d.after_text is None else d.after_text, d.origin.label()])
    lines += [format_table(rows, width=width, colour=colour), "", plural(len(result.differences), "difference")]
    return "\n".join(lines) + "\n"


def json_report(result: DiffResult) -> dict[str, Any]:
    return envelope(
        "diff", ok=True, warnings=result.warnings,
        folder=str(result.folder),
        base_config=result.base_source,
        before=result.before.to_json(),
        after=result.after.to_json(),
        count=len(result.differences),
        differences=[d.to_json() for d in result.differences],
    )


def run(args: argparse.Namespace) -> int:
    from ..review.diff import diff_runs
    from ..review.folders import find_output_folder

    folder = find_output_folder(args.dir)
    result = diff_runs(folder, args.run, other=args.other)
    print_problems(result.warnings)
    if args.json:
        print_json(json_report(result))
    else:
        sys.stdout.write(text_report(result, width=terminal_width(), colour=colour_enabled(sys.stdout)))
    return EXIT_OK
