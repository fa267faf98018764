"""The command line: report, validate and show, on small catalogues written to tmp_path."""
import csv
import datetime
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from crossgrad import report as report_module
from crossgrad import runner
from crossgrad.adapters import BACKENDS
from crossgrad.cases import load_case
from crossgrad.cli import main
from crossgrad.compare import STATUSES
from crossgrad.problem import DEFAULT_DTYPES as DTYPES
from test_html_report import NOW, ROWS  # rows of every status, and a fixed time

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "cases" / "seed_3_2_1.yaml"
REQUIRED_COLUMNS = ("case", "backend", "dtype", "device", "layer", "quantity", "compared_to",
                    "max_abs_diff", "max_rel_diff", "rtol", "atol", "status")
# The lesson's printout: Δw hidden→output and the output error term.
PRINTED_HIDDEN_TO_OUTPUT = [0.00804047, 0.00555918]
PRINTED_OUTPUT_ERROR_TERM = 0.028730669543515018


def catalogue(tmp_path, **files):
    """A folder of case files, name -> YAML text."""
    folder = tmp_path / "cases"
    folder.mkdir()
    for name, text in files.items():
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    return folder


def seed_text():
    return SEED.read_text(encoding="utf-8")


def wrong_seed_text():
    """The seed case with the golden Δw of hidden unit 1 → output changed from 0.00555918."""
    text = seed_text()
    assert text.count("[[0.00804047], [0.00555918]]") == 1
    return text.replace("[[0.00804047], [0.00555918]]", "[[0.00804047], [0.00565918]]")


def report(tmp_path, folder, *options):
    """Run `crossgrad report` into tmp_path/out; returns the exit code and the CSV rows."""
    out = tmp_path / "out"
    code = main(["report", "--cases", str(folder), "--out", str(out), *options])
    with open(out / "agreement.csv", newline="", encoding="utf-8") as file:
        return code, list(csv.DictReader(file))


def test_report_writes_csv_and_markdown_and_passes(tmp_path, capsys):
    """On the seed case alone: exit 0, the required columns, rows for both dtypes, all passing."""
    folder = catalogue(tmp_path, seed_3_2_1=seed_text())
    code, rows = report(tmp_path, folder, "--backends", "numpy")
    assert code == 0
    assert set(REQUIRED_COLUMNS) <= set(rows[0])
    assert {row["case"] for row in rows} == {"seed_3_2_1"}
    assert {(row["backend"], row["dtype"]) for row in rows} == {("numpy", "float64"),
                                                                 ("numpy", "float32")}
    assert {row["status"] for row in rows} == {"pass"}
    # numpy float64 is the reference: it is compared with the golden values and the referees
    # (numpy has no forward mode), never with itself
    assert {row["compared_to"] for row in rows if row["dtype"] == "float64"} == {
        "expected", "finite_difference", "ground_truth"}
    assert {row["compared_to"] for row in rows if row["dtype"] == "float32"} == {
        "reference", "expected", "finite_difference", "ground_truth"}
    markdown = (tmp_path / "out" / "agreement.md").read_text(encoding="utf-8")
    assert "seed_3_2_1" in markdown
    assert "## Failures" not in markdown
    assert capsys.readouterr().err == ""


def test_report_golden_rows_cover_every_given_value(tmp_path):
    """The seed case gives Δw and δ for both layers: four expected rows per backend × dtype."""
    folder = catalogue(tmp_path, seed_3_2_1=seed_text())
    _, rows = report(tmp_path, folder, "--backends", "numpy", "--dtypes", "float32")
    golden = sorted((row["layer"], row["quantity"]) for row in rows
                    if row["compared_to"] == "expected")
    assert golden == [("0", "error_term"), ("0", "weight_delta"), ("1", "error_term"),
                      ("1", "weight_delta")]


