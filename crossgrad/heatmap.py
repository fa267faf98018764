"""The heatmap: log10 of each cell's largest relative difference, cases × backend and dtype.

Drawn on matplotlib's Agg canvas (no pyplot, no global backend), and saved without dates or
version stamps, so the same report gives the same PNG and SVG bytes.
"""
import io
import math

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from crossgrad.cells import WORDS, cell_text, grid
from crossgrad.tolerances import TOLERANCES

LOG_RANGE = (-17.0, 0.0)  # fixed, so that two reports' pictures compare by eye
COLORMAP = "viridis_r"  # light = close to the reference, dark = far from it; no red in it
SKIPPED = "#cfcfcf"  # ran, but has no difference to show: skipped, or an error
NOT_RUN = "#f4f4f4"  # the case does not ask for this backend or dtype
FAIL = "#e3120b"
DIVERGES = "#ff8c00"
FONT = 12
INCHES = {"column": 0.95, "row": 0.42, "name_character": 0.095}
# No creation date, no software version: the bytes depend on the picture alone.
_METADATA = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None}}


def _cell_label(cell):
    """'3e-07', '✗ 2e-02', '~ 1e+00', '✗ error', 'skipped'; 'vs golden' below the number when
    only the comparison with the golden values has that status."""
    cell = dict(cell, first_divergent_layer=pd.NA)  # no room for it in the picture
    return cell_text(cell, markdown=False, digits=0).replace(" vs ", "\nvs ")


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


def _colorbar(fig, image, axes, labels):
    """The colour scale in powers of ten, with each shown dtype's rtol marked on it."""
    bar = fig.colorbar(image, ax=axes, fraction=0.04, pad=0.02, aspect=40)
    marked = {math.log10(tolerance.rtol): f"{dtype} rtol {tolerance.rtol:g}"
              for dtype, tolerance in TOLERANCES.items()
              if any(label.endswith(" " + dtype) for label in labels)}
    ticks = {level: f"$10^{{{level}}}$" for level in range(int(LOG_RANGE[0]) + 1, 1, 4)
             if all(abs(level - other) > 1.5 for other in marked)}  # no label on another
    ticks.update(marked)
    for level in marked:
        bar.ax.axhline(level, color="black", linewidth=2)
    bar.set_ticks(sorted(ticks), labels=[ticks[level] for level in sorted(ticks)])
    bar.ax.tick_params(labelsize=FONT - 1)
    bar.set_label("largest relative difference\nfrom the reference (log scale)", fontsize=FONT)


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
        axes.text(column, row, texts[row, column], ha="center", va="center", fontsize=FONT - 1,
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


def figure(cells):
    """The heatmap of the summary's cells (crossgrad.cells.fold by case) as a Figure."""
    statuses = grid(cells, "case", "status")
    relative = grid(cells, "case", "max_rel_diff").to_numpy(dtype=float, na_value=np.nan)
    cases, labels = list(statuses.index), list(statuses.columns)
    with np.errstate(divide="ignore"):
        values = np.clip(np.log10(relative), *LOG_RANGE)  # exactly 0 shows as the lightest
    runs = statuses.to_numpy()
    width = (2.6 + INCHES["name_character"] * max(map(len, cases), default=10)
             + INCHES["column"] * len(labels))
    height = max(5.0, 2.4 + INCHES["row"] * len(cases))  # room for the colour scale's labels
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.add_subplot()
    axes.set_facecolor(NOT_RUN)
    norm, colormap = Normalize(*LOG_RANGE), matplotlib.colormaps[COLORMAP]
    image = axes.imshow(np.ma.masked_invalid(values), cmap=colormap, norm=norm, aspect="auto",
                        interpolation="nearest")
    texts = [_cell_label(cell) for _, cell in cells.iterrows()]
    _fill_cells(axes, runs, values, grid(cells.assign(text=texts), "case", "text").to_numpy(),
                colormap, norm)
    # numpy float64 is the reference: where it runs at all, it is measured against golden values
    truths = grid(cells, "case", "truth")
    _label_axes(axes, cases, labels,
                [set(truths[label].dropna()) - {""} == {"expected"} for label in labels])
    _colorbar(fig, image, axes, labels)
    fig.legend(handles=[Patch(facecolor="white", edgecolor=FAIL, linewidth=3, label="✗ fail"),
                        Patch(facecolor="white", edgecolor=DIVERGES, linewidth=3, linestyle="--",
                              label="~ declared divergence"),
                        Patch(facecolor=SKIPPED, label="skipped"),
                        Patch(facecolor=NOT_RUN, edgecolor="#bbbbbb", label="– not asked for")],
               loc="outside lower center", ncol=4, frameon=False, fontsize=FONT)
    fig.suptitle("How far each backend is from the float64 NumPy reference",
                 fontsize=FONT + 3, fontweight="bold")
    fig.draw_without_rendering()  # lay it out once, and keep that layout for every format
    fig.set_layout_engine("none")
    return fig


def render(fig, kind):
    """The figure as PNG or SVG bytes, identical for identical figures."""
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "crossgrad", "svg.fonttype": "path"}):
        fig.savefig(buffer, format=kind, dpi=110, metadata=_METADATA[kind])
    return buffer.getvalue()
