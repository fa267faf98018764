"""How far a correct training run in a dtype may drift from the float64 reference's trajectory:
the error model of one step (crossgrad/error_model.py), accumulated over the updates.

A run in dtype u computes W_(k+1) = W_k + U(W_k) with each update rounded: the error obeys
e_(k+1) = (I + ∂U/∂W)·e_k + r_k, r_k the rounding of step k. Where training contracts or is
flat (∂U/∂W = −η·H with 0 ≤ η·H ≤ 2: a descent that does not overshoot), the first term does
not grow e_k, and e_k ≤ e_0 + Σ_(j<k) r_j: the bound below, per element. It is first order in
u, like the one-step model, and it is not a bound where training expands rounding (a saddle, a
step beyond 2/λ): there a correct run leaves it, and the catalogue declares that with its size.

- e_0 = |W − fl(W)|, the parameters rounded to the dtype (0 for a number it holds);
- r_k = u·(|W_k| + |U_k|) (the sum W + U rounds once, and U did) + the update's own bound:
  sgd: the error model's bound on Δw = −η·g at W_k;
  momentum: b_v ← μ·b_v + b_Δw + u·|v| (v sums the deltas);
  adam: b_m ← β1·b_m + (1 − β1)·b_g + u·|m|, b_s ← β2·b_s + (1 − β2)·2|g|·b_g + 2u·s, and
  b_U = η·b_m̂/(√ŝ + ε) + |U|·(½·b_ŝ/ŝ + 4u), m̂ = m/(1 − β1^t) and so on;
- the loss at step k: the one-step model's bound at W_k, plus Σ |∂E/∂W|·e_k over every
  parameter (first order).
"""
from dataclasses import replace

import numpy as np

from crossgrad.dtypes import numpy_dtype, unit_roundoff
from crossgrad.error_model import rounding_bounds
from crossgrad.problem import Layer
from crossgrad.reference import backprop, train


def _rounded_away(values, dtype):
    """|x − fl(x)|: what casting to `dtype` moves each number."""
    return np.abs(values - values.astype(numpy_dtype(dtype)).astype(np.float64))


class _Accumulator:
    """The running bounds of one parameter: e (the parameter's), and the optimizer state's."""

    def __init__(self, value, dtype):
        self.error = _rounded_away(value, dtype)
        self.velocity = self.moment = self.square = self.m_bound = self.s_bound = 0.0

    def step(self, training, u, learning_rate, parameter, delta, delta_bound, t):
        """Add step t's rounding; `delta` and `delta_bound` are −g·η (−g for adam) and its
        bound."""
        if training.optimizer == "sgd":
            update, bound = delta, delta_bound
        elif training.optimizer == "momentum":
            self.velocity = training.momentum * self.velocity + delta
            self.m_bound = training.momentum * self.m_bound + delta_bound + u * np.abs(
                self.velocity)
            update, bound = self.velocity, self.m_bound
        else:
            update, bound = self._adam(training, u, learning_rate, -delta, delta_bound, t)
        self.error = self.error + u * (np.abs(parameter) + np.abs(update)) + bound

    def _adam(self, training, u, learning_rate, g, g_bound, t):
        (beta1, beta2), eps = training.betas, training.eps
        self.moment = beta1 * self.moment + (1 - beta1) * g
        self.square = beta2 * self.square + (1 - beta2) * g * g
        self.m_bound = beta1 * self.m_bound + (1 - beta1) * g_bound + u * np.abs(self.moment)
        self.s_bound = (beta2 * self.s_bound + (1 - beta2) * 2 * np.abs(g) * g_bound
                        + 2 * u * self.square)
        m_hat, s_hat = self.moment / (1 - beta1 ** t), self.square / (1 - beta2 ** t)
        m_bound, s_bound = self.m_bound / (1 - beta1 ** t), self.s_bound / (1 - beta2 ** t)
        denominator = np.sqrt(s_hat) + eps
        update = -learning_rate * m_hat / denominator
        relative_s = np.divide(s_bound, s_hat, out=np.zeros_like(s_hat), where=s_hat > 0)
        bound = learning_rate * m_bound / denominator + np.abs(update) * (0.5 * relative_s + 4 * u)
        return update, bound


def drift_bounds(problem, training, dtype):
    """Per recorded step: (loss bound, [weights' bounds], [biases' bounds or None]) for a run in
    `dtype`, and the float64 reference's Trajectory, from one pass of the reference."""
    u, parts = unit_roundoff(dtype), ("weights", "biases")
    accumulators = {(l, part): _Accumulator(getattr(layer, "weights" if part == "weights"
                                                    else "bias"), dtype)
                    for l, layer in enumerate(problem.layers) for part in parts
                    if (layer.bias is not None or part == "weights")}
    found, record, t = [], set(training.record), [0]

    def gradients_of(layers, inputs, targets, loss, reduction, eta):
        current = replace(problem, layers=tuple(Layer(l.weights, l.bias, l.activation)
                                                for l in layers), learning_rate=eta)
        gradients = backprop(layers, inputs, targets, loss, reduction, eta)
        bounds = rounding_bounds(current, dtype)
        if t[0] in record:
            loss_bound = bounds.loss + sum(
                float(np.sum(np.abs(delta) * accumulators[l, part].error)) / eta
                for (l, part) in accumulators
                for delta in [(gradients.weight_deltas if part == "weights"
                               else gradients.bias_deltas)[l]])
            found.append((loss_bound, [accumulators[l, "weights"].error for l in range(len(layers))],
                          [accumulators[l, "biases"].error if (l, "biases") in accumulators
                           else None for l in range(len(layers))]))
        t[0] += 1
        if t[0] <= training.steps:
            for (l, part), accumulator in accumulators.items():
                if part not in training.update:
                    continue
                name = "weight_deltas" if part == "weights" else "bias_deltas"
                accumulator.step(training, u, problem.learning_rate,
                                 getattr(layers[l], "weights" if part == "weights" else "bias"),
                                 getattr(gradients, name)[l], getattr(bounds, name)[l], t[0])
        return gradients

    with np.errstate(all="ignore"):
        reference = train(problem.layers, problem.inputs, problem.targets, problem.loss,
                          problem.reduction, problem.learning_rate, training, gradients_of)
    return found, reference
