"""What every view of the report shares: rows folded into cells, and a case told in words.

A cell is one group of rows on one backend in one dtype: in the summary, a whole case; in a
case's own table, one layer's quantity against one truth. It holds the worst status of its rows
and their largest relative difference, so the Markdown, the HTML page and the heatmap all show
the same number for the same cell.
"""
import math

import pandas as pd

from crossgrad.adapters import BACKENDS
from crossgrad.problem import DTYPES

# Worst last: a cell is skipped only when every row in it is. A status not named here (one
# that compare.STATUSES gains later) counts as the worst.
SEVERITY = ("skipped", "pass", "expected_divergence", "fail", "error")
# How a cell that is not plainly passing reads: ✗ for what fails the run, ~ for what is declared.
WORDS = {"fail": "✗ fail", "error": "✗ error", "expected_divergence": "~ diverges"}
QUANTITY_ORDER = ("loss", "error_term", "weight_delta", "bias_delta")
NOT_RUN = "—"
LEGEND = ("Each cell: the worst status of its rows (✗ fail, ~ diverges as the case declares, "
          "pass, skipped), then their largest relative difference from the float64 NumPy "
          "reference. numpy float64 is the reference: it is compared with a case's golden values "
          "where the case has them, and skipped otherwise. \"vs golden\": only the comparison "
          "with the golden values (or with the referee named) came out so. \"from layer N\": "
          "the first layer whose error terms disagree, scanning from the output down. "
          + NOT_RUN + ": no such comparison (numpy float64 is not compared with itself), or the "
          "case does not ask for that backend or dtype.")


def _rank(name, known):
    return known.index(name) if name in known else len(known)


def column_label(backend, dtype):
    return f"{backend} {dtype}"


def column_labels(frame):
    """The 'backend dtype' labels of the rows that ran, in registry order, then dtype order."""
    pairs = {(b, d) for b, d in zip(frame["backend"], frame["dtype"]) if b}
    ordered = sorted(pairs, key=lambda p: (_rank(p[0], BACKENDS), p[0], _rank(p[1], DTYPES), p[1]))
    return [column_label(backend, dtype) for backend, dtype in ordered]


def truth_name(compared_to):
    """What a row was compared with, as the report says it: '' for the reference (the default),
    'golden' for a case's expected values, else the referee's own name."""
    return {"reference": "", "expected": "golden"}.get(compared_to, compared_to)


def _fold(status, compared_to, relative, first_layer, share):
    """The worst status of a group's rows (given as one list per column, in row order); their
    largest relative difference from the `truth` it was measured against (the reference where
    there are reference rows, else the golden values); `worst_against`, the truths (as
    truth_name gives them) that the rows of the worst status were compared with, when none is
    the reference; and the first divergent layer."""
    worst_status = max(status, key=lambda s: _rank(s, SEVERITY))
    truth = next((t for t in ("reference", "expected") if t in compared_to), "")
    against = [r for r, c in zip(relative, compared_to)
               if truth and c == truth and not math.isnan(r)]
    worst = {c for s, c in zip(status, compared_to) if s == worst_status}
    worst_against = "" if worst_status not in WORDS or worst & {"reference", ""} else ", ".join(
        sorted(map(truth_name, worst)))
    first = next((layer for layer in first_layer if not pd.isna(layer)), None)
    shares = [x for s, x in zip(status, share) if s == worst_status and not math.isnan(x)]
    return {"status": worst_status, "max_rel_diff": max(against) if against else math.nan,
            "truth": truth, "worst_against": worst_against,
            "first_divergent_layer": None if first is None else int(first),
            "tolerance_share": max(shares) if shares else math.nan}


def fold(frame, by, order=None):
    """One cell per group of `by` × backend × dtype among the rows that ran (invalid case files
    have no backend). Columns: `by`, backend, dtype, column (its label), then _fold's. Sorted
    by `order` (a function of the `by` values, as a tuple; default the values themselves), then
    in column_labels' order."""
    ran = frame[frame["backend"] != ""]
    keys = list(by) + ["backend", "dtype"]
    groups = {}  # key -> row positions, in the order keys first appear (as groupby's sort=False)
    for position, key in enumerate(zip(*(ran[k].tolist() for k in keys))):
        groups.setdefault(key, []).append(position)
    columns = [ran[c].tolist() for c in ("status", "compared_to", "max_rel_diff",
                                          "first_divergent_layer")]
    columns.append(ran["tolerance_share"].tolist() if "tolerance_share" in ran
                   else [math.nan] * len(ran))
    records = [dict(zip(keys, key), column=column_label(*key[-2:]),
                    **_fold(*([values[i] for i in positions] for values in columns)))
               for key, positions in groups.items()]
    labels = {label: i for i, label in enumerate(column_labels(ran))}
    order = order or (lambda values: values)
    records.sort(key=lambda r: (order(tuple(r[k] for k in by)), labels[r["column"]]))
    cells = pd.DataFrame(records, columns=keys + ["column", "status", "max_rel_diff", "truth",
                                                  "worst_against", "first_divergent_layer",
                                                  "tolerance_share"])
    return cells.astype({"first_divergent_layer": "Int64"})


