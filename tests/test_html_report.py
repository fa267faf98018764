"""The page and the picture: agreement.html is self-contained and drills into each case, and the
heatmap marks failures, declared divergences and skips, the same way twice."""
import base64
import datetime
import html
import re
from pathlib import Path

import pytest
from matplotlib.colors import to_rgba
from matplotlib.patches import Rectangle

from crossgrad import cells, heatmap, report
from crossgrad.cases import load_case
from crossgrad.compare import Comparison

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "cases" / "seed_3_2_1.yaml"
NOW = datetime.datetime(2024, 5, 6, 7, 8, tzinfo=datetime.timezone.utc)
SIBLINGS = {"summary.md", "agreement.md", "agreement.csv"}


# the share of its tolerance a row of each status uses, unless a row says otherwise
SHARES = {"pass": 0.01, "fail": 5.0, "expected_divergence": 3.0}


def row(case, backend, dtype, status="pass", layer=0, quantity="error_term",
        compared_to="reference", rel=1e-7, **more):
    more.setdefault("tolerance_share", SHARES.get(status, float("nan")))
    return Comparison(case=case, backend=backend, dtype=dtype, device="cpu", layer=layer,
                      quantity=quantity, compared_to=compared_to, status=status,
                      max_rel_diff=rel, **more)


# beta: golden values on numpy float64; on numpy float32 only the golden comparison fails.
# seed_3_2_1: numpy float64 skipped, numpy float32 fails from layer 1, torch float64 diverges.
ROWS = [
    row("beta", "numpy", "float64", compared_to="expected", rel=1e-8),
    row("beta", "numpy", "float32", rel=1e-7),
    row("beta", "numpy", "float32", compared_to="expected", status="fail", rel=3e-2),
    row("seed_3_2_1", "numpy", "float64", status="skipped", layer=None, quantity="",
        compared_to="", rel=float("nan"), problem="numpy float64 is the reference itself"),
    row("seed_3_2_1", "numpy", "float32", rel=4e-7, first_divergent_layer=1),
    row("seed_3_2_1", "numpy", "float32", layer=1, quantity="weight_delta", status="fail",
        rel=2e-2, first_divergent_layer=1, size=2, mismatched=1),
    row("seed_3_2_1", "torch", "float64", status="expected_divergence", rel=0.5,
        divergence="torch takes the other one-sided derivative"),
]


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The report of ROWS, with the seed case's Case for its description and network."""
    out = tmp_path_factory.mktemp("report")
    report.write(ROWS, out, cases=[load_case(SEED)], now=NOW)
    return out


def test_page_loads_nothing_from_outside(written):
    """No script, stylesheet link, @import or url(); every src/href is a data URI, an anchor on
    the page or a sibling report file; the heatmap is an inline SVG."""
    page = (written / "agreement.html").read_text(encoding="utf-8")
    for forbidden in ("<script", "<link", "@import", "url(", "http:", "https:", "//"):
        assert forbidden not in page.replace("<!DOCTYPE html>", ""), forbidden
    targets = re.findall(r'\b(?:src|href)="([^"]*)"', page)
    assert targets, "the page links nothing"
    assert [t for t in targets if not (t.startswith(("#", "data:")) or t in SIBLINGS)] == []
    anchors = set(re.findall(r'\bid="([^"]+)"', page))
    assert {t[1:] for t in targets if t.startswith("#")} <= anchors
    [svg] = re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', page)
    assert b"<svg" in base64.b64decode(svg)


