"""Backends of one's own: the contract, --backend on the command line, the crossgrad.backends
entry points, and every bad input's one line (the other backends go on)."""
import ast
import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import crossgrad
from crossgrad import adapters, plugins, runner
from crossgrad.cases import load_case
from crossgrad.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
CASES = ROOT / "cases"
SEED = CASES / "seed_3_2_1.yaml"
TANH = CASES / "vanishing" / "tanh_stack_8.yaml"  # 8 tanh layers, the last sigmoid


@pytest.fixture(autouse=True)
def registry(monkeypatch):
    """Each test starts from the built-ins alone and leaves nothing registered behind."""
    monkeypatch.setattr(adapters, "_MODULES", dict(adapters._MODULES))
    monkeypatch.setattr(adapters, "_loaded", {})
    monkeypatch.setattr(adapters, "_entry_points_read", True)  # no installed plug-ins here
    # --backend exports CROSSGRAD_BACKENDS into os.environ for worker processes: setenv first,
    # so that teardown restores what was there (nothing), and later tests' subprocesses do not
    # inherit this test's plug-ins
    monkeypatch.setenv(adapters.ENVIRONMENT, "")
    monkeypatch.delenv(adapters.ENVIRONMENT)
    monkeypatch.setattr(sys, "path", list(sys.path))


def write_module(folder, name, text):
    """A module `name` in `folder`, importable from there, not yet imported."""
    (folder / f"{name}.py").write_text(textwrap.dedent(text), encoding="utf-8")
    sys.modules.pop(name, None)
    return name


