"""Activations f(z) and their derivatives f'(z), one pair per name.

Each derivative is written as its own formula (not by autodiff), with the derivation beside it.
At a kink the derivative takes a documented one-sided value.

Every formula is evaluated in float64 and rounded once to z's dtype (`rounded_once`), and each
is written so that float64 keeps its digits over the whole range (a sum that would cancel is
rewritten, a tail is computed as a tail): crossgrad.reference_accuracy holds every function,
value and derivative, to a few ulps of a 50-digit truth in float64, float32 and float16.
"""
import functools
import math

import numpy as np

from .compensated import two_product, two_sum


def rounded_once(formula):
    """Evaluate an elementwise `formula` of arrays in float64, then round once to the dtype of
    its last argument (the activations' z, the losses' a)."""
    @functools.wraps(formula)
    def evaluate(*arrays):
        arrays = [np.asarray(array) for array in arrays]
        with np.errstate(over="ignore", under="ignore"):
            result = formula(*(array.astype(np.float64) for array in arrays))
        return np.asarray(result).astype(arrays[-1].dtype)
    return evaluate

LEAKY_RELU_SLOPE = 0.01
ELU_ALPHA = 1.0


@rounded_once
def identity(z):
    return z


@rounded_once
def identity_prime(z):
    # d/dz z = 1
    return np.ones_like(z)


def _logistic(z):
    # σ(z) = 1/(1 + e^−z) for z ≥ 0 and e^z/(1 + e^z) for z < 0: with e = e^−|z| ≤ 1 neither
    # overflows, and neither rounds an argument that exp amplifies (exp(−log(1 + e^−z)) would
    # cost |z|·u relative, 26 ulps at z = −33)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1, e) / (1 + e)


def _logistic_prime(z):
    # σ'(z) = σ(z)·σ(−z) = e/(1 + e)² with e = e^−|z|: symmetric, and no 1 − σ that cancels
    e = np.exp(-np.abs(z))
    return e / (1 + e) ** 2


@rounded_once
def sigmoid(z):
    return _logistic(z)


@rounded_once
def sigmoid_prime(z):
    # σ'(z) = σ(z)·(1 − σ(z)) = σ(z)·σ(−z), written as e/(1 + e)² (see _logistic_prime)
    return _logistic_prime(z)


@rounded_once
def tanh(z):
    return np.tanh(z)


def _sech_squared(z):
    # sech² z = 1/cosh² z; keeps its digits where tanh rounds to ±1 (1 − tanh² would not)
    return (1 / np.cosh(z)) ** 2


@rounded_once
def tanh_prime(z):
    # d/dz tanh z = 1 − tanh² z = sech² z
    return _sech_squared(z)


@rounded_once
def relu(z):
    return np.maximum(z, 0)


@rounded_once
def relu_prime(z):
    # d/dz max(z, 0) = 1 for z > 0, 0 for z < 0; at the kink z = 0 we take 0
    return (z > 0).astype(z.dtype)


@rounded_once
def leaky_relu(z):
    return np.where(z > 0, z, LEAKY_RELU_SLOPE * z)


@rounded_once
def leaky_relu_prime(z):
    # 1 for z > 0, slope for z < 0; at the kink z = 0 we take the slope, as relu takes 0
    return np.where(z > 0, 1, LEAKY_RELU_SLOPE)


@rounded_once
def softplus(z):
    # log(1 + e^z) = max(z, 0) + log1p(e^−|z|), without overflow (numpy's logaddexp)
    return np.logaddexp(0, z)


@rounded_once
def softplus_prime(z):
    # d/dz log(1 + e^z) = e^z / (1 + e^z) = σ(z)
    return _logistic(z)


@rounded_once
def elu(z):
    # z for z > 0, α·(e^z − 1) for z ≤ 0
    return np.where(z > 0, z, ELU_ALPHA * np.expm1(np.minimum(z, 0)))


@rounded_once
def elu_prime(z):
    # 1 for z > 0, α·e^z for z ≤ 0 (both sides give 1 at z = 0 when α = 1)
    return np.where(z > 0, 1, ELU_ALPHA * np.exp(np.minimum(z, 0)))


@rounded_once
def silu(z):
    # z·σ(z)
    return z * _logistic(z)


