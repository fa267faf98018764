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


# --- comparison: each recorded step against the float64 reference trajectory -----------------

from dataclasses import replace  # noqa: E402

from crossgrad import runner  # noqa: E402
from crossgrad.cases import Case  # noqa: E402
from crossgrad.reference import train as reference_train  # noqa: E402
from crossgrad.tolerances import TOLERANCES  # noqa: E402
from crossgrad.training.rows import _step_rows, reference_trajectory  # noqa: E402

RECORD = (0, 1, 10, 20, 50, 100)


def _case(backends=("numpy",), training=Training(100, "sgd", record=RECORD)):
    """The lesson's 3-2-1 network, with a bias in its hidden layer, trained 100 sgd steps."""
    hidden = Layer(np.array([[0.5, -0.6], [0.1, -0.2], [0.1, 0.7]]), np.array([0.1, -0.1]),
                   "sigmoid")
    output = Layer(np.array([[0.1], [-0.3]]), None, "sigmoid")
    problem = Problem((hidden, output), np.array([[0.5, 0.1, -0.2], [0.3, -0.4, 0.9]]),
                      np.array([[0.6], [0.2]]), "half_squared_error", "mean", 0.5)
    return Case("planted", "<test>", "a 3-2-1 network trained", problem, None,
                ("float64", "float32"), backends, {}, training=training)


class DoublesAfter50:
    """A backend whose training doubles every update from the 51st on (a planted slip)."""

    def backprop(self, problem, dtype):
        return adapters.load("numpy").backprop(problem, dtype)

    def train(self, problem, training, dtype):
        calls = []

        def gradients_of(layers, *arguments):
            from crossgrad.reference import backprop
            gradients = backprop(layers, *arguments)
            calls.append(1)
            factor = 2.0 if len(calls) > 50 else 1.0
            return gradients._replace(
                weight_deltas=[factor * d for d in gradients.weight_deltas],
                bias_deltas=[None if d is None else factor * d for d in gradients.bias_deltas])

        cast = np.dtype(dtype)
        layers = [Layer(l.weights.astype(cast), None if l.bias is None else l.bias.astype(cast),
                        l.activation) for l in problem.layers]
        return reference_train(layers, problem.inputs.astype(cast), problem.targets.astype(cast),
                               problem.loss, problem.reduction, problem.learning_rate, training,
                               gradients_of)


def test_a_slip_from_step_51_fails_first_at_the_next_recorded_step_and_says_so():
    """Rows pass up to step 50, fail from step 100; the message starts with that step."""
    from crossgrad.pytest_checks import assert_agrees
    adapters.register("doubles", DoublesAfter50())
    try:
        case = replace(_case(), backends=("doubles",))
        rows = runner.run(case, "doubles", "float64")
        with pytest.raises(pytest.fail.Exception) as failed:
            assert_agrees(rows, 2)
    finally:
        adapters._MODULES.pop("doubles")
        adapters._loaded.pop("doubles", None)
    stepped = [r for r in rows if r.step is not None]
    assert {r.status for r in stepped if r.step <= 50} == {"pass"}
    assert {r.status for r in stepped if r.step == 100} == {"fail"}
    assert {r.first_divergent_step for r in stepped} == {100}
    message = str(failed.value)
    assert message.startswith("first step outside its tolerance: step 100")
    assert "planted · doubles · float64 · step 100 · layer 0 · weights vs reference: not close" \
        in message


def test_an_element_moved_by_one_and_a_half_allowances_fails_there():
    """numpy float32 against float64 passes; the same run with one element of step 20 moved by
    1.5 times its allowance (the table's rtol and atol·scale plus K·bound) fails at it."""
    case = _case()
    rows = runner.run(case, "numpy", "float32")
    assert {r.status for r in rows} == {"pass"}
    bounds, reference = reference_trajectory(case, "float32")
    trajectory = adapters.load("numpy").train(case.problem, case.training, "float32")
    k, expected = RECORD.index(20), reference.weights[RECORD.index(20)][0]
    allowed = 2 * bounds[k][1][0][0, 0] + 1e-4 * abs(expected[0, 0]) + 1e-5 * np.max(
        np.abs(expected))
    trajectory.weights[k][0][0, 0] = np.float32(expected[0, 0] + 1.5 * allowed)
    identity = dict(case="planted", backend="numpy", dtype="float32", device="cpu",
                    compared_to="reference", step=20)
    found = [row for row, _ in _step_rows(trajectory, k, reference, TOLERANCES["float32"],
                                          bounds[k], identity)]
    layer_0 = next(r for r in found if r.quantity == "weights" and r.layer == 0)
    assert layer_0.status == "fail" and layer_0.worst_index == "(0, 0)"
    assert {r.status for r in found if r is not layer_0} == {"pass"}


