"""The heatmap: cases × backend and dtype, each cell coloured by the share of its tolerance that
its worst row uses, |actual − expected| / (atol·scale + rtol·|expected|) at the worst element, on
a log scale with 1 (the tolerance) marked. Below 1 is inside, above 1 outside, so a passing cell
never looks worse than a failing one; each cell's text is its largest relative difference.

Drawn on matplotlib's Agg canvas (no pyplot, no global backend), and saved without dates or
version stamps, so the same report gives the same PNG and SVG bytes.
"""
import io
import math

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap, TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from crossgrad.cells import WORDS, cell_text, grid
from crossgrad.triage import HEATMAP_ROWS

# log10 of the share of the tolerance; fixed, so that two reports' pictures compare by eye
LOG_RANGE = (-6.0, 3.0)
# pale blue far inside the tolerance, a deeper blue towards it, and from 1 on a strong red that
# darkens further out: the colour jumps where a row starts to fail
COLORMAP = ListedColormap(np.vstack([matplotlib.colormaps["Blues"](np.linspace(0.04, 0.62, 128)),
                                     matplotlib.colormaps["Reds"](np.linspace(0.5, 1.0, 128))]),
                          name="tolerance_share")
OUTSIDE_UNKNOWN = LOG_RANGE[1]  # a failing cell whose rows have no share (a structural fault)
SKIPPED = "#cfcfcf"  # ran, but has no difference to show: skipped, or an error
NOT_RUN = "#f4f4f4"  # the case does not ask for this backend or dtype
FAIL = "#e3120b"
DIVERGES = "#ff8c00"
FONT = 12
MIN_WIDTH = 11.0  # inches: room for the title over a few columns
INCHES = {"column": 0.95, "row": 0.42, "name_character": 0.095}
CELL_CHARACTERS = 11  # what a column's width holds at FONT − 1
# the referees' names as a cell's second line shows them ('vs fin. diff.')
SHORT_NAMES = {"finite_difference": "fin. diff.", "forward_mode": "fwd mode",
               "ground_truth": "truth"}
# No creation date, no software version: the bytes depend on the picture alone.
_METADATA = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None}}


def _cell_label(cell):
    """'3e-07', '✗ 2e-02', '~ 1e+00', '✗ error', 'skipped'; 'vs golden' below the number when
    only the comparison with the golden values has that status."""
    cell = dict(cell, first_divergent_layer=pd.NA)  # no room for it in the picture
    text = cell_text(cell, markdown=False, digits=0).replace(" vs ", "\nvs ")
    for name, short in SHORT_NAMES.items():
        text = text.replace(name, short)
    return text


def _font_size(text):
    """FONT − 1, smaller for a line longer than a cell holds at that size."""
    longest = max(len(line) for line in text.split("\n"))
    return (FONT - 1) * min(1.0, CELL_CHARACTERS / longest) if longest else FONT - 1


def _box(column, row, **style):
    return Rectangle((column - 0.45, row - 0.42), 0.9, 0.84, **style)


def _mark(axes, row, column, status):
    """A red frame for a failure or an error, a dashed orange one for a declared divergence."""
    if status == "expected_divergence":
        axes.add_patch(_box(column, row, fill=False, edgecolor=DIVERGES, linewidth=3,
                            linestyle=(0, (3, 2))))
    elif status in WORDS:
        axes.add_patch(_box(column, row, fill=False, edgecolor=FAIL, linewidth=3.5))


def _column_title(label, vs_golden_only):
    backend, dtype = label.split(" ", 1)
    return f"{backend}\n{dtype}" + ("\nvs golden" if vs_golden_only else "")


def _colorbar(fig, image, axes):
    """The colour scale in powers of ten, with the tolerance (a share of 1) marked on it."""
    bar = fig.colorbar(image, ax=axes, fraction=0.04, pad=0.02, aspect=40)
    ticks = {level: f"$10^{{{level}}}$" for level in range(int(LOG_RANGE[0]), int(LOG_RANGE[1]) + 1,
                                                          2) if level != 0}
    ticks[0] = "1: the tolerance"
    bar.ax.axhline(0, color="black", linewidth=2.5)
    bar.set_ticks(sorted(ticks), labels=[ticks[level] for level in sorted(ticks)])
    bar.ax.tick_params(labelsize=FONT - 1)
    bar.set_label("share of the tolerance used by the worst element\n(log scale; above 1 is "
                  "outside)", fontsize=FONT)


def colour_values(cells):
    """Each cell's log10 tolerance_share, clipped to LOG_RANGE (exactly 0 is the lightest); a
    failing cell without a share (a structural fault) sits at the top; NaN where there is
    nothing to show (skipped, error, not run)."""
    share = cells["tolerance_share"].to_numpy(dtype=float)
    failing = cells["status"].isin(["fail", "expected_divergence"]).to_numpy()
    with np.errstate(divide="ignore"):
        values = np.clip(np.log10(share), *LOG_RANGE)
    values[failing & np.isnan(share)] = OUTSIDE_UNKNOWN
    values[~cells["status"].isin(["pass", "fail", "expected_divergence"]).to_numpy()] = np.nan
    return values


