"""The pytest plugin, run as another project runs it: pytest in a folder of its own, with the
backend's module there, and crossgrad merely installed."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from crossgrad import adapters
from crossgrad.cases import case_files, load_catalogue
from crossgrad.cli import main
from crossgrad.pytest_plugin import shipped_catalogue

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SEED = ROOT / "cases" / "seed_3_2_1.yaml"
TANH = ROOT / "cases" / "vanishing" / "tanh_stack_8.yaml"


@pytest.fixture
def project(tmp_path):
    """Another project's folder, holding the two example backends and nothing of crossgrad."""
    folder = tmp_path / "project"
    folder.mkdir()
    for name in ("lesson_backprop.py", "lesson_backprop_planted_bug.py"):
        shutil.copy(EXAMPLES / name, folder / name)
    return folder


def pytest_in(folder, *args):
    """pytest run in `folder` as a user would run it; (exit status, its output)."""
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("PYTHONPATH", "PYTEST_ADDOPTS", adapters.ENVIRONMENT)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                           "-rfEsx", *args], cwd=folder, env=environment,
                          capture_output=True, text=True, timeout=600)
    return done.returncode, done.stdout + done.stderr


def counts(output):
    """{'passed': 3, ...} from pytest's last line."""
    return {word: int(number) for number, word in re.findall(r"(\d+) (\w+)", output.splitlines()[-1])}


def test_the_catalogue_ships_with_the_package():
    """The installed package's catalogue has every case file of cases/ (a wheel too: package
    data), so the plugin's default is the whole catalogue."""
    shipped = {path.relative_to(shipped_catalogue()) for path in case_files([shipped_catalogue()])}
    assert shipped == {path.relative_to(ROOT / "cases") for path in case_files([ROOT / "cases"])}
    assert len(shipped) > 60


def test_the_example_passes_the_whole_shipped_catalogue(project):
    """examples/lesson_backprop.py: every case × dtype passes, bfloat16 (which it declares
    unsupported) is skipped, and divergences every built-in declares are xfail."""
    status, output = pytest_in(project, "--crossgrad-backend", "lesson=lesson_backprop")
    assert status == 0, output
    cases, errors = load_catalogue([shipped_catalogue()])
    runs = [(case.name, dtype) for case in cases for dtype in case.dtypes]
    found = counts(output)
    assert not errors and "failed" not in found
    assert found.get("skipped", 0) == sum(dtype == "bfloat16" for _, dtype in runs)
    assert found["passed"] + found.get("xfailed", 0) + found.get("skipped", 0) == len(runs)
    assert "lesson does not compute in bfloat16: NumPy has no bfloat16 arithmetic" in output


def test_the_planted_bug_fails_localized_labelled_with_a_rerun_line(project):
    """examples/lesson_backprop_planted_bug.py fails as a catalogue test fails: where the
    disagreement starts, the label, and a rerun line that works in this folder."""
    status, output = pytest_in(project, "--crossgrad-backend", "buggy=lesson_backprop_planted_bug",
                               f"--crossgrad-cases={TANH}", "--crossgrad-dtypes", "float64")
    assert status == 1
    assert counts(output) == {"failed": 1}
    assert ("first disagreement at layer 6 of layers 0–7 (scanning from the output down), error "
            "term") in output
    assert "tanh_stack_8 · buggy · float64 · layer 6 · error_term vs reference: not close " \
           "(mismatch)" in output
    assert (f'rerun: pytest --crossgrad-backend=buggy=lesson_backprop_planted_bug '
            f'--crossgrad-cases={TANH} -k "tanh_stack_8-buggy-float64"') in output
    assert "tests/test_catalogue.py" not in output


def test_the_rerun_line_reruns_that_test_alone(project):
    status, output = pytest_in(project, "--crossgrad-backend", "buggy=lesson_backprop_planted_bug",
                               "-k", "tanh_stack_8-buggy-float32")
    assert status == 1 and counts(output) == {"failed": 1, "deselected": counts(output)["deselected"]}
    assert "FAILED crossgrad::tanh_stack_8-buggy-float32" in output


def test_without_its_options_the_plugin_does_nothing(project):
    (project / "test_own.py").write_text("def test_own():\n    pass\n", encoding="utf-8")
    status, output = pytest_in(project)
    assert status == 0 and counts(output) == {"passed": 1}
    assert "crossgrad" not in output


