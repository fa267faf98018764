"""The NumPy reference as a backend: the same math, in the requested dtype."""
import numpy as np

from crossgrad.dtypes import numpy_dtype
from crossgrad.problem import Layer
from crossgrad.reference import backprop as reference_backprop
from crossgrad.reference import train as reference_train

DEVICE = "cpu"
UNSUPPORTED_DTYPES = {
    "bfloat16": "NumPy has no bfloat16 arithmetic of its own: ml_dtypes' bfloat16 promotes to "
                "float32 in matmuls and next to Python floats, so the reference would not "
                "really compute in bfloat16",
}


def version():
    return np.__version__


def _arguments(problem, dtype):
    """The reference's arguments for `problem`: layers, inputs and targets cast to `dtype`."""
    cast = numpy_dtype(dtype)
    layers = [Layer(layer.weights.astype(cast),
                    None if layer.bias is None else layer.bias.astype(cast),
                    layer.activation)
              for layer in problem.layers]
    return (layers, problem.inputs.astype(cast), problem.targets.astype(cast), problem.loss,
            problem.reduction, float(problem.learning_rate))


def backprop(problem, dtype):
    """Error terms, weight and bias deltas of `problem`, computed in `dtype`, as NumPy arrays."""
    with np.errstate(all="ignore"):  # a NaN or Inf result is labelled non_finite, not warned of
        return reference_backprop(*_arguments(problem, dtype))


def train(problem, training, dtype):
    """The reference's training loop and optimizers, computed in `dtype` (a Trajectory)."""
    with np.errstate(all="ignore"):
        return reference_train(*_arguments(problem, dtype), training)
