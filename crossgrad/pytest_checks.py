"""The pytest side of a comparison: pass, skip, xfail a declared divergence, or fail with every
mismatch's message."""
import math

import pytest

from crossgrad.diagnose import localization_line


def _trajectory_failures(failures):
    """A trajectory's failing rows cut at its first step outside: (header lines, the failures
    to show). Rows without a step (the single update's) are all shown."""
    stepped = [c for c in failures if c.step is not None]
    if not stepped:
        return [], failures
    first = min(c.step for c in stepped)
    later = [c for c in stepped if c.step > first]
    growth = stepped[0].drift_growth
    line = f"first step outside its tolerance: step {first}"
    if math.isfinite(growth):
        line += f" (the weights' rel_l2 grows ×10^{growth:.3g} per step)"
    if later:
        line += f"; {len(later)} more failing rows at later steps are in the report"
    return [line], [c for c in failures if c.step is None or c.step == first]


def assert_agrees(comparisons, layer_count):
    """Fail with every failing Comparison's message (where the disagreement starts first; a
    trajectory's at its first step outside its tolerance); xfail when the only rows outside
    their tolerance are declared divergences; skip when all rows were skipped."""
    __tracebackhide__ = True
    failures = [c for c in comparisons if c.failed]
    if failures:
        first = comparisons[0].first_divergent_layer
        header = [localization_line(first, comparisons[0].error_growth, layer_count)] \
            if first is not None else []
        trajectory_header, failures = _trajectory_failures(failures)
        pytest.fail("\n\n".join(header + trajectory_header + [c.message() for c in failures]),
                    pytrace=False)
    diverging = [c for c in comparisons if c.status == "expected_divergence"]
    if diverging:
        reasons = sorted({c.divergence for c in diverging})
        worst = max(diverging, key=lambda c: c.max_rel_diff if not math.isnan(c.max_rel_diff)
                    else -1.0)
        pytest.xfail(f"declared divergence ({len(diverging)} rows, worst {worst.title()}: max "
                     f"rel diff {worst.max_rel_diff:.2e}): " + " / ".join(reasons))
    if all(c.status == "skipped" for c in comparisons):
        pytest.skip(comparisons[0].problem)
