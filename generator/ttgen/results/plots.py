"""The report's figures, drawn with matplotlib (Agg, no display) and returned as PNG bytes.

- `loss_curves`: every run's loss against step, coloured by one variable, one panel per
  combination of the other variables (too many combinations: one panel per value of the
  next variable, the rest drawn together, and the caption says so).
- `by_variable`: a value (a metric's final or best, a score) against one variable: each run
  as a faint dot, the mean with its standard deviation as a bar over the other variables.

Same results, same bytes: no timestamps or software tags are written into the PNG.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ..tree import value_key
from ..yamlio.dump import flow_text
from .collect import RunResult, SweepResults
from .group import spread

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_PANELS = 24  # beyond this a grid of curves is unreadable on a laptop or a page
_COLUMNS = 3
_PANEL = (4.2, 3.0)  # inches per panel


@dataclass
class Plot:
    """One figure: its PNG, a title, and a caption saying what is drawn."""

    title: str
    caption: str
    png: bytes


def _figure(rows: int, cols: int) -> tuple[Figure, Any]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure  # the object API: no global pyplot state between calls

    fig = Figure(figsize=(_PANEL[0] * cols, _PANEL[1] * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, axes


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, metadata={"Software": None})
    return buf.getvalue()


def _label(value: Any) -> str:
    return flow_text(value)


def _values_in_order(runs: list[RunResult], name: str) -> list[Any]:
    seen: dict[Any, Any] = {}
    for run in runs:
        if name in run.variables:
            seen.setdefault(value_key(run.variables[name]), run.variables[name])
    return list(seen.values())


def loss_curves(results: SweepResults, *, colour_by: str | None = None) -> Plot | None:
    """Every run's loss curve; None when no run logged a loss."""
    runs = [r for r in results.runs if r.curve]
    if not runs:
        return None
    names = results.variable_names
    colour_by = colour_by if colour_by in names else (names[0] if names else None)
    others = [n for n in names if n != colour_by]
    panel_of: Callable[[RunResult], tuple[Any, ...]] = lambda r: tuple(value_key(r.variables.get(n)) for n in others)
    panels: dict[tuple[Any, ...], list[RunResult]] = {}
    for run in runs:
        panels.setdefault(panel_of(run), []).append(run)
    caption_extra = ""
    if len(panels) > MAX_PANELS and others:
        kept = others[:1]
        caption_extra = (f" Too many combinations of {', '.join(others)} for one panel each: one panel per "
                         f"{kept[0]}, the other variables drawn together.")
        others = kept
        panels = {}
        for run in runs:
            panels.setdefault(panel_of(run), []).append(run)
    if len(panels) > MAX_PANELS:
        caption_extra = f" {len(panels)} values of {others[0]}: all runs drawn in one panel."
        others = []
        panels = {(): runs}
    colours = _values_in_order(runs, colour_by) if colour_by else []
    from matplotlib import colormaps

    cmap = colormaps["viridis" if len(colours) > 10 else "tab10"]
    colour_of = {value_key(v): cmap(i / max(1, len(colours) - 1) if len(colours) > 10 else i % 10)
                 for i, v in enumerate(colours)}
    cols = min(_COLUMNS, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = _figure(rows, cols)
    for index, (key, members) in enumerate(panels.items()):
        ax = axes[index // cols][index % cols]
        for run in members:
            steps, values = zip(*run.curve)
            colour = colour_of.get(value_key(run.variables.get(colour_by))) if colour_by else None
            ax.plot(steps, values, color=colour, linewidth=1.0, alpha=0.85)
        title = ", ".join(f"{n}={_label(members[0].variables.get(n))}" for n in others)
        ax.set_title(title or "all runs", fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel("loss", fontsize=8)
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
    for index in range(len(panels), rows * cols):
        axes[index // cols][index % cols].set_visible(False)
    if colour_by and len(colours) <= 10:
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], color=colour_of[value_key(v)], label=_label(v)) for v in colours]
        fig.legend(handles=handles, title=colour_by, loc="outside right upper", fontsize=8, title_fontsize=8)
    elif colour_by:
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        bar = fig.colorbar(ScalarMappable(Normalize(0, len(colours) - 1), cmap), ax=axes, shrink=0.6)
        bar.set_label(f"{colour_by} (in sweep order)", fontsize=8)
    caption = (f"Loss against step for {len(runs)} run{'s' if len(runs) != 1 else ''}"
               + (f", coloured by {colour_by}" if colour_by else "")
               + (f", one panel per {', '.join(others)}" if others else "") + "." + caption_extra)
    return Plot("Loss curves", caption, _png(fig))


def by_variable(results: SweepResults, variable: str, *, label: str,
                value: Callable[[RunResult], float | None], reference: float | None = None) -> Plot | None:
    """*label* (each run's *value*) against *variable*; None when no run has a value. *reference*:
    the base model's value (an evaluation's baseline), drawn as a dashed line."""
    points: list[tuple[RunResult, float]] = []
    for run in results.runs:
        got = value(run) if variable in run.variables else None
        if got is not None and math.isfinite(got):
            points.append((run, got))
    if not points:
        return None
    order = _values_in_order(results.runs, variable)
    x_of = {value_key(v): i for i, v in enumerate(order)}
    fig, axes = _figure(1, 1)
    ax = axes[0][0]
    xs = [x_of[value_key(r.variables[variable])] for r, _ in points]
    ax.scatter(xs, [v for _, v in points], s=18, alpha=0.55, color="tab:blue", label="runs", zorder=3)
    means, stds, xs_mean = [], [], []
    for v in order:
        mean, std, n = spread([val for r, val in points if value_key(r.variables[variable]) == value_key(v)])
        if mean is not None:
            xs_mean.append(x_of[value_key(v)])
            means.append(mean)
            stds.append(std or 0.0)
    ax.errorbar(xs_mean, means, yerr=stds, color="black", marker="o", markersize=4, capsize=4, linewidth=1.2,
                label="mean ± std")
    if reference is not None and math.isfinite(reference):
        ax.axhline(reference, color="tab:red", linestyle="--", linewidth=1.0, label="base model")
    ax.set_xticks(range(len(order)), [_label(v) for v in order], fontsize=7, rotation=30 if len(order) > 6 else 0)
    ax.set_xlabel(variable, fontsize=8)
    ax.set_ylabel(label, fontsize=8)
    ax.ticklabel_format(axis="y", useOffset=False)  # values as logged, not "+5.607" and differences
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    caption = (f"{label} of {len(points)} run{'s' if len(points) != 1 else ''} against {variable}: each run a dot, "
               "the mean over the other variables with one standard deviation"
               + ("; the dashed line is the untouched base model." if reference is not None else "."))
    return Plot(f"{label} by {variable}", caption, _png(fig))
