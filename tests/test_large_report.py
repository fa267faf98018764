"""Reports at any size: the work of writing them grows with the rows, not with cases × rows; a
large catalogue's views show what needs eyes first, with a row per folder; the heatmap's colour
is the share of the tolerance used, so a passing cell never looks worse than a failing one."""
import math

import numpy as np
import pandas as pd
import pytest

from crossgrad import cells, heatmap, markdown_report, report, row_store, triage
from crossgrad.compare import Comparison

from test_html_report import NOW, row


def catalogue_rows(count, failing_every=7):
    """Rows of `count` cases: case_i passes with a share that grows with i; every
    `failing_every`-th case fails on torch float32 (with a message to show)."""
    rows = []
    for i in range(count):
        name = f"case_{i:04d}"
        share = (i + 1) / (count + 1)  # below 1: a pass
        for backend, dtype in (("numpy", "float32"), ("torch", "float64"),
                               ("torch", "float32")):
            for layer, quantity in ((1, "error_term"), (0, "error_term"), (0, "weight_delta")):
                fails = i % failing_every == 3 and backend == "torch" and dtype == "float32" \
                    and quantity == "weight_delta"
                rows.append(row(name, backend, dtype, layer=layer, quantity=quantity,
                                status="fail" if fails else "pass", rel=1e-6 * share,
                                tolerance_share=2.0 + i / count if fails else share,
                                size=4, mismatched=1 if fails else 0))
    return rows


class Counter:
    """Counts the rows that boolean indexing reads (frame[mask], series[mask]) and the
    Comparisons asked whether they failed: what a per-case filter or scan would multiply."""

    def __init__(self, monkeypatch):
        self.filtered_rows = 0
        self.failed_asked = 0
        counter = self
        for kind in (pd.DataFrame, pd.Series):
            original = kind.__getitem__

            def counted(self, key, original=original):
                if isinstance(key, (pd.Series, np.ndarray)) and getattr(key, "dtype", None) == bool:
                    counter.filtered_rows += len(self)
                return original(self, key)

            monkeypatch.setattr(kind, "__getitem__", counted)
        failed = Comparison.failed

        def asked(comparison):
            counter.failed_asked += 1
            return failed.fget(comparison)

        monkeypatch.setattr(Comparison, "failed", property(asked))


def _work_of_writing(count, tmp_path, monkeypatch):
    rows = catalogue_rows(count)
    with monkeypatch.context() as patched:
        counter = Counter(patched)
        report.write(rows, tmp_path / f"out-{count}", now=NOW)
    return counter, len(rows)


@pytest.mark.parametrize("large", [False, True], ids=["small layout", "large layout"])
def test_writing_costs_the_same_per_row_at_any_catalogue_size(tmp_path, monkeypatch, large):
    """Counted in operations, not seconds: the rows read by boolean indexing, and the rows
    asked whether they failed, per row of the report, are the same for 12 and 36 cases. A
    filter or a scan per case (frame[frame.case == name] for each case) would triple them."""
    monkeypatch.setattr(triage, "LARGE", 5 if large else 1_000)
    monkeypatch.setattr(triage, "CLOSEST", 3)
    small, small_rows = _work_of_writing(12, tmp_path, monkeypatch)
    big, big_rows = _work_of_writing(36, tmp_path, monkeypatch)
    assert small.failed_asked == small_rows and big.failed_asked == big_rows  # once a row
    assert big.filtered_rows / big_rows <= small.filtered_rows / small_rows * 1.05


def test_the_counter_sees_a_per_case_filter(tmp_path, monkeypatch):
    """The counter catches what the test above guards against: a filter per case."""
    frame = report.to_frame(catalogue_rows(12))
    with monkeypatch.context() as patched:
        counter = Counter(patched)
        for name in set(frame["case"]):
            frame[frame["case"] == name]
    assert counter.filtered_rows == 12 * len(frame)


def _plan_frame():
    """Per case, rows of (status, tolerance_share), and the folder it is in."""
    cases = {
        "a_pass_far": ("kinks", [("pass", 1e-6), ("pass", 2e-6)]),
        "b_pass_close": ("kinks", [("pass", 0.9), ("pass", 0.1)]),
        "c_pass_mid": ("losses", [("pass", 0.3)]),
        "d_fail_small": ("losses", [("pass", 0.5), ("fail", 1.5)]),
        "e_fail_big": ("kinks", [("fail", 40.0), ("pass", 0.2)]),
        "f_diverges": ("losses", [("expected_divergence", 1e3), ("pass", 0.1)]),
        "g_error": ("numerics", [("error", math.nan)]),
        "h_skipped": ("numerics", [("skipped", math.nan)]),
        "i_pass_closer": ("numerics", [("pass", 0.95)]),
    }
    rows = [(name, status, share) for name, (_, found) in cases.items()
            for status, share in found]
    frame = pd.DataFrame(rows, columns=["case", "status", "tolerance_share"])
    return frame, {name: folder for name, (folder, _) in cases.items()}


