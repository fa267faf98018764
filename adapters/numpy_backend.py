"""The NumPy reference as a backend: the same math, in the requested dtype."""
import numpy as np

from crossgrad.problem import Layer
from crossgrad.reference import backprop as reference_backprop

DEVICE = "cpu"


def version():
    return np.__version__


def backprop(problem, dtype):
    """Error terms, weight and bias deltas of `problem`, computed in `dtype`, as NumPy arrays."""
    cast = np.dtype(dtype)
    layers = [Layer(layer.weights.astype(cast),
                    None if layer.bias is None else layer.bias.astype(cast),
                    layer.activation)
              for layer in problem.layers]
    with np.errstate(all="ignore"):  # a NaN or Inf result is labelled non_finite, not warned of
        return reference_backprop(layers, problem.inputs.astype(cast), problem.targets.astype(cast),
                                  problem.loss, problem.reduction, float(problem.learning_rate))
