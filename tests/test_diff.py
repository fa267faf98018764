"""The run-to-run diff: each kind of change, what counts as worse, and the `diff` command."""
from pathlib import Path

import pytest

from crossgrad import diff
from crossgrad.cli import main

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "cases" / "seed_3_2_1.yaml"
HEADER = "case,backend,dtype,layer,quantity,compared_to,status,max_rel_diff,seconds"
# Two cases on torch float32; `seconds` stands for any column the diff must ignore (timings).
BASE = [
    "seed,torch,float32,1,weight_delta,reference,pass,1e-06,0.51",
    "seed,torch,float32,0,error_term,reference,pass,2e-07,0.51",
    "seed,torch,float32,,loss,reference,pass,0.0,0.51",
    "other,torch,float32,0,weight_delta,reference,pass,3e-05,0.20",
]


def csv_file(tmp_path, name, lines):
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def changes(tmp_path, old_lines, new_lines):
    """The diff.Change list from a report holding `old_lines` to one holding `new_lines`."""
    return diff.changes(diff.read(csv_file(tmp_path, "old.csv", old_lines)),
                        diff.read(csv_file(tmp_path, "new.csv", new_lines)))


def replaced(lines, index, **values):
    """`lines` with the row at `index` given new status / max_rel_diff / seconds."""
    fields = dict(zip(HEADER.split(","), lines[index].split(",")))
    fields.update(values)
    return lines[:index] + [",".join(fields.values())] + lines[index + 1:]


def test_same_rows_with_other_timings_are_no_change(tmp_path):
    """Only the seconds column moved: no change, and describe says so."""
    new = [line.replace(",0.51", ",9.99") for line in BASE]
    assert new != BASE
    found = changes(tmp_path, BASE, new)
    assert found == []
    assert diff.describe(found, "a.csv", "b.csv")[-1].startswith("no changes")


def test_pass_to_fail_is_worse_and_fail_to_pass_is_not(tmp_path):
    """A status change is listed either way; only one that ends in fail is worse."""
    failing = replaced(BASE, 0, status="fail", max_rel_diff="2e-06")
    [worse] = changes(tmp_path, BASE, failing)
    assert (worse.kind, worse.worse) == ("status", True)
    assert worse.subject == "seed · torch · float32 · layer 1 · weight_delta vs reference"
    assert worse.detail == "pass → fail; max rel diff 1.0e-06 → 2.0e-06"
    [better] = changes(tmp_path, failing, BASE)
    assert (better.kind, better.worse, better.detail) == (
        "status", False, "fail → pass; max rel diff 2.0e-06 → 1.0e-06")


def test_to_fail_or_to_skipped_is_worse(tmp_path):
    """expected_divergence → fail is worse; so is pass → skipped, a check lost (a framework that
    stopped importing after an upgrade); skipped → pass is not."""
    diverging = replaced(BASE, 1, status="expected_divergence")
    [change] = changes(tmp_path, diverging, replaced(BASE, 1, status="fail"))
    assert change.worse and change.detail.startswith("expected_divergence → fail")
    skipped = replaced(BASE, 1, status="skipped", max_rel_diff="")
    [change] = changes(tmp_path, BASE, skipped)
    assert change.worse and change.detail == "pass → skipped; max rel diff 2.0e-07 → –"
    [change] = changes(tmp_path, skipped, BASE)
    assert not change.worse and change.detail == "skipped → pass; max rel diff – → 2.0e-07"


@pytest.mark.parametrize("old, new, grown", [
    ("1e-06", "1.1e-05", True),    # 11-fold
    ("1e-06", "9e-06", False),     # 9-fold: within the factor
    ("1e-06", "1e-08", False),     # smaller
    ("0.0", "1e-12", True),        # from exactly 0 to something
    ("0.0", "1e-301", False),      # from 0 to below 1e-300: noise, not growth
])
def test_relative_difference_growth_beyond_tenfold_is_worse(tmp_path, old, new, grown):
    """A row that still passes but whose max rel diff grew more than 10× is a worse change."""
    found = changes(tmp_path, replaced(BASE, 2, max_rel_diff=old),
                    replaced(BASE, 2, max_rel_diff=new))
    if not grown:
        assert found == []
        return
    [change] = found
    assert (change.kind, change.worse) == ("grew", True)
    assert change.subject == "seed · torch · float32 · loss vs reference"
    factor = "from 0" if old == "0.0" else "11×"
    assert change.detail == (f"max rel diff {float(old):.1e} → {float(new):.1e} ({factor}); "
                             "still pass")