def test_large_plan_shows_what_needs_eyes_then_the_closest_passing(monkeypatch):
    monkeypatch.setattr(triage, "CLOSEST", 2)
    frame, folders = _plan_frame()
    plan = triage.plan(triage.per_case(frame), folders, large=True)
    # errors, then failures (largest share first), then divergences; then the 2 passing cases
    # nearest their tolerance; far passing cases and skipped ones are left to the folder rows
    assert plan.shown == ("g_error", "e_fail_big", "d_fail_small", "f_diverges",
                          "i_pass_closer", "b_pass_close")
    assert plan.needing_eyes == 4 and plan.total == 9


def test_large_plan_has_one_row_per_folder_with_counts_and_the_worst_share():
    frame, folders = _plan_frame()
    table = triage.plan(triage.per_case(frame), folders, large=True).folders
    assert list(table.index) == ["kinks", "losses", "numerics"]
    assert table.loc["kinks"].to_dict() == {"cases": 3, "pass": 2, "fail": 1, "error": 0,
                                            "expected_divergence": 0, "skipped": 0,
                                            "worst_share": 40.0}
    assert table.loc["losses"][["pass", "fail", "expected_divergence"]].tolist() == [1, 1, 1]
    assert table.loc["losses", "worst_share"] == 1e3
    assert table.loc["numerics"][["cases", "pass", "error", "skipped"]].tolist() == [3, 1, 1, 1]
    assert table.loc["numerics", "worst_share"] == 0.95


def test_small_catalogue_shows_every_case_by_name():
    frame, folders = _plan_frame()
    plan = triage.plan(triage.per_case(frame), folders)
    assert not plan.large and plan.shown == tuple(sorted(folders))


def test_folder_names_are_relative_to_the_catalogue():
    found = triage.folder_names({"a": "/x/cases/a.yaml", "b": "/x/cases/kinks/b.yaml"})
    assert found == {"a": "cases", "b": "cases/kinks"}


@pytest.fixture
def large_report(tmp_path, monkeypatch):
    """A report of 40 cases written as a large one (threshold 10, 4 closest passing)."""
    monkeypatch.setattr(triage, "LARGE", 10)
    monkeypatch.setattr(triage, "CLOSEST", 4)
    monkeypatch.setattr(markdown_report, "LARGE", 10)
    rows = catalogue_rows(40)
    report.write(rows, tmp_path, now=NOW)
    failing = sorted({r.case for r in rows if r.failed})
    return tmp_path, rows, failing


def test_large_report_lists_every_failing_case_first_and_keeps_every_row(large_report):
    out, rows, failing = large_report
    assert len(failing) == 6  # case_0003, case_0010, ... case_0038
    summary = (out / "summary.md").read_text(encoding="utf-8")
    table = [line.split("|")[1].strip() for line in summary.splitlines()
             if line.startswith("| case_")]
    # failing first, the largest share first (it grows with the index), then the 4 passing
    # cases closest to their tolerance (the highest passing indices)
    assert table == sorted(failing, reverse=True) + ["case_0039", "case_0037", "case_0036",
                                                     "case_0035"]
    assert "## By folder" in summary
    page = (out / "agreement.html").read_text(encoding="utf-8")
    sections = [name for name in page.split('<section id="case-')[1:]]
    assert [s.split('"', 1)[0] for s in sections] == table  # each shown case has its section
    for name in failing:
        assert f"{name} · torch · float32 · layer 0 · weight_delta vs reference: not close" in page
    assert "<script" not in page
    csv = pd.read_csv(out / "agreement.csv")
    assert len(csv) == len(rows) and csv["case"].nunique() == 40


def _heatmap_cells():
    rows = [row("close_pass", "numpy", "float32", rel=0.5, tolerance_share=0.9),
            row("far_pass", "numpy", "float32", rel=1e-9, tolerance_share=1e-5),
            row("small_fail", "numpy", "float32", status="fail", rel=1e-7,
                tolerance_share=1.2),
            row("structural", "numpy", "float32", status="fail", rel=math.nan,
                tolerance_share=math.nan, problem="shape (2,), expected (3,)")]
    return cells.fold(report.to_frame(rows), ["case"])


