"""compare(): the pass rule, the worst element, structural problems, and the mismatch message."""
import math

import numpy as np
import pytest

from crossgrad.compare import COLUMNS, compare
from crossgrad.tolerances import TOLERANCES, Tolerance, tolerance_for

IDENTITY = dict(case="seed_3_2_1", backend="torch", dtype="float64", device="cpu", layer=0,
                quantity="weight_delta", compared_to="reference")


def check(actual, expected, tolerance=Tolerance(rtol=1e-3, atol=1e-6), **overrides):
    """compare() with the test identity, float64 unless `dtype` is overridden."""
    identity = dict(IDENTITY, **overrides)
    if actual is not None and not isinstance(actual, np.ndarray):
        actual = np.array(actual, dtype=identity["dtype"])
    return compare(actual, expected, tolerance, **identity)


# expected [1, −2, 4]: max|e| = 4, so the allowance is 1e-6·4 + 1e-3·|e|
# = [1.004e-3, 2.004e-3, 4.004e-3]
EXPECTED = [1.0, -2.0, 4.0]
ALLOWED = [4e-6 + 1e-3 * 1.0, 4e-6 + 1e-3 * 2.0, 4e-6 + 1e-3 * 4.0]


def test_each_element_just_inside_its_allowance_passes():
    """Differences of 0.99 × atol·max|e| + rtol·|e| pass, element by element."""
    actual = [e + 0.99 * a * sign for e, a, sign in zip(EXPECTED, ALLOWED, (1, -1, 1))]
    result = check(actual, EXPECTED)
    assert result.status == "pass" and not result.failed
    assert result.mismatched == 0
    assert result.size == 3


@pytest.mark.parametrize("index", [0, 1, 2])
def test_one_element_just_outside_its_allowance_fails(index):
    """1.01 × the allowance at one element fails, with that element as the worst."""
    actual = list(EXPECTED)
    actual[index] += 1.01 * ALLOWED[index]
    result = check(actual, EXPECTED)
    assert result.status == "fail" and result.failed
    assert result.mismatched == 1
    assert result.worst_index == f"({index},)"
    assert result.actual_at_worst == actual[index]
    assert result.expected_at_worst == EXPECTED[index]


def test_atol_is_scaled_by_the_largest_expected_magnitude():
    """At an expected 0 next to 1000 the allowance is atol·1000: half of it passes, twice fails."""
    tolerance = Tolerance(rtol=0.0, atol=1e-9)
    assert check([1000.0, 0.5e-6], [1000.0, 0.0], tolerance).status == "pass"
    assert check([1000.0, 2e-6], [1000.0, 0.0], tolerance).status == "fail"
    assert check([1000.0, 2e-6], [1000.0, 0.0], tolerance).atol == pytest.approx(1e-6, rel=1e-15)


def test_rtol_scales_with_expected_not_actual():
    """rtol 0.7: actual 1 vs expected 2 passes (1 ≤ 1.4); actual 2 vs expected 1 fails (1 > 0.7)."""
    tolerance = Tolerance(rtol=0.7, atol=0.0)
    assert check([1.0], [2.0], tolerance).status == "pass"
    assert check([2.0], [1.0], tolerance).status == "fail"


def test_worst_index_values_and_differences_of_a_matrix():
    """2 × 3 with two misses: the count, the worst element, the max abs and rel diffs."""
    expected = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    actual = expected.copy()
    actual[0, 1] += 0.1  # abs 0.1, rel 0.05, allowance 6e-6 + 2e-3
    actual[1, 0] -= 0.2  # abs 0.2, rel 0.05, allowance 6e-6 + 4e-3: the furthest past
    actual[1, 2] += 0.005  # abs 0.005 ≤ 6e-6 + 6e-3: passes
    result = check(actual, expected)
    assert result.status == "fail"
    assert (result.size, result.mismatched) == (6, 2)
    assert result.worst_index == "(1, 0)"
    assert (result.actual_at_worst, result.expected_at_worst) == (actual[1, 0], 4.0)
    assert result.max_abs_diff == pytest.approx(0.2, rel=1e-12)
    assert result.max_rel_diff == pytest.approx(0.05, rel=1e-12)
    assert result.rtol == 1e-3
    assert result.atol == pytest.approx(1e-6 * 6.0, rel=1e-15)  # atol × max|expected|


def test_worst_is_the_element_furthest_past_its_allowance_not_the_largest_difference():
    """e = [1000, 1], a = [1000.5, 1.01], rtol 1e-3: 0.5 is within 1.0, 0.01 is past 0.001."""
    result = check([1000.5, 1.01], [1000.0, 1.0], Tolerance(rtol=1e-3, atol=0.0))
    assert (result.status, result.mismatched) == ("fail", 1)
    assert result.worst_index == "(1,)"
    assert (result.actual_at_worst, result.expected_at_worst) == (1.01, 1.0)
    assert result.max_abs_diff == pytest.approx(0.5, rel=1e-12)


def test_identity_fields_are_carried_into_the_record():
    """case, backend, dtype, device, layer, quantity and compared_to come back as given."""
    result = check([1.0], [1.0])
    for key, value in IDENTITY.items():
        assert getattr(result, key) == value
    assert set(IDENTITY) < set(COLUMNS)


def test_missing_actual_is_a_structural_failure():
    """None from the backend fails with a problem that says it is missing."""
    result = check(None, [1.0, 2.0])
    assert result.status == "fail"
    assert "missing" in result.problem


