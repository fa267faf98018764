"""One comparison of one quantity of one layer: a record that pytest asserts on and the report lists.

Expected is the reference (or the golden value) and actual is the backend, always in that order,
so that the relative tolerance scales with the truth. Structure is checked before values: a
missing quantity, then the shape, then the dtype, then the numbers.
"""
from dataclasses import dataclass, fields

import numpy as np

from crossgrad.dtypes import numpy_dtype
from crossgrad.metrics import cosine, relative_l2, sign_agreement, ulp_distance
from crossgrad.tolerances import ROUNDING_BOUND_MULTIPLE

# expected_divergence: outside the tolerance, as the case declares it will be (see runner);
# error: the backend raised, and `problem` holds what it said.
STATUSES = ("pass", "fail", "error", "expected_divergence", "skipped")
# The guard on the relative difference's denominator: |expected| below this counts as this.
REL_DIFF_FLOOR = np.finfo(np.float64).tiny


@dataclass(frozen=True, slots=True)  # slots: a third of the memory, for catalogues of 10,000
class Comparison:
    """What one comparison found. `problem` names a structural fault, or why a row was skipped."""

    case: str
    backend: str
    dtype: str
    device: str
    layer: int | None  # None for the loss, which belongs to the whole network
    quantity: str  # weight_delta, bias_delta, error_term or loss; weights, biases of a trajectory
    compared_to: str  # reference or expected
    status: str
    problem: str = ""
    step: int | None = None  # a trajectory's recorded step (updates done); None: one step
    size: int = 0
    mismatched: int = 0
    max_abs_diff: float = float("nan")
    max_rel_diff: float = float("nan")
    worst_index: str = ""
    actual_at_worst: float = float("nan")
    expected_at_worst: float = float("nan")
    rtol: float = float("nan")
    atol: float = float("nan")  # the absolute allowance used: the table's atol × scale (+ floor)
    scale: float = float("nan")  # the largest finite |expected| of the row
    # the worst element's |actual − expected| / its allowance: ≤ 1 inside, > 1 outside (0/0 = 0)
    tolerance_share: float = float("nan")
    # what rounding explains at the element of max_rel_diff, relative to its |expected|: the error
    # model's allowance (K·bound) plus a referee's noise floor; 0 where neither applies
    rounding_bound: float = float("nan")
    non_finite: int = 0  # elements that are NaN or Inf on either side
    mismatch_fraction: float = float("nan")
    max_ulp: float = float("nan")  # in units in the last place of `dtype`
    rel_l2: float = float("nan")
    cosine: float = float("nan")
    sign_agreement: float = float("nan")
    label: str = ""  # why a row is outside its tolerance: non_finite, kink, precision or mismatch
    label_detail: str = ""  # e.g. which units sit at a kink
    first_divergent_layer: int | None = None  # of this case × backend × dtype, from the output down
    error_growth: float = float("nan")  # rel_l2 growth per layer below the first divergent one
    first_divergent_step: int | None = None  # of a trajectory: the first step outside
    drift_growth: float = float("nan")  # a trajectory's log10 rel_l2 of the weights per step
    divergence: str = ""  # the reason a case gives for a declared divergence that matched this row
    closer_to_truth: str = ""  # for a reference row outside: the side nearer the ground truth
    note: str = ""  # how a referee computed its side (mode, directions, seed)

    @property
    def failed(self):
        """A row that fails the run: outside its tolerance undeclared, or an error."""
        return self.status in ("fail", "error")

    @property
    def outside(self):
        """Outside the tolerance, whether or not the case declared it."""
        return self.status in ("fail", "expected_divergence") and not self.problem.startswith(
            "declared divergence no longer")

    def title(self):
        """'case · backend · dtype · layer 0 · weight_delta vs reference' (as much as applies;
        a trajectory's row says its step: '… · float32 · step 100 · layer 0 · weights …')."""
        parts = [self.case, self.backend, self.dtype]
        if self.step is not None:
            parts.append(f"step {self.step}")
        if self.quantity:
            parts.append(self.quantity if self.layer is None
                         else f"layer {self.layer} · {self.quantity}")
        title = " · ".join(part for part in parts if part)
        return f"{title} vs {self.compared_to}" if self.compared_to else title

    def rerun(self):
        """The command that reruns exactly this case × backend × dtype (no substring matching)."""
        return (f'pytest "tests/test_catalogue.py::test_case'
                f'[{self.case}-{self.backend}-{self.dtype}]"')

    def message(self):
        """The mismatch message: what, then the numbers, then how to rerun."""
        if self.problem:
            lines = [f"{self.title()}: {self.problem}"]
        else:
            share = self.mismatched / self.size if self.size else 0
            label = f" ({self.label}{': ' + self.label_detail if self.label_detail else ''})" \
                if self.label else ""
            lines = [f"{self.title()}: not close{label}",
                     f"mismatched {self.mismatched} / {self.size} ({share:.0%}); worst at "
                     f"{self.worst_index}: actual {self.actual_at_worst:.10g}, expected "
                     f"{self.expected_at_worst:.10g}",
                     f"max abs diff {self.max_abs_diff:.2e} (allowed {self.atol:.1e} + rtol·|expected|); "
                     f"max rel diff {self.max_rel_diff:.2e} (allowed {self.rtol:.1e}); "
                     f"max {self.max_ulp:.3g} ulp; rel_l2 {self.rel_l2:.2e}"]
        if self.closer_to_truth:
            lines.append(f"closer to the proven ground truth: {self.closer_to_truth}")
        if self.note:
            lines.append(f"({self.compared_to}: {self.note})")
        lines.append(f"rerun: {self.rerun()}")
        return "\n".join(lines)


