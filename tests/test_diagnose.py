"""Labels, localization and declared divergences, on cases built to disagree in a known way."""
import math
import textwrap

import numpy as np
import pytest

from crossgrad import runner
from crossgrad.cases import InvalidCase, load_case
from crossgrad.compare import Comparison
from crossgrad.compare import compare
from crossgrad.diagnose import label, localization_line, localize, precision_bound
from crossgrad.tolerances import ROUNDING_BOUND_MULTIPLE, Tolerance
from crossgrad.pytest_checks import assert_agrees

# Four layers; layer 2 is leaky_relu and its unit 1 computes x_0 − x_1 where x_0 == x_1 == 0.625
# exactly (every number is dyadic and the layers below are identity), so that pre-activation is
# exactly 0 in float32 and float64: the kink. jax.nn.leaky_relu takes derivative 1 there, torch
# and the reference take the slope 0.01. Layer 1's columns 0 and 1 differ, so the difference at
# δ_1 reaches δ_0 (δ_0 gains e·(W1[:, 0] − W1[:, 1]) = e·(1, −1.25)).
KINK_CASE = """\
description: leaky_relu exactly at its kink in layer 2 of 4.
network:
  layers:
    - weights: [[1.0, 0.5], [0.5, 1.0]]
      activation: identity
    - weights: [[1.0, 0.0, 0.5], [0.0, 1.25, -0.75]]
      activation: identity
    - weights: [[0.5, 1.0], [0.25, -1.0], [-1.0, 0.0]]
      activation: leaky_relu
    - weights: [[0.75], [-1.5]]
      activation: identity
inputs: [[0.5, 0.25]]
targets: [[0.25]]
loss: half_squared_error
learning_rate: 0.5
"""

PLANTED = dict(case="seed", backend="numpy", device="cpu", layer=0, quantity="weight_delta",
               compared_to="reference")

SEED = """\
description: the 3-2-1 example.
network:
  layers:
    - weights: [[0.5, -0.6], [0.1, -0.2], [0.1, 0.7]]
      activation: sigmoid
    - weights: [[0.1], [-0.3]]
      activation: sigmoid
inputs: [[0.5, 0.1, -0.2]]
targets: [[0.6]]
loss: half_squared_error
learning_rate: 0.5
"""