def test_new_and_removed_cases(tmp_path):
    """A new case with a failing row is worse; a new passing case and a removed case are not."""
    new = BASE[:3] + ["fresh,jax,float64,0,error_term,reference,fail,0.5,0.1",
                      "calm,jax,float64,0,error_term,reference,pass,1e-15,0.1"]
    found = changes(tmp_path, BASE, new)
    assert [(c.kind, c.subject, c.detail, c.worse) for c in found] == [
        ("new case", "fresh", "1 row, 1 failing", True),
        ("new case", "calm", "1 row, none failing", False),
        ("removed case", "other", "1 row", False),
    ]


def test_new_and_removed_rows_of_a_case_that_stays(tmp_path):
    """New failing rows in a kept case are worse; new passing rows and removed rows are not."""
    new = BASE[1:] + ["seed,jax,float32,0,error_term,reference,fail,0.3,0.1",
                      "seed,jax,float32,0,weight_delta,reference,pass,1e-06,0.1",
                      "other,jax,float64,0,weight_delta,reference,pass,1e-15,0.1"]
    found = changes(tmp_path, BASE, new)
    assert [(c.kind, c.subject, c.detail, c.worse) for c in found] == [
        ("new rows", "seed · jax · float32", "2 rows, 1 failing", True),
        ("new rows", "other · jax · float64", "1 row, none failing", False),
        ("removed rows", "seed · torch · float32", "1 row, none failing", False),
    ]


def test_repeated_keys_are_matched_in_order(tmp_path):
    """An invalid file's problems share one key; matched by occurrence, a third one is new."""
    invalid = "broken,,,,,,fail,,"
    found = changes(tmp_path, BASE + [invalid, invalid], BASE + [invalid] * 3)
    assert [(c.kind, c.subject, c.worse) for c in found] == [
        ("new rows", "broken (invalid case file)", True)]


def test_a_file_that_is_not_a_report_is_refused(tmp_path):
    """read names the missing columns."""
    path = tmp_path / "other.csv"
    path.write_text("case,status\nseed,pass\n", encoding="utf-8")
    with pytest.raises(ValueError, match="has no backend, dtype, layer, quantity, compared_to, "
                                         "max_rel_diff columns"):
        diff.read(path)


