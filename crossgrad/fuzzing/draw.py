"""Drawing networks across the case format, weighted toward the places where gradient bugs live.

Draw `index` of seed `seed` comes from numpy.random.default_rng([seed, index]) alone, so a
draw replays from its two numbers whatever was drawn before it. Each draw takes one of these
flavours, then its sizes, activations, loss and numbers:

- plain: input and weight scales log-uniform over 1e-3..1e3;
- kink: small dyadic inputs and weights (exact products in every dtype) and biases that put
  pre-activations of a relu, leaky_relu or elu layer exactly at 0, or one small dyadic step
  from it;
- saturation: pre-activations of tens, where sigmoid, tanh, softplus and the gelus flatten;
- cancel: biases that nearly cancel x @ W (a few digits left), and targets near the outputs;
- float16 range: scales that reach float16's subnormals (below 6.1e-5) or its overflow (65504).

Sizes lean toward the edges: width 1 and batch 1 come up about a fifth of the time each. A
quarter of the draws also train, a short trajectory (fuzzing/trajectory.py), unless the float64
reference's trajectory is not finite: that draw stays as it was drawn, one step.
"""
from dataclasses import replace

import numpy as np

from crossgrad import runner
from crossgrad.cases import Case
from crossgrad.fuzzing.trajectory import draw_training, finite_trajectory
from crossgrad.problem import Layer, Problem
from crossgrad.reference import ACTIVATIONS, LOSSES, REDUCTIONS, forward

FLAVOURS = ("plain", "kink", "saturation", "cancel", "float16_range")
KINKED = ("relu", "leaky_relu", "elu")
SATURATING = ("sigmoid", "tanh", "softplus", "gelu", "gelu_tanh", "silu", "elu")
MAX_DEPTH, MAX_WIDTH, MAX_BATCH = 8, 64, 32


def _size(rng, largest):
    """1 about a fifth of the time, else log-uniform over 1..largest."""
    if rng.random() < 0.2:
        return 1
    return int(min(largest, np.floor(np.exp(rng.uniform(0, np.log(largest + 1))))))


def _dyadic(rng, shape, smallest_step=4):
    """Small dyadic numbers k/2^m (|k| ≤ 8, m ≤ smallest_step): exact in every dtype, and so are
    their short sums of products."""
    steps = 2.0 ** -rng.integers(0, smallest_step + 1, size=shape)
    return rng.integers(-8, 9, size=shape) * steps


def _last_activation(rng, loss, activations):
    if loss == "softmax_cross_entropy":
        return "identity"
    if loss == "binary_cross_entropy":
        return "sigmoid"
    return activations[rng.integers(len(activations))]


def _targets(rng, loss, outputs):
    """Targets that fit the loss, near the network's float64 `outputs` or away from them."""
    batch, width = outputs.shape
    if loss == "softmax_cross_entropy":
        return np.eye(width)[rng.integers(width, size=batch)]
    if loss == "binary_cross_entropy":
        return rng.choice([0.0, 1.0, rng.random()], size=(batch, width))
    spread = max(float(np.max(np.abs(outputs))), 1e-300)
    if rng.random() < 0.3:  # near the outputs: a small, cancelling output error
        return outputs * (1 + rng.choice([1e-3, 1e-6, 2.0 ** -20]) * rng.standard_normal(
            outputs.shape))
    return spread * rng.standard_normal((batch, width))


def _set_kinks(rng, layers, inputs, activation_of, at_zero):
    """Biases of one kinked layer chosen so that a unit of a sample lies exactly at 0 (or one
    dyadic step from it); the layers below keep exact arithmetic (identity or relu)."""
    index = int(rng.integers(len(layers)))
    for below in range(index):
        layers[below] = Layer(layers[below].weights, layers[below].bias,
                              "identity" if rng.random() < 0.5 else "relu")
    layers[index] = Layer(layers[index].weights, layers[index].bias, activation_of(index))
    _, pre_activations, _ = forward(layers[:index + 1], inputs)
    z = pre_activations[index] - (0 if layers[index].bias is None else layers[index].bias)
    sample = rng.integers(len(inputs), size=z.shape[1])
    bias = -z[sample, np.arange(z.shape[1])]
    if not at_zero:
        bias = bias + rng.choice([-1, 1], size=bias.shape) * 2.0 ** -rng.integers(4, 12)
    layers[index] = Layer(layers[index].weights, bias, layers[index].activation)
    return layers


def _near_cancel(rng, layers, inputs):
    """Each layer's bias is −(x @ W) at one sample times (1 − a few ulps of float32): the sum
    keeps only its last digits."""
    for index in range(len(layers)):
        _, pre_activations, _ = forward(layers[:index + 1], inputs)
        layer = layers[index]
        z = pre_activations[index] - (0 if layer.bias is None else layer.bias)
        sample = int(rng.integers(len(inputs)))
        bias = -z[sample] * (1 - rng.choice([2.0 ** -20, 2.0 ** -10, 1e-5]))
        layers[index] = Layer(layer.weights, bias, layer.activation)
    return layers


