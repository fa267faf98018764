"""Distances between a backend's array (actual) and the reference's (expected), element-wise or whole.

Every function takes float64 arrays of one shape; none of them divides by zero.
"""
import numpy as np

_INTEGER_OF_WIDTH = {2: np.int16, 4: np.int32, 8: np.int64}


def _ordered_integers(values, dtype):
    """Map floats of `dtype` to int64s that count representable values: adjacent floats differ
    by 1, and −0.0 and +0.0 both map to 0."""
    bits = values.astype(dtype).view(_INTEGER_OF_WIDTH[np.dtype(dtype).itemsize]).astype(np.int64)
    smallest = np.iinfo(_INTEGER_OF_WIDTH[np.dtype(dtype).itemsize]).min
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


def relative_l2(actual, expected):
    """‖a − e‖ / ‖e‖; 0 when both are all zero, inf when only expected is."""
    with np.errstate(invalid="ignore", over="ignore"):
        difference = float(np.linalg.norm(actual - expected))
        norm = float(np.linalg.norm(expected))
    if norm == 0:
        return 0.0 if difference == 0 else float("inf")
    return difference / norm


def cosine(actual, expected):
    """a·e / (‖a‖‖e‖); 1 when both are all zero, 0 when exactly one is."""
    with np.errstate(invalid="ignore", over="ignore"):
        norm_a, norm_e = float(np.linalg.norm(actual)), float(np.linalg.norm(expected))
        if norm_a == 0 or norm_e == 0:
            return 1.0 if norm_a == norm_e else 0.0
        return float(np.vdot(actual, expected) / (norm_a * norm_e))


def sign_agreement(actual, expected):
    """The share of elements with the same sign, where the sign of 0 and −0 is 0 and NaN has none."""
    if actual.size == 0:
        return 1.0
    return float(np.mean(np.sign(actual) == np.sign(expected)))
