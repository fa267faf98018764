"""What every backend is handed: a network, a batch and a loss, all in float64 NumPy."""
from dataclasses import dataclass

import numpy as np

from crossgrad.dtypes import DEFAULT_DTYPES, DTYPES
from crossgrad.reference import Gradients

__all__ = ["DEFAULT_DTYPES", "DTYPES", "Gradients", "Layer", "Problem"]


@dataclass(frozen=True)
class Layer:
    """One dense layer: z = x @ weights (+ bias), a = activation(z)."""

    weights: np.ndarray  # fan_in × fan_out
    bias: np.ndarray | None  # fan_out, or None for a layer without bias
    activation: str

    @property
    def fan_in(self):
        return self.weights.shape[0]

    @property
    def fan_out(self):
        return self.weights.shape[1]


@dataclass(frozen=True)
class Problem:
    """A network, a batch of inputs and targets, a loss and a learning rate."""

    layers: tuple[Layer, ...]
    inputs: np.ndarray  # batch × fan_in of layer 0
    targets: np.ndarray  # batch × fan_out of the last layer
    loss: str
    reduction: str  # "mean" or "sum"
    learning_rate: float