def test_cases_and_dtypes_choose_the_tests(project):
    """--crossgrad-cases DIR and --crossgrad-dtypes: one test per case × dtype asked for, with
    ids case-backend-dtype, next to the project's own tests."""
    (project / "test_own.py").write_text("def test_own():\n    pass\n", encoding="utf-8")
    status, output = pytest_in(project, "--crossgrad-backend", "lesson=lesson_backprop",
                               f"--crossgrad-cases={SEED}", f"--crossgrad-cases={TANH}",
                               "--crossgrad-dtypes", "float32", "-v", "-v")  # -q -v -v: -v
    assert status == 0
    assert re.findall(r"^(\S+) PASSED", output, re.M) == [
        "test_own.py::test_own", "crossgrad::seed_3_2_1-lesson-float32",
        "crossgrad::tanh_stack_8-lesson-float32"]


def test_a_backend_that_cannot_load_is_one_failing_test_and_the_others_go_on(project):
    status, output = pytest_in(project, "--crossgrad-backend", "gone=crossgrad_test_gone",
                               "--crossgrad-backend", "lesson=lesson_backprop",
                               f"--crossgrad-cases={SEED}")
    assert status == 1
    assert counts(output) == {"failed": 1, "passed": 2}
    assert "FAILED crossgrad::backend-gone" in output
    assert ("\nbackend gone: cannot import 'crossgrad_test_gone': ModuleNotFoundError: No "
            "module named 'crossgrad_test_gone'\n") in output


def test_an_invalid_case_file_is_one_failing_test(project):
    cases = project / "cases"
    cases.mkdir()
    shutil.copy(SEED, cases / "seed.yaml")
    (cases / "typo.yaml").write_text(SEED.read_text(encoding="utf-8").replace(
        "learning_rate:", "learnig_rate:"), encoding="utf-8")
    status, output = pytest_in(project, "--crossgrad-backend", "lesson=lesson_backprop",
                               f"--crossgrad-cases={cases}")
    assert status == 1 and counts(output) == {"failed": 1, "passed": 2}
    assert "typo.yaml:14:1: learnig_rate: unknown key 'learnig_rate'; did you mean " \
           "'learning_rate'?" in output


@pytest.mark.parametrize("args, line", [
    (["--crossgrad-backend", "lesson=lesson_backprop", "--crossgrad-dtypes", "float8"],
     "ERROR: --crossgrad-dtypes: unknown 'float8'; choose from float64, float32, float16, "
     "bfloat16"),
    (["--crossgrad-dtypes", "float64"],
     "ERROR: --crossgrad-cases and --crossgrad-dtypes need --crossgrad-backend "
     "NAME=module:attribute"),
    (["--crossgrad-backend", "lesson"],
     "ERROR: --backend 'lesson': expected NAME=module:attribute or NAME=module"),
])
def test_usage_errors_are_one_line(project, args, line):
    status, output = pytest_in(project, *args)
    assert status == 4
    assert line in output.splitlines()
    assert "Traceback" not in output


# --- crossgrad new-backend -------------------------------------------------------------------

def test_new_backend_writes_a_template_that_passes_on_the_seed_case(project, monkeypatch, capsys):
    monkeypatch.chdir(project)
    assert main(["new-backend", "mine"]) == 0
    assert capsys.readouterr().out == ("wrote mine.py; check it on the seed case, in this "
                                       "folder, with: pytest --crossgrad-backend mine=mine -k "
                                       "seed_3_2_1\n")
    template = (project / "mine.py").read_text(encoding="utf-8")
    assert "def backprop(problem, dtype):" in template and "for l in range(" in template
    status, output = pytest_in(project, "--crossgrad-backend", "mine=mine", "-k", "seed_3_2_1")
    assert status == 0, output
    assert counts(output)["passed"] >= 3  # seed_3_2_1 in float64 and float32, and its float16
    status, output = pytest_in(project, "--crossgrad-backend", "mine=mine", "-k", "tanh_stack_8")
    assert status == 1 and "mine raised NotImplementedError: activation tanh: add f(z) here" \
        in output  # what is left for the student, said where it is met


def test_new_backend_does_not_overwrite_and_wants_a_module_name(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.py").write_text("# mine\n", encoding="utf-8")
    assert main(["new-backend", "mine"]) == 1
    assert main(["new-backend", "2fast"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "crossgrad new-backend: mine.py already exists; crossgrad new-backend does not overwrite",
        "crossgrad new-backend: '2fast' is not a module name (letters, digits and _, not "
        "starting with a digit)"]
    assert (tmp_path / "mine.py").read_text(encoding="utf-8") == "# mine\n"
    assert main(["new-backend", str(tmp_path / "sub" / "theirs.py")]) == 1  # no such folder
