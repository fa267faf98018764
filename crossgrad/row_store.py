"""Rows as they arrive: written at once as agreement.csv lines, kept only as what the views need.

A report of 100,000 cases has millions of rows. Each run's rows are turned into their CSV lines
as soon as their unit finishes (units finish in any order) and appended to a spill file, with
the run's place in the catalogue; agreement.csv is then those lines put back in catalogue
order. Nothing is kept per row: per case, its worst status and the largest share of its
tolerance that a row uses (what decides whether a view shows it), and per status the count.
The rows of the cases a view shows are read back from the spill. Failure messages, declared
divergences, skips and the reference's rows against the ground truth are kept as they come:
they are few, and each is told in full.
"""
import csv
import io
import math
import operator
import tempfile

import numpy as np
import pandas as pd

from crossgrad.cells import SEVERITY
from crossgrad.compare import COLUMNS

# The columns people read first; the rest of COLUMNS follow in their own order.
LEADING = ("case", "backend", "dtype", "device", "layer", "quantity", "compared_to", "status",
           "label", "max_abs_diff", "max_rel_diff", "max_ulp", "rtol", "atol")
ORDER = LEADING + tuple(c for c in COLUMNS if c not in LEADING)
# whole numbers that may be empty: read back as Int64, as report.to_frame gives them
LAYERS = ("layer", "first_divergent_layer", "step", "first_divergent_step")
# The columns of the reference's rows against the ground truth (markdown_report's table).
TRUTH_COLUMNS = ("case", "quantity", "max_ulp", "max_abs_diff", "scale")
_STRING_COLUMNS = tuple(c for c in ORDER if c not in LAYERS and c in (
    "case", "backend", "dtype", "device", "quantity", "compared_to", "status", "problem",
    "worst_index", "label", "label_detail", "divergence", "closer_to_truth", "note"))
_INTEGER_COLUMNS = ("size", "mismatched", "non_finite")


_VALUES = operator.attrgetter(*ORDER)


def _csv_value(value):
    # csv.writer writes None as '' and a float as its repr, as pandas does; NaN (the only value
    # unequal to itself) is '' there, and a NumPy float's repr would name its type
    if value != value:
        return ""
    return float(value) if isinstance(value, np.floating) else value


