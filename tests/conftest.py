import signal
from pathlib import Path

import pytest

from crossgrad.adapters import BACKENDS, topology
from crossgrad.cases import load_catalogue

ROOT = Path(__file__).resolve().parent.parent

# The Ctrl-C tests (test_interruptions, test_executors) need SIGINT delivered. A job started in
# the background by a non-interactive shell (`cmd &`, nohup) inherits SIGINT ignored, Python
# then installs no handler, and every process the tests start inherits the ignoring: the tests
# failed so (exit 0 where 130 was expected). Ctrl-C's own handler is put back here.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_addoption(parser):
    parser.addoption("--cases", action="append", metavar="PATH",
                     help="case files or folders to check (default: the catalogue in cases/)")


def pytest_configure(config):
    """Under pytest-xdist (`pytest -n auto`), hand out tests by group unless --dist is given:
    each topology's catalogue tests then share one worker, which compiles its JAX programs
    and computes its reference once."""
    config.addinivalue_line("markers", "xdist_group(name): tests that run on one xdist worker")
    given = any(arg == "-d" or arg.startswith("--dist") for arg in config.invocation_params.args)
    if getattr(config.option, "dist", "no") == "load" and not given:
        config.option.dist = "loadgroup"


def pytest_generate_tests(metafunc):
    """One test per case × backend × dtype, with ids like seed_3_2_1-torch-float32; an invalid
    case file becomes one failing test that prints its problems, and collection goes on."""
    if "catalogue_entry" not in metafunc.fixturenames:
        return
    paths = metafunc.config.getoption("cases") or [ROOT / "cases"]
    cases, errors = load_catalogue(paths)
    params, groups = [], {}
    for case in cases:
        # named after the first case of its topology, so that its tests share a worker
        group = pytest.mark.xdist_group(groups.setdefault(topology(case.problem), case.name))
        for backend in (b for b in BACKENDS if b in case.backends):
            for dtype in case.dtypes:
                params.append(pytest.param((case, backend, dtype),
                                           id=f"{case.name}-{backend}-{dtype}",
                                           marks=[getattr(pytest.mark, backend), group]))
    by_file = {}
    for error in errors:
        by_file.setdefault(error.path, []).append(error)
    for path, file_errors in by_file.items():
        params.append(pytest.param(file_errors, id=f"invalid-{Path(path).stem}"))
    metafunc.parametrize("catalogue_entry", params)
