"""Four backends with one planted bug each, for `crossgrad fuzz` to find and shrink. Each wraps
the numpy reference backend and goes wrong only where its bug lives:

- missing_mean_factor: the mean reduction's 1/B is missing, but only for batches of 3 or more;
- tanh_beyond_2: tanh's derivative written as 1 − |tanh z| where |z| > 2 (it is 1 − tanh² z);
- leaky_relu_one_at_zero: leaky_relu's derivative 1 at exactly z = 0 (the slope 0.01 is meant);
- float16_flush: in float16, every result below 2⁻¹⁰ in magnitude flushed to zero, where
  float16's normal numbers reach down to 2⁻¹⁴ and its subnormals to 2⁻²⁴.

    crossgrad fuzz --backends numpy,buggy --backend buggy=examples.planted_bugs:tanh_beyond_2
"""
from types import SimpleNamespace

import numpy as np

from crossgrad.adapters import numpy_backend
from crossgrad.dtypes import numpy_dtype
from crossgrad.reference import ACTIVATIONS, LOSSES, Gradients, forward
from crossgrad.reference.backprop import batch_factor, bias_delta, output_error_term, weight_delta


def _backprop_with(derivatives):
    """The reference's backprop with some activations' derivatives replaced by `derivatives`."""
    def derivative(name, z):
        return derivatives[name](z).astype(z.dtype) if name in derivatives \
            else ACTIVATIONS[name][1](z)

    def backprop(problem, dtype):
        if not any(layer.activation in derivatives for layer in problem.layers):
            return numpy_backend.backprop(problem, dtype)
        cast = numpy_dtype(dtype)
        right = numpy_backend.backprop(problem, dtype)  # the loss, and the output layer's form
        with np.errstate(all="ignore"):
            layers = [SimpleNamespace(weights=layer.weights.astype(cast),
                                      bias=None if layer.bias is None else layer.bias.astype(cast),
                                      activation=layer.activation) for layer in problem.layers]
            layer_inputs, pre_activations, output = forward(layers, problem.inputs.astype(cast))
            targets, last = problem.targets.astype(cast), layers[-1]
            prediction = pre_activations[-1] if problem.loss == "softmax_cross_entropy" else output
            if last.activation in derivatives:
                error_terms = [batch_factor(problem.reduction, len(targets))
                               * LOSSES[problem.loss][1](targets, prediction)
                               * derivative(last.activation, pre_activations[-1])]
            else:
                error_terms = [output_error_term(problem.loss, problem.reduction, targets,
                                                 prediction, last.activation, pre_activations[-1])]
            for index in range(len(layers) - 2, -1, -1):
                error_terms.insert(0, (error_terms[0] @ layers[index + 1].weights.T)
                                   * derivative(layers[index].activation, pre_activations[index]))
            rate = float(problem.learning_rate)
            return Gradients(right.loss, error_terms,
                             [weight_delta(rate, x, d) for x, d in zip(layer_inputs, error_terms)],
                             [None if layer.bias is None else bias_delta(rate, d)
                              for layer, d in zip(layers, error_terms)])
    return backprop


def _backend(backprop):
    return SimpleNamespace(backprop=backprop, DEVICE="cpu", version=numpy_backend.version,
                           UNSUPPORTED_DTYPES=numpy_backend.UNSUPPORTED_DTYPES)


def _missing_mean_factor(problem, dtype):
    right = numpy_backend.backprop(problem, dtype)
    batch = len(problem.inputs)
    if problem.reduction != "mean" or batch < 3:
        return right
    def scale(arrays):  # noqa: E306  the bug: δ, Δw and Δb without the 1/B
        return [None if a is None else (a * batch).astype(a.dtype) for a in arrays]
    return Gradients(right.loss, scale(right.error_terms), scale(right.weight_deltas),
                     scale(right.bias_deltas))


def _float16_flush(problem, dtype):
    right = numpy_backend.backprop(problem, dtype)
    if dtype != "float16":
        return right
    def flush(arrays):  # noqa: E306  the bug: flushed below 2^-10, not 2^-24
        return [None if a is None else np.where(np.abs(a) < 2.0 ** -10, 0, a).astype(a.dtype)
                for a in arrays]
    return Gradients(right.loss, flush(right.error_terms), flush(right.weight_deltas),
                     flush(right.bias_deltas))


missing_mean_factor = _backend(_missing_mean_factor)
tanh_beyond_2 = _backend(_backprop_with({"tanh": lambda z: np.where(
    np.abs(z) > 2, 1 - np.abs(np.tanh(z)), ACTIVATIONS["tanh"][1](z))}))
leaky_relu_one_at_zero = _backend(_backprop_with({"leaky_relu": lambda z: np.where(
    z == 0, 1.0, ACTIVATIONS["leaky_relu"][1](z))}))
float16_flush = _backend(_float16_flush)