def _fill_cells(axes, runs, values, texts, colormap, norm):
    """Each cell's text, its frame, and grey where it ran but has no difference to show."""
    for (row, column), status in np.ndenumerate(runs):
        if status is None:
            axes.text(column, row, "–", ha="center", va="center", fontsize=FONT,
                      color="#888888")
            continue
        if np.isnan(values[row, column]) or status == "skipped":
            axes.add_patch(_box(column, row, facecolor=SKIPPED, edgecolor="none"))
            dark = False
        else:
            red, green, blue, _ = colormap(norm(values[row, column]))
            dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
        axes.text(column, row, texts[row, column], ha="center", va="center",
                  fontsize=_font_size(texts[row, column]),
                  color="white" if dark else "#222222",
                  fontweight="bold" if status in WORDS else None)
        _mark(axes, row, column, status)


def _label_axes(axes, cases, labels, vs_golden):
    axes.set_xticks(range(len(labels)), [_column_title(l, g) for l, g in zip(labels, vs_golden)],
                    fontsize=FONT)
    axes.set_yticks(range(len(cases)), cases, fontsize=FONT)
    axes.xaxis.tick_top()
    axes.set_xticks(np.arange(-0.5, len(labels)), minor=True)
    axes.set_yticks(np.arange(-0.5, len(cases)), minor=True)
    axes.tick_params(which="both", length=0)
    axes.grid(which="minor", color="white", linewidth=2)
    axes.spines[:].set_visible(False)


def figure(cells, plan=None):
    """The heatmap of the summary's cells (crossgrad.cells.fold by case) as a Figure; for a
    large report (`plan`, see triage) only its first triage.HEATMAP_ROWS cases."""
    title = "How much of its tolerance each backend uses, against the float64 NumPy reference"
    if plan is not None and plan.large:
        first = set(plan.shown[:HEATMAP_ROWS])
        cells = cells[cells["case"].isin(first)]
        title += (f"\nthe first {len(first):,} of {plan.total:,} cases: what needs eyes, then "
                  "the closest to tolerance")
    statuses = grid(cells, "case", "status")
    values = grid(cells.assign(colour=colour_values(cells)), "case", "colour").to_numpy(
        dtype=float, na_value=np.nan)
    cases, labels = list(statuses.index), list(statuses.columns)
    runs = statuses.to_numpy()
    width = max(MIN_WIDTH, 2.6 + INCHES["name_character"] * max(map(len, cases), default=10)
                + INCHES["column"] * len(labels))
    height = max(5.0, 2.4 + INCHES["row"] * len(cases))  # room for the colour scale's labels
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.add_subplot()
    axes.set_facecolor(NOT_RUN)
    norm = TwoSlopeNorm(vcenter=0.0, vmin=LOG_RANGE[0], vmax=LOG_RANGE[1])
    colormap = COLORMAP
    image = axes.imshow(np.ma.masked_invalid(values), cmap=colormap, norm=norm, aspect="auto",
                        interpolation="nearest")
    texts = [_cell_label(cell) for _, cell in cells.iterrows()]
    _fill_cells(axes, runs, values, grid(cells.assign(text=texts), "case", "text").to_numpy(),
                colormap, norm)
    # numpy float64 is the reference: where it runs at all, it is measured against golden values
    truths = grid(cells, "case", "truth")
    _label_axes(axes, cases, labels,
                [set(truths[label].dropna()) - {""} == {"expected"} for label in labels])
    _colorbar(fig, image, axes)
    fig.legend(handles=[Patch(facecolor="white", edgecolor=FAIL, linewidth=3, label="✗ fail"),
                        Patch(facecolor="white", edgecolor=DIVERGES, linewidth=3, linestyle="--",
                              label="~ declared divergence"),
                        Patch(facecolor=SKIPPED, label="skipped"),
                        Patch(facecolor=NOT_RUN, edgecolor="#bbbbbb", label="– not asked for")],
               loc="outside lower center", ncol=4, frameon=False, fontsize=FONT)
    fig.suptitle(title, fontsize=FONT + 3, fontweight="bold")
    fig.draw_without_rendering()  # lay it out once, and keep that layout for every format
    fig.set_layout_engine("none")
    return fig


def render(fig, kind):
    """The figure as PNG or SVG bytes, identical for identical figures."""
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "crossgrad", "svg.fonttype": "path"}):
        fig.savefig(buffer, format=kind, dpi=110, metadata=_METADATA[kind])
    return buffer.getvalue()
