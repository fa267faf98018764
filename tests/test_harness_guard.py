"""The report's guard: the reference outside its tolerance against the proven truth is a
harness error, named above everything else, and `report` exits 1 for it."""
import pytest

from crossgrad import cli
from crossgrad.reference import activations

SEED = "cases/seed_3_2_1.yaml"


def _report(tmp_path, capsys):
    status = cli.main(["report", "--cases", SEED, "--out", str(tmp_path), "--backends", "numpy",
                       "--dtypes", "float64", "--referees", "truth", "--executor", "serial"])
    return status, capsys.readouterr().err


def test_a_correct_reference_raises_no_harness_error(tmp_path, capsys):
    status, err = _report(tmp_path, capsys)
    assert status == 0
    assert "HARNESS ERROR" not in err
    assert "Harness error" not in (tmp_path / "summary.md").read_text()


def test_a_wrong_reference_is_a_harness_error_at_the_top(tmp_path, capsys, monkeypatch):
    # plant a slip in the reference: σ'(z) taken as σ(z)·σ(z) (the ground truth, in balls,
    # shares no code with it and stays right)
    monkeypatch.setitem(activations.ACTIVATIONS, "sigmoid",
                        (activations.sigmoid, lambda z: activations.sigmoid(z) ** 2))
    status, err = _report(tmp_path, capsys)
    assert status == 1
    assert "HARNESS ERROR (the reference against the proven truth) seed_3_2_1 · numpy · " \
           "float64 · layer 0 · error_term vs ground_truth" in err
    summary = (tmp_path / "summary.md").read_text()
    # above every table: the first '|' of the summary comes after the notice
    notice = summary.index("Harness error: the float64 reference is outside its tolerance")
    assert notice < summary.index("|")
    assert "seed_3_2_1 · numpy · float64 · layer 1 · error_term vs ground_truth" in summary
    page = (tmp_path / "agreement.html").read_text()
    assert page.index("Harness error") < page.index("<table")


@pytest.mark.parametrize("count, shown", [(3, 3), (25, 20)])
def test_harness_notices_name_each_row_up_to_a_limit(count, shown):
    from crossgrad.report import harness_notices
    notices = harness_notices([f"row {i}" for i in range(count)])
    assert notices[0].startswith(f"Harness error: the float64 reference is outside its "
                                 f"tolerance against the proven ground truth in {count} rows")
    assert [n for n in notices if n.startswith("row ")] == [f"row {i}" for i in range(shown)]
    assert (notices[-1] == f"… and {count - shown} more in agreement.csv") == (count > shown)
