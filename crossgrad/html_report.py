"""agreement.html: one self-contained page (no script, no network) with the heatmap, the summary
table styled with pandas Styler, and a section per case to drill into."""
import base64
import html
import re

import markupsafe
import pandas as pd
from pandas.io.formats.style import Styler

from crossgrad.cells import LEGEND, NOT_RUN, cell_text, grid, network_text
from crossgrad.markdown_report import large_intro, share_text

# The per-layer rows each case's section lists in full, in this order.
ROW_COLUMNS = ("backend", "dtype", "layer", "quantity", "compared_to", "status", "label",
               "max_abs_diff", "max_rel_diff", "max_ulp", "rel_l2", "rtol", "atol", "mismatched",
               "size", "worst_index", "problem")
CSS = """
body { font: 16px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1a1a1a;
       max-width: 1340px; margin: 24px auto; padding: 0 24px; }
h1 { margin-bottom: 4px; } h2 { margin-top: 36px; border-bottom: 2px solid #ddd; }
h3 { margin: 20px 0 6px; }
ul.facts { list-style: none; padding: 0; } ul.facts li { margin: 2px 0; }
div.wide { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums;
        margin: 8px 0; }
th, td { border: 1px solid #cfcfcf; padding: 3px 8px; text-align: left; white-space: nowrap; }
thead th { background: #f2f2f2; } tbody th { font-weight: 600; }
td.pass { background: #e6f4e9; }
td.fail, td.error { background: #fbd3d0; color: #8a0000; font-weight: 700; }
td.expected_divergence { background: #ffe6bf; color: #6b4100; font-weight: 700; }
td.skipped, td.not-run { background: #ececec; color: #666; }
img.heatmap { max-width: 100%; height: auto; display: block; margin: 8px 0; }
pre { background: #f6f6f6; padding: 8px 12px; overflow-x: auto; font-size: 14px; }
p.legend { color: #444; max-width: 1100px; }
details summary { cursor: pointer; margin: 8px 0; }
table.rows { font-size: 13px; }
"""

def anchor(name):
    """The id of a case's section: its name, with anything but letters, digits, _ . - as -."""
    return "case-" + re.sub(r"[^A-Za-z0-9_.-]", "-", name)


STYLER_CLASSES = re.compile(r"data|blank|row_heading|col_heading|level\d+|row\d+|col\d+")


def _kept_classes(match):
    kept = [name for name in match.group(1).split() if not STYLER_CLASSES.fullmatch(name)]
    return f' class="{" ".join(kept)}"' if kept else ""


def _compact(table):
    """Styler's table without what this page does not use (its data/row/col classes, an empty
    style block, the whitespace between tags): about half the bytes for the same table."""
    table = re.sub(r'<style type="text/css">\s*</style>', "", table)
    table = re.sub(r' class="([^"]*)"', _kept_classes, table)
    table = re.sub(r"(<t[dh][^>]*?)\s+>", r"\1>", table)
    return re.sub(r">\s+<", "><", table).replace("<tr>", "\n<tr>").strip()


def _wrapped(text):
    """A cell's text, escaped, with what qualifies the number on lines of its own."""
    return re.sub(r" (vs |from layer )", r"<br>\1", html.escape(text))


def _styled(cells, index, uuid, link_cases=False):
    """A cells grid as a Styler table: text in the cells, the status as each cell's class."""
    texts = grid(cells.assign(text=[cell_text(c, markdown=False) for _, c in cells.iterrows()]),
                 index, "text")
    classes = grid(cells, index, "status").fillna("not-run")
    texts.index.name = None  # no header row of its own for the index's name
    styler = Styler(texts.fillna(NOT_RUN), uuid=uuid, cell_ids=False)
    styler = styler.set_td_classes(classes).format(_wrapped).format_index(
        lambda label: "<br>".join(map(html.escape, label.split(" ", 1))), axis=1)
    if link_cases:
        styler = styler.format_index(lambda name: f'<a href="#{anchor(name)}">'
                                                  f'{html.escape(name)}</a>', axis=0)
    else:
        styler = styler.format_index(escape="html", axis=0)
    return f'<div class="wide">{_compact(styler.to_html())}</div>'


