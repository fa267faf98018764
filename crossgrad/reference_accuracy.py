"""How exact is each function of the reference? A sweep against 50-digit mpmath, in ulps.

Every activation (value and derivative) and every loss (value and output error) is evaluated by
the reference on a grid that covers each dtype's whole range (±0, subnormals, the kinks, the
points where a formula switches, the tails and the overflow edges) and compared with the same
function written from its definition in mpmath, rounded once to the dtype. The mpmath side
shares no code with the reference: each function and derivative is written again from its
definition, in a form that keeps its digits at 50 (so a wrong derivation in the reference shows).

`python -m crossgrad.reference_accuracy` prints the table the README publishes.
"""
import sys

import numpy as np
from mpmath import mp, mpf

from crossgrad.dtypes import numpy_dtype
from crossgrad.metrics import ulp_distance
from crossgrad.reference import activations as ref_activations
from crossgrad.reference import losses as ref_losses

DIGITS = 50
SWEEP_DTYPES = ("float64", "float32", "float16")
# The bound every function is held to, in ulps of the dtype (see tests/test_reference_accuracy.py).
BOUND_ULPS = 4

_C = mpf(ref_activations.GELU_TANH_C)  # the float64 constants the reference, torch and JAX use
_K = mpf(ref_activations.GELU_TANH_K)
_SLOPE = mpf(ref_activations.LEAKY_RELU_SLOPE)


def _sigmoid(z):
    return 1 / (1 + mp.exp(-z))


def _sigmoid_prime(z):
    # e^−z / (1 + e^−z)², which no z cancels
    return mp.exp(-z) / (1 + mp.exp(-z)) ** 2


def _normal_cdf(z):
    # Φ(z) = ½·erfc(−z/√2); beyond |z| = 1e4 (where mpmath's erfc gives up) its asymptotic
    # series Φ(−|z|) = φ(z)/|z|·(1 − 1/z² + 3/z⁴ − …), whose next term is below 1e-23
    if abs(z) < 10_000:
        return mp.ncdf(z)
    tail = mp.npdf(z) / abs(z) * (1 - 1 / z**2 + 3 / z**4)
    return tail if z < 0 else 1 - tail


def _gelu_tanh_u(z):
    return _C * (z + _K * z**3), _C * (1 + 3 * _K * z**2)


def _gelu_tanh(z):
    # ½·z·(1 + tanh u) = z·σ(2u), since 1 + tanh u = 2/(1 + e^−2u): the tail keeps its digits
    u, _ = _gelu_tanh_u(z)
    return z * _sigmoid(2 * u)


def _gelu_tanh_prime(z):
    u, du_dz = _gelu_tanh_u(z)
    return _sigmoid(2 * u) + z * 2 * _sigmoid_prime(2 * u) * du_dz


# name -> (f, f') in mpmath, each written from the definition, in forms that do not cancel at
# 50 digits; at a kink f' takes the left side (relu'(0) = 0, leaky_relu'(0) = slope, elu'(0) = 1)
TRUE_ACTIVATIONS = {
    "identity": (lambda z: z, lambda z: mpf(1)),
    "sigmoid": (_sigmoid, _sigmoid_prime),
    "tanh": (mp.tanh, lambda z: 1 / mp.cosh(z) ** 2),
    "relu": (lambda z: z if z > 0 else mpf(0), lambda z: mpf(1) if z > 0 else mpf(0)),
    "leaky_relu": (lambda z: z if z > 0 else _SLOPE * z, lambda z: mpf(1) if z > 0 else _SLOPE),
    "softplus": (lambda z: mp.log1p(mp.exp(z)), _sigmoid),
    "elu": (lambda z: z if z > 0 else mp.expm1(z), lambda z: mpf(1) if z > 0 else mp.exp(z)),
    "silu": (lambda z: z * _sigmoid(z), lambda z: _sigmoid(z) + z * _sigmoid_prime(z)),
    "gelu": (lambda z: z * _normal_cdf(z), lambda z: _normal_cdf(z) + z * mp.npdf(z)),
    "gelu_tanh": (_gelu_tanh, _gelu_tanh_prime),
}


