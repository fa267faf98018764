"""The pandas report: every Comparison as a row of agreement.csv, and a summary in agreement.md."""
import os
import platform
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from crossgrad import adapters
from crossgrad.compare import COLUMNS, STATUSES, Comparison

# The columns people read first; the rest of COLUMNS follow in their own order.
LEADING = ("case", "backend", "dtype", "device", "layer", "quantity", "compared_to", "status",
           "label", "max_abs_diff", "max_rel_diff", "max_ulp", "rtol", "atol")
ORDER = LEADING + tuple(c for c in COLUMNS if c not in LEADING)


def invalid_rows(errors):
    """One failing row per problem in an invalid case file."""
    return [Comparison(case=Path(e.path).stem, backend="", dtype="", device="", layer=None,
                       quantity="", compared_to="", status="fail", problem=f"invalid case: {e}")
            for e in errors]


def to_frame(comparisons):
    """The rows as a DataFrame with the report's column order."""
    frame = pd.DataFrame([vars(c) for c in comparisons], columns=list(COLUMNS))
    for column in ("layer", "first_divergent_layer"):
        frame[column] = frame[column].astype("Int64")
    return frame[list(ORDER)]


def versions():
    """The versions of Python and of each framework that is installed, for the report's header."""
    found = {"Python": platform.python_version()}
    for backend, label in (("numpy", "NumPy"), ("torch", "PyTorch"), ("jax", "JAX")):
        try:
            found[label] = adapters.load(backend).version()
        except adapters.BackendUnavailable:
            found[label] = "not installed"
    return found


def _cell(rows):
    """A summary cell: the worst status of a case × backend × dtype, its largest rel diff, and
    the layer where its error terms first disagree."""
    if (rows["status"] == "fail").any():
        status = "**FAIL**"
    elif (rows["status"] == "expected_divergence").any():
        status = "*diverges (declared)*"
    elif (rows["status"] == "skipped").all():
        return "skipped"
    else:
        status = "pass"
    against_reference = rows[rows["compared_to"] == "reference"]
    rel = (against_reference if not against_reference.empty else rows)["max_rel_diff"].max()
    cell = status if np.isnan(rel) else f"{status} {rel:.1e}"
    first = rows["first_divergent_layer"].dropna()
    return cell + (f" from layer {first.iloc[0]}" if not first.empty else "")


def summary_table(frame):
    """Cases × (backend, dtype): the worst status and the largest relative difference."""
    ran = frame[frame["backend"] != ""]
    if ran.empty:
        return pd.DataFrame()
    cells = ran.groupby(["case", "backend", "dtype"], sort=False).apply(_cell, include_groups=False)
    table = cells.unstack(["backend", "dtype"]).fillna("")
    table.columns = [f"{backend} {dtype}" for backend, dtype in table.columns]
    return table


def markdown(comparisons, frame):
    """agreement.md: versions, counts, the summary table, then every failure's message."""
    counts = frame["status"].value_counts()
    lines = ["# crossgrad agreement report", "",
             "Written by `crossgrad report`. Each backend's error terms, weight deltas and bias "
             "deltas are compared with the float64 NumPy reference (`compared_to = reference`), "
             "and with a case's golden values where it has them (`compared_to = expected`). "
             "Every row is in [agreement.csv](agreement.csv).", "",
             " · ".join(f"{name} {version}" for name, version in versions().items()), "",
             f"**{frame['case'].nunique()} cases, {len(frame)} rows: "
             + ", ".join(f"{counts.get(s, 0)} {s}" for s in STATUSES) + "**",
             "", "Each cell: the worst status of the case on that backend and dtype, its "
             "largest relative difference from the reference (for numpy float64, which is the "
             "reference, from the case's golden values), and, where error terms disagree, the "
             "first layer that does, scanning from the output down.", ""]
    table = summary_table(frame)
    if not table.empty:
        lines += [table.to_markdown(), ""]
    declared = sorted({(c.case, c.backend, c.dtype, c.divergence) for c in comparisons
                       if c.status == "expected_divergence"})
    if declared:
        lines += ["## Declared divergences", "", "| case | backend | dtype | reason |",
                  "| --- | --- | --- | --- |"]
        lines += [f"| {case} | {backend} | {dtype} | {reason} |"
                  for case, backend, dtype, reason in declared]
        lines.append("")
    failures = [c for c in comparisons if c.failed]
    if failures:
        lines += ["## Failures", ""]
        for failure in failures:
            lines += ["```", failure.message() if failure.backend else failure.problem, "```", ""]
    return "\n".join(lines)


def _write_atomically(path, text):
    """Write `text` to `path` through a temporary file and a rename: never a half-written file."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def write(comparisons, out):
    """Write agreement.csv and agreement.md for `comparisons` into the folder `out`."""
    frame = to_frame(comparisons)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out / "agreement.csv", out / "agreement.md"
    _write_atomically(csv_path, frame.to_csv(index=False, lineterminator="\n"))
    _write_atomically(md_path, markdown(comparisons, frame))
    return csv_path, md_path
