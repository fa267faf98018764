"""A trajectory's drift, for the report: per backend × dtype the first step outside its
tolerance, the growth rate and the final rel_l2 (a table), and the chart of log10 rel_l2 of the
weights against the step, one line per backend × dtype (drift_CASE.png, and in the page)."""
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

COLUMNS = ("backend", "dtype", "first step outside", "drift per step (log10 rel_l2)",
           "final rel_l2 of the weights", "worst status")
STYLES = {"float64": "-", "float32": "--", "float16": ":", "bfloat16": "-."}


def weights_drift(rows):
    """Per backend × dtype × step, the largest rel_l2 of any layer's weights against the
    reference (the rows of one case, as a DataFrame)."""
    weights = rows[(rows["quantity"] == "weights") & (rows["compared_to"] == "reference")
                   & rows["step"].notna()]
    return weights.groupby(["backend", "dtype", "step"], sort=False)["rel_l2"].max()


def table(rows):
    """The trajectory's table for one case's rows (a DataFrame with COLUMNS)."""
    stepped = rows[rows["step"].notna()]
    drift = weights_drift(rows)
    found = []
    for (backend, dtype), runs in stepped.groupby(["backend", "dtype"], sort=False):
        first = runs["first_divergent_step"].dropna()
        growth = runs["drift_growth"].dropna()
        final = drift.get((backend, dtype))
        order = ["error", "fail", "expected_divergence", "pass", "skipped"]
        worst = min(runs["status"], key=lambda s: order.index(s) if s in order else 0)
        found.append((backend, dtype, "" if first.empty else str(int(first.iloc[0])),
                      "" if growth.empty else f"{growth.iloc[0]:+.2e}",
                      "" if final is None or final.empty else f"{final.iloc[-1]:.2e}", worst))
    return pd.DataFrame(found, columns=list(COLUMNS))


def figure(name, rows):
    """The drift chart of case `name` from its rows: log10 rel_l2 of the weights against the
    float64 reference, per recorded step (from step 1; 0 where they agree exactly is left out)."""
    fig = Figure(figsize=(8.5, 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.add_subplot()
    drift = weights_drift(rows)
    for (backend, dtype), line in drift.groupby(level=["backend", "dtype"], sort=False):
        steps = line.index.get_level_values("step").to_numpy(dtype=float)
        values = line.to_numpy(dtype=float)
        shown = (steps >= 1) & (values > 0) & np.isfinite(values)
        axes.plot(steps[shown], np.log10(values[shown]), STYLES.get(dtype, "-"), marker="o",
                  markersize=3, label=f"{backend} {dtype}")
    axes.set_xscale("log")
    axes.set_xlabel("step (updates done)")
    axes.set_ylabel("log10 rel_l2 of the weights\nagainst the float64 reference")
    axes.grid(True, alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=9, ncol=2)
    axes.set_title(f"{name}: drift from the float64 reference trajectory")
    return fig
