"""Training a backend: its own `train` (its framework's optimizers) where it has one, else
crossgrad's loop, the reference's training loop with the backend's backprop giving each step's
gradients (a plug-in without optimizers of its own). Either way the Trajectory is checked."""
from dataclasses import replace

import numpy as np

from crossgrad.adapters import BackendError
from crossgrad.dtypes import numpy_dtype
from crossgrad.problem import Layer
from crossgrad.reference import Trajectory
from crossgrad.reference import train as train_by_reference


def train(backend, problem, training, dtype):
    """The Trajectory of `problem` on `backend` (an adapters.Backend) in `dtype`."""
    own = getattr(backend.target, "train", None)
    if callable(own):
        return checked(backend.name, own(problem, training, dtype), training)
    return checked(backend.name, by_backprop(backend, problem, training, dtype), training)


def by_backprop(backend, problem, training, dtype):
    """crossgrad's loop: the reference's optimizers in `dtype` (NumPy), each step's deltas from
    the backend's backprop on the current parameters (float64 copies: every dtype's numbers are
    float64 numbers)."""
    cast = numpy_dtype(dtype)

    def gradients_of(layers, inputs, targets, loss, reduction, eta):
        current = tuple(Layer(layer.weights.astype(np.float64),
                              None if layer.bias is None else layer.bias.astype(np.float64),
                              layer.activation) for layer in layers)
        return backend.backprop(replace(problem, layers=current, learning_rate=eta), dtype)

    layers = [Layer(layer.weights.astype(cast), None if layer.bias is None else
                    layer.bias.astype(cast), layer.activation) for layer in problem.layers]
    return train_by_reference(layers, problem.inputs, problem.targets, problem.loss,
                              problem.reduction, problem.learning_rate, training, gradients_of)


def checked(name, trajectory, training):
    """`trajectory` when it has the Trajectory fields, one entry per recorded step; BackendError
    with one line otherwise (shapes, dtypes and values are the comparison's)."""
    missing = [f for f in Trajectory._fields if not hasattr(trajectory, f)]
    if missing:
        raise BackendError(f"backend {name}: train returned {type(trajectory).__name__}, not "
                           f"crossgrad.Trajectory (no {', '.join(missing)})")
    if tuple(trajectory.steps) != tuple(training.record):
        raise BackendError(f"backend {name}: train recorded steps {list(trajectory.steps)}, "
                           f"expected {list(training.record)}")
    for field in Trajectory._fields[1:]:
        if len(getattr(trajectory, field)) != len(training.record):
            raise BackendError(f"backend {name}: train returned {len(getattr(trajectory, field))}"
                               f" {field}, one per recorded step expected "
                               f"({len(training.record)})")
    return trajectory