def test_heatmap_colour_is_the_share_of_the_tolerance_so_a_pass_never_looks_worse():
    """A passing cell with a large relative difference (0.5, on an element near zero) is
    coloured below 1, under a failing cell with a small one; a failure with no share (a
    structural fault) sits at the top of the scale."""
    found = _heatmap_cells().set_index("case")
    values = dict(zip(found.index, heatmap.colour_values(found.reset_index())))
    assert values["close_pass"] == pytest.approx(math.log10(0.9))
    assert values["far_pass"] == pytest.approx(-5)
    assert values["small_fail"] == pytest.approx(math.log10(1.2)) and values["small_fail"] > 0
    assert values["structural"] == heatmap.LOG_RANGE[1]
    figure = heatmap.figure(_heatmap_cells())
    image = figure.axes[0].images[0]
    shown = dict(zip(["close_pass", "far_pass", "small_fail", "structural"],
                     image.get_array()[:, 0]))
    assert shown["far_pass"] < shown["close_pass"] < 0 < shown["small_fail"]
    bar = figure.axes[1]
    assert "1: the tolerance" in [t.get_text() for t in bar.get_yticklabels()]


def test_csv_lines_are_what_pandas_writes():
    """The streamed lines equal to_frame(...).to_csv for rows of every kind of value."""
    rows = catalogue_rows(3) + [
        row("odd", "jax", "float16", layer=None, quantity="loss", rel=float("inf"),
            problem='a "quoted", comma\nand a newline', max_abs_diff=1e-300,
            first_divergent_layer=2, error_growth=np.float64(3.5)),
        row("x", "", "", layer=None, quantity="", compared_to="", status="fail")]
    expected = report.to_frame(rows).to_csv(index=False, lineterminator="\n").encode()
    assert row_store.header_line() + row_store.csv_lines(rows) == expected


def test_rows_read_back_from_the_store_are_the_frames_rows():
    rows = catalogue_rows(5)
    with row_store.RowStore() as store:
        for position in (3, 1, 0, 2, 4):  # runs arrive in any order
            store.add(position, [r for r in rows if r.case == f"case_{position:04d}"])
        back = store.rows_of(["case_0001", "case_0003"])
        frame = report.to_frame(rows)
        expected = frame[frame["case"].isin(["case_0001", "case_0003"])].reset_index(drop=True)
        pd.testing.assert_frame_equal(back[list(report.ORDER)], expected, check_dtype=False)
        assert store.rows_of(["case_0004", "case_0000"])["case"].tolist() == (
            ["case_0000"] * 9 + ["case_0004"] * 9)  # catalogue order, whatever the arrival
        cases = store.per_case()
        assert cases.equals(triage.per_case(frame))
        assert cases.loc["case_0003", "status"] == "fail"
        assert cases.loc["case_0003", "share"] == pytest.approx(2.0 + 3 / 5)


def test_trajectory_rows_read_back_with_their_steps_as_whole_numbers():
    # a trajectory's step and first step outside are Int64, as in report.to_frame: read back
    # from the spill as floats they would print '100.0' on the page
    rows = [row("train", "torch", "float32", layer=0, quantity="weights", step=step,
                first_divergent_step=100) for step in (0, 1, 100)]
    rows.append(row("train", "torch", "float32", layer=0, quantity="weight_delta"))
    with row_store.RowStore() as store:
        store.add(0, rows)
        back = store.rows_of(["train"])
    expected = report.to_frame(rows)
    for column in ("step", "first_divergent_step", "layer"):
        assert back[column].dtype == "Int64", column
        pd.testing.assert_series_equal(back[column], expected[column])
    assert back["step"].tolist()[:3] == [0, 1, 100] and back["step"].isna().tolist()[3]


def test_header_notices_stand_above_the_tables(tmp_path, monkeypatch):
    """The spot for what must be read first: Header.notices, on top of summary.md, agreement.md
    and the page (none by default)."""
    from dataclasses import replace
    notice = "the reference is outside its tolerance against the ground truth: a harness error"
    original = report.header
    monkeypatch.setattr(report, "header", lambda *a, **k: replace(original(*a, **k),
                                                                   notices=(notice,)))
    report.write(catalogue_rows(3), tmp_path, now=NOW)
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert summary.index(f"**{notice}**") < summary.index("| case ")
    assert f"**{notice}**" in (tmp_path / "agreement.md").read_text(encoding="utf-8")
    page = (tmp_path / "agreement.html").read_text(encoding="utf-8")
    assert page.index(f'<p class="notice"><b>{notice}</b></p>') < page.index("<h2>Heatmap")


def test_collect_hands_over_each_runs_rows_and_keeps_none():
    """executors.execute(collect=...) gives each run's rows under its position, the same rows
    execute returns without it, and returns None."""
    from pathlib import Path
    from crossgrad import executors
    from crossgrad.cases import load_case
    case = load_case(Path(__file__).resolve().parent.parent / "cases" / "seed_3_2_1.yaml")
    runs = [(case, "numpy", "float32"), (case, "numpy", "float64")]
    collected = {}
    assert executors.execute(runs, collect=lambda position, rows: collected.setdefault(
        position, rows)) is None
    kept = executors.execute(runs)
    assert [collected[0], collected[1]] == kept and all(kept)
