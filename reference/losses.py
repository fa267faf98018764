"""Per-sample losses E(y, a) and their output error −∂E/∂a, one pair per name.

`a` is the last layer's activation (batch × K) and `y` the targets (batch × K). Each function
returns one value per sample; the batch reduction is applied in backprop.
"""
import numpy as np

from .activations import rounded_once
from .compensated import two_sum


@rounded_once
def half_squared_error(y, a):
    # E = ½·Σ_k (y_k − a_k)², the article's error
    return 0.5 * np.sum((y - a) ** 2, axis=1)


@rounded_once
def half_squared_error_output_error(y, a):
    # −∂E/∂a_k = y_k − a_k
    return y - a


@rounded_once
def mean_squared_error(y, a):
    # E = (1/K)·Σ_k (y_k − a_k)²
    return np.mean((y - a) ** 2, axis=1)


@rounded_once
def mean_squared_error_output_error(y, a):
    # −∂E/∂a_k = (2/K)·(y_k − a_k)
    return (2 / y.shape[1]) * (y - a)


@rounded_once
def binary_cross_entropy(y, a):
    # E = −Σ_k [y_k·log a_k + (1 − y_k)·log(1 − a_k)], on sigmoid outputs 0 < a < 1
    return -np.sum(y * np.log(a) + (1 - y) * np.log1p(-a), axis=1)


@rounded_once
def binary_cross_entropy_from_logits(y, z):
    # E on a = σ(z), from z: log σ(z) = −softplus(−z) and log(1 − σ(z)) = −softplus(z), so
    # E = Σ_k [y_k·softplus(−z_k) + (1 − y_k)·softplus(z_k)]. From a, log1p(−a) is −inf once
    # σ(z) rounds to 1 (z > 37), where E = softplus(z) is finite; and y·softplus(−z) +
    # (1 − y)·softplus(z) adds two terms ≥ 0, where softplus(z) − y·z would cancel at y = 1
    return np.sum(y * np.logaddexp(0, -z) + (1 - y) * np.logaddexp(0, z), axis=1)


@rounded_once
def binary_cross_entropy_output_error(y, a):
    # −∂E/∂a_k = y_k/a_k − (1 − y_k)/(1 − a_k) = (y_k − a_k) / (a_k·(1 − a_k))
    return (y - a) / (a * (1 - a))


def _shifted_exponentials(z):
    # e_j = e^(z_j − max z) ≤ 1, and r = Σ_(j ≠ m) e_j, the sum without the largest one (m, whose
    # e_m = 1): Σ_j e_j = 1 + r, and log Σ_j e_j = log1p(r) keeps r's digits where r ≪ 1
    # (z_j − max z is carried with its rounding error, e^(s + s_lo) = e^s·(1 + s_lo): a rounded
    # difference of −460 would cost 126 ulps of its exponential)
    shifted, shifted_lo = two_sum(z, -np.max(z, axis=1, keepdims=True))
    exponentials = np.exp(shifted) * (1 + shifted_lo)
    largest = np.arange(z.shape[1]) == np.argmax(z, axis=1)[:, None]
    rest = np.sum(np.where(largest, 0.0, exponentials), axis=1, keepdims=True)
    return shifted + shifted_lo, exponentials, largest, rest


def log_softmax(z):
    # log softmax(z)_k = z_k − log Σ_j e^(z_j) = (z_k − max z) − log1p(r)
    shifted, _, _, rest = _shifted_exponentials(z)
    return shifted - np.log1p(rest)


@rounded_once
def softmax_cross_entropy(y, z):
    # E = −Σ_k y_k·log softmax(z)_k, where z are the logits (the last layer is identity)
    return -np.sum(y * log_softmax(z), axis=1)


@rounded_once
def softmax_cross_entropy_output_error(y, z):
    # −∂E/∂z_k = y_k − (Σ_j y_j)·p_k, p = softmax(z); written y_k·(1 − p_k) − p_k·Σ_(j ≠ k) y_j,
    # with 1 − p_k = Σ_(j ≠ k) e_j / (1 + r), so that a p_k near 1 keeps the digits of what it
    # lacks (y − p would cancel them); Σ_(j ≠ k) e_j is r for the largest, 1 + r − e_k otherwise
    _, exponentials, largest, rest = _shifted_exponentials(z)
    p = exponentials / (1 + rest)
    others = np.where(largest, rest, (rest - exponentials) + 1)
    return y * (others / (1 + rest)) - p * (np.sum(y, axis=1, keepdims=True) - y)


LOSSES = {
    "half_squared_error": (half_squared_error, half_squared_error_output_error),
    "mean_squared_error": (mean_squared_error, mean_squared_error_output_error),
    "binary_cross_entropy": (binary_cross_entropy, binary_cross_entropy_output_error),
    "softmax_cross_entropy": (softmax_cross_entropy, softmax_cross_entropy_output_error),
}

REDUCTIONS = ("mean", "sum")
