"""tensorflow, tinygrad and autograd train with their frameworks' own optimizers (issue 13): each
update as that framework writes it, worked by hand, and by how much it differs from the
reference's where it does (keras's ε̂ and float32 constants, tinygrad's float32 β^t)."""
import math
from dataclasses import replace

import numpy as np
import pytest

from crossgrad import adapters, runner
from crossgrad.cases import load_case
from crossgrad.problem import Layer, Problem
from crossgrad.reference import Training
from crossgrad.training import loop

FRAMEWORKS = ["tensorflow", "tinygrad", "autograd"]
W0, ETA, MU, BETAS, EPS, STEPS = 0.8, 0.3, 0.9, (0.9, 0.999), 1e-8, 6
TRAINING = __import__("pathlib").Path(__file__).resolve().parent.parent / "cases" / "training"


def _one_weight(bias=None):
    """z = x·w (+ b), identity, E = ½(y − z)² with x = 1, y = 0: E = ½(w + b)², ∂E/∂w = w + b."""
    layer = Layer(np.array([[W0]]), None if bias is None else np.array([bias]), "identity")
    return Problem((layer,), np.array([[1.0]]), np.array([[0.0]]), "half_squared_error", "mean",
                   ETA)


def _available(name):
    try:
        return adapters.load(name)
    except adapters.BackendUnavailable as missing:
        pytest.skip(str(missing))


def _f32(value):
    """A Python float rounded to float32, as tf.cast(0.9, tf.float64) and tinygrad's float32
    β^t tensors see it."""
    return float(np.float32(value))


def _adam(w, g, m, s, t, beta1_power, beta2_power, eps_hat=False):
    """(w, m, s) after Adam's update t; eps_hat: keras's W − α·m/(√s + ε), α = η·√(1 − β2^t)/(1 −
    β1^t), otherwise the reference's W − η·m̂/(√ŝ + ε)."""
    m, s = m + (g - m) * (1 - BETAS[0]), s + (g * g - s) * (1 - BETAS[1])
    if eps_hat:
        alpha = ETA * math.sqrt(1 - beta2_power) / (1 - beta1_power)
        return w - m * alpha / (math.sqrt(s) + EPS), m, s
    m_hat, s_hat = m / (1 - beta1_power), s / (1 - beta2_power)
    return w - ETA * m_hat / (math.sqrt(s_hat) + EPS), m, s


def _by_framework(backend, optimizer, steps):
    """w after 0..steps updates of _one_weight, by the framework's own formula (float64)."""
    w, v, m, s, b1_t, b2_t, found = W0, 0.0, 0.0, 0.0, 1.0, 1.0, [W0]
    for t in range(1, steps + 1):
        g = w
        if optimizer == "sgd":
            w = w - ETA * g
        elif optimizer == "momentum" and backend == "tensorflow":  # m ← m·μ − g·η, μ via tf.cast
            v = v * _f32(MU) - g * ETA
            w = w + v
        elif optimizer == "momentum" and backend == "tinygrad":  # b ← μ·b + g, W ← W − η·b
            v = MU * v + g
            w = w - v * ETA
        elif optimizer == "momentum":  # autograd: v ← mass·v − (1 − mass)·g, x ← x + (η/(1 − μ))·v
            v = MU * v - (1.0 - MU) * g
            w = w + ETA / (1.0 - MU) * v
        elif backend == "tensorflow":  # ε̂, and β1, β2 via tf.cast: float32
            w, m, s = _adam(w, g, m, s, t, _f32(BETAS[0]) ** t, _f32(BETAS[1]) ** t, True)
        elif backend == "tinygrad":  # β1^t, β2^t float32 tensors, multiplied each step
            b1_t, b2_t = float(np.float32(b1_t) * np.float32(BETAS[0])), float(
                np.float32(b2_t) * np.float32(BETAS[1]))
            w, m, s = _adam(w, g, m, s, t, b1_t, b2_t)
        else:
            w, m, s = _adam(w, g, m, s, t, BETAS[0] ** t, BETAS[1] ** t)
        found.append(w)
    return found


def _by_reference(optimizer, steps):
    """w after 0..steps updates by the reference's formulas (reference/optimizers.py)."""
    w, v, m, s, found = W0, 0.0, 0.0, 0.0, [W0]
    for t in range(1, steps + 1):
        if optimizer == "adam":
            w, m, s = _adam(w, w, m, s, t, BETAS[0] ** t, BETAS[1] ** t)
        else:
            v = (MU * v if optimizer == "momentum" else 0.0) - ETA * w
            w = w + v
        found.append(w)
    return found


