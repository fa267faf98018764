"""Ground truth: the forward pass and backprop in ball arithmetic (python-flint's arb), proven.

Every number is a ball, a midpoint and a radius that FLINT/Arb carries through each operation,
so the true value of each error term, delta and the loss is proven to lie inside its ball. The
inputs, weights, biases, targets and learning rate are float64, hence exact balls. It shares no
code with the reference or the adapters: its own formulas (crossgrad/balls.py), and no
floating-point arithmetic until each midpoint is rounded once to float64 at the end.

Precision starts at START_BITS and doubles until every ball is certain (see `certain`), up to
MAX_BITS. Where a relu, leaky_relu or elu pre-activation ball holds 0 without being exactly 0
(which side of the kink it is on is unknown), the elements it leaves uncertain at MAX_BITS are
reported as kinked, NaN in the float64 result, rather than given a made-up derivative.
"""
import math
import threading
from typing import NamedTuple

import numpy as np
from flint import arb, arb_mat, ctx

from crossgrad import balls
from crossgrad.reference import Gradients

START_BITS = 128
MAX_BITS = 2048
CERTAIN_BITS = 60  # a certain ball's radius is below 2⁻⁶⁰ of every value it holds
# arb_mat products are C: a case is evaluated up to this many multiply-adds (forward + backward)
MAX_OPERATIONS = 50_000_000
_HALF_SUBNORMAL = arb(2) ** -1075  # a ball inside ±this rounds to ±0 in float64
# flint's working precision is one setting per process: one evaluation at a time sets it
_PRECISION = threading.Lock()


class Truth(NamedTuple):
    """The proven gradients, each midpoint rounded once to float64 and NaN where a kink leaves
    the element unknown; the bits that proved them; the pre-activations whose balls straddle a
    kink, as (layer, sample, unit)."""

    gradients: Gradients
    bits: int
    kinks: tuple


class Uncertain(ValueError):
    """Some element's ball is still too wide at MAX_BITS, and no kink explains it."""


def operations(problem):
    """Multiply-adds of one forward and backward pass: what MAX_OPERATIONS bounds."""
    return 3 * len(problem.inputs) * sum(l.fan_in * l.fan_out for l in problem.layers)


def _matrix(array):
    # float64 → arb is exact, at any precision
    return arb_mat(np.atleast_2d(np.asarray(array, dtype=np.float64)).tolist())


def _elementwise(function, *matrices):
    first = matrices[0]
    return arb_mat(first.nrows(), first.ncols(),
                   [function(*values) for values in zip(*(m.entries() for m in matrices))])