def test_page_has_a_section_per_case_with_its_network_and_rows(written):
    """The seed case's section: its description, its network in words, its layers' rows, and
    its failure's message; a case without a Case object still gets its rows."""
    page = (written / "agreement.html").read_text(encoding="utf-8")
    seed = page[page.index('<section id="case-seed_3_2_1">'):]
    seed = seed[:seed.index("</section>")]
    assert html.escape(load_case(SEED).description) in seed
    assert ("<b>Network:</b> 3 → 2 → 1; activations sigmoid, sigmoid; no biases; loss "
            "half_squared_error (mean over a batch of 1), learning rate 0.5") in seed
    assert ">layer 1 · weight_delta<" in seed and ">layer 0 · error_term<" in seed
    assert ("seed_3_2_1 · numpy · float32 · layer 1 · weight_delta vs reference: not close"
            in seed)
    assert "All 4 rows of seed_3_2_1" in seed
    assert '<section id="case-beta">' in page
    assert "<b>Date:</b> 2024-05-06 07:08 UTC" in page


def test_summary_cells_carry_their_status_as_a_class(written):
    """Each summary cell's status is its CSS class (its colour), and its text the number with
    ✗ or ~ for a failure or a declared divergence."""
    page = (written / "agreement.html").read_text(encoding="utf-8")
    summary = page[page.index("<h2>Summary</h2>"):page.index("<h2>Cases</h2>")]
    found = set(re.findall(r'<td class="([^"]+)">([^<]*(?:<br>[^<]*)?)</td>', summary))
    assert found == {("pass", "1.0e-08"), ("not-run", "—"),
                     ("fail", "✗ 1.0e-07<br>vs golden"), ("skipped", "skipped"),
                     ("fail", "✗ 2.0e-02<br>from layer 1"), ("expected_divergence", "~ 5.0e-01")}


def _figure():
    return heatmap.figure(cells.fold(report.to_frame(ROWS), ["case"]))


def test_heatmap_cells_say_status_and_size():
    """Rows are cases, columns backend/dtype; each cell's text and frame tell its status."""
    axes = _figure().axes[0]
    assert [t.get_text() for t in axes.get_yticklabels()] == ["beta", "seed_3_2_1"]
    assert [t.get_text() for t in axes.get_xticklabels()] == [
        "numpy\nfloat64\nvs golden", "numpy\nfloat32", "torch\nfloat64"]
    texts = {tuple(round(v) for v in t.get_position()): t.get_text() for t in axes.texts}
    assert texts == {(0, 0): "1e-08", (1, 0): "✗ 1e-07\nvs golden", (2, 0): "–",
                     (0, 1): "skipped", (1, 1): "✗ 2e-02", (2, 1): "~ 5e-01"}
    boxes = {(round(p.get_x() + p.get_width() / 2), round(p.get_y() + p.get_height() / 2),
              p.get_fill()): p for p in axes.patches if isinstance(p, Rectangle)}
    frames = {place[:2]: box.get_edgecolor() for place, box in boxes.items() if not place[2]}
    assert frames == {(1, 0): to_rgba(heatmap.FAIL), (1, 1): to_rgba(heatmap.FAIL),
                      (2, 1): to_rgba(heatmap.DIVERGES)}
    greyed = {place[:2]: box.get_facecolor() for place, box in boxes.items() if place[2]}
    assert greyed == {(0, 1): to_rgba(heatmap.SKIPPED)}  # skipped: grey, not a colour
    hidden = axes.images[0].get_array().mask
    assert hidden[1, 0] and hidden[0, 2] and not hidden[1, 1]  # skipped, not run, shown


def test_heatmap_bytes_are_the_same_twice_and_carry_no_date():
    """Two figures of the same cells give the same PNG and SVG bytes, with no date or version."""
    first, second = _figure(), _figure()
    for kind in ("png", "svg"):
        assert heatmap.render(first, kind) == heatmap.render(second, kind)
    png, svg = heatmap.render(first, "png"), heatmap.render(first, "svg")
    assert png.startswith(b"\x89PNG") and b"Software" not in png and b"matplotlib" not in png
    assert b"<dc:date>" not in svg and b"Matplotlib v" not in svg


def test_heatmap_file_is_the_png(written):
    """heatmap.png is the PNG of the summary's heatmap."""
    frame = report.to_frame(ROWS)
    expected = heatmap.render(heatmap.figure(cells.fold(frame, ["case"])), "png")
    assert (written / "heatmap.png").read_bytes() == expected
