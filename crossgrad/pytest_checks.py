"""The pytest side of a comparison: pass, skip, or fail with every mismatch's message."""
import pytest


def assert_agrees(comparisons):
    """Fail with the message of every failing Comparison; skip when all were skipped."""
    __tracebackhide__ = True
    failures = [c for c in comparisons if c.failed]
    if failures:
        pytest.fail("\n\n".join(c.message() for c in failures), pytrace=False)
    if all(c.status == "skipped" for c in comparisons):
        pytest.skip(comparisons[0].problem)