def activation_grid(dtype):
    """Points of `dtype` across its whole range: ±0, subnormals, a log-spaced sweep of both
    signs from the smallest subnormal to the largest finite value, a dense linear sweep of
    [−50, 50] (where every activation switches formula or saturates), and the exp overflow edges."""
    info = np.finfo(numpy_dtype(dtype))
    tiny_sub = float(info.smallest_subnormal)
    with np.errstate(over="ignore"):
        magnitudes = np.geomspace(tiny_sub, float(info.max), 400)
    special = [0.0, tiny_sub, 2 * tiny_sub, float(info.smallest_normal), float(info.max),
               float(info.eps), 1.0, 2.0, -0.75, -1.2785, 5.5, 9.0, 18.0, 20.0, 20.5, 37.0, 40.0,
               np.log(float(info.max)), -np.log(float(info.max)), np.log(float(info.tiny)),
               np.log(tiny_sub)]
    values = np.concatenate([magnitudes, -magnitudes, np.linspace(-50, 50, 801), special,
                             [-s for s in special]])
    with np.errstate(over="ignore"):
        grid = values.astype(numpy_dtype(dtype))
    return np.unique(grid[np.isfinite(grid)])


def _rounded(value):
    """An mpmath number rounded once to float64 (±inf beyond its range)."""
    return float(value) if abs(value) < mpf(2) ** 1024 else float(mp.sign(value)) * np.inf


