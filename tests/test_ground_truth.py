"""The proven ground truth: it sees one ulp, reports kinks, matches the golden values and
mpmath's 50 digits, and bounds the reference itself."""
from fractions import Fraction

import numpy as np
import pytest
from flint import arb, ctx
from mpmath import mp, mpf

from crossgrad import balls, mpmath_cross_check, referees, runner
from crossgrad import ground_truth as ground_truth_module
from crossgrad.cases import load_case, load_catalogue
from crossgrad.ground_truth import MAX_BITS, START_BITS, balls_of, certain, ground_truth, operations
from crossgrad.reference import ACTIVATIONS, forward

from test_referees import BATCH_CASE, ROOT, planted_adapter, write_case

# The float64 reference stays within this many ulps of each layer's magnitude from the truth
# (README, "Referees"); the catalogue's worst was 161 (gelu_tanh_tail_18) when this was written.
REFERENCE_BOUND_ULPS = 256
CROSS_CHECK = 1e-40  # mpmath's values lie within this (× the layer's largest value) of a ball
# mpmath's plain formulas cancel in the tail cases (1 + erf(z/√2) = 1e-72 at z = −18, 1 − σ(40) =
# 4e-18): 120 digits leave every catalogue case more than 40
CROSS_CHECK_DIGITS = 120

# Layer 1's relu sees tanh(0.5·x) − tanh(0.5·x): exactly 0, but as a ball only 0 ± its radius,
# at every precision, so no side of the kink is ever known.
KINK_BALL_CASE = """\
description: a relu pre-activation that is 0, but not exactly known as a ball.
network:
  layers:
    - weights: [[0.5, 0.5]]
      activation: tanh
    - weights: [[1.0], [-1.0]]
      activation: relu
    - weights: [[0.75]]
      bias: [0.125]
      activation: sigmoid
inputs: [[0.8], [-0.3]]
targets: [[0.25], [0.875]]
loss: half_squared_error
learning_rate: 0.5
"""


def catalogue():
    cases, _ = load_catalogue([ROOT / "cases"])
    return cases


def test_a_planted_one_ulp_error_is_seen(tmp_path, monkeypatch):
    """A backend that returns the truth itself, but one float64 element one ulp up: that row
    is 1 ulp from the truth, at that element, and every other row is 0 ulps from it."""
    def one_ulp_off(gradients, problem):
        truth = ground_truth(problem).gradients
        nudged = [w.copy() for w in truth.weight_deltas]
        nudged[0][2, 1] = np.nextafter(nudged[0][2, 1], np.inf)
        return truth._replace(weight_deltas=nudged)

    planted_adapter(monkeypatch, one_ulp_off)
    rows = [r for r in runner.run(write_case(tmp_path, BATCH_CASE), "torch", "float64", ("truth",))
            if r.compared_to == "ground_truth"]
    assert len(rows) == 5  # loss, two error terms, two weight deltas
    ulps = {(r.quantity, r.layer): r.max_ulp for r in rows}
    assert ulps.pop(("weight_delta", 0)) == 1
    assert set(ulps.values()) == {0}
    planted = next(r for r in rows if (r.quantity, r.layer) == ("weight_delta", 0))
    value = ground_truth(write_case(tmp_path, BATCH_CASE).problem).gradients.weight_deltas[0][2, 1]
    assert planted.max_abs_diff == np.nextafter(value, np.inf) - value > 0
    assert all(r.note.startswith(f"proven: ball arithmetic at {START_BITS} bits") for r in rows)