def rows_of(path):
    with open(path, encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def report(tmp_path, *options, cases=(SEED,)):
    """main(['report', ...]) on `cases`, serial, no referees; (status, agreement.csv rows)."""
    out = tmp_path / "out"
    status = main(["report", "--cases", *map(str, cases), "--out", str(out), "--referees",
                   "none", "--executor", "serial", *options])
    return status, rows_of(out / "agreement.csv") if (out / "agreement.csv").exists() else []


# --- the contract ---------------------------------------------------------------------------

def test_problem_and_gradients_are_importable_from_crossgrad():
    """crossgrad.Problem, Layer and Gradients are the ones the backends are handed and return."""
    from crossgrad.problem import Layer, Problem
    from crossgrad.reference import Gradients
    assert (crossgrad.Problem, crossgrad.Layer, crossgrad.Gradients) == (Problem, Layer, Gradients)
    assert crossgrad.Gradients._fields == ("loss", "error_terms", "weight_deltas", "bias_deltas")


def test_an_object_with_only_backprop_is_a_backend():
    """Optional attributes default: DEVICE '', no unsupported dtypes, version ''; no batch."""
    only = type("Only", (), {"backprop": staticmethod(
        lambda problem, dtype: adapters.load("numpy").backprop(problem, dtype))})()
    adapters.register("only", only)
    backend = adapters.load("only")
    assert (backend.DEVICE, backend.UNSUPPORTED_DTYPES, backend.version()) == ("", {}, "")
    assert not hasattr(backend, "backprop_batch")
    assert {r.status for r in runner.run(load_case(SEED), "only", "float32")} == {"pass"}


def test_builtins_and_plug_ins_share_the_registry():
    """names() lists the built-ins, then the added ones; each loads as a Backend."""
    adapters.register("lesson", "lesson_backprop")
    assert adapters.names() == adapters.BACKENDS + ("lesson",)
    assert isinstance(adapters.load("numpy"), adapters.Backend)
    assert adapters.registered() == {"lesson": "lesson_backprop"}


@pytest.mark.parametrize("spec, name, target", [
    ("mine=pkg.mod:backend", "mine", "pkg.mod:backend"),
    (" mine = mod ", "mine", "mod"),
])
def test_parse_spec(spec, name, target):
    assert adapters.parse_spec(spec) == (name, target)


@pytest.mark.parametrize("spec", ["mine", "=mod", "mine=", "mine=mod:"])
def test_a_malformed_spec_is_one_line(spec):
    with pytest.raises(adapters.BackendError) as caught:
        adapters.parse_spec(spec)
    assert str(caught.value) == (f"--backend {spec!r}: expected NAME=module:attribute or "
                                 "NAME=module")


# --- bad input: one line each, and the other backends go on ----------------------------------

# Each plug-in's module body and the line its run gives (on the seed case, float32).
RESULTS = {
    "raises": ("def backprop(problem, dtype):\n    raise ValueError('no  such\\nlayer')\n",
               "raises raised ValueError: no such layer"),
    "wrong_type": ("def backprop(problem, dtype):\n    return {'loss': 0.0}\n",
                   "backend wrong_type: backprop returned dict, not crossgrad.Gradients (no "
                   "loss, error_terms, weight_deltas, bias_deltas)"),
    "string_loss": (
        "from crossgrad import adapters, Gradients\n"
        "def backprop(problem, dtype):\n"
        "    g = adapters.load('numpy').backprop(problem, dtype)\n"
        "    return Gradients('0.1', g.error_terms, g.weight_deltas, g.bias_deltas)\n",
        "backend string_loss: loss is str, expected a float"),
    "lists": (
        "from crossgrad import adapters, Gradients\n"
        "def backprop(problem, dtype):\n"
        "    g = adapters.load('numpy').backprop(problem, dtype)\n"
        "    return Gradients(g.loss, [e.tolist() for e in g.error_terms], g.weight_deltas,\n"
        "                     g.bias_deltas)\n",
        "backend lists: error_terms[0] is list, expected a NumPy array"),
}


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_a_faulty_result_is_one_error_row(tmp_path, name):
    """A backprop that raises or returns something other than Gradients: one error row with
    one line."""
    sys.path.insert(0, str(tmp_path))
    adapters.register(name, write_module(tmp_path, f"crossgrad_test_{name}", RESULTS[name][0]))
    rows = runner.run(load_case(SEED), name, "float32")
    assert [(r.status, r.problem) for r in rows] == [("error", RESULTS[name][1])]


def _numpy_edited(body):
    """A module whose backprop is the numpy backend's, then `body` applied to its Gradients g."""
    return ("from crossgrad import adapters, Gradients\nimport numpy as np\n"
            "def backprop(problem, dtype):\n"
            "    g = adapters.load('numpy').backprop(problem, dtype)\n"
            + textwrap.indent(textwrap.dedent(body), "    ") + "\n")


def test_wrong_length_shape_dtype_and_nan_fail_with_their_lines(tmp_path):
    """Structure before values: a missing layer, a transposed array, float64 for float32, and a
    NaN each give a failing row that says so."""
    sys.path.insert(0, str(tmp_path))
    edits = {
        "short": "return g._replace(error_terms=g.error_terms[1:])",
        "transposed": "return g._replace(weight_deltas=[g.weight_deltas[0].T, g.weight_deltas[1]])",
        "wide": "return g._replace(error_terms=[e.astype(np.float64) for e in g.error_terms])",
        "nan": "g.weight_deltas[1][0, 0] = np.nan\nreturn g",
    }
    for name, body in edits.items():
        adapters.register(name, write_module(tmp_path, f"crossgrad_test_{name}",
                                             _numpy_edited(body)))
    case = load_case(SEED)

    def failing(name):
        return {(r.layer, r.quantity, r.compared_to, r.problem or r.label)
                for r in runner.run(case, name, "float32") if r.failed}

    assert ((None, "error_term", "reference", "1 layers of error_term, expected 2")
            in failing("short"))
    assert failing("transposed") == {(0, "weight_delta", c, "shape (2, 3), expected (3, 2)")
                                     for c in ("reference", "expected")}
    assert failing("wide") == {(layer, "error_term", c, "dtype float64, expected float32")
                               for layer in (0, 1) for c in ("reference", "expected")}
    assert failing("nan") == {(1, "weight_delta", c, "non_finite")
                              for c in ("reference", "expected")}


def test_unsupported_dtypes_are_skipped_with_the_reason(tmp_path):
    sys.path.insert(0, str(tmp_path))
    adapters.register("half", write_module(tmp_path, "crossgrad_test_half", _numpy_edited(
        "return g") + "UNSUPPORTED_DTYPES = {'float32': 'no float32 on this chip'}\n"))
    rows = runner.run(load_case(SEED), "half", "float32")
    assert [(r.status, r.problem) for r in rows] == [
        ("skipped", "half does not compute in float32: no float32 on this chip")]


# Plug-ins that cannot be loaded at all, and the line each gives.
UNLOADABLE = {
    "missing=crossgrad_test_no_such_module": "backend missing: cannot import "
        "'crossgrad_test_no_such_module': ModuleNotFoundError: No module named "
        "'crossgrad_test_no_such_module'",
    "broken=crossgrad_test_broken": "backend broken: importing 'crossgrad_test_broken' raised "
        "ZeroDivisionError: division by zero (crossgrad_test_broken.py:2)",
    "noattr=crossgrad_test_fine:nope": "backend noattr: 'crossgrad_test_fine' has no attribute "
        "'nope'",
    "nobackprop=crossgrad_test_fine:NOT_A_BACKEND": "backend nobackprop: "
        "'crossgrad_test_fine:NOT_A_BACKEND' has no backprop(problem, dtype) function",
}


def test_report_names_each_unloadable_plug_in_in_one_line_and_runs_the_rest(
        tmp_path, monkeypatch, capsys):
    """A module that does not import, one that raises on import, a missing attribute, an
    object without backprop: one line each on stderr; numpy and the good plug-in still run;
    exit 1."""
    monkeypatch.chdir(tmp_path)  # the modules are imported from the current folder
    write_module(tmp_path, "crossgrad_test_broken", "import math\nx = 1 / 0\n")
    write_module(tmp_path, "crossgrad_test_fine", "NOT_A_BACKEND = 3\n")
    monkeypatch.syspath_prepend(str(EXAMPLES))
    options = [option for spec in UNLOADABLE for option in ("--backend", spec)]
    status, rows = report(tmp_path, *options, "--backend", "lesson=lesson_backprop",
                          "--backends", "numpy,missing,broken,noattr,nobackprop,lesson")
    assert status == 1
    lines = capsys.readouterr().err.splitlines()
    assert [line for line in lines if line.startswith("crossgrad report: backend")] == [
        f"crossgrad report: {line}" for line in UNLOADABLE.values()]
    assert {row["backend"] for row in rows} == {"numpy", "lesson"}
    assert {row["status"] for row in rows if row["backend"] == "lesson"} == {"pass"}


@pytest.mark.parametrize("options, line", [
    (["--backend", "mine"], "crossgrad report: --backend 'mine': expected NAME=module:attribute "
                            "or NAME=module"),
    (["--backends", "numpy,mine"], "crossgrad report: --backends: unknown 'mine'; choose from "
                                   f"{', '.join(adapters.BACKENDS)}, or add one with --backend "
                                   "NAME=module:attribute"),
])
def test_usage_errors_exit_2_with_one_line(tmp_path, capsys, options, line):
    """A malformed --backend or an unknown name: one line, exit 2, nothing written."""
    with pytest.raises(SystemExit) as caught:
        report(tmp_path, *options)
    assert caught.value.code == 2
    assert capsys.readouterr().err.splitlines() == [line]
    assert not (tmp_path / "out").exists()


# --- the command line ------------------------------------------------------------------------

def test_report_runs_a_plug_in_under_its_name_from_the_current_folder(tmp_path, monkeypatch):
    """--backend NAME=module:attribute, the module in the current folder: the report's backend
    column says NAME, and it agrees with the reference; --backends chooses it."""
    monkeypatch.chdir(tmp_path)
    write_module(tmp_path, "crossgrad_test_objects", """\
        import sys
        sys.path.insert(0, %r)
        import lesson_backprop
        MINE = type("Mine", (), {"backprop": staticmethod(lesson_backprop.backprop),
                                 "DEVICE": "abacus"})()
        """ % str(EXAMPLES))
    status, rows = report(tmp_path, "--backend", "mine=crossgrad_test_objects:MINE",
                          "--backends", "mine", "--dtypes", "float64,float32")
    assert status == 0
    assert {(row["backend"], row["device"], row["status"]) for row in rows} == {
        ("mine", "abacus", "pass")}
    assert {row["dtype"] for row in rows} == {"float64", "float32"}


def test_report_runs_every_known_backend_by_default(tmp_path, monkeypatch):
    """Without --backends, the built-ins and each --backend NAME=module run."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    status, rows = report(tmp_path, "--backend", "lesson=lesson_backprop", "--dtypes", "float64")
    assert {row["backend"] for row in rows} >= {"numpy", "lesson"}
    assert status == 0


def test_the_planted_bug_fails_localized_and_labelled_on_the_command_line(
        tmp_path, monkeypatch, capsys):
    """examples/lesson_backprop_planted_bug (tanh' = 1 − tanh): the report fails, and its rows
    say where the disagreement starts (layer 6 of 0–7: layer 7 is sigmoid) and label it."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    status, rows = report(tmp_path, "--backend", "buggy=lesson_backprop_planted_bug",
                          "--backends", "buggy", "--dtypes", "float64", cases=(TANH,))
    assert status == 1
    failing = [row for row in rows if row["status"] == "fail"]
    assert {row["layer"] for row in failing if row["quantity"] == "error_term"} == {
        str(layer) for layer in range(7)}
    assert {row["first_divergent_layer"] for row in rows} == {"6"}
    assert {row["label"] for row in failing} == {"mismatch"}
    assert "FAIL tanh_stack_8 · buggy · float64 · layer 6 · error_term vs reference" in \
        capsys.readouterr().err


def test_worker_processes_load_the_same_plug_ins(tmp_path, monkeypatch):
    """--executor processes: the spawned workers register --backend's plug-ins again (from
    CROSSGRAD_BACKENDS) and give the rows the serial run gives."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    options = ["--backend", "lesson=lesson_backprop", "--backends", "numpy,lesson",
               "--dtypes", "float64,float32"]
    serial = report(tmp_path / "serial", *options)
    out = tmp_path / "processes"
    status = main(["report", "--cases", str(SEED), str(TANH), "--out", str(out), "--referees",
                   "none", "--executor", "processes", "--workers", "2", *options])
    parallel = rows_of(out / "agreement.csv")
    again = report(tmp_path / "again", *options, cases=(SEED, TANH))
    assert serial[0] == status == again[0] == 0
    assert any(row["backend"] == "lesson" for row in parallel)
    assert parallel == again[1]


# --- entry points ----------------------------------------------------------------------------

def installed(site, **entry_points):
    """A distribution in `site` (a folder put on sys.path) declaring `entry_points` in the
    group crossgrad.backends, as `pip install` of a package with them would."""
    info = site / "crossgrad_test_backends-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: crossgrad-test-backends\n"
                                   "Version: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(
        "[crossgrad.backends]\n" + "".join(f"{name} = {spec}\n"
                                           for name, spec in entry_points.items()),
        encoding="utf-8")
    return site


def test_entry_points_are_found_with_no_option(tmp_path, monkeypatch):
    """An installed package's crossgrad.backends entry points join the registry."""
    site = installed(tmp_path / "site", lesson="lesson_backprop")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.setattr(adapters, "_entry_points_read", False)
    assert adapters.names()[-1] == "lesson"
    assert adapters.load("lesson").version().startswith("lesson 1.0")


def test_an_installed_planted_bug_fails_in_every_command_with_no_option(tmp_path):
    """`python -m crossgrad report` with no backend option runs the built-ins and the installed
    plug-ins: the good one passes, the planted bug fails with its layer and label."""
    site = installed(tmp_path / "site", lesson="lesson_backprop",
                     buggy="lesson_backprop_planted_bug")
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(EXAMPLES)]))
    environment.pop(adapters.ENVIRONMENT, None)
    done = subprocess.run(
        [sys.executable, "-m", "crossgrad", "report", "--cases", str(TANH), "--out",
         str(tmp_path / "out"), "--referees", "none", "--dtypes", "float64"],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    rows = rows_of(tmp_path / "out" / "agreement.csv")
    by_backend = {}
    for row in rows:
        by_backend.setdefault(row["backend"], set()).add(row["status"])
    assert by_backend["lesson"] == {"pass"}
    assert "fail" in by_backend["buggy"]
    assert all("fail" not in statuses for backend, statuses in by_backend.items()
               if backend != "buggy")
    assert {row["first_divergent_layer"] for row in rows if row["backend"] == "buggy"} == {"6"}
    assert "FAIL tanh_stack_8 · buggy · float64 · layer 6 · error_term vs reference" in \
        done.stderr


# --- divergences that every built-in shares ---------------------------------------------------

SHARED_DIVERGENCE = "".join(f"""\
  - backend: {backend}
    dtype: float32
    layer: 1
    quantity: weight_delta
    reason: a planted declaration, alike for every built-in
""" for backend in adapters.BACKENDS)


def test_a_divergence_every_built_in_declares_covers_a_plug_in_without_binding_it(tmp_path):
    """A divergence declared alike for numpy, torch and jax is the dtype's, not a framework's:
    it covers a plug-in's rows outside (expected_divergence), and a plug-in that agrees is not
    failed for it, where a built-in is ('no longer reproduces')."""
    path = tmp_path / "shared.yaml"
    path.write_text(SEED.read_text(encoding="utf-8") + "divergences:\n" + SHARED_DIVERGENCE,
                    encoding="utf-8")
    case = load_case(path)
    sys.path.insert(0, str(tmp_path))
    adapters.register("nan", write_module(tmp_path, "crossgrad_test_shared_nan", _numpy_edited(
        "g.weight_deltas[1][0, 0] = np.nan\nreturn g")))
    adapters.register("same", write_module(tmp_path, "crossgrad_test_shared_same",
                                           _numpy_edited("return g")))
    rows = runner.run(plugins.case_for(case, "nan"), "nan", "float32")
    assert {(r.layer, r.quantity) for r in rows if r.status == "expected_divergence"} == {
        (1, "weight_delta")}
    assert not any(r.failed for r in rows)
    assert {r.divergence for r in rows if r.divergence} == {
        "as for every built-in backend: a planted declaration, alike for every built-in"}
    assert {r.status for r in runner.run(plugins.case_for(case, "same"), "same", "float32")} \
        == {"pass"}
    assert [r.problem.split(":")[0] for r in runner.run(case, "numpy", "float32") if r.failed] \
        == ["declared divergence no longer reproduces"]
    assert plugins.case_for(case, "numpy") is case  # built-ins: as declared
    one = load_case(SEED)
    assert plugins.case_for(one, "same") is one  # nothing declared, nothing inherited


def test_the_example_is_written_from_scratch():
    """examples/lesson_backprop.py imports NumPy, math and crossgrad's Gradients, nothing else
    (not the reference)."""
    tree = ast.parse((EXAMPLES / "lesson_backprop.py").read_text(encoding="utf-8"))
    imported = {(node.module if isinstance(node, ast.ImportFrom) else alias.name)
                for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in node.names}
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
             for alias in node.names}
    assert imported == {"math", "numpy", "crossgrad"} and names == {"Gradients"}


