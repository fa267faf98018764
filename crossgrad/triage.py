"""Which cases a report shows, and in what order: all of them, or, for a large catalogue, what
needs eyes first.

Up to LARGE cases every view lists every case, by name. Above it, summary.md, agreement.md, the
page and the heatmap list first every case that fails, errors or declares a divergence (the
worst status first, then the largest share of its tolerance, then the name), then the CLOSEST
passing cases nearest to their tolerance; each folder of the catalogue gets one row with its
cases counted by status and its worst margin. Every row stays in agreement.csv.
"""
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from crossgrad.cells import SEVERITY
from crossgrad.compare import STATUSES

LARGE = 300  # cases; above this the views show what needs eyes, then folder by folder
CLOSEST = 50  # passing cases shown, those nearest to their tolerance
HEATMAP_ROWS = 60  # the heatmap's rows at most: the first of the shown cases
NEEDS_EYES = ("error", "fail", "expected_divergence")


@dataclass(frozen=True)
class Plan:
    """What the views show: `shown` case names in order; `large`; for a large report, the
    number of shown cases that need eyes, every case's worst status and share (`per_case`),
    and one row per folder (`folders`)."""

    shown: tuple
    large: bool
    needing_eyes: int = 0
    total: int = 0
    per_case: pd.DataFrame | None = None
    folders: pd.DataFrame | None = None

    def __post_init__(self):
        object.__setattr__(self, "rank", {name: i for i, name in enumerate(self.shown)})

    def order(self, values):
        """fold's sort key for a case (the first of `values`): its place in `shown`."""
        return (self.rank[values[0]],)


def folder_names(paths):
    """{case name: its folder}, each folder named from the deepest folder that holds every
    case, e.g. 'cases', 'cases/kinks'. `paths` maps a case name to its file's path."""
    parents = {name: Path(os.path.abspath(path)).parent for name, path in paths.items()}
    if not parents:
        return {}
    root = Path(os.path.commonpath([str(p) for p in parents.values()]))
    return {name: Path(os.path.relpath(parent, root.parent)).as_posix()
            for name, parent in parents.items()}


def per_case(frame):
    """One row per case of the rows `frame` (case, status, tolerance_share), as
    RowStore.per_case gives it: the worst status's `rank` in SEVERITY, the `status`, and the
    largest `share` (NaN when no row has one)."""
    ranks = [SEVERITY.index(s) if s in SEVERITY else len(SEVERITY) for s in frame["status"]]
    found = pd.DataFrame({"case": list(frame["case"]), "rank": ranks,
                          "share": frame["tolerance_share"].to_numpy(dtype=float)}).groupby(
        "case", sort=True).agg(rank=("rank", "max"), share=("share", "max"))
    found.insert(1, "status", [SEVERITY[r] if r < len(SEVERITY) else "error"
                               for r in found["rank"]])
    return found


def _by_folder(cases):
    counts = pd.crosstab(cases["folder"], cases["status"]).reindex(columns=list(STATUSES),
                                                                   fill_value=0)
    table = counts.assign(cases=counts.sum(axis=1), worst_share=cases.groupby("folder")["share"]
                          .max())
    return table[["cases", *STATUSES, "worst_share"]]


def plan(cases, folders, large=None):
    """The Plan of a report whose cases are `cases` (per_case's table, or RowStore.per_case);
    `folders` maps case names to folders (see folder_names); `large` overrides the threshold."""
    names = list(cases.index)
    if not (len(names) > LARGE if large is None else large):
        return Plan(shown=tuple(names), large=False, total=len(names))
    cases = cases.assign(folder=[folders.get(name, "") for name in names])
    eyes = cases[cases["status"].isin(NEEDS_EYES)]
    eyes = eyes.assign(share_key=-eyes["share"].fillna(np.inf)).sort_values(
        ["rank", "share_key"], ascending=[False, True], kind="stable")
    passing = cases[cases["status"] == "pass"]
    closest = passing.assign(share_key=-passing["share"].fillna(-np.inf)).sort_values(
        "share_key", kind="stable").head(CLOSEST)
    shown = tuple(eyes.index) + tuple(closest.index)
    return Plan(shown=shown, large=True, needing_eyes=len(eyes), total=len(names),
                per_case=cases, folders=_by_folder(cases))
