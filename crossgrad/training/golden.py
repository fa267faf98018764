"""Golden losses of a training case: the reference's training loop with every number an mpmath
float of 50 digits, each step's gradients from the 50-digit backprop of
crossgrad/mpmath_cross_check.py (sgd and momentum: adam's square root is not written for it).

    python -m crossgrad.training.golden cases/training/CASE.yaml   # prints expected.losses
"""
import sys
from dataclasses import replace

import numpy as np
from mpmath import mp, mpf

from crossgrad.mpmath_cross_check import evaluate
from crossgrad.problem import Gradients, Layer
from crossgrad.reference import train

DIGITS = 50


def _exact(values):
    return None if values is None else np.array(values, dtype=object)


def golden_losses(problem, training, digits=DIGITS):
    """{step: the loss after that many updates} at each recorded step, each rounded once to a
    float64 from `digits` digits."""
    if training.optimizer == "adam":
        raise ValueError("golden losses are written for sgd and momentum")
    with mp.workdps(digits):
        layers = [Layer(_exact([[mpf(v) for v in row] for row in layer.weights]),
                        None if layer.bias is None else _exact([mpf(v) for v in layer.bias]),
                        layer.activation) for layer in problem.layers]

        def gradients_of(layers, inputs, targets, loss, reduction, eta):
            current = tuple(Layer(l.weights, l.bias, l.activation) for l in layers)
            found = evaluate(replace(problem, layers=current, learning_rate=eta), digits)
            return Gradients(found.loss, None, [_exact(w) for w in found.weight_deltas],
                             [_exact(b) for b in found.bias_deltas])

        trajectory = train(layers, problem.inputs, problem.targets, problem.loss,
                           problem.reduction, problem.learning_rate, training, gradients_of)
        return {step: float(loss) for step, loss in zip(trajectory.steps, trajectory.losses)}


if __name__ == "__main__":
    from crossgrad.cases import load_case
    case = load_case(sys.argv[1])
    print("  losses: {" + ", ".join(f"{step}: {loss!r}" for step, loss in golden_losses(
        case.problem, case.training).items()) + "}")
