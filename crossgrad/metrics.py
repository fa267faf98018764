"""Distances between a backend's array (actual) and the reference's (expected), element-wise or whole.

Every function takes float64 arrays of one shape; none of them divides by zero.
"""
import numpy as np

from crossgrad.dtypes import numpy_dtype

_INTEGER_OF_WIDTH = {2: np.int16, 4: np.int32, 8: np.int64}


def _ordered_integers(values, dtype):
    """Map floats of `dtype` to int64s that count representable values: adjacent floats differ
    by 1, and −0.0 and +0.0 both map to 0."""
    integer = _INTEGER_OF_WIDTH[numpy_dtype(dtype).itemsize]
    with np.errstate(over="ignore"):
        bits = values.astype(numpy_dtype(dtype)).view(integer).astype(np.int64)
    smallest = np.iinfo(integer).min
    # sign-magnitude to two's complement: a negative float's bits count down from −0.0
    return np.where(bits < 0, smallest - bits, bits)


def ulp_distance(actual, expected, dtype):
    """How many values of `dtype` lie between actual and expected (both rounded to `dtype`).

    Elements where either side is NaN or infinite are inf, unless both are the same infinity.
    """
    a, e = _ordered_integers(actual, dtype), _ordered_integers(expected, dtype)
    # |a − e| without int64 overflow: the difference wraps modulo 2^64 as uint64
    wrapped = a.view(np.uint64) - e.view(np.uint64)
    distance = np.where(a >= e, wrapped, ~wrapped + np.uint64(1)).astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        rounded_a, rounded_e = actual.astype(dtype), expected.astype(dtype)
    finite = np.isfinite(rounded_a) & np.isfinite(rounded_e)
    same = rounded_a == rounded_e
    return np.where(finite, distance, np.where(same, 0.0, np.inf))


def norm(values):
    """‖v‖₂ without underflow or overflow: scaled by max|v| (so 1e-300 is not squared to 0)."""
    largest = float(np.max(np.abs(values), initial=0.0))
    if largest == 0 or not np.isfinite(largest):
        return largest if not np.isnan(values).any() else float("nan")
    return largest * float(np.sqrt(np.sum((values / largest) ** 2)))


def relative_l2(actual, expected):
    """‖a − e‖ / ‖e‖; 0 when both are all zero, inf when only expected is."""
    with np.errstate(invalid="ignore", over="ignore"):
        difference, size = norm(actual - expected), norm(expected)
    if size == 0:
        return 0.0 if difference == 0 else float("inf")
    return difference / size


def cosine(actual, expected):
    """a·e / (‖a‖‖e‖); 1 when both are all zero, 0 when exactly one is."""
    norm_a, norm_e = norm(actual), norm(expected)
    if norm_a == 0 or norm_e == 0:
        return 1.0 if norm_a == norm_e else 0.0
    with np.errstate(invalid="ignore", over="ignore"):
        # both sides scaled to unit length first, so the dot product neither under- nor overflows
        return float(np.vdot(actual / norm_a, expected / norm_e))


def sign_agreement(actual, expected):
    """The share of elements with the same sign, where the sign of 0 and −0 is 0 and NaN has none."""
    if actual.size == 0:
        return 1.0
    return float(np.mean(np.sign(actual) == np.sign(expected)))