def test_shape_mismatch_is_a_structural_failure():
    """A (3,) actual against (1, 3) expected fails on shape, before any number is compared."""
    result = check([1.0, 2.0, 3.0], [[1.0, 2.0, 3.0]])
    assert result.status == "fail"
    assert result.problem == "shape (3,), expected (1, 3)"
    assert result.mismatched == 0


def test_dtype_mismatch_is_a_structural_failure():
    """A float32 array where float64 was asked for fails on dtype, even with equal values."""
    result = check(np.array([1.0, 2.0], dtype=np.float32), [1.0, 2.0])
    assert result.status == "fail"
    assert result.problem == "dtype float32, expected float64"


def test_float32_actual_passes_when_float32_was_asked_for():
    """The dtype that must match is the identity's dtype, not float64."""
    result = check(np.array([1.0, 2.0], dtype=np.float32), [1.0, 2.0], dtype="float32")
    assert result.status == "pass", result.problem


def test_shape_is_checked_before_dtype():
    """Wrong shape and wrong dtype together: the shape is what is reported."""
    result = check(np.array([1.0, 2.0], dtype=np.float32), [1.0, 2.0, 3.0])
    assert result.problem.startswith("shape")


def test_nan_in_actual_fails_even_with_huge_tolerance():
    """NaN never passes, whatever the tolerance."""
    result = check([1.0, math.nan], [1.0, 2.0], Tolerance(rtol=1e6, atol=1e6))
    assert result.status == "fail"
    assert result.mismatched == 1
    assert result.worst_index == "(1,)"
    assert math.isnan(result.actual_at_worst)


def test_nan_against_nan_fails():
    """NaN expected and NaN actual is not agreement."""
    assert check([math.nan], [math.nan]).status == "fail"


def test_same_infinity_passes():
    """+inf against +inf and −inf against −inf pass, next to finite elements that agree."""
    result = check([math.inf, -math.inf, 1.0], [math.inf, -math.inf, 1.0])
    assert result.status == "pass"
    assert result.max_abs_diff == 0.0


@pytest.mark.parametrize("actual, expected", [(-math.inf, math.inf), (1e308, math.inf),
                                              (math.inf, 1.0)])
def test_other_infinity_or_finite_against_infinity_fails(actual, expected):
    """Opposite infinities, or a finite against an infinite value, fail."""
    assert check([actual], [expected], Tolerance(rtol=1.0, atol=1.0)).status == "fail"


def test_all_zero_expected_requires_exact_zeros():
    """With every expected 0 the allowance is exactly 0: zeros (and −0) pass, 1e-300 fails."""
    tolerance = Tolerance(rtol=1.0, atol=1.0)
    assert check([0.0, -0.0, 0.0], [0.0, 0.0, 0.0], tolerance).status == "pass"
    result = check([0.0, 1e-300, 0.0], [0.0, 0.0, 0.0], tolerance)
    assert result.status == "fail"
    assert (result.mismatched, result.worst_index) == (1, "(1,)")


def test_scalar_loss_is_compared():
    """A 0-d value (the loss) compares like an array, with worst index ()."""
    result = check(np.float64(0.25), 0.25, layer=None, quantity="loss")
    assert result.status == "pass"
    assert result.worst_index == "()"


def test_tolerance_table_and_overrides():
    """tolerance_for gives the table's entry, or the case's override for that dtype only."""
    assert tolerance_for("float64") == TOLERANCES["float64"]
    override = {"float32": Tolerance(rtol=1e-3, atol=1e-4)}
    assert tolerance_for("float32", override) == Tolerance(rtol=1e-3, atol=1e-4)
    assert tolerance_for("float64", override) == TOLERANCES["float64"]


def test_message_of_a_value_mismatch():
    """The four lines of STYLE.md: what, mismatched count and worst, max diffs, rerun."""
    expected = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    actual = expected.copy()
    actual[2, 1] = 6.5
    actual[0, 0] = 1.01
    lines = check(actual, expected, dtype="float64").message().splitlines()
    assert len(lines) == 4
    assert lines[0] == ("seed_3_2_1 · torch · float64 · layer 0 · weight_delta vs reference: "
                        "not close")
    assert lines[1].startswith("mismatched 2 / 6 (33%); worst at (2, 1): actual 6.5")
    assert "expected 6" in lines[1]
    assert lines[2].startswith("max abs diff 5.00e-01 (allowed 6.0e-06")
    assert "max rel diff 8.33e-02 (allowed 1.0e-03)" in lines[2]
    assert lines[3] == 'rerun: pytest "tests/test_catalogue.py::test_case[seed_3_2_1-torch-float64]"'


def test_message_of_a_structural_problem():
    """A structural failure's message is the title with the problem, then the rerun line."""
    lines = check(None, [1.0], backend="jax", dtype="float32", layer=1,
                  quantity="bias_delta", compared_to="expected").message().splitlines()
    assert lines[0] == ("seed_3_2_1 · jax · float32 · layer 1 · bias_delta vs expected: "
                        "missing: the backend returned none")
    assert lines[1] == 'rerun: pytest "tests/test_catalogue.py::test_case[seed_3_2_1-jax-float32]"'
    assert len(lines) == 2


def test_message_of_the_loss_names_no_layer():
    """The loss belongs to the whole network: its title says loss, not a layer."""
    result = check(np.float64(1.5), 1.0, layer=None, quantity="loss")
    title = result.message().splitlines()[0]
    assert title == "seed_3_2_1 · torch · float64 · loss vs reference: not close"
