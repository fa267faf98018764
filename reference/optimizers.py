"""The optimizers a training case names, one update each, written out in NumPy.

A step starts from the gradient g = ∂E/∂W (or from the lesson's Δw = −η·g, which crossgrad
checks in one step) and returns the new parameter with the optimizer's new state. Every array
keeps its dtype: Python floats and NumPy scalars do not promote float32 or float16.
"""
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

OPTIMIZERS = ("sgd", "momentum", "adam")
PARTS = ("weights", "biases")


@dataclass(frozen=True)
class Training:
    """How a case trains: `steps` full-batch updates of `update` with `optimizer`, recorded at
    `record` (sorted steps; 0 is before any update)."""

    steps: int
    optimizer: str = "sgd"
    momentum: float = 0.9  # momentum only
    betas: tuple = (0.9, 0.999)  # adam only
    eps: float = 1e-8  # adam only
    update: tuple = PARTS
    record: tuple = ()


class Trajectory(NamedTuple):
    """A training run as recorded: at each of `steps`, the loss E after that many updates and
    every layer's weights and biases (None for a layer without bias)."""

    steps: tuple
    losses: list
    weights: list
    biases: list


def sgd(parameter, weight_delta):
    # W ← W + Δw, with Δw = −η·∂E/∂W the lesson's delta
    return parameter + weight_delta


def momentum(parameter, weight_delta, velocity, mu):
    # v ← μ·v + Δw (v₀ = 0), W ← W + v: Sutskever's v ← μ·v − η·g
    velocity = mu * velocity + weight_delta
    return parameter + velocity, velocity


def adam(parameter, gradient, moments, t, learning_rate, betas, eps):
    # m ← β1·m + (1 − β1)·g, s ← β2·s + (1 − β2)·g², at update t = 1, 2, …;
    # m̂ = m/(1 − β1^t), ŝ = s/(1 − β2^t); W ← W − η·m̂/(√ŝ + ε), ε outside the root
    (beta1, beta2), (m, s) = betas, moments
    m = beta1 * m + (1 - beta1) * gradient
    s = beta2 * s + (1 - beta2) * gradient * gradient
    m_hat = m / (1 - beta1 ** t)
    s_hat = s / (1 - beta2 ** t)
    return parameter - learning_rate * m_hat / (np.sqrt(s_hat) + eps), (m, s)
