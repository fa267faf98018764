"""The run-to-run diff: what changed between two agreement.csv files, and whether it got worse.

Rows are matched by KEY (a key that occurs more than once, as an invalid file's problems do, is
matched by its order of occurrence). Only the status and max_rel_diff are compared: any other
column, timings included, may change freely. Worse is: a row that fails now and did not before,
a new row (or a new case's row) that fails, or a relative difference that grew more than
GROWTH-fold and is now over the row's rounding bound (the column rounding_bound: what the error
model explains at that element). Rounding moves with the machine and the BLAS thread count; a
row inside its bound is no change, whatever its ratio. A report without the column (older
crossgrad) has no bound: there any growth counts.
"""
import math
from dataclasses import dataclass

import pandas as pd

from crossgrad.compare import Comparison

KEY = ("case", "backend", "dtype", "layer", "quantity", "compared_to")
GROWTH = 10.0
# A difference that was exactly 0 has grown only when it is at least this now.
FROM_ZERO = 1e-300
NUMBERS = ("max_rel_diff", "rounding_bound")
KINDS = ("status", "grew", "new case", "new rows", "removed case", "removed rows")


@dataclass(frozen=True)
class Change:
    """One thing that differs between the old report and the new one."""

    kind: str  # one of KINDS
    subject: str  # a case, 'case · backend · dtype', or a row's title
    detail: str
    worse: bool

    def __str__(self):
        return f"{'WORSE' if self.worse else '':<6}{self.kind:<13} {self.subject}: {self.detail}"


def read(path):
    """A report's CSV, as text but for max_rel_diff. Raises OSError, or ValueError when the file
    is not a crossgrad report."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in KEY + ("status", "max_rel_diff") if c not in frame.columns]
    if missing:
        raise ValueError(f"{path} is not a crossgrad report: it has no {', '.join(missing)} "
                         f"column{'s' if len(missing) > 1 else ''}")
    for column in NUMBERS:
        frame[column] = pd.to_numeric(frame.get(column, "nan"), errors="coerce")
    frame["occurrence"] = frame.groupby(list(KEY), sort=False).cumcount()
    return frame


def failing(status):
    """Whether a row of `status` fails a run, as Comparison.failed decides it."""
    return Comparison(case="", backend="", dtype="", device="", layer=None, quantity="",
                      compared_to="", status=status).failed


def title(key):
    """The row's title as the mismatch messages give it: 'seed_3_2_1 · torch · float32 · layer 1
    · weight_delta vs reference'."""
    case, backend, dtype, layer, quantity, compared_to = key
    if not backend:
        return f"{case} (invalid case file)"
    if not quantity:
        return f"{case} · {backend} · {dtype} (the whole run)"
    return Comparison(case=case, backend=backend, dtype=dtype, device="",
                      layer=int(layer) if layer else None, quantity=quantity,
                      compared_to=compared_to, status="").title()


def _number(value):
    return "–" if math.isnan(value) else f"{value:.1e}"


def grew(old, new):
    """Whether a relative difference grew more than GROWTH-fold from `old` to `new`."""
    if math.isnan(old) or math.isnan(new):
        return False
    if old == 0:
        return new >= FROM_ZERO
    return new > GROWTH * old


def over_bound(rel, bound):
    """Whether a relative difference is over its rounding bound (no bound known: always)."""
    return math.isnan(bound) or rel > bound


def _row_change(row):
    """The Change of a row in both reports, or None when neither its status moved nor its size
    grew beyond its rounding bound."""
    old_status, new_status = row["status_old"], row["status_new"]
    old_rel, new_rel = row["max_rel_diff_old"], row["max_rel_diff_new"]
    bound = row["rounding_bound_new"]
    larger = grew(old_rel, new_rel) and over_bound(new_rel, bound)
    if old_status == new_status and not larger:
        return None
    factor = "from 0" if old_rel == 0 else f"{new_rel / old_rel:.0f}×"
    sizes = f"max rel diff {_number(old_rel)} → {_number(new_rel)}" + (
        f" ({factor}{'' if math.isnan(bound) else f', over its rounding bound {bound:.1e}'})"
        if larger else "")
    subject = title(tuple(row[k] for k in KEY))
    if old_status != new_status:
        # a row that ran and now is skipped lost its check (a framework that stopped importing)
        lost = new_status == "skipped" and old_status != "skipped"
        return Change("status", subject, f"{old_status} → {new_status}; {sizes}",
                      worse=larger or failing(new_status) or lost)
    return Change("grew", subject, f"{sizes}; still {new_status}", worse=True)


def _count(number, noun):
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _failing(rows):
    fails = int(rows["status"].map(failing).sum())
    return f"{_count(len(rows), 'row')}, {fails or 'none'} failing"


def _run_subject(key):
    case, backend, dtype = key
    return f"{case} · {backend} · {dtype}" if backend else f"{case} (invalid case file)"


def changes(old, new):
    """Every Change from the report `old` to `new` (frames from read), the worse ones first."""
    found = []
    old_cases, new_cases = set(old["case"]), set(new["case"])
    for case in sorted(new_cases - old_cases):
        rows = new[new["case"] == case]
        found.append(Change("new case", case, _failing(rows),
                            worse=bool(rows["status"].map(failing).any())))
    for case in sorted(old_cases - new_cases):
        found.append(Change("removed case", case, _count(int((old["case"] == case).sum()), "row"),
                            worse=False))
    keys = list(KEY) + ["occurrence"]
    merged = old[keys + ["status", *NUMBERS]].merge(
        new[keys + ["status", *NUMBERS]], on=keys, how="outer", suffixes=("_old", "_new"),
        indicator=True)
    kept = merged[merged["case"].isin(old_cases & new_cases)]
    for side, kind in (("right_only", "new rows"), ("left_only", "removed rows")):
        suffix = "_new" if side == "right_only" else "_old"
        rows = kept[kept["_merge"] == side].rename(columns={"status" + suffix: "status"})
        for run, group in rows.groupby(["case", "backend", "dtype"], sort=True):
            found.append(Change(kind, _run_subject(run), _failing(group),
                                worse=kind == "new rows" and bool(group["status"].map(failing)
                                                                  .any())))
    both = kept[kept["_merge"] == "both"].sort_values(keys, kind="stable")
    found += [c for c in (_row_change(row) for _, row in both.iterrows()) if c is not None]
    return sorted(found, key=lambda c: (not c.worse, KINDS.index(c.kind), c.subject))


def describe(found, old_name, new_name):
    """The changes as lines to print, ending with the count of changes and of worse ones."""
    lines = [f"crossgrad diff: {old_name} -> {new_name}"]
    if not found:
        return lines + [f"no changes: the same cases and statuses, and no relative difference "
                        f"grew more than {GROWTH:g}-fold beyond its rounding bound"]
    worse = sum(c.worse for c in found)
    return lines + [str(c) for c in found] + [f"{_count(len(found), 'change')}, {worse} worse"]
