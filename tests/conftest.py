from pathlib import Path

import pytest

from crossgrad.adapters import BACKENDS
from crossgrad.cases import load_catalogue

ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser):
    parser.addoption("--cases", action="append", metavar="PATH",
                     help="case files or folders to check (default: the catalogue in cases/)")


def pytest_generate_tests(metafunc):
    """One test per case × backend × dtype, with ids like seed_3_2_1-torch-float32; an invalid
    case file becomes one failing test that prints its problems, and collection goes on."""
    if "catalogue_entry" not in metafunc.fixturenames:
        return
    paths = metafunc.config.getoption("cases") or [ROOT / "cases"]
    cases, errors = load_catalogue(paths)
    params = []
    for case in cases:
        for backend in (b for b in BACKENDS if b in case.backends):
            for dtype in case.dtypes:
                params.append(pytest.param((case, backend, dtype),
                                           id=f"{case.name}-{backend}-{dtype}",
                                           marks=[getattr(pytest.mark, backend)]))
    by_file = {}
    for error in errors:
        by_file.setdefault(error.path, []).append(error)
    for path, file_errors in by_file.items():
        params.append(pytest.param(file_errors, id=f"invalid-{Path(path).stem}"))
    metafunc.parametrize("catalogue_entry", params)