def test_report_with_every_backend(tmp_path):
    """All three backends in both dtypes agree on the seed case: exit 0, every row passes."""
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    folder = catalogue(tmp_path, seed_3_2_1=seed_text())
    code, rows = report(tmp_path, folder)
    assert code == 0
    assert {(row["backend"], row["dtype"]) for row in rows} == {
        (backend, dtype) for backend in BACKENDS for dtype in DTYPES}
    assert [row for row in rows if row["status"] != "pass"] == []


def test_wrong_expected_value_fails_on_every_backend_and_dtype(tmp_path, capsys):
    """A changed golden Δw fails its expected row everywhere and exits 1; failures name the case."""
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    folder = catalogue(tmp_path, seed_3_2_1=seed_text(), wrong_golden=wrong_seed_text())
    code, rows = report(tmp_path, folder)
    assert code == 1
    target = [row for row in rows if row["case"] == "wrong_golden" and row["layer"] == "1"
              and row["quantity"] == "weight_delta" and row["compared_to"] == "expected"]
    assert {(row["backend"], row["dtype"]) for row in target} == {
        (backend, dtype) for backend in BACKENDS for dtype in DTYPES}
    assert {row["status"] for row in target} == {"fail"}
    assert {row["worst_index"] for row in target} == {"(1, 0)"}
    # every other row, of both cases, still passes: only the changed value is wrong
    assert {row["status"] for row in rows if row not in target} == {"pass"}
    err = capsys.readouterr().err
    assert "FAIL wrong_golden · numpy · float64 · layer 1 · weight_delta vs expected" in err
    markdown = (tmp_path / "out" / "agreement.md").read_text(encoding="utf-8")
    assert ("wrong_golden · torch · float32 · layer 1 · weight_delta vs expected: not close"
            in markdown)
    assert 'rerun: pytest "tests/test_catalogue.py::test_case[wrong_golden-jax-float64]"' in markdown


def test_invalid_case_is_reported_counted_and_the_rest_still_run(tmp_path, capsys):
    """A bad file goes to stderr as path:line:col: field: message; the good case still runs."""
    bad_text = seed_text().replace("      activation: sigmoid\n    - weights: [[0.1], [-0.3]]",
                                   "      activation: sigmod\n    - weights: [[0.1], [-0.3]]")
    assert bad_text != seed_text()
    folder = catalogue(tmp_path, seed_3_2_1=seed_text(), broken=bad_text)
    code, rows = report(tmp_path, folder, "--backends", "numpy")
    assert code == 1
    bad_line = next(n for n, line in enumerate(bad_text.splitlines(), 1) if "sigmod" in line)
    bad_column = bad_text.splitlines()[bad_line - 1].index("sigmod") + 1
    err = capsys.readouterr().err
    path = folder / "broken.yaml"
    assert (f"{path}:{bad_line}:{bad_column}: network.layers[0].activation: unknown activation "
            "'sigmod'; did you mean 'sigmoid'?") in err.splitlines()
    broken = [row for row in rows if row["case"] == "broken"]
    assert len(broken) == 1 and broken[0]["status"] == "fail"
    assert f"{path}:{bad_line}:" in broken[0]["problem"]
    seed_rows = [row for row in rows if row["case"] == "seed_3_2_1"]
    assert seed_rows and {row["status"] for row in seed_rows} == {"pass"}


