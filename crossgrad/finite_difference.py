"""Finite differences: the gradient of the reference's float64 forward loss, by central differences.

For a parameter p the step is h = ε^(1/3)·max(1, |p|), ε = 2.2e-16, which balances the
truncation error (h²·|E'''|/6) against the rounding error (ε·|E|/h) at about ε^(2/3) ≈ 4e-11
relative. Small networks get every partial derivative (two forward passes per parameter);
larger ones get a projection: ⟨v, ∇E⟩ against (E(p + h·v) − E(p − h·v)) / 2h for a few seeded
random directions v, as fast gradient checks do.

A central difference across a kink measures neither one-sided derivative: every difference
whose forward passes put a relu, leaky_relu or elu pre-activation on different sides of 0
is recorded as not meaningful.
"""
from dataclasses import dataclass

import numpy as np

from crossgrad.diagnose import KINKS
from crossgrad.problem import Layer
from crossgrad.reference import forward
from crossgrad.reference.backprop import reduced_loss

EPSILON = float(np.finfo(np.float64).eps)
# Up to this many parameters, every partial derivative; above it, PROJECTIONS directions.
FULL_LIMIT = 2_000
PROJECTIONS = 4
PROJECTION_SEED = 20_240_601


@dataclass(frozen=True)
class FiniteDifferences:
    """∂E/∂W and ∂E/∂b per layer (full mode), or directional derivatives (projection mode).

    `kinked` marks the parameters (full) or directions (projection) whose difference crossed
    a kink and is not meaningful.
    """

    mode: str  # "full" or "projection"
    weight_gradients: list | None = None
    bias_gradients: list | None = None
    weight_kinked: list | None = None
    bias_kinked: list | None = None
    directions: list | None = None  # each a list of (dW, db) per layer
    directional: np.ndarray | None = None
    directional_kinked: np.ndarray | None = None
    seed: int | None = None


def _parameters(problem):
    return [(layer.weights, layer.bias) for layer in problem.layers]


def _evaluate(problem, parameters):
    """E and the kink signs (z > kink, per kinked layer) at the given parameters."""
    layers = [Layer(w, b, layer.activation) for (w, b), layer in zip(parameters, problem.layers)]
    _, pre_activations, output = forward(layers, problem.inputs)
    prediction = pre_activations[-1] if problem.loss == "softmax_cross_entropy" else output
    signs = tuple((z > KINKS[layer.activation]).tobytes() + (z == KINKS[layer.activation]).tobytes()
                  for layer, z in zip(problem.layers, pre_activations) if layer.activation in KINKS)
    # binary cross-entropy on a sigmoid output from its logits, as backprop takes it
    logits = pre_activations[-1] if problem.layers[-1].activation == "sigmoid" else None
    return reduced_loss(problem.loss, problem.reduction, problem.targets, prediction,
                        logits), signs


def _central(problem, parameters, signs_here, shift, step):
    """(E(p + h·shift) − E(p − h·shift)) / 2h, and whether the two passes straddle a kink."""
    plus = [(w + step * dw, None if b is None else b + step * db)
            for (w, b), (dw, db) in zip(parameters, shift)]
    minus = [(w - step * dw, None if b is None else b - step * db)
             for (w, b), (dw, db) in zip(parameters, shift)]
    (e_plus, signs_plus), (e_minus, signs_minus) = (_evaluate(problem, plus),
                                                    _evaluate(problem, minus))
    return (e_plus - e_minus) / (2 * step), not (signs_plus == signs_here == signs_minus)


def _unit_shift(parameters, layer, which, index):
    shift = [(np.zeros_like(w), None if b is None else np.zeros_like(b)) for w, b in parameters]
    shift[layer][which][index] = 1.0
    return shift


def full(problem):
    """Every ∂E/∂W_ij and ∂E/∂b_j by its own central difference."""
    parameters = _parameters(problem)
    _, signs_here = _evaluate(problem, parameters)  # the kinks' sides at p, once
    grads = {0: [], 1: []}
    kinked = {0: [], 1: []}
    for layer, (w, b) in enumerate(parameters):
        for which, array in ((0, w), (1, b)):
            if array is None:
                grads[which].append(None)
                kinked[which].append(None)
                continue
            gradient, crossed = np.zeros_like(array), np.zeros(array.shape, dtype=bool)
            for index in np.ndindex(array.shape):
                step = EPSILON ** (1 / 3) * max(1.0, abs(float(array[index])))
                shift = _unit_shift(parameters, layer, which, index)
                gradient[index], crossed[index] = _central(problem, parameters, signs_here,
                                                           shift, step)
            grads[which].append(gradient)
            kinked[which].append(crossed)
    return FiniteDifferences("full", grads[0], grads[1], kinked[0], kinked[1])


def random_directions(problem, count, seed):
    """`count` directions in parameter space, N(0, 1) per parameter, each of unit length overall
    (so that a step means the same along each), as a list of (dW, db) per layer."""
    rng = np.random.default_rng(seed)
    directions = []
    for _ in range(count):
        direction = [(rng.standard_normal(layer.weights.shape), None if layer.bias is None else
                      rng.standard_normal(layer.bias.shape)) for layer in problem.layers]
        length = np.sqrt(sum(np.sum(dw**2) + (0 if db is None else np.sum(db**2))
                             for dw, db in direction))
        directions.append([(dw / length, None if db is None else db / length)
                           for dw, db in direction])
    return directions


def projection(problem, count=PROJECTIONS, seed=PROJECTION_SEED):
    """⟨v, ∇E⟩ by directional central differences along `count` seeded N(0, 1) directions."""
    parameters = _parameters(problem)
    _, signs_here = _evaluate(problem, parameters)  # the kinks' sides at p, once
    largest = max(float(np.max(np.abs(w))) for w, _ in parameters)
    step = EPSILON ** (1 / 3) * max(1.0, largest)
    directions = random_directions(problem, count, seed)
    values, kinked = [], []
    for direction in directions:
        value, crossed = _central(problem, parameters, signs_here, direction, step)
        values.append(value)
        kinked.append(crossed)
    return FiniteDifferences("projection", directions=directions, directional=np.array(values),
                             directional_kinked=np.array(kinked), seed=seed)


def finite_differences(problem):
    """Full mode up to FULL_LIMIT parameters, projection mode above."""
    count = sum(l.weights.size + (0 if l.bias is None else l.bias.size) for l in problem.layers)
    return full(problem) if count <= FULL_LIMIT else projection(problem)


def directional_from_gradients(directions, weight_gradients, bias_gradients):
    """⟨v, ∇E⟩ for each direction v, from per-layer gradients ∂E/∂W and ∂E/∂b."""
    return np.array([sum(np.vdot(dw, gw) + (0 if db is None else np.vdot(db, gb))
                         for (dw, db), gw, gb in zip(direction, weight_gradients, bias_gradients))
                     for direction in directions])