def cell_text(cell, markdown, digits=1):
    """With `markdown`: 'pass 4.3e-06', '**✗ fail** 1.8e-02 vs golden', '*~ diverges* 3.0e-01
    from layer 1', 'skipped'. Without it, for a view whose colour says the status: '4.3e-06',
    '✗ 1.8e-02 vs golden', '~ 3.0e-01 from layer 1', 'skipped'. A difference of exactly 0
    reads '0'; `digits` after the point otherwise."""
    status = cell["status"]
    if status == "skipped":
        return "skipped"
    relative = cell["max_rel_diff"]
    word = WORDS.get(status, status)
    if markdown and status in WORDS:
        word = f"*{word}*" if status == "expected_divergence" else f"**{word}**"
    elif not markdown and not math.isnan(relative):  # the glyph, or nothing for a pass
        word = word.split()[0] if status in WORDS else ""
    number = "0" if relative == 0 else f"{relative:.{digits}e}"
    text = word if math.isnan(relative) else f"{word} {number}".strip()
    if cell["worst_against"]:
        text += f" vs {cell['worst_against']}"
    if pd.notna(cell["first_divergent_layer"]):
        text += f" from layer {cell['first_divergent_layer']}"
    return text


def grid(cells, index, values):
    """Cells pivoted to `index` × column label, holding `values` (a column of `cells`); a
    column a row never ran in holds None."""
    labels = column_labels(cells)
    rows = list(dict.fromkeys(cells[index]))
    table = cells.pivot(index=index, columns="column", values=values).reindex(index=rows,
                                                                              columns=labels)
    table.index.name, table.columns.name = index, None
    return table.astype(object).where(table.notna(), None)


def row_label(layer, quantity, compared_to):
    """'loss', 'layer 1 · error_term', 'layer 0 · weight_delta vs golden' (see truth_name)."""
    where = quantity if pd.isna(layer) else f"layer {layer} · {quantity}"
    if not quantity:
        where = "whole run"  # a backend that raised, or a skipped run
    elif not compared_to:  # a declared divergence that no longer reproduces: its own row
        where += " (declared divergence)"
    return where + (f" vs {truth_name(compared_to)}" if truth_name(compared_to) else "")


def _backprop_order(values):
    """Against the reference first, then the golden values, then any referee by name; within
    each, the loss, then the layers from the output down."""
    compared_to, layer, quantity = values
    height = math.inf if pd.isna(layer) else layer  # the loss has no layer: it sits above all
    truth = (_rank(compared_to, ("reference", "expected")), compared_to)
    return truth, -height, _rank(quantity, QUANTITY_ORDER)


def case_cells(frame):
    """{case: its cells}, one cell per truth × layer × quantity × backend × dtype, each with its
    `row` label, in backprop order (see _backprop_order); the rows are folded once, for every
    case of `frame` together."""
    by = ["case", "compared_to", "layer", "quantity"]
    cells = fold(frame, by, lambda values: (values[0],) + _backprop_order(values[1:]))
    cells["row"] = [row_label(*values) for values in zip(cells["layer"], cells["quantity"],
                                                         cells["compared_to"])]
    # each row names its truth, and where the disagreement starts is a fact of the whole run,
    # which these rows spell out: neither needs saying again in the cells
    cells["worst_against"] = ""
    cells["first_divergent_layer"] = pd.array([pd.NA] * len(cells), dtype="Int64")
    return {case: group.drop(columns="case").reset_index(drop=True)
            for case, group in cells.groupby("case", sort=False)}


def network_text(case):
    """The network in words: '3 → 2 → 1; activations sigmoid, sigmoid; no biases; loss …'."""
    problem = case.problem
    sizes = [problem.layers[0].fan_in] + [layer.fan_out for layer in problem.layers]
    biased = [layer.bias is not None for layer in problem.layers]
    with_bias = [str(i) for i, b in enumerate(biased) if b]
    bias = "biases in every layer" if all(biased) else "no biases" if not with_bias else (
        f"bias in layer{'s' if len(with_bias) > 1 else ''} {', '.join(with_bias)}")
    return (f"{' → '.join(map(str, sizes))}; activations "
            f"{', '.join(layer.activation for layer in problem.layers)}; {bias}; loss "
            f"{problem.loss} ({problem.reduction} over a batch of {len(problem.inputs)}), "
            f"learning rate {problem.learning_rate:g}")
