"""The malformed corpus (tests/malformed/): every file gives exactly the errors its header
expects, as `path:line:col: field: message`, from the loader, `crossgrad validate`,
`crossgrad report` and pytest's collection of the catalogue.

Each corpus file says what it gets wrong in a header of `# expect: LINE:COL FIELD: MESSAGE`
lines, written by hand where the mistake was planted (MESSAGE is a part of the message); a file
that cannot hold a comment is in NO_HEADER instead, and `# expect: valid` marks the one valid
file (the first of two cases named twin).
"""
import csv
import re
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import pytest

from crossgrad.adapters import BACKENDS
from crossgrad.cases import InvalidCase, case_files, load_case, load_catalogue
from crossgrad.cli import main

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "malformed"
EXPECT = re.compile(r"^# expect: (?P<line>\d+):(?P<column>\d+) (?P<field>\S+): (?P<message>.+)$")
NO_HEADER = {"empty_file.yaml": [(1, 1, "(document)", "the file is empty; a case needs "
                                  "description, network, inputs and targets (or data), loss")]}


@dataclass(frozen=True)
class Expectation:
    """One error a corpus file must give."""

    path: Path
    line: int
    column: int
    field: str
    message: str  # a part of the message

    def prefix(self):
        return f"{self.path}:{self.line}:{self.column}: {self.field}: "

    def found_in(self, text_line):
        """Whether `text_line` is this error, as every command prints it."""
        return text_line.startswith(self.prefix()) and self.message in text_line[len(self.prefix()):]


def expectations(path):
    """The errors `path` must give, from its header (or NO_HEADER); [] for the valid file."""
    relative = path.relative_to(CORPUS).as_posix()
    if relative in NO_HEADER:
        return [Expectation(path, *entry) for entry in NO_HEADER[relative]]
    header = path.read_bytes().decode("utf-8", errors="replace").splitlines()
    found = [EXPECT.match(line) for line in header]
    expected = [Expectation(path, int(m["line"]), int(m["column"]), m["field"], m["message"])
                for m in found if m]
    assert expected or "# expect: valid" in header, f"{relative} has no # expect: header"
    return expected


FILES = case_files([CORPUS])
ALL_EXPECTED = [e for path in FILES for e in expectations(path)]
INVALID_FILES = sorted({e.path for e in ALL_EXPECTED})


def ids(path):
    return path.relative_to(CORPUS).as_posix()


def test_the_corpus_has_at_least_thirty_malformed_files():
    """55 files that must fail, and one valid file (the first twin)."""
    assert len(INVALID_FILES) >= 30
    assert [p for p in FILES if p not in INVALID_FILES] == [CORPUS / "duplicate_name" / "first"
                                                            / "twin.yaml"]


@pytest.fixture(scope="module")
def catalogue():
    """The corpus loaded as one catalogue: (cases, errors by path)."""
    cases, errors = load_catalogue([CORPUS])
    by_path = {}
    for error in errors:
        by_path.setdefault(error.path, []).append(error)
    return cases, by_path


@pytest.mark.parametrize("path", FILES, ids=ids)
def test_each_file_gives_exactly_its_expected_errors(path, catalogue):
    """Every expected error at its line, column and field, with its message; no other error."""
    errors = catalogue[1].get(str(path), [])
    expected = expectations(path)
    assert sorted((e.line, e.column, e.field) for e in errors) == sorted(
        (e.line, e.column, e.field) for e in expected), "\n".join(map(str, errors))
    for expectation in expected:
        assert any(expectation.found_in(str(error)) for error in errors), (
            f"expected {expectation.prefix()}…{expectation.message}…, got:\n"
            + "\n".join(map(str, errors)))
    for error in errors:
        assert "\n" not in str(error) and error.line >= 1 and error.column >= 1


def test_a_file_alone_gives_the_same_errors_as_in_the_catalogue(catalogue):
    """load_case on each file (the duplicate aside) raises InvalidCase with the same lines."""
    for path in INVALID_FILES:
        if path.parent.name == "second":  # a duplicate only among the others
            assert load_case(path).name == "twin"
            continue
        with pytest.raises(InvalidCase) as caught:
            load_case(path)
        assert caught.value.errors == catalogue[1][str(path)]


def test_only_the_valid_twin_loads(catalogue):
    assert [case.path for case in catalogue[0]] == [
        str(CORPUS / "duplicate_name" / "first" / "twin.yaml")]


