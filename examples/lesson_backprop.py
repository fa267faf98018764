"""A crossgrad backend written from scratch, the way the backpropagation lesson writes it.

Plain NumPy: it uses `crossgrad.Gradients` for its result and nothing else of crossgrad. From
this folder (or with it on PYTHONPATH):

    pytest --crossgrad-backend lesson=lesson_backprop
    crossgrad report --backend lesson=lesson_backprop --backends numpy,lesson --cases ../cases

Each layer l computes h = x @ W (+ b) and output = f(h); the error term is
δ = −∂E/∂h, the weight step Δw = η·xᵀ·δ and the bias step Δb = η·Σ δ over the batch.
"""
import math

import numpy as np

from crossgrad import Gradients

DEVICE = "cpu"
UNSUPPORTED_DTYPES = {"bfloat16": "NumPy has no bfloat16 arithmetic of its own"}


def version():
    return f"lesson 1.0, NumPy {np.__version__}"


def sigmoid(x):
    """1 / (1 + e^−x), written as e^−log(1 + e^−x) so that no e^x overflows."""
    return np.exp(-np.logaddexp(0, -x)).astype(x.dtype)


def normal_cdf(x):
    """Φ(x) = ½·erfc(−x/√2); erfc keeps its digits in the negative tail, where 1 + erf cancels."""
    erfc = np.vectorize(math.erfc, otypes=[np.float64])
    return (0.5 * erfc(-x.astype(np.float64) / math.sqrt(2))).astype(x.dtype)


def gelu_tanh(h):
    """½·h·(1 + tanh u) = h·σ(2u), u = √(2/π)·(h + 0.044715·h³); no cancelling for h ≪ 0."""
    return h * sigmoid(2 * math.sqrt(2 / math.pi) * (h + 0.044715 * h**3))


def gelu_tanh_prime(h):
    """σ(2u) + h·2σ'(2u)·du/dh, with σ'(t) = σ(t)·σ(−t) and du/dh = √(2/π)·(1 + 3·0.044715·h²)."""
    two_u = 2 * math.sqrt(2 / math.pi) * (h + 0.044715 * h**3)
    du_dh = math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * h**2)
    slope = sigmoid(two_u) * sigmoid(-two_u)
    # where σ'(2u) is 0 the term is 0, not 0·inf (in float16, h³ overflows from |h| = 41)
    return sigmoid(two_u) + np.where(slope == 0, 0, h * 2 * slope * du_dh).astype(h.dtype)


# name: (f(h), f'(h)); at a kink (h = 0) relu takes 0 and leaky_relu its slope
ACTIVATIONS = {
    "identity": (lambda h: h, lambda h: np.ones_like(h)),
    "sigmoid": (sigmoid, lambda h: sigmoid(h) * sigmoid(-h)),  # σ(1 − σ) = σ(h)·σ(−h)
    "tanh": (np.tanh, lambda h: 1 / np.cosh(h) ** 2),  # 1 − tanh² = sech²
    "relu": (lambda h: np.maximum(h, 0), lambda h: (h > 0).astype(h.dtype)),
    "leaky_relu": (lambda h: np.where(h > 0, h, 0.01 * h),
                   lambda h: np.where(h > 0, 1, 0.01).astype(h.dtype)),
    "softplus": (lambda h: np.logaddexp(0, h).astype(h.dtype), sigmoid),
    "elu": (lambda h: np.where(h > 0, h, np.expm1(np.minimum(h, 0))),
            lambda h: np.where(h > 0, 1, np.exp(np.minimum(h, 0))).astype(h.dtype)),
    "silu": (lambda h: h * sigmoid(h), lambda h: sigmoid(h) * (1 + h * sigmoid(-h))),
    "gelu": (lambda h: h * normal_cdf(h),  # h·Φ(h); its derivative Φ(h) + h·φ(h)
             lambda h: normal_cdf(h) + h * np.exp(-0.5 * h * h) / math.sqrt(2 * math.pi)),
    "gelu_tanh": (gelu_tanh, gelu_tanh_prime),
}


