"""Training trajectories (issue 13): each optimizer against its formula run in plain Python,
on every backend (its own optimizers) and on a plug-in trained by crossgrad's loop."""
import math

import numpy as np
import pytest

from crossgrad import adapters
from crossgrad.problem import Layer, Problem
from crossgrad.reference import Training
from crossgrad.training import loop

W0, ETA, STEPS = 0.8, 0.3, 6


def _one_weight(bias=None):
    """z = x·w (+ b), identity, E = ½(y − z)² with x = 1, y = 0: E = ½(w + b)², ∂E/∂w = w + b."""
    layer = Layer(np.array([[W0]]), None if bias is None else np.array([bias]), "identity")
    return Problem((layer,), np.array([[1.0]]), np.array([[0.0]]), "half_squared_error", "mean",
                   ETA)


def _by_hand(optimizer, steps, bias=0.0):
    """w after 0..steps updates and E at each, from the formulas in plain Python."""
    w, v, m, s, found = W0, 0.0, 0.0, 0.0, []
    for t in range(steps + 1):
        g = w + bias
        found.append((w, 0.5 * g * g))
        if optimizer == "sgd":
            w = w - ETA * g
        elif optimizer == "momentum":  # v ← μ·v − η·g, w ← w + v
            v = 0.9 * v - ETA * g
            w = w + v
        else:  # adam, ε outside the root
            m, s = 0.9 * m + 0.1 * g, 0.999 * s + 0.001 * g * g
            m_hat, s_hat = m / (1 - 0.9 ** (t + 1)), s / (1 - 0.999 ** (t + 1))
            w = w - ETA * m_hat / (math.sqrt(s_hat) + 1e-8)
    return found


def _available(name):
    try:
        return adapters.load(name)
    except adapters.BackendUnavailable as missing:
        pytest.skip(str(missing))


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_each_optimizer_follows_its_formula(backend, optimizer):
    """Six updates of one weight: w and E at each step as the formula gives them (float64), to
    1e-14 (about 90 ulps of w₀ = 0.8: the frameworks write momentum as b ← μ·b + g, W ← W − η·b
    and round differently; adam's ε inside the root, or at ε̂, would be off by some 1e-9)."""
    training = Training(STEPS, optimizer, record=tuple(range(STEPS + 1)))
    trajectory = _available(backend).train(_one_weight(), training, "float64")
    expected = _by_hand(optimizer, STEPS)
    assert trajectory.steps == tuple(range(STEPS + 1))
    for k, (w, loss) in enumerate(expected):
        assert trajectory.weights[k][0].dtype == np.float64
        assert trajectory.weights[k][0][0, 0] == pytest.approx(w, rel=0, abs=1e-14), k
        assert trajectory.losses[k] == pytest.approx(loss, rel=0, abs=1e-14), k
    # the steps really moved w: sgd halves nothing, w_1 = w_0·(1 − η) = 0.56
    assert expected[1][0] != W0 and trajectory.weights[1][0][0, 0] != W0


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_a_frozen_bias_stays_and_the_weight_follows_its_gradient(backend):
    """update: [weights]: b stays 0.5, and w moves by −η·(w + b) each step."""
    training = Training(3, "sgd", update=("weights",), record=(0, 1, 3))
    trajectory = _available(backend).train(_one_weight(bias=0.5), training, "float64")
    expected = _by_hand("sgd", 3, bias=0.5)
    for k, step in enumerate((0, 1, 3)):
        assert trajectory.biases[k][0][0] == 0.5
        assert trajectory.weights[k][0][0, 0] == pytest.approx(expected[step][0], rel=1e-14)


class BackpropOnly:
    """A plug-in with backprop and no optimizer: the numpy reference's backprop, counted."""

    calls = 0

    def backprop(self, problem, dtype):
        BackpropOnly.calls += 1
        return adapters.load("numpy").backprop(problem, dtype)


def test_a_backend_without_train_is_trained_by_crossgrads_loop_over_its_backprop():
    """One backprop per step (the last for its loss), and the reference's updates in float32."""
    adapters.register("backprop_only", BackpropOnly())
    try:
        backend = adapters.load("backprop_only")
        BackpropOnly.calls = 0
        training = Training(STEPS, "momentum", record=(0, 2, STEPS))
        trajectory = backend.train(_one_weight(), training, "float32")
    finally:
        adapters._MODULES.pop("backprop_only")
        adapters._loaded.pop("backprop_only", None)
    assert BackpropOnly.calls == STEPS + 1
    expected = _by_hand("momentum", STEPS)
    assert trajectory.weights[-1][0].dtype == np.float32
    assert trajectory.weights[-1][0][0, 0] == pytest.approx(expected[STEPS][0], rel=1e-6)


def test_a_trajectory_missing_a_step_is_one_line_naming_the_backend():
    class Wrong:
        def backprop(self, problem, dtype):
            raise AssertionError("not called")

        def train(self, problem, training, dtype):
            return adapters.load("numpy").train(problem, Training(2, record=(0, 2)), dtype)

    with pytest.raises(adapters.BackendError, match=r"^backend wrong: train recorded steps "
                                                    r"\[0, 2\], expected \[0, 1, 2\]$"):
        loop.train(adapters.Backend("wrong", Wrong()), _one_weight(),
                   Training(2, record=(0, 1, 2)), "float64")
