"""Per-sample losses E(y, a) and their output error −∂E/∂a, one pair per name.

`a` is the last layer's activation (batch × K) and `y` the targets (batch × K). Each function
returns one value per sample; the batch reduction is applied in backprop.
"""
import numpy as np


def half_squared_error(y, a):
    # E = ½·Σ_k (y_k − a_k)², the article's error
    return 0.5 * np.sum((y - a) ** 2, axis=1)


def half_squared_error_output_error(y, a):
    # −∂E/∂a_k = y_k − a_k
    return y - a


def mean_squared_error(y, a):
    # E = (1/K)·Σ_k (y_k − a_k)²
    return np.mean((y - a) ** 2, axis=1)


def mean_squared_error_output_error(y, a):
    # −∂E/∂a_k = (2/K)·(y_k − a_k)
    return (2 / y.shape[1]) * (y - a)


def binary_cross_entropy(y, a):
    # E = −Σ_k [y_k·log a_k + (1 − y_k)·log(1 − a_k)], on sigmoid outputs 0 < a < 1
    return -np.sum(y * np.log(a) + (1 - y) * np.log1p(-a), axis=1)


def binary_cross_entropy_output_error(y, a):
    # −∂E/∂a_k = y_k/a_k − (1 − y_k)/(1 − a_k) = (y_k − a_k) / (a_k·(1 − a_k))
    return (y - a) / (a * (1 - a))


def log_softmax(z):
    # log softmax(z)_k = z_k − log Σ_j e^(z_j), shifted by max z so that nothing overflows
    shifted = z - np.max(z, axis=1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))


def softmax_cross_entropy(y, z):
    # E = −Σ_k y_k·log softmax(z)_k, where z are the logits (the last layer is identity)
    return -np.sum(y * log_softmax(z), axis=1)


def softmax_cross_entropy_output_error(y, z):
    # −∂E/∂z_k = y_k − (Σ_j y_j)·softmax(z)_k, which is y − softmax(z) for one-hot or soft labels
    return y - np.sum(y, axis=1, keepdims=True) * np.exp(log_softmax(z))


LOSSES = {
    "half_squared_error": (half_squared_error, half_squared_error_output_error),
    "mean_squared_error": (mean_squared_error, mean_squared_error_output_error),
    "binary_cross_entropy": (binary_cross_entropy, binary_cross_entropy_output_error),
    "softmax_cross_entropy": (softmax_cross_entropy, softmax_cross_entropy_output_error),
}

REDUCTIONS = ("mean", "sum")
