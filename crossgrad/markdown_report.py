"""The two Markdown files: summary.md, the table at a glance, and agreement.md, the details."""
import numpy as np
import pandas as pd

from crossgrad.cells import LEGEND, NOT_RUN, WORDS, cell_text, column_label, grid, network_text
from crossgrad.training.drift import COLUMNS as DRIFT_COLUMNS
from crossgrad.triage import LARGE

TRAJECTORIES_SHOWN = 50  # a large report's training cases at most, in the order it shows cases

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


def notices(top):
    """The notices that stand above everything else (Header.notices), one paragraph each."""
    return [line for notice in top.notices for line in (f"**{notice}**", "")]


def large_intro(plan):
    """What a large report lists, and where the rest is (nothing for a small one)."""
    if not plan.large:
        return []
    eyes = (f"the {plan.needing_eyes:,} that need eyes (they fail, error or declare a "
            "divergence; the worst first), then " if plan.needing_eyes else
            "what needs eyes (no case fails, errors or declares a divergence), then ")
    return [f"{plan.total:,} cases: more than {LARGE}, so the tables list first {eyes}the "
            f"{len(plan.shown) - plan.needing_eyes:,} passing cases closest to their tolerance; "
            "every folder has a row under By folder, and every row of every case is in "
            "[agreement.csv](agreement.csv).", ""]


def share_text(share):
    """A share of the tolerance as the folder tables print it: '0.46', '3.2e+04', '—'."""
    return NOT_RUN if share != share else f"{share:.2g}"


def folder_table(plan):
    """One row per folder: its cases counted by their worst status, and the worst margin."""
    if not plan.large:
        return []
    table = plan.folders.rename(columns=lambda c: c.replace("_", " "))
    table["worst share"] = [share_text(x) for x in table.pop("worst share")]
    table.index.name = "folder"
    return ["## By folder", "",
            "Each folder's cases, counted by their worst status, and the largest share of its "
            "tolerance that any row uses (|actual − expected| / (atol·scale + rtol·|expected|) "
            "at the worst element: above 1 is outside).", "", table.to_markdown(), ""]


def _trajectory_cell(worst, first, growth, final):
    """'pass 2.00e-06, +1.52e-03/step' or '**✗ fail** 3.10e-02 from step 100, +2.05e-02/step',
    from a drift table's strings (blank where the run has no such number)."""
    word = WORDS.get(worst, worst)
    if worst in WORDS:
        word = f"*{word}*" if worst == "expected_divergence" else f"**{word}**"
    text = f"{word} {final}".strip() + (f" from step {first}" if first else "")
    return text + (f", {growth}/step" if growth else "")


def trajectory_table(trajectories, plan):
    """summary.md's Trajectories: a row per training case, a cell per backend and dtype, from
    the drift tables that the page's Trajectories section shows (`trajectories` maps a training
    case to its drift.table). A large report lists those of its shown cases, in their order, at
    most TRAJECTORIES_SHOWN."""
    names = [name for name in plan.shown if name in trajectories]
    shown = names[:TRAJECTORIES_SHOWN] if plan.large else names
    if not shown:
        return []
    first, growth, final, worst = DRIFT_COLUMNS[2:]
    runs = pd.concat([trajectories[name].assign(case=name) for name in shown], ignore_index=True)
    runs["column"] = [column_label(b, d) for b, d in zip(runs["backend"], runs["dtype"])]
    runs["text"] = [_trajectory_cell(*values) for values in zip(runs[worst], runs[first],
                                                                  runs[growth], runs[final])]
    table = grid(runs, "case", "text").fillna(NOT_RUN)
    table.index.name = "case"
    left_out = len(trajectories) - len(shown)
    more = [f"{left_out:,} more training cases are not listed (a large report lists those of "
            "the cases above, what needs eyes first); their rows are in "
            "[agreement.csv](agreement.csv).", ""] if plan.large and left_out else []
    return ["## Trajectories", "",
            "Each training case's run per backend and dtype against the float64 reference "
            "trajectory: the worst status of its recorded steps, the final rel_l2 of the weights "
            "(the worst layer), \"from step N\": the first recorded step outside its tolerance, "
            "and the drift per step (the slope of log10 rel_l2). The charts are "
            "drift_CASE.png, and the page's Trajectories section.", "",
            table.to_markdown(), "", *more]


