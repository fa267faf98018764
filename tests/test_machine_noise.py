"""Reports regenerated with another BLAS thread count, or with another machine's BLAS kernels,
give `crossgrad diff` no changes; a real growth beyond rounding is still WORSE.

OpenBLAS (NumPy's BLAS here) partitions a matmul among threads without changing its sums, so
OMP_NUM_THREADS=1 and 2 agree to the bit on this machine; the kernels it picks for a CPU do
change them. OPENBLAS_CORETYPE=Prescott makes it run an older CPU's kernels, as another machine
would: the reference moves by rounding, and so do the rows measured against it.
"""
import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from crossgrad.cli import main

ROOT = Path(__file__).resolve().parent.parent
# Those that moved in the issue (batch_256, article_batch_mean, generated_width1_depth4), a wide
# sum, the lesson's case and a cancelling sum
SUBSET = ("shapes/batch_256", "article/article_batch_mean", "generated/generated_width1_depth4",
          "generated/generated_linear_16_128_8", "seed_3_2_1", "numerics/bias_delta_cancelling_sum")
THREADS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
SETTINGS = {"one_thread": {name: "1" for name in THREADS},
            "two_threads": {name: "2" for name in THREADS},
            "other_kernels": dict({name: "1" for name in THREADS}, OPENBLAS_CORETYPE="Prescott")}


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """{setting: agreement.csv} of the subset, every referee, each in its own process."""
    folder = tmp_path_factory.mktemp("machines")
    cases = folder / "cases"
    cases.mkdir()
    for name in SUBSET:
        shutil.copy(ROOT / "cases" / f"{name}.yaml", cases)
    running = {}
    for setting, environment in SETTINGS.items():
        running[setting] = subprocess.Popen(
            [sys.executable, "-m", "crossgrad", "report", "--cases", str(cases), "--out",
             str(folder / setting), "--executor", "serial"],
            env=dict(os.environ, **environment), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
    for setting, process in running.items():
        out, err = process.communicate(timeout=900)
        assert process.returncode == 0, (setting, out[-2000:], err[-2000:])
    return {setting: folder / setting / "agreement.csv" for setting in SETTINGS}


def rows_of(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_rows(path, rows, columns):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows({key: row[key] for key in columns} for row in rows)
    return path


@pytest.mark.parametrize("other", ["two_threads", "other_kernels"])
def test_another_thread_count_or_machine_gives_no_changes(reports, capsys, other):
    """crossgrad diff of the one-thread report against the other: no changes, exit 0."""
    assert main(["diff", str(reports["one_thread"]), str(reports[other])]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("no changes")


def test_other_kernels_do_move_the_numbers_and_a_bound_free_diff_cries_wolf(reports, tmp_path,
                                                                            capsys):
    """The test is not vacuous: other kernels move max_rel_diff on some rows, and without the
    rounding_bound column (as the diff was) some of that counts as WORSE growth."""
    one, other = rows_of(reports["one_thread"]), rows_of(reports["other_kernels"])
    assert len(one) == len(other)
    assert sum(a["max_rel_diff"] != b["max_rel_diff"] for a, b in zip(one, other)) > 10
    columns = [c for c in one[0] if c != "rounding_bound"]
    old = write_rows(tmp_path / "old.csv", one, columns)
    new = write_rows(tmp_path / "new.csv", other, columns)
    assert main(["diff", str(old), str(new)]) == 1
    assert "WORSE grew" in capsys.readouterr().out


def test_a_float64_row_grown_from_1e_16_to_1e_11_is_worse(reports, tmp_path, capsys):
    """One float64 row's error grows from about 1e-16 to 1e-11: inside rtol 1e-9, far outside
    rounding; the diff says WORSE, names the row's rounding bound, and exits 1."""
    rows = rows_of(reports["one_thread"])
    # a backend against the reference, or (where only numpy is installed, as in tox's
    # `reference` environment) the reference against the ground truth
    index = next(i for i, r in sorted(enumerate(rows), key=lambda item: item[1]["compared_to"]
                                      != "reference")
                 if r["dtype"] == "float64" and r["compared_to"] in ("reference", "ground_truth")
                 and r["quantity"] == "weight_delta" and r["status"] == "pass"
                 and 1e-17 <= float(r["max_rel_diff"]) <= 1e-15)
    grown = [dict(r) for r in rows]
    grown[index]["max_rel_diff"] = "1e-11"
    bound = float(rows[index]["rounding_bound"])
    assert 0 < bound < 1e-12
    new = write_rows(tmp_path / "grown.csv", grown, list(rows[0]))
    assert main(["diff", str(reports["one_thread"]), str(new)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and out[-1] == "1 change, 1 worse"
    assert out[1].startswith("WORSE grew")
    assert f"over its rounding bound {bound:.1e}); still pass" in out[1]
