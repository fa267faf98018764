"""Activations f(z) and their derivatives f'(z), one pair per name.

Each derivative is written as its own formula (not by autodiff), with the derivation beside it.
At a kink the derivative takes a documented one-sided value.
"""
import math

import numpy as np

LEAKY_RELU_SLOPE = 0.01
ELU_ALPHA = 1.0


def identity(z):
    return z


def identity_prime(z):
    # d/dz z = 1
    return np.ones_like(z)


def sigmoid(z):
    # σ(z) = 1 / (1 + e^−z) = exp(−log(1 + e^−z)); logaddexp never overflows
    return np.exp(-np.logaddexp(0, -z)).astype(z.dtype)


def sigmoid_prime(z):
    # σ'(z) = σ(z)·(1 − σ(z)) = σ(z)·σ(−z); the second form keeps its digits where σ(z) rounds to 1
    return sigmoid(z) * sigmoid(-z)


def tanh(z):
    return np.tanh(z)


def tanh_prime(z):
    # d/dz tanh z = 1 − tanh² z = sech² z; sech² keeps its digits where tanh rounds to ±1
    with np.errstate(over="ignore"):
        return (1 / np.cosh(z)) ** 2


def relu(z):
    return np.maximum(z, 0)


def relu_prime(z):
    # d/dz max(z, 0) = 1 for z > 0, 0 for z < 0; at the kink z = 0 we take 0
    return (z > 0).astype(z.dtype)


def leaky_relu(z):
    return np.where(z > 0, z, LEAKY_RELU_SLOPE * z)


def leaky_relu_prime(z):
    # 1 for z > 0, slope for z < 0; at the kink z = 0 we take the slope, as relu takes 0
    return np.where(z > 0, 1, LEAKY_RELU_SLOPE).astype(z.dtype)


def softplus(z):
    # log(1 + e^z), without overflow
    return np.logaddexp(0, z).astype(z.dtype)


def softplus_prime(z):
    # d/dz log(1 + e^z) = e^z / (1 + e^z) = σ(z)
    return sigmoid(z)


def elu(z):
    # z for z > 0, α·(e^z − 1) for z ≤ 0
    return np.where(z > 0, z, ELU_ALPHA * np.expm1(np.minimum(z, 0)))


def elu_prime(z):
    # 1 for z > 0, α·e^z for z ≤ 0 (both sides give 1 at z = 0 when α = 1)
    return np.where(z > 0, 1, ELU_ALPHA * np.exp(np.minimum(z, 0))).astype(z.dtype)


def silu(z):
    # z·σ(z)
    return z * sigmoid(z)


def silu_prime(z):
    # d/dz z·σ(z) = σ(z) + z·σ'(z) = σ(z) + z·σ(z)·σ(−z)
    return sigmoid(z) + z * sigmoid(z) * sigmoid(-z)


_erf = np.frompyfunc(math.erf, 1, 1)


def normal_cdf(z):
    # Φ(z) = ½·(1 + erf(z/√2)), from math.erf in double precision
    return (0.5 * (1 + _erf(z / math.sqrt(2)))).astype(z.dtype)


def normal_pdf(z):
    # φ(z) = e^(−z²/2) / √(2π)
    return np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def gelu(z):
    # the exact form: z·Φ(z)
    return z * normal_cdf(z)


def gelu_prime(z):
    # d/dz z·Φ(z) = Φ(z) + z·φ(z)
    return normal_cdf(z) + z * normal_pdf(z)


GELU_TANH_C = math.sqrt(2 / math.pi)
GELU_TANH_K = 0.044715


def gelu_tanh(z):
    # ½·z·(1 + tanh(u)), u = √(2/π)·(z + 0.044715·z³)
    u = GELU_TANH_C * (z + GELU_TANH_K * z**3)
    return 0.5 * z * (1 + np.tanh(u))


def gelu_tanh_prime(z):
    # ½·(1 + tanh u) + ½·z·sech²(u)·du/dz, du/dz = √(2/π)·(1 + 3·0.044715·z²)
    u = GELU_TANH_C * (z + GELU_TANH_K * z**3)
    du_dz = GELU_TANH_C * (1 + 3 * GELU_TANH_K * z**2)
    return 0.5 * (1 + np.tanh(u)) + 0.5 * z * tanh_prime(u) * du_dz


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
