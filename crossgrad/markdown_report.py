"""The two Markdown files: summary.md, the table at a glance, and agreement.md, the details."""
import numpy as np

from crossgrad.cells import LEGEND, NOT_RUN, case_cells, cell_text, grid, network_text

LINKS = {"summary.md": "the table at a glance", "agreement.md": "the details",
         "agreement.html": "the page with the heatmap (open it from disk)",
         "agreement.csv": "every row"}


def _links(this):
    text = " · ".join(f"{what}: [{name}]({name})" for name, what in LINKS.items() if name != this)
    return text[0].upper() + text[1:]


def _texts(cells):
    return cells.assign(text=[cell_text(cell, markdown=True) for _, cell in cells.iterrows()])


def _table(cells, index, index_title):
    table = grid(_texts(cells), index, "text").fillna(NOT_RUN)
    table.index.name = index_title
    return table.to_markdown()


def summary(top, cells, frame):
    """summary.md: the Header's facts as a list, then cases × backend/dtype, then the heatmap,
    then how exact the reference itself is."""
    lines = ["# crossgrad summary", "",
             "How closely each backend's error terms, weight deltas and bias deltas agree with "
             "the float64 NumPy reference, case by case. " + _links("summary.md") + ".", "",
             f"- **Date:** {top.date}",
             f"- **Versions:** {top.versions_line()}",
             f"- **Machine:** {top.machine}",
             f"- **Counts:** {top.counts_line()}", ""]
    lines += [_table(cells, "case", "case"), ""] if not cells.empty else ["No case ran.", ""]
    lines += [LEGEND, "", "![Heatmap: log10 of the largest relative difference from the "
                          "reference, per case and backend/dtype](heatmap.png)", ""]
    return "\n".join(lines + reference_accuracy(frame))


def reference_accuracy(frame):
    """The float64 reference against the 50-digit ground truth, per quantity: the largest
    element-wise ulp distance, and the largest difference in ulps of the layer's largest value."""
    rows = frame[(frame["backend"] == "numpy") & (frame["dtype"] == "float64")
                 & (frame["compared_to"] == "ground_truth") & (frame["status"] != "skipped")]
    if rows.empty:
        return []
    lines = ["## The reference against the proven ground truth", "",
             f"How far the float64 NumPy reference is from the ground truth, the same backprop "
             "in ball arithmetic with every value proven to 2⁻⁶⁰ of itself before it is rounded "
             f"to float64, over the {rows['case'].nunique()} cases small enough for it: the "
             "largest distance of an element in ulps (large where an element is a cancellation "
             "near zero), and the largest difference in ulps of its layer's largest value.", "",
             "| quantity | max ulp (element) | max ulp of the layer's scale | worst case |",
             "| --- | --- | --- | --- |"]
    with np.errstate(divide="ignore", invalid="ignore"):
        of_scale = rows["max_abs_diff"] / np.spacing(rows["scale"].astype(float))
    rows = rows.assign(of_scale=of_scale.where(rows["scale"] > 0, 0.0))
    for quantity, group in rows.groupby("quantity", sort=True):
        worst = group.loc[group["of_scale"].idxmax()]
        lines.append(f"| {quantity} | {group['max_ulp'].max():.0f} | {group['of_scale'].max():.0f} "
                     f"| {worst['case']} |")
    return lines + [""]


def _declared(comparisons):
    found = sorted({(c.case, c.backend, c.dtype, c.divergence) for c in comparisons
                    if c.status == "expected_divergence"})
    if not found:
        return []
    return ["## Declared divergences", "", "| case | backend | dtype | reason |",
            "| --- | --- | --- | --- |"] + [
        "| " + " | ".join(text.replace("|", "\\|") for text in row) + " |" for row in found
    ] + [""]


def _failures(comparisons):
    lines = []
    for failure in (c for c in comparisons if c.failed):
        lines += ["```", failure.message() if failure.backend else failure.problem, "```", ""]
    return ["## Failures", "", *lines] if lines else []


def _skipped(frame):
    skipped = frame[frame["status"] == "skipped"]
    groups = skipped.groupby(["problem", "backend", "dtype"], sort=True)["case"]
    lines = [f"- {backend} {dtype}: {', '.join(sorted(set(cases)))}. *{reason}*"
             for (reason, backend, dtype), cases in groups]
    return ["## Skipped", "", *lines, ""] if lines else []


def _case_section(frame, name, case):
    lines = [f"### {name}", ""]
    if case is not None:
        lines += [case.description, "", f"- **Network:** {network_text(case)}"]
        if case.expected is not None:
            lines.append(f"- **Golden values:** {case.expected.source}")
        lines += [f"- **Declared divergence:** {d.describe()}: {d.reason}"
                  for d in case.divergences]
        lines.append("")
    cells = case_cells(frame, name)
    lines += [_table(cells, "row", "layer · quantity"), ""] if not cells.empty else [
        "Not run: the case file is invalid (see Failures).", ""]
    return lines


def details(comparisons, frame, top, cases):
    """agreement.md: declared divergences, every failure's message, what was skipped and why
    (each section only when there is something in it), then each case's layers × backend/dtype.
    `cases` maps a case name to its Case."""
    lines = ["# crossgrad agreement: details", "",
             "Each backend's error terms, weight deltas and bias deltas are compared with the "
             "float64 NumPy reference (`compared_to = reference`), and with a case's golden "
             "values where it has them (`compared_to = expected`). " + _links("agreement.md")
             + ".", "", top.versions_line(), "", f"**{top.counts_line()}**", "",
             *reference_accuracy(frame),
             *_declared(comparisons), *_failures(comparisons), *_skipped(frame),
             "## Cases", "",
             "Per case, each layer's quantity (the loss first, then the layers from the output "
             "down, as backprop goes) on each backend and dtype, in the cells of the summary.", ""]
    for name in sorted(set(frame["case"])):
        lines += _case_section(frame, name, cases.get(name))
    return "\n".join(lines)
