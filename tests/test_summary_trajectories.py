"""summary.md's Trajectories table: a row per training case, a cell per backend and dtype, with
the facts of the page's Trajectories section (the same drift tables), bounded in a large
report."""
import sys
from pathlib import Path

import numpy as np
import pytest

from crossgrad import adapters, markdown_report, report, runner, triage
from crossgrad.cases import Case
from crossgrad.problem import Layer, Problem
from crossgrad.reference import Training

from test_html_report import NOW

ROOT = Path(__file__).resolve().parent.parent
BUGGY = "examples.planted_training_bugs:momentum_sign_flipped"


@pytest.fixture(autouse=True)
def registry(monkeypatch):
    """The built-ins and the planted momentum slip as 'buggy', left registered nowhere after."""
    monkeypatch.setattr(adapters, "_MODULES", dict(adapters._MODULES))
    monkeypatch.setattr(adapters, "_loaded", {})
    monkeypatch.setattr(adapters, "_entry_points_read", True)
    monkeypatch.setattr(sys, "path", [str(ROOT)] + sys.path)
    adapters.register("buggy", BUGGY)
    yield
    runner.forget()


def _case(name, steps=20, training=True):
    """The lesson's 3-2-1 network with a hidden bias, trained `steps` momentum steps."""
    hidden = Layer(np.array([[0.5, -0.6], [0.1, -0.2], [0.1, 0.7]]), np.array([0.1, -0.1]),
                   "sigmoid")
    output = Layer(np.array([[0.1], [-0.3]]), None, "sigmoid")
    problem = Problem((hidden, output), np.array([[0.5, 0.1, -0.2], [0.3, -0.4, 0.9]]),
                      np.array([[0.6], [0.2]]), "half_squared_error", "mean", 0.5)
    record = tuple(step for step in (0, 1, 2, 5, 10) if step < steps) + (steps,)
    plan = Training(steps, "momentum", record=record) if training else None
    return Case(name, f"<{name}>", "a 3-2-1 network", problem, None, ("float64", "float32"),
                ("numpy", "buggy"), {}, training=plan)


def _rows(cases, backends):
    return [row for case in cases for backend in backends.get(case.name, ("numpy",))
            for dtype in case.dtypes for row in runner.run(case, backend, dtype)]


def _section(summary):
    """The Trajectories section's table as {case: {column: cell}}, and the text under it."""
    lines = summary.split("## Trajectories\n", 1)[1].split("\n## ", 1)[0].splitlines()
    table = [line for line in lines if line.startswith("|")]
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    found = {}
    for line in table[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        found[cells[0]] = dict(zip(header[1:], cells[1:]))
    return found, [line for line in lines if line and not line.startswith("|")]


def test_summary_lists_each_training_case_with_the_numbers_of_its_rows(tmp_path):
    """20 momentum steps on numpy and on the flipped momentum, beside a case that does not
    train: one row, 'planted'; numpy float32 passes with the final rel_l2 of its weights and its
    drift per step as its rows give them; the slip fails from step 2 (its first update is
    right); numpy float64, the reference, is not compared; the page shows the same numbers."""
    planted, one_step = _case("planted"), _case("one_step", training=False)
    rows = _rows([planted, one_step], {"planted": ("numpy", "buggy")})
    report.write(rows, tmp_path, cases=[planted, one_step], now=NOW)
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    table, _ = _section(summary)
    assert list(table) == ["planted"]
    cells = table["planted"]
    ours = [r for r in rows if r.case == "planted" and r.backend == "numpy"
            and r.dtype == "float32" and r.step is not None]
    final = max(r.rel_l2 for r in ours if r.step == 20 and r.quantity == "weights")
    growth = ours[0].drift_growth
    assert 1e-9 < final < 1e-5 and growth == growth
    assert cells["numpy float32"] == f"pass {final:.2e}, {growth:+.2e}/step"
    slipped = [r for r in rows if r.backend == "buggy" and r.dtype == "float64" and r.step]
    assert {r.first_divergent_step for r in slipped} == {2}
    assert cells["buggy float64"].startswith("**✗ fail** ")
    assert " from step 2, " in cells["buggy float64"]
    assert "numpy float64" not in cells  # the reference itself, with no golden losses
    assert summary.index("## Trajectories") < summary.index("![Heatmap")
    page = (tmp_path / "agreement.html").read_text(encoding="utf-8")
    trajectories = page.split("<h2>Trajectories</h2>", 1)[1].split("<h2>Cases</h2>", 1)[0]
    assert f"{final:.2e}" in trajectories and f"{growth:+.2e}" in trajectories


def test_summary_without_training_cases_has_no_trajectories(tmp_path):
    case = _case("one_step", training=False)
    report.write(_rows([case], {}), tmp_path, cases=[case], now=NOW)
    assert "## Trajectories" not in (tmp_path / "summary.md").read_text(encoding="utf-8")


def test_a_large_report_lists_the_training_cases_it_shows_first_and_counts_the_rest(
        tmp_path, monkeypatch):
    """Three training cases written as a large report (threshold 1, one closest passing case,
    one trajectory at most): the failing one is listed, and a line counts the other two."""
    monkeypatch.setattr(triage, "LARGE", 1)
    monkeypatch.setattr(triage, "CLOSEST", 1)
    monkeypatch.setattr(markdown_report, "LARGE", 1)
    monkeypatch.setattr(markdown_report, "TRAJECTORIES_SHOWN", 1)
    cases = [_case(name, steps=3) for name in ("a_passes", "b_fails", "c_passes")]
    report.write(_rows(cases, {"b_fails": ("numpy", "buggy")}), tmp_path, cases=cases, now=NOW)
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    table, text = _section(summary)
    assert list(table) == ["b_fails"]
    assert "from step 2" in table["b_fails"]["buggy float32"]
    assert "2 more training cases are not listed (a large report lists those of the cases " \
           "above, what needs eyes first); their rows are in [agreement.csv](agreement.csv)." \
        in text