COLUMNS = tuple(field.name for field in fields(Comparison))


def _index(flat_index, shape):
    return str(tuple(int(i) for i in np.unravel_index(flat_index, shape))) if shape else "()"


def compare(actual, expected, tolerance, bound=None, **identity):
    """Compare a backend's `actual` array with `expected` (float64) under `tolerance`.

    `bound` is the error model's rounding bound per element (crossgrad.error_model), or None.
    `identity` gives the Comparison's case, backend, dtype, device, layer, quantity and
    compared_to; `dtype` is also the dtype `actual` must have. An element passes when
    |actual − expected| ≤ atol·max|expected| + rtol·|expected| + K·bound (K is
    ROUNDING_BOUND_MULTIPLE); NaN or Inf never passes unless both sides hold the same infinity.
    Returns a Comparison.
    """
    expected = np.asarray(expected, dtype=np.float64)
    if actual is None:
        return Comparison(**identity, status="fail", problem="missing: the backend returned none")
    actual = np.asarray(actual)
    if actual.shape != expected.shape:
        return Comparison(**identity, status="fail",
                          problem=f"shape {actual.shape}, expected {expected.shape}")
    if actual.dtype != numpy_dtype(identity["dtype"]):
        return Comparison(**identity, status="fail",
                          problem=f"dtype {actual.dtype}, expected {identity['dtype']}")
    actual64 = actual.astype(np.float64)
    finite = np.isfinite(expected)
    scale = float(np.max(np.abs(expected[finite]), initial=0.0))
    atol = tolerance.floor + tolerance.atol * scale
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        abs_diff = np.abs(actual64 - expected)
        same_infinity = (actual64 == expected) & ~finite
        abs_diff = np.where(same_infinity, 0.0, np.where(np.isnan(abs_diff), np.inf, abs_diff))
        modelled = 0.0 if bound is None else ROUNDING_BOUND_MULTIPLE * np.where(
            np.isnan(bound), np.inf, bound)  # a bound the model cannot give is no limit
        allowed = atol + tolerance.rtol * np.abs(np.where(finite, expected, 0.0)) + modelled
        rounding = np.broadcast_to(tolerance.floor + modelled, expected.shape)
        denominator = np.where(finite, np.maximum(np.abs(expected), REL_DIFF_FLOOR), 1.0)
        rel_diff = abs_diff / denominator
        outside = (abs_diff > allowed) | np.isinf(abs_diff)  # an infinite bound passes no NaN
        furthest = int(np.argmax(rel_diff)) if expected.size else 0
        rounding_bound = float((rounding / denominator).flat[furthest]) if expected.size else 0.0
        share = np.where(abs_diff == 0, 0.0, np.where(
            np.isinf(abs_diff), np.inf, abs_diff / np.where(allowed > 0, allowed, 0.0)))
        worst = int(np.argmax(abs_diff - allowed)) if expected.size else 0
        ulps = ulp_distance(actual64, expected, identity["dtype"])
    mismatched = int(np.count_nonzero(outside))
    return Comparison(
        **identity,
        status="fail" if mismatched else "pass",
        size=int(expected.size),
        mismatched=mismatched,
        max_abs_diff=float(np.max(abs_diff, initial=0.0)),
        max_rel_diff=float(np.max(rel_diff, initial=0.0)),
        worst_index=_index(worst, expected.shape),
        actual_at_worst=float(actual64.flat[worst]) if expected.size else float("nan"),
        expected_at_worst=float(expected.flat[worst]) if expected.size else float("nan"),
        rtol=tolerance.rtol,
        atol=atol,
        scale=scale,
        tolerance_share=float(np.max(share, initial=0.0)),
        rounding_bound=rounding_bound,
        non_finite=int(np.count_nonzero(~(np.isfinite(actual64) & finite))),
        mismatch_fraction=mismatched / expected.size if expected.size else 0.0,
        max_ulp=float(np.max(ulps, initial=0.0)),
        rel_l2=relative_l2(actual64, expected),
        cosine=cosine(actual64, expected),
        sign_agreement=sign_agreement(actual64, expected),
    )