def test_validate_prints_each_expected_line_and_nothing_else(capsys):
    """`crossgrad validate tests/malformed`: one stdout line per error, a count, exit 1."""
    assert main(["validate", str(CORPUS)]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == len(ALL_EXPECTED)
    for expectation in ALL_EXPECTED:
        assert sum(expectation.found_in(line) for line in lines) == 1, expectation
    assert err == f"{len(FILES)} case files: 1 valid, {len(INVALID_FILES)} with problems\n"


def test_validate_as_a_process_imports_no_framework_and_prints_no_traceback():
    """The command as a user runs it: no torch or jax is imported, no traceback is printed."""
    program = ("import sys\nfrom crossgrad.cli import main\ncode = main(['validate', sys.argv[1]])\n"
               "print('FRAMEWORKS', [m for m in ('torch', 'jax') if m in sys.modules], "
               "file=sys.stderr)\nsys.exit(code)\n")
    done = subprocess.run([sys.executable, "-c", program, str(CORPUS)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 1, done.stderr
    assert "FRAMEWORKS []" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert len(done.stdout.splitlines()) == len(ALL_EXPECTED)


def test_report_names_every_error_and_runs_the_valid_case(tmp_path, capsys):
    """`crossgrad report` prints every expected line, runs the valid twin, and exits 1 with a
    summary that counts the invalid files."""
    out = tmp_path / "out"
    code = main(["report", "--cases", str(CORPUS), "--out", str(out), "--backends", "numpy",
                 "--dtypes", "float32", "--referees", "none"])
    assert code == 1
    stdout, stderr = capsys.readouterr()
    lines = stderr.splitlines()
    for expectation in ALL_EXPECTED:
        assert sum(expectation.found_in(line) for line in lines) == 1, expectation
    assert f"; {len(INVALID_FILES)} invalid case files" in stdout
    with open(out / "agreement.csv", newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    ran = [row for row in rows if row["backend"]]
    assert {(row["case"], row["backend"], row["status"]) for row in ran} == {
        ("twin", "numpy", "pass")}
    invalid = [row for row in rows if not row["backend"]]
    assert len(invalid) == len(ALL_EXPECTED)
    assert {row["status"] for row in invalid} == {"fail"}


def test_pytest_collection_turns_each_file_into_one_failing_test():
    """pytest on the corpus: collection goes on, each invalid file is one failed test that
    prints its lines, and the valid twin runs (numpy float32 passes; float64, the reference
    itself with no golden values, skips)."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_catalogue.py", "--cases", str(CORPUS),
         "-m", " and ".join(f"not {name}" for name in BACKENDS if name != "numpy"),
         "-p", "no:randomly", "-p", "no:cacheprovider", "-q",
         "-rN", "--no-header"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output  # tests failed; 2 or 4 would be a broken session
    for path in INVALID_FILES:
        assert f"test_case[invalid-{path.stem}]" in output, path
    for expectation in ALL_EXPECTED:
        assert any(expectation.found_in(line) for line in output.splitlines()), expectation
    summary = output.strip().splitlines()[-1]
    assert re.search(rf"\b{len(INVALID_FILES)} failed, 1 passed, 1 skipped\b", summary), summary
    assert "error" not in summary


def test_alias_bomb_is_refused_quickly_in_little_memory():
    """Billion laughs (10^9 strings once expanded) is refused in under a second, in < 2 MB."""
    path = CORPUS / "hostile_alias_bomb.yaml"
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(InvalidCase) as caught:
            load_case(path)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "expands to more than" in str(caught.value)
    assert elapsed < 1.0
    assert peak < 2 * 2 ** 20


def test_oversized_network_is_refused_before_allocating():
    """sizes [100000, 100000] (10^10 parameters, 80 GB) is refused in a few megabytes."""
    tracemalloc.start()
    try:
        with pytest.raises(InvalidCase) as caught:
            load_case(CORPUS / "size_oversized_network.yaml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "the limit is 10,000,000" in str(caught.value)
    assert peak < 5 * 2 ** 20


def test_python_tags_construct_nothing():
    """The file whose tag would call builtins.exit(97) is refused: were it constructed, this
    test would end with SystemExit instead."""
    with pytest.raises(InvalidCase) as caught:
        load_case(CORPUS / "hostile_python_apply.yaml")
    assert [e.field for e in caught.value.errors] == ["(yaml)"]
