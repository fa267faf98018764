"""The distances of crossgrad.metrics on zeros, ties, negative zero, NaN and Inf."""
import math

import numpy as np
import pytest

from crossgrad.compare import compare
from crossgrad.metrics import cosine, relative_l2, sign_agreement, ulp_distance
from crossgrad.tolerances import Tolerance

F32_ONE_ULP = 2.0 ** -23  # the gap above 1.0 in float32
F64_ONE_ULP = 2.0 ** -52


def a(*values):
    return np.array(values, dtype=np.float64)


def test_ulp_distance_counts_adjacent_values():
    """1 and its next float are 1 ulp apart, in float64 and in float32."""
    assert ulp_distance(a(1.0 + F64_ONE_ULP), a(1.0), "float64")[0] == 1
    assert ulp_distance(a(1.0 + 3 * F32_ONE_ULP), a(1.0), "float32")[0] == 3
    assert ulp_distance(a(1.0), a(1.0 + 3 * F32_ONE_ULP), "float32")[0] == 3  # symmetric


def test_ulp_distance_rounds_expected_to_the_row_dtype():
    """A float64 value that rounds to the same float32 is 0 float32 ulps away."""
    assert ulp_distance(a(1.0), a(1.0 + F64_ONE_ULP), "float32")[0] == 0


def test_ulp_distance_across_zero_counts_both_sides():
    """From −tiny to +tiny through ±0: the smallest subnormal on each side is 1 ulp from 0."""
    smallest = float(np.nextafter(np.float64(0), np.float64(1)))
    assert ulp_distance(a(smallest), a(-smallest), "float64")[0] == 2
    assert ulp_distance(a(smallest), a(0.0), "float64")[0] == 1


def test_negative_zero_is_zero_ulps_from_zero():
    """−0.0 and +0.0 are the same number."""
    assert ulp_distance(a(-0.0), a(0.0), "float64")[0] == 0
    assert ulp_distance(a(0.0), a(-0.0), "float32")[0] == 0


def test_ulp_distance_of_opposite_extremes_does_not_overflow():
    """−max to +max in float64 is 2·(2^63 − 2^52 − 1) + … ≈ 1.8e19: finite, positive, no wrap."""
    biggest = float(np.finfo(np.float64).max)
    distance = ulp_distance(a(biggest), a(-biggest), "float64")[0]
    assert distance == pytest.approx(2 * (0x7FEFFFFFFFFFFFFF), rel=1e-15)


def test_ulp_distance_non_finite():
    """NaN anywhere is inf ulps; the same infinity on both sides is 0; opposite ones are inf."""
    assert ulp_distance(a(math.nan), a(1.0), "float64")[0] == math.inf
    assert ulp_distance(a(1.0), a(math.nan), "float64")[0] == math.inf
    assert ulp_distance(a(math.nan), a(math.nan), "float64")[0] == math.inf
    assert ulp_distance(a(math.inf), a(math.inf), "float32")[0] == 0
    assert ulp_distance(a(-math.inf), a(math.inf), "float64")[0] == math.inf


def test_relative_l2():
    """‖a − e‖/‖e‖ by hand: (3, 4) against (0, 4) is 3/4; zeros give 0 or inf, never a division."""
    assert relative_l2(a(3.0, 4.0), a(0.0, 4.0)) == 0.75
    assert relative_l2(a(0.0, 0.0), a(0.0, -0.0)) == 0.0
    assert relative_l2(a(1e-300, 0.0), a(0.0, 0.0)) == math.inf
    assert math.isnan(relative_l2(a(math.nan), a(1.0)))


def test_cosine():
    """Parallel 1, opposite −1, orthogonal 0; both zero 1; exactly one zero 0."""
    assert cosine(a(1.0, 2.0), a(2.0, 4.0)) == pytest.approx(1.0, abs=1e-15)
    assert cosine(a(1.0, 2.0), a(-1.0, -2.0)) == pytest.approx(-1.0, abs=1e-15)
    assert cosine(a(1.0, 0.0), a(0.0, 3.0)) == 0.0
    assert cosine(a(0.0, -0.0), a(0.0, 0.0)) == 1.0
    assert cosine(a(0.0, 0.0), a(1.0, 0.0)) == 0.0
    assert math.isnan(cosine(a(math.nan, 1.0), a(1.0, 1.0)))


def test_sign_agreement():
    """Exact zeros and negative zeros have sign 0 on both sides; NaN agrees with nothing."""
    assert sign_agreement(a(1.0, -2.0, 0.0, -0.0), a(3.0, -1.0, -0.0, 0.0)) == 1.0
    assert sign_agreement(a(1.0, -2.0, 0.0, 5.0), a(-1.0, -2.0, 1e-300, 5.0)) == 0.5
    assert sign_agreement(a(math.nan, 1.0), a(math.nan, 1.0)) == 0.5
    assert sign_agreement(a(), a()) == 1.0


def test_compare_fills_every_metric():
    """One comparison carries all metrics, computed on the same arrays as by hand."""
    row = compare(np.array([1.0, -2.0, 0.0, 4.0], dtype=np.float32), a(1.0, -2.0, 0.5, 4.0),
                  Tolerance(rtol=1e-6, atol=1e-6), case="c", backend="b", dtype="float32",
                  device="cpu", layer=0, quantity="weight_delta", compared_to="reference")
    assert row.mismatch_fraction == 0.25
    assert row.rel_l2 == pytest.approx(0.5 / math.sqrt(1 + 4 + 0.25 + 16), rel=1e-12)
    assert row.cosine == pytest.approx(21 / (math.sqrt(21) * math.sqrt(21.25)), rel=1e-12)
    assert row.sign_agreement == 0.75
    # 0.5 is 2^-1: float32's ordered integers put 0x3F000000 of them between 0 and 0.5
    assert row.max_ulp == 0x3F000000
    assert row.non_finite == 0


def test_compare_counts_non_finite_elements():
    """NaN in actual and Inf in expected are both counted; the same infinity is not a mismatch."""
    row = compare(a(math.nan, math.inf, 1.0), a(1.0, math.inf, 1.0), Tolerance(1e-9, 1e-12),
                  case="c", backend="b", dtype="float64", device="cpu", layer=0,
                  quantity="error_term", compared_to="reference")
    assert (row.non_finite, row.mismatched, row.status) == (2, 1, "fail")
    assert row.max_ulp == math.inf


def test_norms_neither_underflow_nor_overflow():
    """Vectors of 1e-300 or 1e300 keep their direction: cosine 1, rel_l2 exact."""
    assert cosine(a(1e-300, 0.0), a(2e-300, 0.0)) == 1.0
    assert cosine(a(1e300, 1e300), a(1e300, 1e300)) == pytest.approx(1.0, abs=1e-15)
    assert relative_l2(a(2e-300), a(1e-300)) == 1.0