def _row_cells(values, floats):
    """One row's <td>s: floats as 1.23e-04, the status with its class, the rest escaped; a
    missing value (NaN, NA, None) empty."""
    cells = []
    for column, value in zip(ROW_COLUMNS, values):
        if column in floats:
            text = "" if value != value else f"{value:.2e}"
        else:
            text = "" if value is None or value is pd.NA or value != value else str(
                markupsafe.escape(str(value)))
        cells.append(f'<td class="{text}">{text}</td>' if column == "status" and text
                     else f"<td>{text}</td>")
    return "<tr>" + "".join(cells) + "</tr>"


def _rows_table(rows, uuid):
    """Every row of one case, in the columns people read, the status as its cell's class.
    Written directly rather than through Styler: a page may hold thousands of these rows."""
    shown = rows[list(ROW_COLUMNS)]
    floats = {c for c in ROW_COLUMNS if pd.api.types.is_float_dtype(shown[c])}
    head = "".join(f"<th>{html.escape(column)}</th>" for column in ROW_COLUMNS)
    body = "\n".join(_row_cells(values, floats)
                     for values in zip(*(shown[c].tolist() for c in ROW_COLUMNS)))
    return (f'<div class="wide"><table id="T_{uuid}" class="rows"><thead>\n<tr>{head}</tr>'
            f"</thead><tbody>\n{body}</tbody></table></div>")


def _case_section(number, name, case, cells, rows, messages):
    """One case's section: its facts, its cells, every failure's message and all its rows."""
    parts = [f'<section id="{anchor(name)}">', f"<h3>{html.escape(name)}</h3>"]
    if case is not None:
        facts = [f"<b>Network:</b> {html.escape(network_text(case))}"]
        if case.expected is not None:
            facts.append(f"<b>Golden values:</b> {html.escape(case.expected.source)}")
        facts += [f"<b>Declared divergence:</b> {html.escape(d.describe())}: "
                  f"{html.escape(d.reason)}" for d in case.divergences]
        parts += [f"<p>{html.escape(case.description)}</p>",
                  "<ul>" + "".join(f"<li>{fact}</li>" for fact in facts) + "</ul>"]
    if cells is not None:
        parts.append(_styled(cells, "row", f"case{number}"))
    parts += [f"<pre>{html.escape(message)}</pre>" for message in messages]
    parts += [f"<details><summary>All {len(rows)} rows of {html.escape(name)}</summary>",
              _rows_table(rows, f"rows{number}"), "</details>", "</section>"]
    return "\n".join(parts)


def notices(top):
    """The notices that stand above everything else (Header.notices), one paragraph each."""
    return [f'<p class="notice"><b>{html.escape(notice)}</b></p>' for notice in top.notices]


def _paragraphs(markdown_lines):
    """One paragraph from Markdown lines whose only markup is [text](link)."""
    text = html.escape(" ".join(line for line in markdown_lines if line))
    linked = re.sub(r"\[([^]]+)\]\(([^)]+)\)", r'<a href="\2">\1</a>', text)
    return [f"<p>{linked}</p>"] if text else []


def _folders(plan):
    """One row per folder (a large report only): its cases by status, and the worst share."""
    if not plan.large:
        return []
    table = plan.folders.rename(columns=lambda c: c.replace("_", " "))
    table["worst share"] = [share_text(x) for x in table.pop("worst share")]
    table.index.name = None
    styler = Styler(table, uuid="folders", cell_ids=False).format(escape="html").format_index(
        escape="html", axis=0)
    return ["<h2>By folder</h2>",
            "<p>Each folder's cases, counted by their worst status, and the largest share of its "
            "tolerance that any row uses (above 1 is outside).</p>",
            f'<div class="wide">{_compact(styler.to_html())}</div>']


