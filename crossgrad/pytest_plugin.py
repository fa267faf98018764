"""The pytest plugin (entry point pytest11): crossgrad's catalogue against a backend of one's own.

    pytest --crossgrad-backend=NAME=module:attribute [--crossgrad-cases=DIR]
           [--crossgrad-dtypes=float64,float32]

collects one test per case × dtype for each backend given, with ids like
seed_3_2_1-mine-float64, compared and messaged as crossgrad's own catalogue tests are; without
--crossgrad-cases it checks the catalogue that ships with crossgrad. Without any of its options
it does nothing. (Write a path as --crossgrad-cases=DIR: pytest reads a bare path after an
option as an argument when it chooses its rootdir, before plugins' options are known.)
"""
import importlib.resources
from pathlib import Path

import pytest

OPTIONS = ("crossgrad_backend", "crossgrad_cases", "crossgrad_dtypes")


def pytest_addoption(parser):
    group = parser.getgroup("crossgrad", "check a backprop of your own against crossgrad's "
                                         "catalogue")
    group.addoption("--crossgrad-backend", action="append", default=[],
                    metavar="NAME=module:attribute",
                    help="a backend to check (or NAME=module), imported from the current folder "
                         "or PYTHONPATH; repeatable")
    group.addoption("--crossgrad-cases", action="append", default=[], metavar="PATH",
                    help="case files or folders (default: the catalogue that ships with "
                         "crossgrad)")
    group.addoption("--crossgrad-dtypes", default=None, metavar="LIST",
                    help="comma-separated dtypes to run, of those each case asks for "
                         "(default: all it asks for)")


def _asked(config):
    return any(config.getoption(option) for option in OPTIONS)


def pytest_configure(config):
    """Check the options, and register the backends, before anything is collected: a bad
    option is one usage line."""
    if not _asked(config):
        return
    from crossgrad import adapters, plugins
    config.addinivalue_line("markers", "crossgrad: a case of crossgrad's catalogue on a backend "
                                       "given with --crossgrad-backend")
    if not config.getoption("crossgrad_backend"):
        raise pytest.UsageError("--crossgrad-cases and --crossgrad-dtypes need "
                                "--crossgrad-backend NAME=module:attribute")
    config.crossgrad_dtypes = _dtypes(config)
    try:
        config.crossgrad_backends = plugins.add(config.getoption("crossgrad_backend"))
    except adapters.BackendError as error:
        raise pytest.UsageError(str(error)) from None


def shipped_catalogue():
    """The catalogue installed with crossgrad (crossgrad/catalogue, the repository's cases/)."""
    return Path(str(importlib.resources.files("crossgrad") / "catalogue"))


def _dtypes(config):
    from crossgrad.dtypes import DTYPES
    text = config.getoption("crossgrad_dtypes")
    if text is None:
        return None
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    for name in chosen:
        if name not in DTYPES:
            raise pytest.UsageError(f"--crossgrad-dtypes: unknown {name!r}; choose from "
                                    f"{', '.join(DTYPES)}")
    return chosen


@pytest.hookimpl(tryfirst=True)  # before -k and -m deselect
def pytest_collection_modifyitems(session, config, items):
    """The catalogue's tests join the collected ones, reported as collected (so that the counts
    of collected and deselected tests include them)."""
    if not _asked(config):
        return
    catalogue = Catalogue.from_parent(session, name="crossgrad", nodeid="crossgrad")
    config.hook.pytest_collectstart(collector=catalogue)
    report = config.hook.pytest_make_collect_report(collector=catalogue)
    config.hook.pytest_collectreport(report=report)
    if report.passed:
        items.extend(report.result)


class Catalogue(pytest.Collector):
    """The catalogue's cases × the backends and dtypes asked for."""

    def collect(self):
        from crossgrad import adapters, plugins
        from crossgrad.cases import load_catalogue
        dtypes = self.config.crossgrad_dtypes
        cases, errors = load_catalogue(self.config.getoption("crossgrad_cases")
                                       or [shipped_catalogue()])
        found = []
        for name in self.config.crossgrad_backends:
            try:
                adapters.load(name)
            except (adapters.BackendError, adapters.BackendUnavailable) as error:
                found.append(Problem.from_parent(self, name=f"backend-{name}", lines=[str(error)]))
                continue
            found += [CaseItem.from_parent(self, name=f"{case.name}-{name}-{dtype}",
                                           run=(plugins.case_for(case, name), name, dtype))
                      for case in cases for dtype in case.dtypes
                      if dtypes is None or dtype in dtypes]
        by_file = {}
        for error in errors:
            by_file.setdefault(error.path, []).append(str(error))
        return found + [Problem.from_parent(self, name=f"invalid-{Path(path).stem}", lines=lines)
                        for path, lines in by_file.items()]


class CaseItem(pytest.Item):
    """One case × backend × dtype, compared as tests/test_catalogue.py compares."""

    def __init__(self, *, run, **kwargs):
        super().__init__(**kwargs)
        self.run = run
        self.add_marker("crossgrad")

    def runtest(self):
        from crossgrad import runner
        from crossgrad.pytest_checks import assert_agrees
        case, backend, dtype = self.run
        try:
            assert_agrees(runner.run(case, backend, dtype), len(case.problem.layers))
            return
        except pytest.xfail.Exception:  # a declared divergence (xfail is a kind of fail)
            raise
        except pytest.fail.Exception as failure:
            message = str(failure.msg)
        # the catalogue's message, with a rerun line that works here
        pytest.fail("\n".join(f"rerun: {self._rerun()}" if line.startswith("rerun: ") else line
                              for line in message.splitlines()), pytrace=False)

    def _rerun(self):
        # --option=value: pytest reads a bare path after an option it does not know yet as
        # an argument when it chooses its rootdir
        options = [f"--crossgrad-backend={spec}" for spec in self.config.getoption(
            "crossgrad_backend")] + [f"--crossgrad-cases={path}" for path in
                                     self.config.getoption("crossgrad_cases")]
        return f'pytest {" ".join(options)} -k "{self.name}"'

    def reportinfo(self):
        return self.path, None, f"crossgrad: {self.name}"


class Problem(pytest.Item):
    """A backend that cannot run, or a case file that is invalid: one failing test with its
    lines, and the others go on."""

    def __init__(self, *, lines, **kwargs):
        super().__init__(**kwargs)
        self.lines = lines
        self.add_marker("crossgrad")

    def runtest(self):
        pytest.fail("\n".join(self.lines), pytrace=False)

    def reportinfo(self):
        return self.path, None, f"crossgrad: {self.name}"