def test_every_backend_follows_the_reference_trajectory_within_its_bound():
    """torch and jax, float64 and float32, 100 sgd steps with a hidden bias: every row passes,
    and the float32 runs drift (rel_l2 of the weights at step 100 above 1e-8) while float64
    stays below 1e-13."""
    case = _case(("numpy", "torch", "jax"))
    for backend in ("torch", "jax"):
        _available(backend)
        for dtype, low, high in (("float64", 0, 1e-13), ("float32", 1e-8, 1e-4)):
            rows = runner.run(case, backend, dtype)
            assert {r.status for r in rows} == {"pass"}, [r.message() for r in rows if r.failed]
            last = max(r.rel_l2 for r in rows if r.step == 100 and r.quantity == "weights")
            assert low <= last < high, (backend, dtype, last)


def test_single_step_rows_have_no_step_and_the_csv_leaves_it_empty(tmp_path):
    from crossgrad import report
    case = _case()
    rows = runner.run(case, "numpy", "float32")
    paths = report.write(rows, tmp_path, cases=[case])
    import pandas as pd
    frame = pd.read_csv(tmp_path / "agreement.csv")
    single = frame[frame["quantity"].isin(["error_term", "weight_delta"])]
    assert single["step"].isna().all() and len(single) == 4
    stepped = frame[frame["quantity"].isin(["weights", "biases"])]
    assert sorted(set(stepped["step"].astype(int))) == list(RECORD)
    assert set(stepped["quantity"]) == {"weights", "biases"}
    assert tmp_path / "drift_planted.png" in paths
    assert (tmp_path / "drift_planted.png").read_bytes().startswith(b"\x89PNG")
    assert "<h2>Trajectories</h2>" in (tmp_path / "agreement.html").read_text()


# --- the catalogue's training cases say what they show ----------------------------------------

from crossgrad.cases import load_case  # noqa: E402

TRAINING = __import__("pathlib").Path(__file__).resolve().parent.parent / "cases" / "training"


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_float16_stalls_where_float64_learns(backend):
    """float16_stall: every float16 weight update is below half an ulp, so the float16 weights
    after 200 steps are the initial ones rounded to float16, bit for bit (the biases, near 0.1,
    still learn); float64's weights moved by > 2e-3."""
    case = load_case(TRAINING / "float16_stall.yaml")
    run = _available(backend).train(case.problem, case.training, "float16")
    initial = case.problem.layers[0].weights.astype(np.float16)
    assert np.array_equal(run.weights[-1][0], initial)
    assert not np.array_equal(run.biases[-1][0], run.biases[0][0])
    learnt = adapters.load("numpy").train(case.problem, case.training, "float64")
    assert np.max(np.abs(learnt.weights[-1][0] - case.problem.layers[0].weights)) > 2e-3


def test_the_deep_sigmoid_stacks_first_layer_barely_moves():
    """deep_sigmoid_stack: after 300 steps layer 0's weights moved by under 1 % of what the last
    layer's did, relative to their size (measured 0.03 %)."""
    case = load_case(TRAINING / "deep_sigmoid_stack.yaml")
    run = adapters.load("numpy").train(case.problem, case.training, "float64")

    def moved(layer):
        start = case.problem.layers[layer].weights
        return np.linalg.norm(run.weights[-1][layer] - start) / np.linalg.norm(start)

    assert moved(0) < 0.01 * moved(len(case.problem.layers) - 1)
    assert moved(0) > 0  # it moves, a little


def test_every_training_case_has_golden_losses_or_says_why_not():
    """The cases small enough for the 50-digit loop carry its losses; adam (no mpmath root in the
    loop), the deep stack and the expanding case do not."""
    without = {"article_batch_adam", "deep_sigmoid_stack", "float32_edge_of_stability"}
    for path in sorted(TRAINING.glob("*.yaml")):
        case = load_case(path)
        assert case.training is not None
        assert bool(case.expected and case.expected.losses) == (case.name not in without), path


def test_golden_losses_are_the_50_digit_loop():
    """The first golden losses of seed_3_2_1_sgd_1000 again from crossgrad.training.golden,
    and E at step 0 by hand: ½(0.6 − σ(0.1·σ(0.24) − 0.3·σ(−0.46)))²."""
    from crossgrad.training.golden import golden_losses
    case = load_case(TRAINING / "seed_3_2_1_sgd_1000.yaml")
    found = golden_losses(case.problem, Training(2, record=(0, 1, 2)))
    assert found == {step: loss for step, loss in case.expected.losses if step <= 2}

    def sigmoid(x):
        return 1 / (1 + math.exp(-x))

    by_hand = 0.5 * (0.6 - sigmoid(0.1 * sigmoid(0.24) - 0.3 * sigmoid(-0.46))) ** 2
    assert found[0] == pytest.approx(by_hand, rel=1e-14)
