"""The commands' edges, as a new user meets them: a report --out that is a file, a --cases that
is not there, a run with no valid case, and `new` with names that leave the catalogue."""
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from crossgrad import cli
from crossgrad.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def no_run(monkeypatch):
    """Fails the test if the catalogue starts to run."""
    def refuse(*args, **kwargs):
        raise AssertionError("the cases ran before the arguments were checked")
    monkeypatch.setattr(cli, "_run_all", refuse)


def test_report_out_that_is_a_file_is_refused_before_any_work(tmp_path, capsys, no_run):
    taken = tmp_path / "notes.txt"
    taken.write_text("mine\n", encoding="utf-8")
    assert main(["report", "--cases", str(ROOT / "cases" / "seed_3_2_1.yaml"),
                 "--out", str(taken)]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"crossgrad report: --out: {taken} is a file, not a folder\n"
    assert captured.out == ""
    assert taken.read_text(encoding="utf-8") == "mine\n"
    assert main(["report", "--out", str(taken / "inside")]) == 2
    assert capsys.readouterr().err == f"crossgrad report: --out: {taken} is a file, not a folder\n"


def test_report_cases_that_do_not_exist_leave_the_previous_report(tmp_path, capsys, no_run):
    out = tmp_path / "out"
    out.mkdir()
    (out / "agreement.csv").write_text("the previous report\n", encoding="utf-8")
    missing = tmp_path / "cases-typo"
    assert main(["report", "--cases", str(missing), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (f"crossgrad report: --cases: no such file or folder: "
                                       f"{missing}\n")
    assert sorted(p.name for p in out.iterdir()) == ["agreement.csv"]
    assert (out / "agreement.csv").read_text(encoding="utf-8") == "the previous report\n"


def test_a_run_with_no_valid_case_shows_no_library_warning(tmp_path, capsys):
    """Only an invalid case: matplotlib would warn about identical ylims; the user sees the
    case's one line and the summary, no warning."""
    folder = tmp_path / "cases"
    folder.mkdir()
    (folder / "broken.yaml").write_text("description: x\nnetwork: {}\nloss: hinge\n",
                                        encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(["report", "--cases", str(folder), "--out", str(tmp_path / "out")])
    assert code == 1
    assert [str(w.message) for w in caught] == []
    err = capsys.readouterr().err
    assert "Warning" not in err and "broken.yaml:3:7: loss: unknown loss 'hinge'" in err


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A folder to run `crossgrad new` in, with cases/schema.json and the seed case, one level
    below tmp_path (so that ../ stays inside it)."""
    project = tmp_path / "project"
    (project / "cases").mkdir(parents=True)
    shutil.copy(ROOT / "cases" / "schema.json", project / "cases" / "schema.json")
    shutil.copy(ROOT / "cases" / "seed_3_2_1.yaml", project / "cases")
    monkeypatch.chdir(project)
    return project


@pytest.mark.parametrize("case", ["numerics/sigmoid_saturated_float16.yaml",
                                  "training/frozen_bias.yaml"])
def test_tensorflow_logs_nothing_into_a_report(tmp_path, case):
    # TF 2.21 logs "oneDNN custom operations are on" while it imports and, once JAX has started
    # absl's logging, an error line at its first float16 op and "Not handling type DT_DOUBLE"
    # lines while grappler optimizes a float64 trainer; the command's stderr stays empty
    pytest.importorskip("tensorflow")
    pytest.importorskip("jax")
    done = subprocess.run(
        [sys.executable, "-m", "crossgrad", "report", "--cases", str(ROOT / "cases" / case),
         "--backends", "jax,tensorflow", "--referees", "none", "--executor", "serial",
         "--out", str(tmp_path)], capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "CI": "1"})
    assert done.returncode == 0, done.stderr
    assert "tensorflow" in (tmp_path / "agreement.csv").read_text(encoding="utf-8")
    assert done.stderr == "", done.stderr


def test_new_refuses_a_name_that_leaves_the_catalogue(project, capsys):
    assert main(["new", "../x"]) == 1
    assert capsys.readouterr().err == (
        "crossgrad new: '../x' leaves cases/; to write a case file elsewhere on purpose, give "
        "its path with the suffix: ../x.yaml\n")
    assert not (project.parent / "x").exists() and not (project.parent / "x.yaml").exists()


def test_new_adds_the_suffix_to_a_path_inside_the_catalogue(project, capsys):
    assert main(["new", "cases/kinks/my_kink"]) == 0
    assert (project / "cases" / "kinks" / "my_kink.yaml").is_file()
    assert "wrote cases/kinks/my_kink.yaml" in capsys.readouterr().out


def test_new_writes_outside_when_the_path_says_so(project):
    assert main(["new", "../outside_on_purpose.yaml"]) == 0
    written = project.parent / "outside_on_purpose.yaml"
    assert written.is_file()


def test_new_help_says_what_name_is(capsys):
    with pytest.raises(SystemExit):
        main(["new", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "writes cases/NAME.yaml" in text and "a path ending in .yaml" in text
    assert "leaves cases/ is refused" in text