@rounded_once
def silu_prime(z):
    # d/dz z·σ(z) = σ(z) + z·σ'(z) = σ(z) + z·σ(z)·σ(−z)
    return _logistic(z) + z * _logistic_prime(z)


_erfc = np.frompyfunc(math.erfc, 1, 1)
# √½ as a double-double, hi + lo (lo is √½ − hi, to 1e-33)
SQRT_HALF = math.sqrt(0.5)
SQRT_HALF_LO = -4.833646656726457e-17


def _normal_cdf(z):
    # Φ(z) = ½·(1 + erf(z/√2)) = ½·erfc(−z/√2). The first form cancels to 0 below z ≈ −8
    # (Φ(−9) = 1.1e-19); erfc keeps the tail. Its argument x = −z/√2 is carried as x + x_lo,
    # since a rounded x would cost z²·u relative in the tail (d/dx log erfc x ≈ −2x):
    # erfc(x + x_lo) = erfc(x) − x_lo·(2/√π)·e^(−x²), to first order in x_lo.
    x, x_lo = two_product(-z, SQRT_HALF)
    x_lo = x_lo - z * SQRT_HALF_LO
    tail = _erfc(x).astype(np.float64)
    return 0.5 * (tail - x_lo * (2 / math.sqrt(math.pi)) * np.exp(-x * x))


def _normal_pdf(z):
    # φ(z) = e^(−z²/2) / √(2π). z² = s + s_lo exactly, and e^(−(s + s_lo)/2) = e^(−s/2)·(1 − s_lo/2)
    # to first order: a rounded z² would cost z²·u/2 relative (40 ulps at z = −9)
    s, s_lo = two_product(z, z)
    return np.exp(-0.5 * s) * (1 - 0.5 * s_lo) / math.sqrt(2 * math.pi)


@rounded_once
def normal_cdf(z):
    return _normal_cdf(z)


@rounded_once
def normal_pdf(z):
    return _normal_pdf(z)


GAUSSIAN_TAIL = -30.0  # below it Φ(z) < 5e-198, and gelu's results head for the subnormals


def _mills_series(z):
    # Φ(z) = φ(z)/|z|·S(z) for z ≪ 0, S(z) = Σ_n (−1)^n·(2n − 1)!!/z^(2n) (the asymptotic series
    # of erfc); at |z| ≥ 30 the terms to n = 8 leave less than 1e-19
    terms, term = [], np.ones_like(z)
    for n in range(1, 9):
        terms.append(term)
        term = -term * (2 * n - 1) / (z * z)
    return sum(terms)


SMALLEST_NORMAL = float(np.finfo(np.float64).tiny)


def _exp_times(t, t_lo, factor):
    # e^(t + t_lo)·factor, factor > 0. Plainly e^t·(1 + t_lo)·factor; but where e^t is subnormal,
    # its absolute rounding would be multiplied by the factor, so there the factor goes into the
    # exponent: e^(t + log factor), the sum carried as hi + lo and e^lo ≈ 1 + lo
    with np.errstate(divide="ignore", invalid="ignore"):
        plain = np.exp(t) * (1 + t_lo) * factor
        hi, lo = two_sum(t, np.log(factor))
        scaled = np.exp(hi) * (1 + lo + t_lo)
    return np.where(t == -np.inf, 0.0, np.where(np.exp(t) < SMALLEST_NORMAL, scaled, plain))


def _gaussian_tail(z, factor):
    # φ(z)·factor = e^(−(s + s_lo)/2)·factor/√(2π), with s + s_lo = z² exactly
    s, s_lo = two_product(z, z)
    return _exp_times(-0.5 * s, -0.5 * s_lo, factor / math.sqrt(2 * math.pi))


@rounded_once
def gelu(z):
    # the exact form: z·Φ(z); in the far tail z·Φ(z) = −φ(z)·S(z)
    tail = np.minimum(z, GAUSSIAN_TAIL)
    return np.where(z < GAUSSIAN_TAIL, -_gaussian_tail(tail, _mills_series(tail)),
                    z * _normal_cdf(z))


@rounded_once
def gelu_prime(z):
    # d/dz z·Φ(z) = Φ(z) + z·φ(z); in the far tail φ(z)·(S(z)/|z| − |z|)
    tail = np.minimum(z, GAUSSIAN_TAIL)
    far = -_gaussian_tail(tail, -tail - _mills_series(tail) / -tail)
    return np.where(z < GAUSSIAN_TAIL, far, _normal_cdf(z) + z * _normal_pdf(z))