def test_a_kink_ball_is_reported_not_guessed(tmp_path):
    """Layer 1's relu ball straddles 0 at every precision: the elements it feeds are NaN (not a
    one-sided value), the rest proven; the rows say kink, name the units, and pass."""
    case = write_case(tmp_path, KINK_BALL_CASE)
    truth = ground_truth(case.problem)
    assert truth.kinks == ((1, 0, 0), (1, 1, 0))
    assert truth.bits == MAX_BITS  # more precision was tried: 0 ± radius stays 0 ± radius
    found = truth.gradients
    # δ_1 = δ_2·W_2ᵀ ⊙ relu'(z_1) is unknown, and so is all that is carried down from it
    for unknown in (found.error_terms[0], found.error_terms[1], found.weight_deltas[0],
                    found.weight_deltas[1]):
        assert np.isnan(unknown).all()
    # the output layer does not need relu': its deltas are proven, and x_2 = relu(0) = 0
    assert np.isfinite(found.error_terms[2]).all() and np.isfinite(found.bias_deltas[2]).all()
    assert found.weight_deltas[2][0, 0] == 0.0
    rows = [r for r in runner.run(case, "numpy", "float64", ("truth",))
            if r.compared_to == "ground_truth"]
    kinked = {(r.quantity, r.layer) for r in rows if r.label == "kink"}
    assert kinked == {("error_term", 0), ("error_term", 1), ("weight_delta", 0),
                      ("weight_delta", 1)}
    assert all(r.status == "pass" for r in rows)
    detail = next(r for r in rows if r.label == "kink").label_detail
    assert detail == ("4 of 4 elements unknown: pre-activation balls straddle a kink, layer 1 "
                      "at (sample, unit) (0, 0), (1, 0)")


def test_an_exact_zero_at_a_kink_takes_the_case_formats_side(tmp_path):
    """relu_at_zero's pre-activations are exactly 0 (dyadic inputs and weights): exact balls,
    no kink reported, relu'(0) = 0, so those units' error terms are exactly 0."""
    case = load_case(ROOT / "cases" / "kinks" / "relu_at_zero.yaml")
    truth = ground_truth(case.problem)
    assert truth.kinks == () and truth.bits == START_BITS
    error_term = truth.gradients.error_terms[0]
    assert error_term[0, 0] == error_term[1, 1] == error_term[2, 2] == 0.0


def test_a_truth_too_large_or_not_proven_is_skipped_with_the_reason(tmp_path, monkeypatch):
    """Over the multiply-add limit, or still uncertain at the last precision: one skipped row
    that says which, never a row against an unproven number."""
    case = write_case(tmp_path, BATCH_CASE)
    monkeypatch.setattr(referees, "MAX_OPERATIONS", 10)
    rows = [r for r in runner.run(case, "numpy", "float32", ("truth",))
            if r.compared_to == "ground_truth"]
    assert [(r.status, r.problem) for r in rows] == [
        ("skipped", "ground truth skipped: over 10 multiply-adds")]
    monkeypatch.setattr(referees, "MAX_OPERATIONS", 50_000_000)
    monkeypatch.setattr(ground_truth_module, "CERTAIN_BITS", 400)  # more than 256 bits can give
    monkeypatch.setattr(ground_truth_module, "MAX_BITS", 256)
    referees.forget()
    rows = [r for r in runner.run(case, "numpy", "float32", ("truth",))
            if r.compared_to == "ground_truth"]
    assert [(r.status, r.problem) for r in rows] == [
        ("skipped", "ground truth skipped: ground truth not proven to 400 bits at 256 bits of "
                    "precision, and no kink explains it")]


@pytest.mark.parametrize("name", ["seed_3_2_1", "article/article_batch_mean",
                                  "article/article_batch_sum",
                                  "article/gradient_descent_single_layer"])
def test_the_truth_agrees_with_the_hand_derived_golden_values(monkeypatch, name):
    """A backend that returns the truth passes every comparison with the case's golden values."""
    case = load_case(ROOT / "cases" / f"{name}.yaml")
    assert case.expected is not None
    planted_adapter(monkeypatch, lambda gradients, problem: ground_truth(problem).gradients)
    rows = [r for r in runner.run(case, "torch", "float64") if r.compared_to == "expected"]
    assert rows and all(r.status == "pass" for r in rows), [r.message() for r in rows if r.failed]


def test_the_seed_case_rounds_to_the_printout():
    """The truth of the lesson's 3-2-1 example rounds to its printed values."""
    truth = ground_truth(load_case(ROOT / "cases" / "seed_3_2_1.yaml").problem).gradients
    assert truth.error_terms[1][0, 0] == pytest.approx(0.028730669543515018, rel=1e-15)
    np.testing.assert_allclose(truth.weight_deltas[1][:, 0], [0.00804047, 0.00555918], atol=5e-9)
    np.testing.assert_allclose(truth.error_terms[0][0], [0.00070802, -0.00204471], atol=5e-9)