def balls_of(problem, bits):
    """The Gradients of `problem` as balls at `bits` bits (arb_mat per layer, the loss an arb),
    and the kinked pre-activations as (layer, sample, unit)."""
    with _PRECISION, ctx.workprec(bits):
        batch = len(problem.inputs)
        ones = _matrix(np.ones((batch, 1)))
        factor = arb(1) / batch if problem.reduction == "mean" else arb(1)
        rate = arb(float(problem.learning_rate))
        # forward: z_l = x_l·W_l (+ 1·b_l), a_l = f_l(z_l), x_(l+1) = a_l
        xs, zs, x = [], [], _matrix(problem.inputs)
        for layer in problem.layers:
            z = x * _matrix(layer.weights)
            if layer.bias is not None:
                z += ones * _matrix(layer.bias)
            xs.append(x)
            zs.append(z)
            x = _elementwise(balls.ACTIVATIONS[layer.activation][0], z)
        kinks = tuple((l, i // zs[l].ncols(), i % zs[l].ncols())
                      for l, layer in enumerate(problem.layers) if layer.activation in balls.KINKED
                      for i, z in enumerate(zs[l].entries()) if balls.straddles_kink(z))
        loss, output_error = _loss(problem, zs[-1], x)
        # δ_L = −∂E/∂z_L = factor·(−∂E_b/∂a_L)·f_L'(z_L), or factor·(−∂E_b/∂z_L) from logits
        last = problem.layers[-1].activation
        if _from_logits(problem):
            prime = balls.identity_prime
        else:
            prime = balls.ACTIVATIONS[last][1]
        error_terms = [_elementwise(lambda e, z: factor * e * prime(z), output_error, zs[-1])]
        for l in range(len(problem.layers) - 2, -1, -1):
            # δ_l = (δ_(l+1)·W_(l+1)ᵀ) ⊙ f_l'(z_l)
            carried = error_terms[0] * _matrix(problem.layers[l + 1].weights).transpose()
            prime = balls.ACTIVATIONS[problem.layers[l].activation][1]
            error_terms.insert(0, _elementwise(lambda c, z: c * prime(z), carried, zs[l]))
        # Δw_l = η·x_lᵀ·δ_l; Δb_l = η·Σ_b δ_l = η·1ᵀ·δ_l
        weight_deltas = [(x.transpose() * d) * rate for x, d in zip(xs, error_terms)]
        bias_deltas = [None if layer.bias is None else (ones.transpose() * d) * rate
                       for layer, d in zip(problem.layers, error_terms)]
        return Gradients(factor * loss, error_terms, weight_deltas, bias_deltas), kinks


def _from_logits(problem):
    # softmax_cross_entropy is given the logits z (its last layer is identity), and binary
    # cross-entropy on a sigmoid output is taken from the logits too, as the reference does
    return problem.loss == "softmax_cross_entropy" or (
        problem.loss == "binary_cross_entropy" and problem.layers[-1].activation == "sigmoid")


def _loss(problem, logits, outputs):
    """Σ_b E_b, and −∂E_b/∂a (−∂E_b/∂z from logits) as a batch × units arb_mat."""
    if problem.loss == "binary_cross_entropy" and _from_logits(problem):
        per_sample, prediction = balls.binary_cross_entropy_of_logits, logits
    else:
        per_sample = balls.LOSSES[problem.loss]
        prediction = logits if problem.loss == "softmax_cross_entropy" else outputs
    targets, units = _matrix(problem.targets), prediction.ncols()
    total, errors = arb(0), []
    for b in range(prediction.nrows()):
        value, error = per_sample([targets[b, k] for k in range(units)],
                                  [prediction[b, k] for k in range(units)])
        total += value
        errors += error
    return total, arb_mat(prediction.nrows(), units, errors)


def certain(ball):
    """Whether a ball pins its float64 down: its radius below 2⁻⁶¹ of its midpoint (arb's
    relative accuracy counts in whole bits, conservatively), hence below 2⁻⁶⁰ of every value in
    it, which excludes 0; exact (0 included); or inside ±2⁻¹⁰⁷⁵, where every value rounds to ±0."""
    return ball.rel_accuracy_bits() > CERTAIN_BITS or ball.abs_upper() < _HALF_SUBNORMAL


def _rounded(matrix):
    """The float64 array of the midpoints, NaN where a ball is not certain. float() of an arb
    rounds its midpoint to the nearest float64, ties to even (tests/test_ground_truth.py)."""
    values = [float(v) if certain(v) else math.nan for v in matrix.entries()]
    return np.array(values, dtype=np.float64).reshape(matrix.nrows(), matrix.ncols())


def _rounded_gradients(found):
    return Gradients(float(found.loss) if certain(found.loss) else math.nan,
                     [_rounded(m) for m in found.error_terms],
                     [_rounded(m) for m in found.weight_deltas],
                     [None if m is None else _rounded(m)[0] for m in found.bias_deltas])


def _uncertain(gradients):
    return math.isnan(gradients.loss) or any(
        np.isnan(a).any() for field in gradients[1:] for a in field if a is not None)


def ground_truth(problem):
    """The problem's proven gradients: a Truth.

    Raises Uncertain when some ball is still too wide at MAX_BITS and no pre-activation ball
    straddles a kink (not seen on any catalogue case), or when the loss's is.
    """
    bits = START_BITS
    while True:
        found, kinks = balls_of(problem, bits)
        gradients = _rounded_gradients(found)
        if not _uncertain(gradients) or bits >= MAX_BITS:
            break
        bits *= 2
    if math.isnan(gradients.loss) or (_uncertain(gradients) and not kinks):
        raise Uncertain(f"ground truth not proven to {CERTAIN_BITS} bits at {MAX_BITS} bits "
                        "of precision, and no kink explains it")
    return Truth(gradients, bits, kinks)