def write_case(tmp_path, text, name="case"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return load_case(path)


def by_key(rows):
    return {(r.compared_to, r.quantity, r.layer): r for r in rows}


@pytest.mark.jax
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_kink_localized_at_layer_2_and_labelled(tmp_path, dtype):
    """jax disagrees from layer 2 down; the rows are labelled kink, naming layer 2's unit (0, 1)."""
    pytest.importorskip("jax")
    rows = by_key(runner.run(write_case(tmp_path, KINK_CASE), "jax", dtype))
    assert rows["reference", "error_term", 3].status == "pass"
    for layer in (2, 1, 0):
        row = rows["reference", "error_term", layer]
        assert row.status == "fail", row.message()
        assert row.label == "kink"
        assert "layer 2 (leaky_relu) at (sample, unit) (0, 1)" in row.label_detail
    assert rows["reference", "error_term", 3].first_divergent_layer == 2
    # the growth is measured on the rows' own rel_l2, from layer 2 down to layer 0
    top, bottom = rows["reference", "error_term", 2].rel_l2, rows["reference", "error_term", 0].rel_l2
    assert rows["reference", "error_term", 0].error_growth == pytest.approx(
        (bottom / top) ** 0.5, rel=1e-12)
    # δ_2 at the kink unit is 1/0.01 = 100 times the reference's: a gross, not a rounding, gap
    assert rows["reference", "error_term", 2].rel_l2 > 0.5


@pytest.mark.torch
def test_torch_agrees_at_the_kink(tmp_path):
    """torch takes the slope at 0, as the reference does: nothing is outside its tolerance."""
    pytest.importorskip("torch")
    rows = runner.run(write_case(tmp_path, KINK_CASE), "torch", "float64")
    assert {r.status for r in rows} == {"pass"}
    assert {r.first_divergent_layer for r in rows} == {None}


def test_localize_and_its_line():
    """Layers 3 pass, 2, 1, 0 fail with rel_l2 1e-6, 4e-5, 1.6e-3: first 2, growth ×40."""
    def row(layer, status, rel_l2):
        return Comparison(case="c", backend="b", dtype="float32", device="cpu", layer=layer,
                          quantity="error_term", compared_to="reference", status=status,
                          rel_l2=rel_l2)
    rows = [row(3, "pass", 1e-8), row(2, "fail", 1e-6), row(1, "fail", 4e-5),
            row(0, "expected_divergence", 1.6e-3)]
    first, growth = localize(rows, 4)
    assert first == 2
    assert growth == pytest.approx(40.0, rel=1e-12)
    assert localization_line(first, growth, 4) == (
        "first disagreement at layer 2 of layers 0–3 (scanning from the output down), "
        "error term; rel_l2 grows ×40 per layer below it")
    assert localize(rows[:1], 4) == (None, pytest.approx(math.nan, nan_ok=True))


def test_non_finite_label(tmp_path):
    """x = 1e20 through an identity layer: δ = −2e20 is finite in float32, but Δw = η·x·δ =
    −2e40 overflows float32's 3.4e38 to −inf, where the float64 reference is finite."""
    text = textwrap.dedent("""\
        description: a weight delta beyond float32's range.
        network:
          layers:
            - weights: [[1.0]]
              activation: identity
        inputs: [[1.0e20]]
        targets: [[0.0]]
        loss: mean_squared_error
        """)
    rows = by_key(runner.run(write_case(tmp_path, text), "numpy", "float32"))
    assert rows["reference", "error_term", 0].status == "pass"
    row = rows["reference", "weight_delta", 0]
    assert row.status == "fail"
    assert row.label == "non_finite"
    assert row.non_finite == 1
    assert row.label_detail == "1 of 1 elements are NaN or Inf"


def test_float32_reference_is_inside_the_error_model_everywhere(tmp_path):
    """With a zero rtol and atol only the error model's bound is left, and the reference's own
    float32 computation (the numpy backend) is inside it, element by element."""
    text = SEED + "tolerances:\n  float32: {rtol: 0, atol: 0}\n"
    rows = runner.run(write_case(tmp_path, text), "numpy", "float32")
    assert rows and all(r.status == "pass" for r in rows), [r.message() for r in rows if r.failed]
    assert max(r.max_abs_diff for r in rows) > 0  # float32 does differ from float64


def _planted_row(case, factors):
    """Layer 0's weight delta of `case` with each element off by factors × K·(float32 bound),
    compared under a zero tolerance and labelled; and the planted difference's rel_l2 and the
    bound's ‖K·bound‖/‖expected‖, computed here with np.linalg.norm."""
    expected, bound = runner.reference(case), runner.bounds(case, "float32")
    truth, allowed = expected.weight_deltas[0], ROUNDING_BOUND_MULTIPLE * bound.weight_deltas[0]
    planted = np.reshape(factors, truth.shape) * allowed
    row = compare(truth + planted, truth, Tolerance(0.0, 0.0), bound.weight_deltas[0], **dict(
        PLANTED, dtype="float64"))
    norms = np.linalg.norm(planted) / np.linalg.norm(truth), \
        np.linalg.norm(allowed) / np.linalg.norm(truth)
    return row, label(row, case.problem, {}, bound, expected), norms


def test_precision_label_inside_the_model_as_a_whole(tmp_path):
    """One element at 1.5 × its allowance (the one of x = 0.1) and five at 0.5: the row fails,
    but its rel_l2 is inside ‖K·bound‖/‖expected‖, so the label is precision; 3 × everywhere
    is a mismatch."""
    case = write_case(tmp_path, SEED)
    row, found, (rel_l2, bound) = _planted_row(case, [0.5, 0.5, 1.5, 0.5, 0.5, 0.5])
    assert (row.status, row.mismatched, row.worst_index, found) == ("fail", 1, "(1, 0)",
                                                                    ("precision", ""))
    assert row.rel_l2 == pytest.approx(rel_l2, rel=1e-9) and rel_l2 < 0.6 * bound
    assert precision_bound(runner.bounds(case, "float32"), runner.reference(case), 0,
                           "weight_delta") == pytest.approx(bound, rel=1e-12)
    row, found, (rel_l2, bound) = _planted_row(case, [3.0] * 6)
    assert (row.mismatched, found) == (6, ("mismatch", ""))
    assert row.rel_l2 == pytest.approx(3 * bound, rel=1e-9)


def test_mismatch_label_for_a_wrong_golden_value(tmp_path):
    """A golden weight delta off by 1.8 % is a mismatch: no kink, nothing non-finite, not rounding."""
    text = SEED + ("expected:\n  source: a deliberately wrong printout\n"
                   "  weight_deltas: [null, [[0.00804047], [0.00565918]]]\n"
                   "  tolerance: {rtol: 1.0e-5, atol: 1.0e-9}\n")
    rows = by_key(runner.run(write_case(tmp_path, text), "numpy", "float64"))
    row = rows["expected", "weight_delta", 1]
    assert (row.status, row.label) == ("fail", "mismatch")
    assert "not close (mismatch)" in row.message()


@pytest.mark.jax
def test_declared_divergence_that_holds_is_expected_and_xfails(tmp_path):
    """Declared for jax: its rows become expected_divergence, and pytest reports an xfail."""
    pytest.importorskip("jax")
    text = KINK_CASE + ("divergences:\n  - backend: jax\n    quantity: error_term\n"
                        "    reason: jax.nn.leaky_relu takes derivative 1 at 0.\n")
    case = write_case(tmp_path, text)
    rows = runner.run(case, "jax", "float64")
    statuses = {(r.quantity, r.layer): r.status for r in rows if r.compared_to == "reference"}
    assert statuses["error_term", 2] == "expected_divergence"
    assert statuses["error_term", 3] == "pass"
    # the weight deltas diverge too, and were not declared: they still fail
    assert statuses["weight_delta", 1] == "fail"
    declared_everything = text.replace("    quantity: error_term\n", "")
    rows = runner.run(write_case(tmp_path, declared_everything), "jax", "float64")
    assert not any(r.failed for r in rows)
    assert {r.divergence for r in rows if r.status == "expected_divergence"} == {
        "jax.nn.leaky_relu takes derivative 1 at 0."}
    with pytest.raises(pytest.xfail.Exception, match="declared divergence .*jax.nn.leaky_relu takes derivative 1"):
        assert_agrees(rows, 4)


@pytest.mark.torch
def test_declared_divergence_that_no_longer_reproduces_fails(tmp_path):
    """Declared for torch, which agrees: one failing row says the divergence no longer reproduces."""
    pytest.importorskip("torch")
    text = KINK_CASE + "divergences:\n  - {backend: torch, dtype: float64, reason: was broken.}\n"
    rows = runner.run(write_case(tmp_path, text), "torch", "float64")
    failed = [r for r in rows if r.failed]
    assert len(failed) == 1
    assert "declared divergence no longer reproduces: torch (dtype float64)" in failed[0].problem
    with pytest.raises(pytest.fail.Exception, match="no longer reproduces"):
        assert_agrees(rows, 4)
    # a declaration for the other dtype does not apply to float64 rows at all
    other = KINK_CASE + "divergences:\n  - {backend: torch, dtype: float32, reason: was broken.}\n"
    assert {r.status for r in runner.run(write_case(tmp_path, other), "torch", "float64")} == {"pass"}


@pytest.mark.parametrize("entry, line, field, words", [
    ("  - {backend: tourch, reason: r}", 13, "divergences[0].backend", "did you mean 'torch'?"),
    ("  - {backend: torch}", 13, "divergences[0]", "missing required key 'reason'"),
    ("  - {backend: torch, layer: 2, reason: r}", 13, "divergences[0].layer", "layers 0–1"),
    ("  - {backend: torch, quantity: weight, reason: r}", 13, "divergences[0].quantity",
     "unknown quantity 'weight'; did you mean 'weights'?"),
])
def test_divergence_declarations_are_validated(tmp_path, entry, line, field, words):
    """Each bad declaration is one line naming the file, line and field."""
    path = tmp_path / "case.yaml"
    path.write_text(SEED + "divergences:\n" + entry + "\n", encoding="utf-8")
    assert SEED.count("\n") + 2 == line
    with pytest.raises(InvalidCase) as caught:
        load_case(path)
    messages = [str(e) for e in caught.value.errors]
    assert any(m.startswith(f"{path}:{line}:") and f": {field}: " in m and words in m
               for m in messages), messages
