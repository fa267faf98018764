"""The referees catch planted errors and stay quiet at kinks (the ground truth's own tests,
the bound on the reference among them, are in test_ground_truth.py)."""
import sys
import types

import numpy as np
import pytest

from crossgrad import adapters, referees, runner
from crossgrad.cases import load_case
from crossgrad.finite_difference import full, random_directions, directional_from_gradients
from crossgrad.problem import Gradients
from crossgrad.reference import backprop as reference_backprop
from crossgrad.tolerances import tolerance_for

from test_diagnose import KINK_CASE, SEED

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


def write_case(tmp_path, text, name="case"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return load_case(path)


def planted_adapter(monkeypatch, plant):
    """Register backend 'torch' as a module whose reverse mode is the reference with `plant`
    applied to its Gradients, and whose forward mode is the true ⟨v, ∇E⟩."""
    module = types.ModuleType("crossgrad_planted")
    module.DEVICE, module.UNSUPPORTED_DTYPES = "cpu", {}
    module.version = lambda: "planted"

    def true_gradients(problem, dtype):
        with np.errstate(all="ignore"):
            return reference_backprop(problem.layers, problem.inputs, problem.targets,
                                      problem.loss, problem.reduction, problem.learning_rate)

    module.backprop = lambda problem, dtype: plant(true_gradients(problem, dtype), problem)

    def directional_derivatives(problem, dtype, directions):
        truth = true_gradients(problem, dtype)
        rate = problem.learning_rate
        return directional_from_gradients(
            directions, [-d / rate for d in truth.weight_deltas],
            [None if d is None else -d / rate for d in truth.bias_deltas])

    module.directional_derivatives = directional_derivatives
    monkeypatch.setitem(sys.modules, "crossgrad_planted", module)
    monkeypatch.setitem(adapters._MODULES, "torch", "crossgrad_planted")


def sign_error(gradients, problem):
    """Layer 0's weight delta with the wrong sign."""
    weights = list(gradients.weight_deltas)
    weights[0] = -weights[0]
    return gradients._replace(weight_deltas=weights)


def missing_factor(gradients, problem):
    """Every delta without the 1/B of a mean reduction (multiplied back by B)."""
    batch = len(problem.inputs)
    return Gradients(gradients.loss, gradients.error_terms,
                     [batch * d for d in gradients.weight_deltas],
                     [None if d is None else batch * d for d in gradients.bias_deltas])


BATCH_CASE = SEED.replace("inputs: [[0.5, 0.1, -0.2]]\ntargets: [[0.6]]",
                          "inputs: [[0.5, 0.1, -0.2], [0.3, -0.4, 0.8]]\ntargets: [[0.6], [0.1]]")


@pytest.mark.parametrize("plant", [sign_error, missing_factor])
@pytest.mark.parametrize("referee, compared_to", [("fd", "finite_difference"),
                                                  ("truth", "ground_truth"),
                                                  ("fwd", "forward_mode")])
def test_each_referee_catches_a_planted_error(tmp_path, monkeypatch, plant, referee, compared_to):
    """A sign error in layer 0, or a missing 1/B, fails the referee's rows (float64)."""
    planted_adapter(monkeypatch, plant)
    rows = runner.run(write_case(tmp_path, BATCH_CASE), "torch", "float64", (referee,))
    refereed = [r for r in rows if r.compared_to == compared_to]
    assert refereed, f"no {compared_to} rows"
    failed = [r for r in refereed if r.failed]
    assert failed, f"{compared_to} missed {plant.__name__}"
    assert all(r.label == "mismatch" for r in failed)
    if referee != "fwd":  # per layer: the sign error is in layer 0's weight delta only
        names = {(r.quantity, r.layer) for r in failed}
        expected = {("weight_delta", 0)} if plant is sign_error else {("weight_delta", 0),
                                                                      ("weight_delta", 1)}
        assert names == expected


def test_honest_backend_passes_every_referee(tmp_path, monkeypatch):
    """The same planted module without a plant: nothing fails."""
    planted_adapter(monkeypatch, lambda gradients, problem: gradients)
    rows = runner.run(write_case(tmp_path, BATCH_CASE), "torch", "float64", ("fd", "truth", "fwd"))
    assert not [r.message() for r in rows if r.failed]
    assert {r.compared_to for r in rows} == {"reference", "finite_difference", "ground_truth",
                                            "forward_mode"}


def test_finite_differences_across_a_kink_are_labelled_not_failed(tmp_path):
    """Layer 2's leaky_relu unit 1 sits exactly at 0: the differences that move it are marked,
    and the rows that contain them are labelled kink and pass."""
    case = write_case(tmp_path, KINK_CASE)
    result = full(case.problem)
    # z2_1 = x2 @ W2[:, 1] moves with every W2[i, 1] (x2 = (0.625, 0.625, −0.0625), no zero)
    # and with the weights below that change x2_0 − x2_1; not with W2[:, 0] or with layer 3
    assert result.weight_kinked[2][:, 1].all()
    assert not result.weight_kinked[2][:, 0].any()
    assert not result.weight_kinked[3].any()
    rows = runner.run(case, "numpy", "float64", ("fd",))
    kinked = [r for r in rows if r.compared_to == "finite_difference" and r.label == "kink"]
    assert {r.layer for r in kinked} == {0, 1, 2}
    assert all(r.status == "pass" for r in kinked)
    assert all("crossed a kink and were not compared" in r.note for r in kinked)


def test_finite_difference_at_the_kink_would_have_failed(tmp_path):
    """Without the mask, the central difference across z = 0 is the average of the two slopes,
    far from the reference's one-sided 0.01: the label is protecting a real false alarm."""
    case = write_case(tmp_path, KINK_CASE)
    result = full(case.problem)
    fd_gradient = result.weight_gradients[2][0, 1]
    reference = -reference_backprop(case.problem.layers, case.problem.inputs,
                                    case.problem.targets, "half_squared_error", "mean",
                                    0.5).weight_deltas[2][0, 1] / 0.5
    assert abs(fd_gradient - reference) > 0.1 * abs(reference)


@pytest.mark.parametrize("weight, target, expected", [
    # z = w·x with x = 1: E = softplus(z) for y = 0, softplus(−z) for y = 1, so
    # dE/dw = σ(z)·x − y·x = −σ(−40) = −4.248354255291589e-18 at z = 40, y = 1 (where σ(40)
    # rounds to 1, and −log σ(z) from the probability is 0 on both sides of the difference),
    # and σ(−3000) = 0 at z = −3000, y = 0 (where log σ(z) is −inf and 0·log σ(z) NaN)
    (40.0, 1.0, -4.248354255291589e-18),
    (-3000.0, 0.0, 0.0),
])
def test_finite_differences_take_binary_cross_entropy_from_the_logits(tmp_path, weight, target,
                                                                       expected):
    """As backprop does: from the probability the loss is flat or NaN where σ saturates."""
    case = write_case(tmp_path, f"""
description: a saturated sigmoid under binary cross-entropy
network: {{layers: [{{weights: [[{weight}]], activation: sigmoid}}]}}
inputs: [[1.0]]
targets: [[{target}]]
loss: binary_cross_entropy
reduction: sum
""")
    gradient = full(case.problem).weight_gradients[0][0, 0]
    assert gradient == pytest.approx(expected, rel=1e-6, abs=0)


def test_directions_are_seeded_and_unit_length(tmp_path):
    """The same seed gives the same directions; each has length 1 over all parameters."""
    problem = write_case(tmp_path, SEED).problem
    first, again = random_directions(problem, 3, 7), random_directions(problem, 3, 7)
    for a, b in zip(first, again):
        for (wa, ba), (wb, bb) in zip(a, b):
            np.testing.assert_array_equal(wa, wb)
        assert sum(np.sum(w**2) for w, _ in a) == pytest.approx(1.0, rel=1e-14)


@pytest.mark.parametrize("backend", [pytest.param(b, marks=getattr(pytest.mark, b))
                                     for b in ("torch", "jax")])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_framework_forward_mode_agrees_with_its_reverse_mode(tmp_path, backend, dtype):
    """torch.func.jvp and jax.jvp against ⟨v, backprop gradient⟩ on a batch case with biases."""
    pytest.importorskip(backend)
    case = write_case(tmp_path, ROOT.joinpath("cases", "seed_3_2_1.yaml").read_text()
                      .split("expected:")[0].replace("activation: sigmoid\ninputs",
                                                     "bias: [0.1]\n      activation: sigmoid\ninputs"))
    rows = [r for r in runner.run(case, backend, dtype, ("fwd",)) if r.compared_to == "forward_mode"]
    assert len(rows) == 1 and rows[0].size == 3
    assert rows[0].status == "pass", rows[0].message()
    assert rows[0].max_ulp <= 8


def test_finite_differences_allow_a_delta_its_own_rounding(tmp_path):
    """A float16 delta of 2⁻²⁶ underflows to 0: rounding, which the error model bounds against
    the reference and, since the bound travels with the delta, against the differences too."""
    case = load_case("cases/vanishing/sigmoid_chain_float16_underflow.yaml")
    rows = [r for r in runner.run(case, "numpy", "float16", ("fd",))
            if r.compared_to == "finite_difference" and r.layer == 0]
    assert rows and all(r.status == "pass" for r in rows)
    assert all(r.max_rel_diff == 1.0 for r in rows)  # the delta is 0, the difference is not
    without = referees.finite_difference_rows(
        case, adapters.load("numpy").backprop(case.problem, "float16"),
        tolerance_for("float16", case.tolerances), dict(
            case=case.name, backend="numpy", dtype="float16", device="cpu"),
        runner.reference(case).loss)
    assert any(r.status == "fail" for r in without if r.layer == 0)


def test_a_declaration_about_a_referee_is_judged_only_when_it_runs():
    """gelu_tail_18 declares the differences' own truncation error for numpy: without the fd
    referee (as pytest's catalogue runs) nothing can reproduce it, and nothing fails for that;
    with it, the rows it matches are expected divergences."""
    case = load_case("cases/tails/gelu_tail_18.yaml")
    alone = runner.run(case, "numpy", "float64", ())
    assert not [r for r in alone if r.failed]
    with_fd = [r for r in runner.run(case, "numpy", "float64", ("fd",))
               if r.compared_to == "finite_difference"]
    assert {r.status for r in with_fd if r.layer == 0 and r.quantity == "weight_delta"} == {
        "expected_divergence"}
    assert not [r for r in with_fd if r.failed]