def _trajectories(trajectories):
    """The training cases' section: per case its drift table and chart."""
    if not trajectories:
        return []
    parts = ["<h2>Trajectories</h2>",
             "<p>Each training case's run per backend and dtype against the float64 reference "
             "trajectory: the first recorded step outside its tolerance (the table's plus twice "
             "the drift bound, README: Training), how fast the weights drift (the slope of log10 "
             "rel_l2 per step), and the chart of that drift.</p>"]
    for name, (table, svg) in trajectories.items():
        styler = Styler(table, uuid=f"drift-{anchor(name)}", cell_ids=False).hide(
            axis="index").format(escape="html")
        picture = base64.b64encode(svg).decode("ascii")
        parts += [f'<h3><a href="#{anchor(name)}">{html.escape(name)}</a></h3>',
                  f'<div class="wide">{_compact(styler.to_html())}</div>',
                  f'<img class="heatmap" alt="Drift of {html.escape(name)}: log10 rel_l2 of the '
                  f'weights per step" src="data:image/svg+xml;base64,{picture}">']
    return parts


def page(top, summary, plan, cases, cells_by_case, rows_by_case, messages_by_case,
         heatmap_svg, trajectories=None):
    """The page as a string. `top` is the report's Header, `summary` the cells folded by case,
    `plan` says which cases are shown and in what order (triage.plan), `cases` maps a case
    name to its Case; `cells_by_case`, `rows_by_case` and `messages_by_case` hold each shown
    case's cells, rows and failure messages; `heatmap_svg` is the heatmap's SVG bytes, which
    the page carries inline as a data URI; `trajectories` maps a training case to its drift
    table (a DataFrame) and chart (SVG bytes)."""
    picture = base64.b64encode(heatmap_svg).decode("ascii")
    facts = [("Date", top.date), ("Versions", top.versions_line()), ("Machine", top.machine),
             ("Counts", top.counts_line())]
    body = [
        "<h1>crossgrad agreement</h1>",
        "<p>How closely each backend's error terms, weight deltas and bias deltas agree with "
        "the float64 NumPy reference. Also written: <a href=\"summary.md\">summary.md</a> (the "
        "table), <a href=\"agreement.md\">agreement.md</a> (the details), "
        "<a href=\"agreement.csv\">agreement.csv</a> (every row).</p>",
        '<ul class="facts">' + "".join(f"<li><b>{label}:</b> {html.escape(text)}</li>"
                                       for label, text in facts) + "</ul>",
        *notices(top),
        "<h2>Heatmap</h2>",
        '<img class="heatmap" alt="Heatmap: each cell\'s share of its tolerance used, on a log '
        f'scale, per case and backend/dtype" src="data:image/svg+xml;base64,{picture}">',
        "<h2>Summary</h2>",
        *_paragraphs(large_intro(plan)),
        _styled(summary, "case", "summary", link_cases=True) if not summary.empty
        else "<p>No case ran.</p>",
        f'<p class="legend">Green: pass; red: fail; amber: a divergence the case declares; grey: '
        f"skipped. {html.escape(LEGEND)}</p>",
        *_folders(plan),
        *_trajectories(trajectories or {}),
        "<h2>Cases</h2>",
        "<p>Per case: its network, each layer's quantity on each backend and dtype (the loss "
        "first, then the layers from the output down, as backprop goes), every failure's "
        "message, and all its rows.</p>",
    ]
    body += [_case_section(number, name, cases.get(name), cells_by_case.get(name),
                           rows_by_case[name], messages_by_case.get(name, ()))
             for number, name in enumerate(plan.shown)]
    return "\n".join(["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
                      "<title>crossgrad agreement</title>", f"<style>{CSS}</style>", "</head>",
                      "<body>", *body, "</body>", "</html>", ""])
