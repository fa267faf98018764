"""The product: every case of the catalogue on every backend and dtype it asks for."""
import pytest

from crossgrad import runner
from crossgrad.pytest_checks import assert_agrees


@pytest.mark.catalogue
def test_case(catalogue_entry):
    if isinstance(catalogue_entry, list):  # the problems of an invalid case file
        pytest.fail("\n".join(map(str, catalogue_entry)), pytrace=False)
    case, backend, dtype = catalogue_entry
    assert_agrees(runner.run(case, backend, dtype), len(case.problem.layers))
