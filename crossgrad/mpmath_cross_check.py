"""The forward pass and backprop in 50-digit mpmath: crossgrad's ground truth before the ball
arithmetic of ground_truth.py, kept as its independent cross-check (tests/test_ground_truth.py)
and as the benchmark's baseline (benchmarks/speed.py, section 2).

It shares no code with the reference, the adapters or crossgrad/balls.py: its own formulas,
written for mpmath's numbers, and no floating-point arithmetic until the end. Unlike the balls,
it carries no error bound: its digits are trusted, not proven.
"""
import numpy as np
from mpmath import mp, mpf

from crossgrad.reference import Gradients

DIGITS = 50
# mpmath is slow: it was the referee up to this many multiply-adds (forward + backward)
MAX_OPERATIONS = 200_000

# leaky_relu's slope and gelu_tanh's constant: the float64 numbers every backend is handed
_SLOPE = mpf(0.01)
_GELU_TANH_K = mpf(0.044715)


def _gelu_tanh(z):
    u = mp.sqrt(2 / mp.pi) * (z + _GELU_TANH_K * z**3)
    return z * (1 + mp.tanh(u)) / 2


def _gelu_tanh_prime(z):
    u = mp.sqrt(2 / mp.pi) * (z + _GELU_TANH_K * z**3)
    du = mp.sqrt(2 / mp.pi) * (1 + 3 * _GELU_TANH_K * z**2)
    return (1 + mp.tanh(u)) / 2 + z * du / (2 * mp.cosh(u) ** 2)


# name -> (f, f'); one-sided values at kinks as the case format defines them
ACTIVATIONS = {
    "identity": (lambda z: z, lambda z: mpf(1)),
    "sigmoid": (lambda z: 1 / (1 + mp.exp(-z)), lambda z: mp.exp(-z) / (1 + mp.exp(-z)) ** 2),
    "tanh": (mp.tanh, lambda z: 1 / mp.cosh(z) ** 2),
    "relu": (lambda z: z if z > 0 else mpf(0), lambda z: mpf(1) if z > 0 else mpf(0)),
    "leaky_relu": (lambda z: z if z > 0 else _SLOPE * z, lambda z: mpf(1) if z > 0 else _SLOPE),
    "softplus": (lambda z: mp.log1p(mp.exp(z)), lambda z: 1 / (1 + mp.exp(-z))),
    "elu": (lambda z: z if z > 0 else mp.expm1(z), lambda z: mpf(1) if z > 0 else mp.exp(z)),
    "silu": (lambda z: z / (1 + mp.exp(-z)),
             lambda z: (1 + mp.exp(-z) + z * mp.exp(-z)) / (1 + mp.exp(-z)) ** 2),
    "gelu": (lambda z: z * (1 + mp.erf(z / mp.sqrt(2))) / 2,
             lambda z: (1 + mp.erf(z / mp.sqrt(2))) / 2 + z * mp.exp(-z * z / 2) / mp.sqrt(2 * mp.pi)),
    "gelu_tanh": (_gelu_tanh, _gelu_tanh_prime),
}


def operations(problem):
    """Multiply-adds of one forward and backward pass: what MAX_OPERATIONS bounds."""
    return 3 * len(problem.inputs) * sum(l.fan_in * l.fan_out for l in problem.layers)


def _matrix(array):
    return [[mpf(v) for v in row] for row in np.atleast_2d(array)]  # floats or mpf (training)


def _loss_and_output_error(loss, y, a):
    """Per sample: E_b, and −∂E_b/∂a (for softmax_cross_entropy, a are the logits)."""
    k = len(a)
    if loss == "half_squared_error":
        return sum((y[j] - a[j]) ** 2 for j in range(k)) / 2, [y[j] - a[j] for j in range(k)]
    if loss == "mean_squared_error":
        return (sum((y[j] - a[j]) ** 2 for j in range(k)) / k,
                [2 * (y[j] - a[j]) / k for j in range(k)])
    if loss == "binary_cross_entropy":
        return (-sum(y[j] * mp.log(a[j]) + (1 - y[j]) * mp.log(1 - a[j]) for j in range(k)),
                [y[j] / a[j] - (1 - y[j]) / (1 - a[j]) for j in range(k)])
    # softmax_cross_entropy
    total = sum(mp.exp(v) for v in a)
    probabilities = [mp.exp(v) / total for v in a]
    return (-sum(y[j] * mp.log(probabilities[j]) for j in range(k)),
            [y[j] - sum(y) * probabilities[j] for j in range(k)])


def _to_float64(rows):
    return np.array([[float(v) for v in row] for row in rows], dtype=np.float64)


def ground_truth(problem):
    """The problem's Gradients at 50 digits, each value rounded once to float64."""
    with mp.workdps(DIGITS):
        exact = evaluate(problem, DIGITS)
        return Gradients(float(exact.loss), [_to_float64(d) for d in exact.error_terms],
                         [_to_float64(w) for w in exact.weight_deltas],
                         [None if b is None else _to_float64([b])[0] for b in exact.bias_deltas])


def evaluate(problem, digits=DIGITS):
    """The problem's Gradients at `digits` digits, unrounded: nested lists of mpf."""
    with mp.workdps(digits):
        weights = [_matrix(layer.weights) for layer in problem.layers]
        biases = [None if layer.bias is None else [mpf(v) for v in layer.bias]
                  for layer in problem.layers]
        targets = _matrix(problem.targets)
        batch = len(problem.inputs)
        factor = mpf(1) / batch if problem.reduction == "mean" else mpf(1)
        # forward: per sample, each layer's input and pre-activation
        xs, zs = [], []
        x = _matrix(problem.inputs)
        for layer, w, b in zip(problem.layers, weights, biases):
            f = ACTIVATIONS[layer.activation][0]
            z = [[sum(row[i] * w[i][j] for i in range(layer.fan_in)) + (b[j] if b else 0)
                  for j in range(layer.fan_out)] for row in x]
            xs.append(x)
            zs.append(z)
            x = [[f(v) for v in row] for row in z]
        prediction = zs[-1] if problem.loss == "softmax_cross_entropy" else x
        losses, deltas = [], []
        last = ACTIVATIONS[problem.layers[-1].activation][1]
        for b in range(batch):
            value, output_error = _loss_and_output_error(problem.loss, targets[b], prediction[b])
            losses.append(value)
            deltas.append([factor * e * last(z) for e, z in zip(output_error, zs[-1][b])])
        error_terms = [deltas]
        for l in range(len(problem.layers) - 2, -1, -1):
            prime, w = ACTIVATIONS[problem.layers[l].activation][1], weights[l + 1]
            upper = error_terms[0]
            error_terms.insert(0, [[sum(upper[b][k] * w[j][k] for k in range(len(w[j])))
                                    * prime(zs[l][b][j]) for j in range(len(w))]
                                   for b in range(batch)])
        rate = mpf(float(problem.learning_rate))
        weight_deltas = [[[rate * sum(xs[l][b][i] * error_terms[l][b][j] for b in range(batch))
                           for j in range(layer.fan_out)] for i in range(layer.fan_in)]
                         for l, layer in enumerate(problem.layers)]
        bias_deltas = [None if layer.bias is None else
                       [rate * sum(error_terms[l][b][j] for b in range(batch))
                        for j in range(layer.fan_out)]
                       for l, layer in enumerate(problem.layers)]
        return Gradients(factor * sum(losses), error_terms, weight_deltas, bias_deltas)