def test_validate_accepts_the_catalogue(capsys):
    """validate on cases/ exits 0 and prints no problem lines."""
    assert main(["validate", str(ROOT / "cases")]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "0 with problems" in captured.err


def test_validate_rejects_a_bad_file(tmp_path, capsys):
    """validate on a folder holding a bad file exits 1 and prints path:line:col: field: message."""
    text = seed_text().replace("learning_rate: 0.5", "learning_rate: fast")
    folder = catalogue(tmp_path, slow=text)
    assert main(["validate", str(folder)]) == 1
    line = next(n for n, l in enumerate(text.splitlines(), 1) if l.startswith("learning_rate"))
    out = capsys.readouterr().out
    assert re.match(rf"^{re.escape(str(folder / 'slow.yaml'))}:{line}:\d+: learning_rate: "
                    r"expected a number, got the string 'fast'$", out.strip())


def test_validate_with_no_case_files_fails(tmp_path):
    """An empty folder is not a valid catalogue."""
    assert main(["validate", str(tmp_path)]) == 1


def test_show_json_matches_the_article_printout(capsys):
    """show --json gives numpy float64 weight deltas and output error term as the lesson printed."""
    assert main(["show", str(SEED), "--json", "--backends", "numpy", "--dtypes", "float64"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["case"] == "seed_3_2_1"
    result = shown["results"]["numpy float64"]
    np.testing.assert_allclose(np.ravel(result["weight_deltas"][1]), PRINTED_HIDDEN_TO_OUTPUT,
                               rtol=0, atol=5e-9)  # printed to 8 decimals
    assert result["error_terms"][1][0][0] == pytest.approx(PRINTED_OUTPUT_ERROR_TERM, rel=2e-16)
    assert result["bias_deltas"] == [None, None]
    assert np.shape(result["weight_deltas"][0]) == (3, 2)


def test_show_prints_a_readable_table(capsys):
    """Plain show names the case and each layer from the output down."""
    assert main(["show", str(SEED), "--backends", "numpy"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("seed_3_2_1: ")
    assert out.index("layer 1: 2 -> 1, sigmoid (output)") < out.index("layer 0: 3 -> 2, sigmoid")


def test_show_of_an_invalid_case_exits_1(tmp_path, capsys):
    """show on a bad file prints its problems on stderr and exits 1."""
    folder = catalogue(tmp_path, bad=seed_text().replace("loss: half_squared_error", "loss: l1"))
    assert main(["show", str(folder / "bad.yaml"), "--json"]) == 1
    assert "loss: unknown loss 'l1'" in capsys.readouterr().err


def test_python_dash_m_validate_works():
    """`python -m crossgrad validate cases` runs from the repository root and exits 0."""
    completed = subprocess.run([sys.executable, "-m", "crossgrad", "validate", "cases"], cwd=ROOT,
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert "0 with problems" in completed.stderr


def test_unknown_backend_option_is_a_usage_error(capsys):
    """--backends with a name the registry lacks exits with argparse's status 2."""
    with pytest.raises(SystemExit) as caught:
        main(["report", "--backends", "caffe"])
    assert caught.value.code == 2
    assert "unknown 'caffe'" in capsys.readouterr().err


def test_runner_reference_follows_an_edited_case_file(tmp_path):
    """After a weight is changed and the case reloaded, numpy float32 agrees with its reference."""
    path = tmp_path / "edited.yaml"
    shutil.copy(SEED, path)
    assert {row.status for row in runner.run(load_case(path), "numpy", "float32")} == {"pass"}
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("[[0.1], [-0.3]]", "[[0.2], [-0.3]]").split("expected:")[0],
                    encoding="utf-8")
    rows = runner.run(load_case(path), "numpy", "float32")
    assert [row.message() for row in rows if row.failed] == []


def test_report_writes_every_file_and_each_links_the_others(tmp_path):
    """agreement.csv, summary.md, agreement.md, agreement.html and heatmap.png; the Markdown
    files link each other and the page, and summary.md shows the heatmap."""
    folder = catalogue(tmp_path, seed_3_2_1=seed_text())
    report(tmp_path, folder, "--backends", "numpy")
    out = tmp_path / "out"
    assert sorted(path.name for path in out.iterdir()) == sorted(report_module.FILES)
    summary = (out / "summary.md").read_text(encoding="utf-8")
    details = (out / "agreement.md").read_text(encoding="utf-8")
    for link in ("[agreement.md](agreement.md)", "[agreement.html](agreement.html)",
                 "[agreement.csv](agreement.csv)"):
        assert link in summary
    assert re.search(r"!\[[^\]]+\]\(heatmap\.png\)", summary)
    assert "[summary.md](summary.md)" in details and "[agreement.html](agreement.html)" in details
    assert (out / "heatmap.png").read_bytes().startswith(b"\x89PNG")


def markdown_table(text):
    """The first Markdown table in `text` as rows of stripped cells, without the rule line."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines
            if not set(line) <= set("|:- ")]


def test_summary_markdown_header_and_table(tmp_path):
    """summary.md: date, versions, machine and counts, then cases × backend/dtype with the worst
    status and the largest relative difference of each cell."""
    report_module.write(ROWS, tmp_path, now=NOW)
    text = (tmp_path / "summary.md").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert "- **Date:** 2024-05-06 07:08 UTC" in lines
    [versions] = [line for line in lines if line.startswith("- **Versions:** ")]
    assert versions.startswith(f"- **Versions:** Python {platform.python_version()} · NumPy "
                               f"{np.__version__} · PyTorch ")
    [machine] = [line for line in lines if line.startswith("- **Machine:** ")]
    assert f"{os.cpu_count()} CPUs" in machine and platform.machine() in machine
    counts = {"pass": 3, "fail": 2, "expected_divergence": 1, "skipped": 1}
    assert f"- **Counts:** 2 cases, 7 rows: " + " · ".join(
        f"{counts.get(s, 0)} {s.replace('_', ' ')}" for s in STATUSES) in lines
    assert markdown_table(text) == [
        ["case", "numpy float64", "numpy float32", "torch float64"],
        ["beta", "pass 1.0e-08", "**✗ fail** 1.0e-07 vs golden", "—"],
        ["seed_3_2_1", "skipped", "**✗ fail** 2.0e-02 from layer 1", "*~ diverges* 5.0e-01"],
    ]


def test_two_runs_differ_only_in_the_date_line(tmp_path, monkeypatch):
    """The same catalogue twice, at different times: the CSV, agreement.md and the PNG are the
    same bytes; summary.md and the page differ in their date line alone."""
    folder = catalogue(tmp_path, seed_3_2_1=seed_text(), wrong_golden=wrong_seed_text())
    times = iter([NOW, NOW + datetime.timedelta(days=400, minutes=7)])
    monkeypatch.setattr(report_module, "_now", lambda: next(times))
    for name in ("first", "second"):
        assert main(["report", "--cases", str(folder), "--out", str(tmp_path / name),
                     "--backends", "numpy"]) == 1
    first, second = tmp_path / "first", tmp_path / "second"
    for name in ("agreement.csv", "agreement.md", "heatmap.png"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    for name in ("summary.md", "agreement.html"):
        old = (first / name).read_text(encoding="utf-8").splitlines()
        new = (second / name).read_text(encoding="utf-8").splitlines()
        assert len(old) == len(new)
        [(before, after)] = [(a, b) for a, b in zip(old, new) if a != b]
        assert "2024-05-06 07:08 UTC" in before and "2025-06-10 07:15 UTC" in after
        assert before.replace("2024-05-06 07:08", "2025-06-10 07:15") == after


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_but_not_in_ci(tmp_path, monkeypatch):
    """On a terminal, report draws a progress bar on stderr; with CI set it stays quiet (and
    when stderr is not a terminal, as under capsys above, it is quiet too)."""
    folder = catalogue(tmp_path, seed_3_2_1=seed_text())
    monkeypatch.delenv("CI", raising=False)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    report(tmp_path, folder, "--backends", "numpy")
    assert re.search(r"crossgrad report: +0%.*0/2", terminal.getvalue())
    monkeypatch.setenv("CI", "true")
    quiet = Terminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    report(tmp_path, folder, "--backends", "numpy")
    assert quiet.getvalue() == ""