def ulps_of_scale(computed, truth, scale, dtype):
    """The error in ulps of `dtype`: of the truth, or of `scale` where that is larger.

    `scale` is the largest term that a formula adds up, where its sum can vanish: at the root of
    a derivative (silu′ at −1.278, gelu′ at −0.752) the float nearest the root has a value far
    below the terms that cancel there, and no formula in the dtype can do better than a few
    ulps of those terms. Elsewhere the scale is below |truth| and this is the plain ulp distance.
    """
    plain = ulp_distance(computed, truth, dtype)
    cast = numpy_dtype(dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        spacing = np.spacing(np.abs(scale).astype(cast)).astype(np.float64)
        of_scale = np.abs(computed - truth) / spacing
    return np.where(np.abs(scale) > np.abs(truth), of_scale, plain)


def _gelu_tanh_first_term(z):
    u, _ = _gelu_tanh_u(z)
    return _sigmoid(2 * u)


# (activation, derivative) -> the largest term of a sum that has a root (see ulps_of_scale)
CANCELLING_TERMS = {
    ("silu", True): _sigmoid,  # σ(z) + z·σ'(z)
    ("gelu", True): _normal_cdf,  # Φ(z) + z·φ(z)
    ("gelu_tanh", True): _gelu_tanh_first_term,  # σ(2u) + 2z·σ'(2u)·du/dz
}


def _true_activation(function, points):
    with mp.workdps(DIGITS):
        return np.array([_rounded(function(mpf(float(z)))) for z in points])


def activation_errors(name, dtype, derivative=False):
    """The reference's error at every grid point, in ulps of `dtype`: (grid, ulps)."""
    grid = activation_grid(dtype)
    function = ref_activations.ACTIVATIONS[name][1 if derivative else 0]
    with np.errstate(all="ignore"):
        computed = np.asarray(function(grid)).astype(np.float64)
    truth = _true_activation(TRUE_ACTIVATIONS[name][1 if derivative else 0], grid)
    term = CANCELLING_TERMS.get((name, derivative))
    scale = np.zeros_like(truth) if term is None else _true_activation(term, grid)
    return grid, ulps_of_scale(computed, truth, scale, dtype)


def _true_losses(loss, y, a):
    """E, −∂E/∂a, and the largest term of each −∂E/∂a_j where it is a sum that can vanish (see
    ulps_of_scale), of one sample in mpmath (y, a lists); for softmax a are the logits."""
    with mp.workdps(DIGITS):
        y, a = [mpf(float(v)) for v in y], [mpf(float(v)) for v in a]
        k = len(a)
        if loss == "half_squared_error":
            return (_rounded(sum((yj - aj) ** 2 for yj, aj in zip(y, a)) / 2),
                    [_rounded(yj - aj) for yj, aj in zip(y, a)], [0.0] * k)
        if loss == "mean_squared_error":
            return (_rounded(sum((yj - aj) ** 2 for yj, aj in zip(y, a)) / k),
                    [_rounded(2 * (yj - aj) / k) for yj, aj in zip(y, a)], [0.0] * k)
        if loss == "binary_cross_entropy_from_logits":  # a are the logits z of a = σ(z)
            return (_rounded(sum(yj * mp.log1p(mp.exp(-aj)) + (1 - yj) * mp.log1p(mp.exp(aj))
                                 for yj, aj in zip(y, a))), [], [])
        if loss == "binary_cross_entropy":
            return (_rounded(-sum(yj * mp.log(aj) + (1 - yj) * mp.log1p(-aj)
                                  for yj, aj in zip(y, a))),
                    [_rounded(yj / aj - (1 - yj) / (1 - aj)) for yj, aj in zip(y, a)],
                    [0.0] * k)
        # softmax: p_j = e^(a_j) / Σ e^(a_i); log p_j = −log(1 + Σ_(i≠j) e^(a_i − a_j)) and
        # 1 − p_j = Σ_(i≠j) p_i, so that a p_j near 1 keeps the digits of what it lacks
        others = [sum(mp.exp(a[i] - a[j]) for i in range(k) if i != j) for j in range(k)]
        p = [1 / (1 + others[j]) for j in range(k)]
        rest = [others[j] / (1 + others[j]) for j in range(k)]
        value = sum(y[j] * mp.log1p(others[j]) for j in range(k))
        # −∂E/∂a_j = y_j − (Σ y)·p_j = y_j·(1 − p_j) − p_j·Σ_(i≠j) y_i
        terms = [(y[j] * rest[j], p[j] * sum(y[i] for i in range(k) if i != j))
                 for j in range(k)]
        errors = [first - second for first, second in terms]
        return (_rounded(value), [_rounded(e) for e in errors],
                [_rounded(max(first, second)) for first, second in terms])


def loss_grid(loss, dtype):
    """(y, a) pairs, one sample each, over each loss's domain in `dtype`."""
    cast = numpy_dtype(dtype)
    info = np.finfo(cast)
    if loss == "binary_cross_entropy":
        # probabilities from the smallest subnormal to the largest value below 1
        below_one = 1 - np.geomspace(float(info.epsneg), 0.5, 40)
        probabilities = np.concatenate([np.geomspace(float(info.smallest_subnormal), 0.5, 60),
                                        below_one, [float(np.nextafter(cast.type(1), cast.type(0)))]])
        targets = (0.0, 0.3, 1.0)
        return [(np.array([y], cast), np.array([p], cast)) for y in targets
                for p in probabilities.astype(cast)]
    if loss == "binary_cross_entropy_from_logits":
        logits = activation_grid(dtype)
        return [(np.array([y], cast), np.array([z], cast)) for y in (0.0, 0.3, 1.0)
                for z in logits[::4]]
    if loss == "softmax_cross_entropy":
        gaps = np.concatenate([[0.0], np.geomspace(1e-3, min(float(info.max) / 4, 1e6), 40)])
        pairs = []
        for gap in gaps.astype(cast):
            for y in ([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.2, 0.5, 0.3]):
                pairs.append((np.array(y, cast), np.array([gap, 0.0, -gap / 3], cast)))
        return pairs
    values = np.concatenate([[0.0], np.geomspace(1e-6, 1e6, 50)])
    with np.errstate(over="ignore"):
        values = np.concatenate([values, -values]).astype(cast)
    values = values[np.isfinite(values)]
    return [(np.array([0.3, -2.0], cast), np.array([v, 0.5], cast)) for v in values]


# name -> (E, −∂E/∂a): the losses, and BCE's loss value from the logits of a sigmoid output
LOSSES_SWEPT = {**ref_losses.LOSSES, "binary_cross_entropy_from_logits":
                (ref_losses.binary_cross_entropy_from_logits, None)}


def loss_errors(loss, dtype, output_error=False):
    """The reference's error over the loss grid: (y, a, ulps) per sample, its worst element."""
    value_f, error_f = LOSSES_SWEPT[loss]
    found = []
    for y, a in loss_grid(loss, dtype):
        true_value, true_errors, terms = _true_losses(loss, y, a)
        with np.errstate(all="ignore"):
            computed = np.asarray((error_f if output_error else value_f)(y[None, :], a[None, :]))
        computed = computed.reshape(-1).astype(np.float64)
        truth = np.array(true_errors if output_error else [true_value])
        scale = np.array(terms if output_error else [0.0])
        found.append((y, a, float(np.max(ulps_of_scale(computed, truth, scale, dtype)))))
    return found


def table():
    """Rows (function, quantity, dtype, worst ulps, where) over every function and dtype."""
    rows = []
    for dtype in SWEEP_DTYPES:
        for name in ref_activations.ACTIVATIONS:
            for derivative in (False, True):
                grid, ulps = activation_errors(name, dtype, derivative)
                worst = int(np.argmax(ulps))
                rows.append((name, "derivative" if derivative else "value", dtype,
                             float(ulps[worst]), f"z = {float(grid[worst]):.6g}"))
        for loss in LOSSES_SWEPT:
            for output_error in (False, True)[:2 if LOSSES_SWEPT[loss][1] else 1]:
                y, a, ulps = max(loss_errors(loss, dtype, output_error), key=lambda i: i[2])
                rows.append((loss, "output error" if output_error else "value", dtype, ulps,
                             f"y = {y.tolist()}, a = {a.astype(np.float64).tolist()}"))
    return rows


def main():
    for row in table():
        print(" | ".join(str(part) for part in row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