def _mpf(exact):
    mantissa, exponent = exact.man_exp()
    return mpf(int(mantissa)) * mpf(2) ** int(exponent)


def _outside(value, ball, scale):
    """How far an mpmath value lies outside a ball, over `scale`; 0 inside."""
    return max(abs(value - _mpf(ball.mid())) - _mpf(ball.rad()), 0) / scale


def test_mpmath_lies_within_the_balls_on_the_catalogue():
    """Every error term, delta and loss of mpmath's 120-digit evaluation lies within 1e-40 of
    its layer's largest value from the proven ball, on every catalogue case small enough for
    mpmath (its old limit, 200,000 multiply-adds)."""
    checked = 0
    for case in catalogue():
        if operations(case.problem) > mpmath_cross_check.MAX_OPERATIONS:
            continue
        found, _ = balls_of(case.problem, ground_truth(case.problem).bits)
        theirs = mpmath_cross_check.evaluate(case.problem, CROSS_CHECK_DIGITS)
        with mp.workdps(CROSS_CHECK_DIGITS + 30):
            assert _outside(theirs.loss, found.loss, abs(theirs.loss) or 1) <= CROSS_CHECK, \
                case.name
            for field in ("error_terms", "weight_deltas", "bias_deltas"):
                for layer, (ours, values) in enumerate(zip(getattr(found, field),
                                                           getattr(theirs, field))):
                    if ours is None:
                        continue
                    values = [v for row in np.atleast_2d(np.array(values, dtype=object))
                              for v in row]
                    scale = max(abs(v) for v in values) or mpf(1)
                    worst = max(_outside(v, b, scale) for v, b in zip(values, ours.entries()))
                    assert worst <= CROSS_CHECK, f"{case.name} {field}[{layer}]: {worst}"
        checked += 1
    assert checked >= 50


def test_every_catalogue_case_is_proven():
    """The limit covers the whole catalogue, the 512-wide case included, and every ball of
    every case is certain (no kink, no NaN)."""
    for case in catalogue():
        truth = ground_truth(case.problem)
        assert not truth.kinks, case.name
        for field in truth.gradients[1:]:
            assert all(np.isfinite(a).all() for a in field if a is not None), case.name


def _error_term_magnitudes(problem, terms, pre_activations, output):
    """Per layer, elementwise, the larger of |δ| and of what it sums, from the output down:
    for the output under a squared error (|y| + |a|)·|f'(z)| times the batch factor, as δ = y − a
    cancels where an output meets its target; for a hidden layer (M_(l+1) @ |W_(l+1)|ᵀ)·|f'(z_l)|."""
    magnitudes = [None] * len(problem.layers)
    for l in range(len(problem.layers) - 1, -1, -1):
        layer = problem.layers[l]
        slope = np.abs(ACTIVATIONS[layer.activation][1](pre_activations[l]))
        if l + 1 < len(problem.layers):
            summed = (magnitudes[l + 1] @ np.abs(problem.layers[l + 1].weights).T) * slope
        elif problem.loss in ("half_squared_error", "mean_squared_error"):
            factor = (1 / len(output) if problem.reduction == "mean" else 1) * (
                2 / output.shape[1] if problem.loss == "mean_squared_error" else 1)
            summed = factor * (np.abs(problem.targets) + np.abs(output)) * slope
        else:
            summed = terms[l]
        magnitudes[l] = np.maximum(terms[l], summed)
    return magnitudes


def _magnitudes(problem, truth):
    """Per quantity and layer, the largest magnitude that the reference's rounding scales with
    (a sum that cancels cannot be held to the ulps of its result): for an error term, its
    largest |δ| or sum of |summands| (_error_term_magnitudes, M); for a delta, the largest sum of
    |summands| over those, η·|x|ᵀ·M and η·Σ_b M."""
    layer_inputs, pre_activations, output = forward(problem.layers, problem.inputs)
    terms = _error_term_magnitudes(problem, [np.abs(d) for d in truth.error_terms],
                                   pre_activations, output)
    rate = problem.learning_rate
    return {"error_terms": [np.max(d) for d in terms],
            "weight_deltas": [rate * np.max(np.abs(x).T @ d) for x, d in zip(layer_inputs, terms)],
            "bias_deltas": [rate * np.max(np.sum(d, axis=0)) for d in terms]}