def summary(top, cells, truth_rows, plan, trajectories=None):
    """summary.md: the Header's facts as a list, then cases × backend/dtype, then the training
    cases' trajectories (`trajectories`: {case: its drift.table}), then the heatmap, then how
    exact the reference itself is. For a large report (see triage) the cases that need eyes
    come first, then the closest passing ones, then one row per folder."""
    lines = ["# crossgrad summary", "",
             "How closely each backend's error terms, weight deltas and bias deltas agree with "
             "the float64 NumPy reference, case by case. " + _links("summary.md") + ".", "",
             f"- **Date:** {top.date}",
             f"- **Versions:** {top.versions_line()}",
             f"- **Machine:** {top.machine}",
             f"- **Counts:** {top.counts_line()}", "", *notices(top), *large_intro(plan)]
    lines += [_table(cells, "case", "case"), ""] if not cells.empty else ["No case ran.", ""]
    lines += [LEGEND, "", *trajectory_table(trajectories or {}, plan), *folder_table(plan),
              "![Heatmap: each cell's share of its tolerance used, on a log scale, per case and "
              "backend/dtype](heatmap.png)", ""]
    return "\n".join(lines + reference_accuracy(truth_rows))


def reference_accuracy(rows):
    """The float64 reference against the proven ground truth, per quantity: the largest
    element-wise ulp distance, and the largest difference in ulps of the layer's largest value.
    `rows` are the numpy float64 rows against the ground truth that ran (case, quantity,
    max_ulp, max_abs_diff, scale)."""
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


def _declared(declared):
    found = sorted(declared)
    if not found:
        return []
    return ["## Declared divergences", "", "| case | backend | dtype | reason |",
            "| --- | --- | --- | --- |"] + [
        "| " + " | ".join(text.replace("|", "\\|") for text in row) + " |" for row in found
    ] + [""]


def _failures(messages):
    lines = []
    for message in messages:
        lines += ["```", message, "```", ""]
    return ["## Failures", "", *lines] if lines else []


def _names(cases, large, at_most=20):
    names = sorted(set(cases))
    if not large or len(names) <= at_most:
        return ", ".join(names)
    return f"{len(names):,} cases ({', '.join(names[:at_most])}, …)"


def _skipped(skipped, large=False):
    """`skipped`: (reason, backend, dtype, case) of each skipped row."""
    groups = {}
    for reason, backend, dtype, case in skipped:
        groups.setdefault((reason, backend, dtype), []).append(case)
    lines = [f"- {backend} {dtype}: {_names(cases, large)}. *{reason}*"
             for (reason, backend, dtype), cases in sorted(groups.items())]
    return ["## Skipped", "", *lines, ""] if lines else []


def _case_section(cells, name, case):
    lines = [f"### {name}", ""]
    if case is not None:
        lines += [case.description, "", f"- **Network:** {network_text(case)}"]
        if case.expected is not None:
            lines.append(f"- **Golden values:** {case.expected.source}")
        lines += [f"- **Declared divergence:** {d.describe()}: {d.reason}"
                  for d in case.divergences]
        lines.append("")
    lines += [_table(cells, "row", "layer · quantity"), ""] if cells is not None else [
        "Not run: the case file is invalid (see Failures).", ""]
    return lines


def details(found, top, cells_by_case, cases, plan):
    """agreement.md: declared divergences, every failure's message, what was skipped and why
    (each section only when there is something in it), then each shown case's layers ×
    backend/dtype. `found` holds the rows' declared, failures, skipped and truth_rows (a
    row_store.RowStore), `cells_by_case` each shown case's cells (cells.case_cells), `cases`
    maps a case name to its Case, and `plan` says which cases are shown (triage.plan)."""
    lines = ["# crossgrad agreement: details", "",
             "Each backend's error terms, weight deltas and bias deltas are compared with the "
             "float64 NumPy reference (`compared_to = reference`), and with a case's golden "
             "values where it has them (`compared_to = expected`). " + _links("agreement.md")
             + ".", "", top.versions_line(), "", f"**{top.counts_line()}**", "",
             *notices(top), *reference_accuracy(found.truth_frame()),
             *_declared(found.declared),
             *_failures(message for _, _, _, message, _, _ in found.failures_in_order()),
             *_skipped(found.skipped, plan.large),
             "## Cases", "",
             "Per case, each layer's quantity (the loss first, then the layers from the output "
             "down, as backprop goes) on each backend and dtype, in the cells of the summary.", "",
             *large_intro(plan)]
    for name in plan.shown:
        lines += _case_section(cells_by_case.get(name), name, cases.get(name))
    return "\n".join(lines)
