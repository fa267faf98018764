"""The pytest side of a comparison: pass, skip, xfail a declared divergence, or fail with every
mismatch's message."""
import math

import pytest

from crossgrad.diagnose import localization_line


def assert_agrees(comparisons, layer_count):
    """Fail with every failing Comparison's message (where the disagreement starts first);
    xfail when the only rows outside their tolerance are declared divergences; skip when all
    rows were skipped."""
    __tracebackhide__ = True
    failures = [c for c in comparisons if c.failed]
    if failures:
        first = comparisons[0].first_divergent_layer
        header = [localization_line(first, comparisons[0].error_growth, layer_count)] \
            if first is not None else []
        pytest.fail("\n\n".join(header + [c.message() for c in failures]), pytrace=False)
    diverging = [c for c in comparisons if c.status == "expected_divergence"]
    if diverging:
        reasons = sorted({c.divergence for c in diverging})
        worst = max(diverging, key=lambda c: c.max_rel_diff if not math.isnan(c.max_rel_diff)
                    else -1.0)
        pytest.xfail(f"declared divergence ({len(diverging)} rows, worst {worst.title()}: max "
                     f"rel diff {worst.max_rel_diff:.2e}): " + " / ".join(reasons))
    if all(c.status == "skipped" for c in comparisons):
        pytest.skip(comparisons[0].problem)
