"""Exact products and sums of float64 arrays (Dekker, Knuth): a result and its rounding error.

Where a formula's argument is amplified (e^(2u) with u ≈ −230 multiplies the relative error
of u by 460), the argument is carried as hi + lo, and the function corrected to first order in
lo. Each helper returns (hi, lo) with hi + lo equal to the exact result; lo is 0 where the
exact split would overflow (|a|, |b| beyond 1e300), there the function saturates anyway.
"""
import numpy as np

_SPLITTER = 2.0**27 + 1  # splits a double into two halves of 26 bits, whose products are exact


def _halves(a):
    scaled = _SPLITTER * a
    high = scaled - (scaled - a)
    return high, a - high


def two_product(a, b):
    """a·b = hi + lo exactly (Dekker's product: the four half-products are exact)."""
    with np.errstate(over="ignore", invalid="ignore"):
        hi = a * b
        a_hi, a_lo = _halves(a)
        b_hi, b_lo = _halves(b)
        lo = ((a_hi * b_hi - hi) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
    return hi, np.where(np.isfinite(lo), lo, 0.0)


def two_sum(a, b):
    """a + b = hi + lo exactly (Knuth's sum, for either order of magnitude)."""
    with np.errstate(invalid="ignore"):
        hi = a + b
        b_virtual = hi - a
        lo = (a - (hi - b_virtual)) + (b - b_virtual)
    return hi, np.where(np.isfinite(lo), lo, 0.0)
