"""Frameworks are imported only when their backend runs."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def modules_after(*argv):
    """The framework modules loaded by `crossgrad ARGV` in a fresh interpreter, and its status."""
    program = ("import sys\nfrom crossgrad.cli import main\ncode = main(sys.argv[1:])\n"
               "print(sorted(m for m in ('torch', 'jax', 'dask', 'distributed') "
               "if m in sys.modules))\nsys.exit(code)\n")
    done = subprocess.run([sys.executable, "-c", program, *argv], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)
    return done.stdout.strip().splitlines()[-1], done.returncode


def test_validate_imports_neither_torch_nor_jax():
    assert modules_after("validate", "cases") == ("[]", 0)


def test_a_numpy_report_imports_neither_torch_nor_jax(tmp_path):
    loaded, code = modules_after("report", "--cases", "cases/seed_3_2_1.yaml", "--backends",
                                 "numpy", "--referees", "none", "--out", str(tmp_path))
    assert (loaded, code) == ("[]", 0)
    if importlib.util.find_spec("torch"):  # its version all the same, from the metadata
        assert "PyTorch 2" in (tmp_path / "summary.md").read_text()


def test_a_torch_report_imports_torch_only(tmp_path):
    pytest.importorskip("torch")
    loaded, code = modules_after("report", "--cases", "cases/seed_3_2_1.yaml", "--backends",
                                 "torch", "--referees", "none", "--out", str(tmp_path))
    assert (loaded, code) == ("['torch']", 0)
