"""Every function of the reference within BOUND_ULPS ulps of a 50-digit truth, over each dtype's range.

The sweep (crossgrad/reference_accuracy.py) evaluates each activation (value and derivative) and
each loss (value and output error) on a grid of ±0, subnormals, a log-spaced sweep to the
largest finite value, a dense sweep of [−50, 50] and the exp overflow edges, in float64,
float32 and float16, against mpmath at 50 digits. The bound is 4 ulps of the dtype (of the
larger term, where a derivative's sum passes through its root: see ulps_of_scale).
"""
import math

import numpy as np
import pytest

from crossgrad import reference_accuracy as sweep
from crossgrad.reference import activations, losses

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


@pytest.mark.parametrize("dtype", sweep.SWEEP_DTYPES)
@pytest.mark.parametrize("name", sorted(activations.ACTIVATIONS))
@pytest.mark.parametrize("derivative", [False, True], ids=["value", "derivative"])
def test_activation_within_bound(name, derivative, dtype):
    grid, ulps = sweep.activation_errors(name, dtype, derivative)
    worst = int(np.argmax(ulps))
    assert ulps[worst] <= sweep.BOUND_ULPS, (
        f"{name} {'derivative' if derivative else 'value'} in {dtype}: {ulps[worst]:.3g} ulps "
        f"at z = {float(grid[worst])!r} (bound {sweep.BOUND_ULPS})")


@pytest.mark.parametrize("dtype", sweep.SWEEP_DTYPES)
@pytest.mark.parametrize("loss", sorted(sweep.LOSSES_SWEPT))
@pytest.mark.parametrize("output_error", [False, True], ids=["value", "output_error"])
def test_loss_within_bound(loss, output_error, dtype):
    if output_error and sweep.LOSSES_SWEPT[loss][1] is None:
        pytest.skip("the logits form is the loss value only")
    y, a, ulps = max(sweep.loss_errors(loss, dtype, output_error), key=lambda item: item[2])
    assert ulps <= sweep.BOUND_ULPS, f"{loss} in {dtype}: {ulps:.3g} ulps at y={y}, a={a}"


def test_the_grid_reaches_the_tails_and_edges():
    grid = sweep.activation_grid("float64")
    for point in (-18.0, -9.0, -5.5, -40.0, 40.0, 0.0, 5e-324, -5e-324, 1.7976931348623157e308):
        assert point in grid
    assert np.any((grid > 709) & (grid < 710)) and np.any((grid < -744) & (grid > -746))


def _old_normal_cdf(z):
    # the form this sweep replaced: ½·(1 + erf(z/√2)), which cancels for z ≪ 0
    return (0.5 * (1 + np.frompyfunc(math.erf, 1, 1)(z / math.sqrt(2)))).astype(z.dtype)


def test_the_sweep_catches_the_cancelling_gelu(monkeypatch):
    """The sweep can fail: the old Φ = ½(1 + erf(z/√2)) is ~1e15 ulps off in gelu's tail."""
    monkeypatch.setitem(activations.ACTIVATIONS, "gelu",
                        (lambda z: z * _old_normal_cdf(z), activations.gelu_prime))
    grid, ulps = sweep.activation_errors("gelu", "float64")
    assert np.max(ulps) > 1e12
    assert ulps[grid == -18.0][0] > 1e12


def test_the_sweep_catches_a_wrong_derivative(monkeypatch):
    """A derivation slip (σ' taken as σ·σ, say) fails by far more than the bound."""
    monkeypatch.setitem(activations.ACTIVATIONS, "sigmoid",
                        (activations.sigmoid, lambda z: activations.sigmoid(z) ** 2))
    _, ulps = sweep.activation_errors("sigmoid", "float32", derivative=True)
    assert np.max(ulps) > 1e6


@pytest.mark.parametrize("z, expected", [
    # mpmath at 50 digits, rounded to float64 (the tail points)
    (-18.0, -1.753370805408687e-71),  # gelu(−18) = −18·Φ(−18)
    (-9.0, -1.0157295653584566e-18),  # gelu(−9)
])
def test_gelu_tail_values(z, expected):
    from mpmath import mp, mpf
    with mp.workdps(50):
        truth = float(mpf(z) * mp.ncdf(mpf(z)))
    assert truth == pytest.approx(expected, rel=1e-15)
    assert activations.gelu(np.array([z]))[0] == pytest.approx(expected, rel=4e-16)


def test_bce_from_logits_is_finite_where_sigmoid_rounds_to_one():
    """E(y = 0, z = 40) = softplus(40) = 40 + log1p(e^−40); from a = σ(40) = 1.0 it would be inf."""
    z = np.array([[40.0]])
    assert losses.binary_cross_entropy_from_logits(np.array([[0.0]]), z)[0] == 40 + math.log1p(
        math.exp(-40))
    # y = 1: E = softplus(−40) = e^−40 to 1e-17, where softplus(z) − y·z would give 0
    assert losses.binary_cross_entropy_from_logits(np.array([[1.0]]), z)[0] == pytest.approx(
        math.exp(-40), rel=1e-15)