def test_show_prints_a_plug_in_beside_the_built_ins_and_skips_one_that_raises(
        tmp_path, monkeypatch, capsys):
    """`crossgrad show --backend`: the plug-in's numbers beside numpy's (the same to rounding);
    one that raises is one line on stderr, and the others are shown."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    sys.path.insert(0, str(tmp_path))
    write_module(tmp_path, "crossgrad_test_show_raises", RESULTS["raises"][0])
    assert main(["show", str(SEED), "--json", "--backend", "lesson=lesson_backprop",
                 "--backend", "raises=crossgrad_test_show_raises", "--backends",
                 "numpy,lesson,raises", "--dtypes", "float64"]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "skipped raises float64: raises raised ValueError: no such layer"]
    results = json.loads(captured.out)["results"]
    assert sorted(results) == ["lesson float64", "numpy float64"]
    for field in ("error_terms", "weight_deltas"):
        for ours, theirs in zip(results["lesson float64"][field], results["numpy float64"][field]):
            assert np.allclose(ours, theirs, rtol=1e-12, atol=0)


def test_no_plug_in_outlives_its_test():
    """The fixture above undoes what --backend exported (tests after these spawn processes that
    must not inherit a planted bug)."""
    assert adapters.ENVIRONMENT not in os.environ
    plugins.add(["leak=lesson_backprop"])
    assert os.environ[adapters.ENVIRONMENT] == "leak=lesson_backprop"
