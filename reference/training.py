"""Training by the reference: full-batch updates of a network with one of the optimizers, each
step's gradient from backprop, the trajectory recorded at the steps asked for."""
import numpy as np

from . import optimizers
from .backprop import backprop
from .optimizers import Trajectory


class _Layer:
    """A layer whose weights and bias change as it trains."""

    def __init__(self, layer):
        self.weights, self.bias, self.activation = layer.weights, layer.bias, layer.activation


def _learned(layers, update):
    """(layer index, 'weights' or 'bias') of every parameter that learns."""
    return [(l, name) for l, layer in enumerate(layers)
            for name, part in (("weights", "weights"), ("bias", "biases"))
            if part in update and getattr(layer, name) is not None]


def _step(training, learning_rate, parameter, delta, state, t):
    """One optimizer update of one parameter from its delta Δw (η·(−g), or −g for adam)."""
    if training.optimizer == "sgd":
        return optimizers.sgd(parameter, delta), state
    if training.optimizer == "momentum":
        velocity = np.zeros_like(parameter) if state is None else state
        return optimizers.momentum(parameter, delta, velocity, training.momentum)
    moments = (np.zeros_like(parameter),) * 2 if state is None else state
    return optimizers.adam(parameter, -delta, moments, t, learning_rate, training.betas,
                           training.eps)


def train(layers, inputs, targets, loss, reduction, learning_rate, training,
          gradients_of=backprop):
    """Train a copy of `layers` (objects with weights, bias, activation) as `training` says.

    Arrays keep the dtype they are given. Each step's gradients come from `gradients_of`, which
    takes backprop's arguments (another backend's backprop stands in for a plug-in). Returns the
    Trajectory at training.record.
    """
    layers = [_Layer(layer) for layer in layers]
    learned = _learned(layers, training.update)
    states = {key: None for key in learned}
    # adam takes g itself: backprop's delta at η = 1 is −g, with no rounding of η·g
    eta = 1.0 if training.optimizer == "adam" else learning_rate
    recorded = Trajectory(tuple(training.record), [], [], [])
    for step in range(training.steps + 1):
        gradients = gradients_of(layers, inputs, targets, loss, reduction, eta)
        if step in training.record:
            recorded.losses.append(gradients.loss)
            recorded.weights.append([layer.weights.copy() for layer in layers])
            recorded.biases.append([None if layer.bias is None else layer.bias.copy()
                                    for layer in layers])
        if step == training.steps:
            return recorded
        for l, name in learned:
            delta = (gradients.weight_deltas if name == "weights" else gradients.bias_deltas)[l]
            value, states[l, name] = _step(training, learning_rate, getattr(layers[l], name),
                                           delta, states[l, name], step + 1)
            setattr(layers[l], name, value)