def test_the_reference_stays_within_its_bound_of_ground_truth():
    """On every catalogue case: |reference − truth| ≤ 256 ulps of each layer's magnitude (see
    _magnitudes), for every error term, weight delta and bias delta."""
    for case in catalogue():
        truth, ours = ground_truth(case.problem).gradients, runner.reference(case)
        magnitudes = _magnitudes(case.problem, truth)
        for field in ("error_terms", "weight_deltas", "bias_deltas"):
            for layer, (actual, expected) in enumerate(zip(getattr(ours, field),
                                                           getattr(truth, field))):
                if expected is None:
                    continue
                scale = magnitudes[field][layer]
                ulps = np.max(np.abs(actual - expected)) / np.spacing(scale) if scale else 0
                assert ulps <= REFERENCE_BOUND_ULPS, f"{case.name} {field}[{layer}]: {ulps} ulps"


# Each activation against its plain definition in mpmath at 400 digits, enough for the naive
# forms' cancellations (1 + erf(z/√2) at z = −18 is 1e-72); gelu's at −40 would need 2,000.
POINTS = (-40.0, -18.0, -1.5, 0.0, 0.5, 18.0, 40.0)


@pytest.mark.parametrize("name", sorted(balls.ACTIVATIONS))
def test_each_ball_activation_holds_its_value_in_the_tails(name):
    """f(z) and f'(z) at 128 bits: certain, and holding the 400-digit value, from −40 to 40."""
    f, f_prime = balls.ACTIVATIONS[name]
    exact_f, exact_prime = mpmath_cross_check.ACTIVATIONS[name]
    for z in POINTS:
        if name.startswith("gelu") and z == -40.0:
            continue
        with mp.workdps(400):
            expected = exact_f(mpf(z)), exact_prime(mpf(z))
        with ctx.workprec(START_BITS):
            found = f(arb(z)), f_prime(arb(z))
        for value, ball in zip(expected, found):
            assert certain(ball), (name, z, ball)
            with mp.workdps(400):
                assert _outside(value, ball, abs(value) or 1) <= mpf(10) ** -100, (name, z, ball)


@pytest.mark.parametrize("logit", [-40.0, -2.5, 0.0, 40.0])
@pytest.mark.parametrize("target", [0.0, 0.3, 1.0])
def test_binary_cross_entropy_of_logits_holds_the_plain_form(logit, target):
    """E and −∂E/∂z from the logit against −[y·log a + (1 − y)·log(1 − a)] and
    (y/a − (1 − y)/(1 − a))·σ'(z), a = σ(z), at 400 digits."""
    with mp.workdps(400):
        a, y = 1 / (1 + mp.exp(-mpf(logit))), mpf(target)
        loss = -(y * mp.log(a) + (1 - y) * mp.log(1 - a))
        error = (y / a - (1 - y) / (1 - a)) * a * (1 - a)
    with ctx.workprec(START_BITS):
        found_loss, (found_error,) = balls.binary_cross_entropy_of_logits([arb(target)],
                                                                          [arb(logit)])
    for value, ball in ((loss, found_loss), (error, found_error)):
        assert certain(ball)
        with mp.workdps(400):
            assert _outside(value, ball, abs(value) or 1) <= mpf(10) ** -100


def test_float_of_a_ball_rounds_its_midpoint_to_nearest_ties_to_even():
    """What ground_truth relies on to round each midpoint once: flint's float() of an arb is
    correctly rounded, checked against Fraction on ties, near-ties and subnormals."""
    with ctx.workprec(256):
        for mantissa, exponent in ((2**53 + 1, -53), (2**53 + 3, -53), (2**54 + 1, -54),
                                   (2**60 + 2**7 + 1, -60), (3, -1076), (1, -1075), (1, -1076),
                                   (-(2**53 + 1), 10)):
            ball = arb(mantissa) * arb(2) ** exponent
            assert ball.is_exact()
            assert float(ball) == float(Fraction(mantissa) * Fraction(2) ** exponent)
