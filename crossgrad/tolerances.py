"""The one tolerance table, keyed by dtype, and how a case overrides it.

An element passes when |actual − expected| ≤ atol·scale + rtol·|expected| + K·bound, where
`scale` is the largest |expected| in the same layer and quantity, `bound` the error model's
rounding bound of that element (crossgrad/error_model.py) and K = ROUNDING_BOUND_MULTIPLE.
rtol and atol are a floor; the bound gives a sum that cancels the slack its rounding needs. Scaling atol by the layer's own magnitude
keeps the tiny entries of a vanishing layer from failing on rounding that is small next to the
layer, and leaves an all-zero layer with an allowance of exactly zero (no division anywhere).

Why these numbers (each backend is compared with the float64 reference):
- float64: rtol 1e-9. Backends reorder sums and use other formulas for the same derivative
  (torch's σ' is σ·(1 − σ), the reference's σ(z)·σ(−z)); for pre-activations of modest size this
  costs ~1e-14 relative, so 1e-9 leaves five orders of margin yet catches any formula error.
  atol 1e-12 of the layer's scale covers cancellation in the sums δ @ Wᵀ, which costs about
  eps·fan_in of the layer's magnitude.
- float32: rtol 1e-4, about 840 float32 ulps (eps = 1.19e-7). A float32 forward pass followed
  by backprop through a few layers is 10–100 eps away from the float64 truth per element, and
  σ·(1 − σ) loses eps/(1 − σ) relative, about 2e-5 at z = 7. atol 1e-5 of the layer's scale
  covers cancellation, about eps·√fan_in·depth.
- float16 (eps 9.8e-4) and bfloat16 (eps 7.8e-3): a case asks for these by name. With so few
  digits the rounding of the inputs and weights alone is of the order of eps, and a two-layer
  pass rounds some 30 times, so rtol is 16 eps and atol 8 eps of the layer's scale: float16
  2e-2 and 1e-2 (about 20 and 10 eps), bfloat16 1.25e-1 and 6.25e-2. On the first catalogue
  (10 cases, three backends) the worst element needed 2 eps of atol at rtol 16 eps.

Why K = 2: the bound is a worst case, to first order, of the reference's own formulas in the
row's dtype (every rounding at its largest, all of one sign: it is rarely above a tenth of that
in practice). A backend with other but equally stable formulas (another libm, fused
multiply-adds, another summation order) spends the same roundings differently; twice the bound
covers that, and is still far below what a cancelling formula such as σ' = y·(1 − y) from the
output costs (u/(1 − y) relative: 2e-7 at z = 20 in float64, against a bound of some 1e-14).
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerance:
    """rtol, and atol in units of the layer's largest |expected|; always given together.

    `floor` is an absolute allowance on top, for referees whose own error is absolute (the
    rounding noise of a finite difference); the table's entries have none.
    """

    rtol: float
    atol: float
    floor: float = 0.0


TOLERANCES = {
    "float64": Tolerance(rtol=1e-9, atol=1e-12),
    "float32": Tolerance(rtol=1e-4, atol=1e-5),
    "float16": Tolerance(rtol=2e-2, atol=1e-2),
    "bfloat16": Tolerance(rtol=1.25e-1, atol=6.25e-2),
}


# K: an element may be off by K times the error model's rounding bound, on top of the table
ROUNDING_BOUND_MULTIPLE = 2.0


def tolerance_for(dtype, overrides=None):
    """The table's tolerance for `dtype`, or the case's override for it when it has one."""
    if overrides and dtype in overrides:
        return overrides[dtype]
    return TOLERANCES[dtype]