def csv_lines(rows):
    """The agreement.csv lines of `rows` (Comparisons), in ORDER's columns, as bytes."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerows([_csv_value(value) for value in _VALUES(row)] for row in rows)
    return text.getvalue().encode("utf-8")


def header_line():
    return (",".join(ORDER) + "\n").encode("utf-8")


def reference_line(row):
    """One line for a reference row outside its tolerance against the ground truth."""
    return (f"{row.title()}: max rel diff {row.max_rel_diff:.2e} (allowed {row.rtol:.1e}), "
            f"max {row.max_ulp:.3g} ulp, worst at {row.worst_index}: reference "
            f"{row.actual_at_worst:.10g}, truth {row.expected_at_worst:.10g}")


class RowStore:
    """The rows of one report, added run by run in any order (add), then read in catalogue
    order: as agreement.csv (write_csv), or in full for the cases a view shows (rows_of); per
    case, what decides whether a view shows it (per_case). Positions order the runs; rows added
    under one position keep their order. Holds a temporary spill file until close()."""

    def __init__(self, folder=None):
        self._spill = tempfile.TemporaryFile(dir=folder)
        self._runs = {}  # position -> [(offset, length)] of its lines in the spill
        self._cases = {}  # case -> [positions, worst status's rank in SEVERITY, largest share]
        self.rows = 0
        self.counts = {}  # status -> rows
        self.devices = set()
        self.failures = []  # (position, order, case, message, title, has_backend)
        self.declared = set()  # (case, backend, dtype, divergence)
        self.errored_cases = set()  # cases with a row whose status is error
        self.skipped = []  # (problem, backend, dtype, case)
        self.truth_rows = []  # (position, order) + TRUTH_COLUMNS of numpy float64 vs ground_truth
        self.reference_outside = []  # (position, order, line): harness errors (see below)

    def add(self, position, rows):
        """The rows of the run at `position` (an int; lower comes first in the report)."""
        if not rows:
            return
        lines = csv_lines(rows)
        offset = self._spill.seek(0, io.SEEK_END)
        self._spill.write(lines)
        self._runs.setdefault(position, []).append((offset, len(lines)))
        for row in rows:
            self._add_to_case(position, row)
            self.counts[row.status] = self.counts.get(row.status, 0) + 1
            self.devices.add(row.device)
            order = self.rows
            self.rows += 1
            if row.status == "error":
                self.errored_cases.add(row.case)
            if row.failed:
                self.failures.append((position, order, row.case,
                                      row.message() if row.backend else row.problem,
                                      row.title(), bool(row.backend)))
            elif row.status == "expected_divergence":
                self.declared.add((row.case, row.backend, row.dtype, row.divergence))
            elif row.status == "skipped":
                self.skipped.append((row.problem, row.backend, row.dtype, row.case))
            if (row.backend, row.dtype, row.compared_to) == ("numpy", "float64", "ground_truth") \
                    and row.status != "skipped":
                self.truth_rows.append((position, order) + tuple(getattr(row, column)
                                                                 for column in TRUTH_COLUMNS))
                if row.outside:
                    # the reference itself outside its tolerance against the proven truth: a
                    # harness error, whatever a case declares, for every row compared with the
                    # reference in this case may then blame a backend that is right
                    self.reference_outside.append((position, order, reference_line(row)))

    def _add_to_case(self, position, row):
        found = self._cases.get(row.case)
        if found is None:
            found = self._cases[row.case] = [[], -1, math.nan]
        if not found[0] or found[0][-1] != position:
            found[0].append(position)
        rank = SEVERITY.index(row.status) if row.status in SEVERITY else len(SEVERITY)
        found[1] = max(found[1], rank)
        if not math.isnan(row.tolerance_share) and not row.tolerance_share <= found[2]:
            found[2] = row.tolerance_share

    def add_all(self, rows):
        """A whole list of rows in report order, as one run (for a report built in one go)."""
        self.add(0, list(rows))

    def _copy_runs(self, positions, file):
        """The header, then the lines of the runs at `positions` (sorted), into `file`."""
        file.write(header_line())
        for position in positions:
            for offset, length in self._runs[position]:
                self._spill.seek(offset)
                file.write(self._spill.read(length))

    def write_csv(self, file):
        """agreement.csv into the binary `file`: the header, then every run's lines in order."""
        self._copy_runs(sorted(self._runs), file)

    def per_case(self):
        """One row per case (the index, sorted): `rank`, its worst status's place in
        cells.SEVERITY; `status`; `share`, the largest tolerance_share of its rows (NaN when
        none has one)."""
        names = sorted(self._cases)
        ranks = [self._cases[name][1] for name in names]
        return pd.DataFrame({"rank": ranks, "status": [SEVERITY[r] if r < len(SEVERITY)
                                                       else "error" for r in ranks],
                             "share": [self._cases[name][2] for name in names]},
                            index=pd.Index(names, name="case"))

    def rows_of(self, names):
        """Every column of the rows of the cases `names`, read back from the spill, in report
        order, as to_frame would give them (strings, Int64 layers, floats)."""
        positions = sorted({p for name in names for p in self._cases.get(name, [()])[0]})
        buffer = io.BytesIO()
        self._copy_runs(positions, buffer)
        buffer.seek(0)
        frame = pd.read_csv(buffer, dtype={**{c: str for c in _STRING_COLUMNS},
                                           **{c: "Int64" for c in LAYERS},
                                           **{c: "int64" for c in _INTEGER_COLUMNS}},
                            keep_default_na=False, na_values={c: [""] for c in ORDER
                                                              if c not in _STRING_COLUMNS})
        return frame[frame["case"].isin(set(names))].reset_index(drop=True)

    def failures_in_order(self):
        return sorted(self.failures)

    def harness_errors(self):
        """The reference's rows outside their tolerance against the ground truth, as lines in
        report order."""
        return [line for _, _, line in sorted(self.reference_outside)]

    def truth_frame(self):
        """The numpy float64 rows against the ground truth, in report order (TRUTH_COLUMNS)."""
        ordered = sorted(self.truth_rows)
        return pd.DataFrame([row[2:] for row in ordered], columns=list(TRUTH_COLUMNS))

    def close(self):
        self._spill.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