def output_error_term(loss, y, output, h, activation, derivatives):
    """δ of the output layer, per sample: −∂E/∂output · f'(h)."""
    if loss == "binary_cross_entropy":  # on a sigmoid: (y − a)/(a(1 − a)) · a(1 − a) = y − a,
        return y * sigmoid(-h) - (1 - y) * sigmoid(h)  # from h: 1 − σ(h) = σ(−h) keeps its digits
    if loss == "softmax_cross_entropy":  # on the logits h: y − (Σ y)·softmax(h)
        e = np.exp(h - h.max(axis=1, keepdims=True))
        return y - y.sum(axis=1, keepdims=True) * e / e.sum(axis=1, keepdims=True)
    error = (y - output) * (2 / y.shape[1] if loss == "mean_squared_error" else 1)
    return error * derivatives[activation](h)


def loss_per_sample(loss, y, output, h):
    if loss == "half_squared_error":
        return 0.5 * ((y - output) ** 2).sum(axis=1)
    if loss == "mean_squared_error":
        return ((y - output) ** 2).mean(axis=1)
    if loss == "binary_cross_entropy":  # −y·log σ(h) − (1 − y)·log(1 − σ(h)), from h itself
        return (y * np.logaddexp(0, -h) + (1 - y) * np.logaddexp(0, h)).sum(axis=1)
    # softmax cross-entropy: −Σ y·log softmax(h), log softmax(h) = s − log Σ e^s, s = h − max h;
    # the largest term of Σ e^s is e^0 = 1, so log Σ e^s = log1p(the others), which keeps them
    # when one logit dominates (log(1 + 4e-31) would be 0)
    shifted = h - h.max(axis=1, keepdims=True)
    others = np.exp(shifted)
    others[np.arange(len(h)), np.argmax(h, axis=1)] = 0
    log_softmax = shifted - np.log1p(others.sum(axis=1, keepdims=True))
    return -np.where(y == 0, 0, y * log_softmax).sum(axis=1)  # 0·log 0 is 0, not 0·(−inf)


def backprop(problem, dtype, derivatives=None):
    """The lesson's forward pass, then its backward pass from the output layer down."""
    derivatives = derivatives or {name: pair[1] for name, pair in ACTIVATIONS.items()}
    cast = np.dtype(dtype)
    weights = [layer.weights.astype(cast) for layer in problem.layers]
    biases = [None if layer.bias is None else layer.bias.astype(cast) for layer in problem.layers]
    x = problem.inputs.astype(cast)
    y = problem.targets.astype(cast)
    learnrate = cast.type(problem.learning_rate)
    scale = cast.type(1 / len(x) if problem.reduction == "mean" else 1)

    with np.errstate(all="ignore"):
        inputs, hidden = [], []  # each layer's input and its h
        for layer, w, b in zip(problem.layers, weights, biases):
            inputs.append(x)
            hidden.append(x @ w if b is None else x @ w + b)
            x = ACTIVATIONS[layer.activation][0](hidden[-1])

        last = problem.layers[-1].activation
        error_term = scale * output_error_term(problem.loss, y, x, hidden[-1], last, derivatives)
        error_terms = [error_term]
        for l in range(len(weights) - 1, 0, -1):
            # δ_l = (δ_(l+1) @ W_(l+1)ᵀ) · f'(h_l)
            error_term = (error_term @ weights[l].T) \
                * derivatives[problem.layers[l - 1].activation](hidden[l - 1])
            error_terms.insert(0, error_term)

        del_w = [learnrate * (x_l.T @ d) for x_l, d in zip(inputs, error_terms)]
        del_b = [None if b is None else learnrate * d.sum(axis=0)
                 for b, d in zip(biases, error_terms)]
        loss = float(loss_per_sample(problem.loss, y, x, hidden[-1]).sum() * scale)
    return Gradients(loss, error_terms, del_w, del_b)