def draw_problem(rng, flavour):
    """One Problem of `flavour` (see FLAVOURS), drawn from `rng`."""
    depth = int(min(MAX_DEPTH, rng.geometric(0.35)))
    widths = [_size(rng, MAX_WIDTH) for _ in range(depth + 1)]
    batch = _size(rng, MAX_BATCH)
    names = tuple(ACTIVATIONS)
    loss = tuple(LOSSES)[rng.integers(len(LOSSES))]
    if flavour == "kink":
        activation_of = lambda _: KINKED[rng.integers(len(KINKED))]  # noqa: E731
    elif flavour == "saturation":
        activation_of = lambda _: SATURATING[rng.integers(len(SATURATING))]  # noqa: E731
    else:
        activation_of = lambda _: names[rng.integers(len(names))]  # noqa: E731
    activations = [activation_of(i) for i in range(depth)]
    activations[-1] = _last_activation(rng, loss, activations)
    if flavour == "kink":
        input_scale, weight_scale = 1.0, 1.0
    elif flavour == "saturation":
        input_scale, weight_scale = 1.0, 10.0 ** rng.uniform(1, 2)
    elif flavour == "float16_range":
        input_scale, weight_scale = (10.0 ** rng.uniform(-5, -2), 10.0 ** rng.uniform(-2, 0)) \
            if rng.random() < 0.5 else (10.0 ** rng.uniform(1, 3), 10.0 ** rng.uniform(0, 2))
    else:
        input_scale, weight_scale = 10.0 ** rng.uniform(-3, 3, size=2)
    layers = []
    for fan_in, fan_out, activation in zip(widths, widths[1:], activations):
        if flavour == "kink":
            weights = _dyadic(rng, (fan_in, fan_out))
        else:
            weights = weight_scale * rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)
        bias = None if rng.random() < 0.25 else weight_scale * 0.1 * rng.standard_normal(fan_out)
        layers.append(Layer(weights, bias, activation))
    inputs = _dyadic(rng, (batch, widths[0])) if flavour == "kink" \
        else input_scale * rng.standard_normal((batch, widths[0]))
    with np.errstate(all="ignore"):
        if flavour == "kink":
            layers = _set_kinks(rng, layers, inputs, lambda i: activation_of(i)
                                if i < depth - 1 or loss not in ("softmax_cross_entropy",
                                                                 "binary_cross_entropy")
                                else activations[-1], at_zero=rng.random() < 0.7)
        elif flavour == "cancel":
            layers = _near_cancel(rng, layers, inputs)
        outputs = forward(layers, inputs)[1 if loss == "softmax_cross_entropy" else 2]
        if loss == "softmax_cross_entropy":
            outputs = outputs[-1]
        targets = _targets(rng, loss, np.nan_to_num(outputs, posinf=1e300, neginf=-1e300))
    learning_rate = 1.0 if rng.random() < 0.7 else float(10.0 ** rng.integers(-3, 2))
    reduction = REDUCTIONS[rng.integers(len(REDUCTIONS))]
    return Problem(tuple(layers), inputs, targets, loss, reduction, learning_rate)


def draw_case(seed, index, dtypes, backends):
    """Draw `index` of `seed` as a Case named fuzz_SEED_INDEX, run in one dtype of `dtypes`
    (float16 for the float16-range flavour when it is among them), on `backends`; a share of
    the draws train (fuzzing.trajectory)."""
    rng = np.random.default_rng([seed, index])
    flavour = FLAVOURS[rng.integers(len(FLAVOURS))]
    problem = draw_problem(rng, flavour)
    dtype = "float16" if flavour == "float16_range" and "float16" in dtypes \
        else dtypes[rng.integers(len(dtypes))]
    name = f"fuzz_{seed}_{index}"
    case = Case(name=name, path=f"<draw {index} of seed {seed}>",
                description=f"draw {index} of seed {seed} ({flavour})", problem=problem,
                expected=None, dtypes=(dtype,), backends=tuple(backends), tolerances={})
    training, learning_rate = draw_training(seed, index)
    if training is not None:
        trained = replace(case, training=training,
                          problem=replace(problem, learning_rate=learning_rate))
        case = trained if finite_trajectory(trained) else case
    return case, flavour


def usable(case):
    """Whether the float64 reference of `case` is finite, its trajectory too: a draw whose
    truth overflows says nothing about the backends (the case format refuses non-finite numbers
    too)."""
    problem = case.problem
    arrays = [problem.inputs, problem.targets] + [a for layer in problem.layers
                                                   for a in (layer.weights, layer.bias)
                                                   if a is not None]
    if not all(np.all(np.isfinite(a)) for a in arrays):
        return False
    truth = runner.reference(case)
    return bool(np.isfinite(truth.loss)) and all(
        np.all(np.isfinite(a)) for field in truth[1:] for a in field if a is not None) \
        and finite_trajectory(case)