def test_diff_command_exit_status_and_output(tmp_path, capsys):
    """`crossgrad diff` exits 0 with no worse change, 1 with one, 2 when a file is unreadable."""
    old = csv_file(tmp_path, "old.csv", BASE)
    better = csv_file(tmp_path, "better.csv", replaced(BASE, 3, max_rel_diff="1e-06"))
    worse = csv_file(tmp_path, "worse.csv", replaced(BASE, 3, status="fail"))
    assert main(["diff", str(old), str(better)]) == 0
    assert "no changes" in capsys.readouterr().out
    assert main(["diff", str(old), str(worse)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [f"crossgrad diff: {old} -> {worse}",
                   "WORSE status        other · torch · float32 · layer 0 · weight_delta vs "
                   "reference: pass → fail; max rel diff 3.0e-05 → 3.0e-05",
                   "1 change, 1 worse"]
    assert main(["diff", str(old), str(tmp_path / "missing.csv")]) == 2
    assert f"cannot read {tmp_path / 'missing.csv'}" in capsys.readouterr().err


def test_report_compare_lists_what_got_worse(tmp_path, capsys):
    """report --compare against the previous run: exit 0 and 'no changes' when nothing moved;
    exit 1 and the failing row when a golden value is changed."""
    folder = tmp_path / "cases"
    folder.mkdir()
    (folder / "seed_3_2_1.yaml").write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    first = ["report", "--cases", str(folder), "--backends", "numpy", "--dtypes", "float32"]
    assert main(first + ["--out", str(tmp_path / "before")]) == 0
    previous = str(tmp_path / "before" / "agreement.csv")
    capsys.readouterr()
    assert main(first + ["--out", str(tmp_path / "same"), "--compare", previous]) == 0
    assert "no changes" in capsys.readouterr().out
    text = (folder / "seed_3_2_1.yaml").read_text(encoding="utf-8")
    assert text.count("[[0.00804047], [0.00555918]]") == 1
    (folder / "seed_3_2_1.yaml").write_text(
        text.replace("[[0.00804047], [0.00555918]]", "[[0.00804047], [0.00565918]]"),
        encoding="utf-8")
    assert main(first + ["--out", str(tmp_path / "after"), "--compare", previous]) == 1
    out = capsys.readouterr().out
    assert ("WORSE status        seed_3_2_1 · numpy · float32 · layer 1 · weight_delta vs "
            "expected: pass → fail") in out
    assert out.rstrip().endswith("1 change, 1 worse")


def test_report_compare_with_a_missing_file_stops_before_running(tmp_path, capsys):
    """A --compare file that cannot be read exits 2 at once and writes no report."""
    code = main(["report", "--cases", str(SEED), "--backends", "numpy", "--out",
                 str(tmp_path / "out"), "--compare", str(tmp_path / "nothing.csv")])
    assert code == 2
    assert "cannot read" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


BOUNDED = "case,backend,dtype,layer,quantity,compared_to,status,max_rel_diff,rounding_bound"


def bounded_file(tmp_path, name, max_rel_diff, rounding_bound):
    """A one-row float64 report whose row has `max_rel_diff` and `rounding_bound`."""
    path = tmp_path / name
    path.write_text(f"{BOUNDED}\nbatch,torch,float64,0,error_term,reference,pass,"
                    f"{max_rel_diff},{rounding_bound}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("old, new, bound", [
    ("2.2e-13", "7.9e-12", "3.1e-11"),  # 36×, as another machine's BLAS moved batch_256
    ("0.0", "2.7e-16", "4.4e-15"),      # from 0, as article_batch_mean's weight delta moved
])
def test_growth_inside_the_rounding_bound_is_no_change(tmp_path, capsys, old, new, bound):
    """A row whose relative difference grew more than 10× but stays inside its rounding bound is
    rounding that moved: no change at all, and the diff exits 0."""
    before = bounded_file(tmp_path, "before.csv", old, bound)
    after = bounded_file(tmp_path, "after.csv", new, bound)
    assert diff.changes(diff.read(before), diff.read(after)) == []
    assert main(["diff", str(before), str(after)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "no changes: the same cases and statuses, and no relative difference grew more than "
        "10-fold beyond its rounding bound")


def test_growth_beyond_the_rounding_bound_is_worse_and_says_the_bound(tmp_path, capsys):
    """1e-16 → 1e-11 in float64 is inside rtol 1e-9 but far outside rounding (bound 3e-14): the
    diff says WORSE, names the bound, and exits 1. Just inside the bound it is no change."""
    before = bounded_file(tmp_path, "before.csv", "1e-16", "3e-14")
    after = bounded_file(tmp_path, "after.csv", "1e-11", "3e-14")
    [change] = diff.changes(diff.read(before), diff.read(after))
    assert (change.kind, change.worse) == ("grew", True)
    assert change.detail == ("max rel diff 1.0e-16 → 1.0e-11 (100000×, over its rounding bound "
                             "3.0e-14); still pass")
    assert main(["diff", str(before), str(after)]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "1 change, 1 worse"
    inside = bounded_file(tmp_path, "inside.csv", "3e-14", "3e-14")
    assert diff.changes(diff.read(before), diff.read(inside)) == []