# the frameworks' formulas that are not the reference's, and how far w is from the reference's
# after six updates (measured here; each well above the 1e-14 the test holds them to)
DIFFERS = {("tensorflow", "momentum"): 4.3e-8, ("tensorflow", "adam"): 1.4e-6,
           ("tinygrad", "adam"): 2.3e-6}


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("backend", FRAMEWORKS)
def test_each_optimizer_follows_its_frameworks_formula(backend, optimizer):
    """Six float64 updates of one weight: w at each step as the framework's formula gives it, to
    1e-14; where that formula is not the reference's, w is that far from the reference's."""
    training = Training(STEPS, optimizer, momentum=MU, betas=BETAS, eps=EPS,
                        record=tuple(range(STEPS + 1)))
    trajectory = _available(backend).train(_one_weight(), training, "float64")
    expected, reference = _by_framework(backend, optimizer, STEPS), _by_reference(optimizer, STEPS)
    for k, w in enumerate(expected):
        assert trajectory.weights[k][0].dtype == np.float64
        assert trajectory.weights[k][0][0, 0] == pytest.approx(w, rel=0, abs=1e-14), k
        assert trajectory.losses[k] == pytest.approx(0.5 * w * w, rel=0, abs=1e-14), k
    apart = abs(expected[-1] - reference[-1])
    if (backend, optimizer) in DIFFERS:
        assert DIFFERS[backend, optimizer] / 1.5 < apart < DIFFERS[backend, optimizer] * 1.5
    else:
        assert apart < 1e-15


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", FRAMEWORKS)
def test_a_frozen_bias_stays_bit_identical(backend, dtype):
    """update: [weights]: the bias is its initial value rounded to the dtype, bit for bit, at
    every step, while w moves by −η·(w + b) each step."""
    training = Training(4, "momentum", update=("weights",), record=(0, 1, 4))
    trajectory = _available(backend).train(_one_weight(bias=0.3), training, dtype)
    bias = np.array([0.3]).astype(dtype)
    for k in range(3):
        assert trajectory.biases[k][0].dtype == bias.dtype
        assert trajectory.biases[k][0].tobytes() == bias.tobytes(), k
    assert trajectory.weights[2][0][0, 0] != trajectory.weights[0][0][0, 0]


@pytest.mark.parametrize("backend", FRAMEWORKS)
def test_the_backend_trains_with_its_own_optimizer_not_crossgrads_loop(backend, monkeypatch):
    """Neither crossgrad's loop nor the backend's backprop is called while it trains."""
    adapter = _available(backend)

    def refuse(*_):
        raise AssertionError("crossgrad's loop or backprop called")

    monkeypatch.setattr(loop, "by_backprop", refuse)
    monkeypatch.setattr(adapter.target, "backprop", refuse)
    trajectory = adapter.train(_one_weight(), Training(3, "adam", record=(0, 3)), "float32")
    assert trajectory.weights[-1][0].dtype == np.float32


# the catalogue's declarations for these frameworks' optimizers (cases/training/*.yaml): each
# case, backend and dtype still shows them, and nothing else is outside
DECLARED = [("article_batch_adam", "tensorflow", "float64"),
            ("article_batch_adam", "tensorflow", "float32"),
            ("article_batch_momentum", "tensorflow", "float64"),
            ("article_batch_adam", "tinygrad", "float64")]


@pytest.mark.parametrize("case_name, backend, dtype", DECLARED)
def test_the_declared_optimizer_divergences_reproduce(case_name, backend, dtype):
    _available(backend)
    case = load_case(TRAINING / f"{case_name}.yaml")
    rows = runner.run(case, backend, dtype)
    assert {r.status for r in rows} == {"pass", "expected_divergence"}, [
        r.message() for r in rows if r.failed]
    assert all("keras" in r.divergence or "tinygrad" in r.divergence
               for r in rows if r.status == "expected_divergence")


@pytest.mark.parametrize("backend", FRAMEWORKS)
def test_a_run_starts_afresh_after_another_of_the_same_topology(backend):
    """tensorflow keeps one traced trainer per topology and optimizer: Adam on w₀ = 0.8, then
    on w₀ = −2, then on 0.8 again gives the first trajectory bit for bit (no moments, step
    count or parameters left over)."""
    adapter, training = _available(backend), Training(5, "adam", record=(0, 2, 5))
    first = adapter.train(_one_weight(), training, "float32")
    other = Layer(np.array([[-2.0]]), None, "identity")
    adapter.train(replace(_one_weight(), layers=(other,)), training, "float32")
    again = adapter.train(_one_weight(), training, "float32")
    assert first.losses == again.losses
    for a, b in zip(first.weights, again.weights):
        assert a[0].tobytes() == b[0].tobytes()
