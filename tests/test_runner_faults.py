"""A backend that raises becomes an error row; the other backends and dtypes go on."""
import sys
import types

import pytest

from crossgrad import adapters, runner
from crossgrad.cases import load_case
from crossgrad.cli import main

from test_diagnose import SEED


def raising_adapter(monkeypatch):
    """Backend 'torch' as a module that refuses float32 the way a framework might."""
    module = types.ModuleType("crossgrad_raising")
    module.DEVICE, module.UNSUPPORTED_DTYPES = "cpu", {}
    module.version = lambda: "raising"

    def backprop(problem, dtype):
        if dtype == "float32":
            raise RuntimeError('"addmm_impl_cpu_" not implemented\nfor \'Float\'')
        return adapters.load("numpy").backprop(problem, dtype)

    module.backprop = backprop
    monkeypatch.setitem(sys.modules, "crossgrad_raising", module)
    monkeypatch.setitem(adapters._MODULES, "torch", "crossgrad_raising")


def test_a_raising_backend_gives_one_error_row(tmp_path, monkeypatch):
    """float32 raises: one row, status error, the exception's type and message on one line."""
    raising_adapter(monkeypatch)
    path = tmp_path / "seed.yaml"
    path.write_text(SEED, encoding="utf-8")
    rows = runner.run(load_case(path), "torch", "float32")
    assert [(r.status, r.problem) for r in rows] == [
        ("error", "torch raised RuntimeError: \"addmm_impl_cpu_\" not implemented for 'Float'")]
    assert rows[0].failed
    assert rows[0].message().splitlines()[0] == ("seed · torch · float32: torch raised "
                                                 "RuntimeError: \"addmm_impl_cpu_\" not "
                                                 "implemented for 'Float'")
    assert {r.status for r in runner.run(load_case(path), "torch", "float64")} == {"pass"}


def test_report_goes_on_past_an_error_and_exits_1(tmp_path, monkeypatch, capsys):
    """The report has the error row and every other backend's rows, exits 1, and its summary
    line counts the case with errors."""
    raising_adapter(monkeypatch)
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "seed.yaml").write_text(SEED, encoding="utf-8")
    status = main(["report", "--cases", str(cases), "--out", str(tmp_path / "out"),
                   "--backends", "numpy,torch", "--referees", "none"])
    assert status == 1
    summary = capsys.readouterr().out.splitlines()[0]
    assert summary.startswith("crossgrad report: 1 cases, ") and ", 1 error, " in summary
    assert "; 1 cases with errors -> " in summary
    csv = (tmp_path / "out" / "agreement.csv").read_text(encoding="utf-8")
    assert "seed,torch,float32,cpu,,,,error" in csv
    assert "seed,numpy,float32,cpu,0,error_term,reference,pass" in csv
    assert "seed,torch,float64,cpu,0,error_term,reference,pass" in csv


def test_a_missing_layer_is_a_structural_failure_not_a_crash(tmp_path, monkeypatch):
    """A backend that returns one layer of weight deltas for a two-layer case: one row says so,
    layer 1's row says the quantity is missing, and layer 0 is still compared."""
    module = types.ModuleType("crossgrad_short")
    module.DEVICE, module.UNSUPPORTED_DTYPES = "cpu", {}
    module.version = lambda: "short"

    def backprop(problem, dtype):
        full = adapters.load("numpy").backprop(problem, dtype)
        return full._replace(weight_deltas=full.weight_deltas[:1])

    module.backprop = backprop
    monkeypatch.setitem(sys.modules, "crossgrad_short", module)
    monkeypatch.setitem(adapters._MODULES, "torch", "crossgrad_short")
    path = tmp_path / "seed.yaml"
    path.write_text(SEED, encoding="utf-8")
    rows = [r for r in runner.run(load_case(path), "torch", "float64")
            if r.quantity == "weight_delta"]
    assert [(r.layer, r.status, r.problem) for r in rows] == [
        (None, "fail", "1 layers of weight_delta, expected 2"),
        (0, "pass", ""),
        (1, "fail", "missing: the backend returned none")]