GELU_TANH_C = math.sqrt(2 / math.pi)
GELU_TANH_K = 0.044715


FAR_TAIL = math.log(SMALLEST_NORMAL)  # −708.4: below it e^t is subnormal


def _gelu_tanh_argument(z):
    # u = C·(z + K·z³), carried as u + u_lo (each product and the sum with its exact error), since
    # σ(2u) amplifies u's relative error by 2|u| (460 at z = −18); and du/dz = C·(1 + 3K·z²)
    square, square_lo = two_product(z, z)
    cube, cube_lo = two_product(square, z)
    cube_lo = cube_lo + square_lo * z
    k_cube, k_cube_lo = two_product(GELU_TANH_K, cube)
    total, total_lo = two_sum(z, k_cube)
    total_lo = total_lo + k_cube_lo + GELU_TANH_K * cube_lo
    u, u_lo = two_product(GELU_TANH_C, total)
    u_lo = u_lo + GELU_TANH_C * total_lo
    # beyond |z| ≈ 1e102, u overflows and σ(2u) saturates: no correction there
    u_lo = np.where(np.isfinite(u) & np.isfinite(u_lo), u_lo, 0.0)
    return u, u_lo, GELU_TANH_C * (1 + 3 * GELU_TANH_K * square)


def _logistic_near(t, t_lo, times=1.0):
    # times·σ(t + t_lo) = times·σ(t)·(1 + t_lo·σ(−t)), to first order in t_lo, since
    # d/dt log σ(t) = σ(−t)
    return times * _logistic(t) * (1 + t_lo * _logistic(-t))


@rounded_once
def gelu_tanh(z):
    # ½·z·(1 + tanh u) = z·σ(2u), since ½·(1 + tanh u) = 1/(1 + e^−2u): the first form cancels in
    # the negative tail (6e15 ulps at z = −18); σ at 2u + 2u_lo is _logistic_near's
    # In the far tail (2u < −708, where e^(2u) is subnormal) σ(2u) = e^(2u) to the last bit, and
    # z·e^(2u) is taken as one scaled exponential (_exp_times)
    u, u_lo, _ = _gelu_tanh_argument(z)
    far = -_exp_times(2 * u, 2 * u_lo, np.abs(z))
    return np.where(2 * u < FAR_TAIL, far, _logistic_near(2 * u, 2 * u_lo, z))


@rounded_once
def gelu_tanh_prime(z):
    # d/dz z·σ(2u) = σ(2u) + z·2σ'(2u)·du/dz (which is ½·(1 + tanh u) + ½·z·sech²(u)·du/dz,
    # as sech² u = 4σ'(2u)); σ' at 2u + 2u_lo is σ'(2u)·(1 + 2u_lo·(σ(−2u) − σ(2u))). Where
    # σ'(2u) underflows to 0 the product is 0, not 0·inf (du/dz overflows beyond |z| = 1e154)
    # In the far tail σ(2u) = σ'(2u) = e^(2u), and the sum is −e^(2u)·(2|z|·du/dz − 1)
    u, u_lo, du_dz = _gelu_tanh_argument(z)
    with np.errstate(invalid="ignore"):
        far = -_exp_times(2 * u, 2 * u_lo, 2 * np.abs(z) * du_dz - 1)
    first = _logistic_near(2 * u, 2 * u_lo)
    slope = _logistic_prime(2 * u) * (1 + 2 * u_lo * (_logistic(-2 * u) - _logistic(2 * u)))
    with np.errstate(invalid="ignore"):
        second = np.where(slope == 0, 0.0, z * 2 * slope * du_dz)
    return np.where(2 * u < FAR_TAIL, far, first + second)


ACTIVATIONS = {
    "identity": (identity, identity_prime),
    "sigmoid": (sigmoid, sigmoid_prime),
    "tanh": (tanh, tanh_prime),
    "relu": (relu, relu_prime),
    "leaky_relu": (leaky_relu, leaky_relu_prime),
    "softplus": (softplus, softplus_prime),
    "elu": (elu, elu_prime),
    "silu": (silu, silu_prime),
    "gelu": (gelu, gelu_prime),
    "gelu_tanh": (gelu_tanh, gelu_tanh_prime),
}
