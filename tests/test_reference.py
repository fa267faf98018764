"""The NumPy reference against values derived by hand with plain `math`, and against the article."""
import math

import numpy as np
import pytest

from crossgrad.problem import Layer
from crossgrad.reference import ACTIVATIONS, LOSSES, backprop
from crossgrad.reference.losses import log_softmax

# Central differences with this step are good to ~1e-10 for the smooth functions used here.
STEP = 1e-5
FD_TOLERANCE = 1e-8


def sigmoid(z):
    """σ(z) as the lesson writes it."""
    return 1 / (1 + math.exp(-z))


def central_difference(f, z, step=STEP):
    """(f(z + h) − f(z − h)) / 2h."""
    return (f(z + step) - f(z - step)) / (2 * step)


# Each activation written again as a scalar formula with the math module.
MATH_ACTIVATIONS = {
    "identity": lambda z: z,
    "sigmoid": sigmoid,
    "tanh": math.tanh,
    "relu": lambda z: max(z, 0.0),
    "leaky_relu": lambda z: z if z > 0 else 0.01 * z,
    "softplus": lambda z: math.log1p(math.exp(z)),
    "elu": lambda z: z if z > 0 else math.expm1(z),
    "silu": lambda z: z * sigmoid(z),
    "gelu": lambda z: 0.5 * z * (1 + math.erf(z / math.sqrt(2))),
    "gelu_tanh": lambda z: 0.5 * z * (1 + math.tanh(math.sqrt(2 / math.pi)
                                                     * (z + 0.044715 * z**3))),
}
# Activations with a kink at 0, where a central difference does not give the one-sided value.
KINKED_AT_ZERO = ("relu", "leaky_relu", "elu")
POINTS = (-3.0, -1.2, -0.3, 0.0, 0.4, 1.7, 3.5)


def test_every_activation_has_a_math_twin():
    """The scalar formulas below cover every activation the reference knows."""
    assert set(MATH_ACTIVATIONS) == set(ACTIVATIONS)


@pytest.mark.parametrize("name", sorted(MATH_ACTIVATIONS))
def test_activation_value_matches_math(name):
    """f(z) equals the math-module formula at negative, zero and positive points."""
    f = ACTIVATIONS[name][0]
    actual = f(np.array(POINTS))
    expected = [MATH_ACTIVATIONS[name](z) for z in POINTS]
    np.testing.assert_allclose(actual, expected, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", sorted(MATH_ACTIVATIONS))
def test_activation_derivative_matches_central_difference(name):
    """f'(z) equals a central difference of the math formula, away from any kink."""
    points = [z for z in POINTS if not (z == 0.0 and name in KINKED_AT_ZERO)]
    actual = ACTIVATIONS[name][1](np.array(points))
    expected = [central_difference(MATH_ACTIVATIONS[name], z) for z in points]
    np.testing.assert_allclose(actual, expected, rtol=FD_TOLERANCE, atol=FD_TOLERANCE)


@pytest.mark.parametrize("name, slope_at_zero", [("relu", 0.0), ("leaky_relu", 0.01), ("elu", 1.0)])
def test_kink_takes_the_documented_one_sided_value(name, slope_at_zero):
    """At z = 0 relu' is 0, leaky_relu' is the slope 0.01, elu' is 1 (both sides agree)."""
    assert ACTIVATIONS[name][1](np.array([0.0]))[0] == slope_at_zero
    assert ACTIVATIONS[name][1](np.array([-0.0]))[0] == slope_at_zero


def test_gelu_is_the_erf_form_not_the_tanh_approximation():
    """gelu and gelu_tanh differ by over 1e-5 at z = 2, so the tests above tell them apart."""
    z = np.array([2.0])
    assert abs(ACTIVATIONS["gelu"][0](z)[0] - ACTIVATIONS["gelu_tanh"][0](z)[0]) > 1e-5
    assert abs(ACTIVATIONS["gelu"][1](z)[0] - ACTIVATIONS["gelu_tanh"][1](z)[0]) > 1e-5


def test_sigmoid_derivative_keeps_its_digits_in_the_tail():
    """σ'(40) = e^−40/(1 + e^−40)² is tiny but not zero, and has full relative precision."""
    expected = math.exp(-40) / (1 + math.exp(-40)) ** 2
    actual = ACTIVATIONS["sigmoid"][1](np.array([40.0]))[0]
    assert actual == pytest.approx(expected, rel=1e-14)


# Each per-sample loss as a scalar formula over one sample's outputs.
def _half_squared_error(y, a):
    return 0.5 * sum((yk - ak) ** 2 for yk, ak in zip(y, a))


def _mean_squared_error(y, a):
    return sum((yk - ak) ** 2 for yk, ak in zip(y, a)) / len(y)


def _binary_cross_entropy(y, a):
    return -sum(yk * math.log(ak) + (1 - yk) * math.log(1 - ak) for yk, ak in zip(y, a))


def _softmax_cross_entropy(y, z):
    log_total = math.log(sum(math.exp(zj) for zj in z))
    return -sum(yk * (zk - log_total) for yk, zk in zip(y, z))


MATH_LOSSES = {
    "half_squared_error": _half_squared_error,
    "mean_squared_error": _mean_squared_error,
    "binary_cross_entropy": _binary_cross_entropy,
    "softmax_cross_entropy": _softmax_cross_entropy,
}
TARGETS = [[0.2, 0.7, 0.1], [1.0, 0.0, 0.0]]
# Outputs in (0, 1) so that binary cross entropy is defined; for softmax they are the logits.
OUTPUTS = [[0.35, 0.6, 0.05], [0.9, 0.2, 0.4]]


def test_every_loss_has_a_math_twin():
    """The scalar formulas cover every loss the reference knows."""
    assert set(MATH_LOSSES) == set(LOSSES)


@pytest.mark.parametrize("name", sorted(MATH_LOSSES))
def test_loss_value_matches_math(name):
    """The per-sample loss equals the math-module formula, one value per sample."""
    actual = LOSSES[name][0](np.array(TARGETS), np.array(OUTPUTS))
    expected = [MATH_LOSSES[name](y, a) for y, a in zip(TARGETS, OUTPUTS)]
    np.testing.assert_allclose(actual, expected, rtol=1e-14)


@pytest.mark.parametrize("name", sorted(MATH_LOSSES))
def test_output_error_is_minus_the_loss_derivative(name):
    """−∂E/∂a_k equals minus a central difference of the math loss in a_k, for every k."""
    actual = LOSSES[name][1](np.array(TARGETS), np.array(OUTPUTS))
    for b, (y, a) in enumerate(zip(TARGETS, OUTPUTS)):
        for k in range(len(a)):
            def loss_in_a_k(value, y=y, a=a, k=k):
                return MATH_LOSSES[name](y, a[:k] + [value] + a[k + 1:])
            expected = -central_difference(loss_in_a_k, a[k], step=1e-6)
            assert actual[b, k] == pytest.approx(expected, rel=FD_TOLERANCE, abs=FD_TOLERANCE)


def test_softmax_cross_entropy_stays_finite_for_large_logits():
    """Logits of 1000 and 999: E = log(1 + e) and −∂E/∂z = ±e/(1 + e), not inf or nan."""
    y = np.array([[0.0, 1.0], [1.0, 0.0]])
    z = np.array([[1000.0, 999.0], [1000.0, -1000.0]])
    loss = LOSSES["softmax_cross_entropy"][0](y, z)
    error = LOSSES["softmax_cross_entropy"][1](y, z)
    share = math.e / (1 + math.e)  # softmax of the larger logit, which is 1 above the other
    np.testing.assert_allclose(loss, [math.log(1 + math.e), 0.0], rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(error, [[-share, share], [0.0, 0.0]], rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(np.exp(log_softmax(z)).sum(axis=1), [1.0, 1.0], rtol=1e-15)


def test_softmax_cross_entropy_backprop_with_large_logits_is_finite():
    """A whole backprop whose logits are ±1000 gives finite loss, error terms and deltas."""
    layers = [Layer(np.array([[1000.0, -1000.0, 0.0]]), np.zeros(3), "identity")]
    gradients = backprop(layers, np.array([[1.0], [-1.0]]), np.array([[0.0, 1.0, 0.0]] * 2),
                         "softmax_cross_entropy", "mean", 0.1)
    assert math.isfinite(gradients.loss)
    # sample 0 puts all mass on class 0 and sample 1 on class 1: E_0 = 2000, E_1 = 0
    assert gradients.loss == pytest.approx(1000.0, rel=1e-15)
    for array in gradients.error_terms + gradients.weight_deltas + gradients.bias_deltas:
        assert np.all(np.isfinite(array))


def test_seed_case_matches_scalar_formulas_step_by_step():
    """The article's 3-2-1 network: every number written out with math and the lesson's formulas."""
    x, y, learning_rate = [0.5, 0.1, -0.2], 0.6, 0.5
    w_ih = [[0.5, -0.6], [0.1, -0.2], [0.1, 0.7]]
    w_ho = [0.1, -0.3]
    # forward: h_j = σ(Σ_i x_i·w_ij), ŷ = σ(Σ_j h_j·w_j)
    h = [sigmoid(sum(x[i] * w_ih[i][j] for i in range(3))) for j in range(2)]
    y_hat = sigmoid(sum(h[j] * w_ho[j] for j in range(2)))
    # backward: δ_o = (y − ŷ)·ŷ·(1 − ŷ), δ_h = w_ho·δ_o·h·(1 − h), Δw = η·δ·x
    delta_o = (y - y_hat) * y_hat * (1 - y_hat)
    delta_h = [w_ho[j] * delta_o * h[j] * (1 - h[j]) for j in range(2)]
    delta_w_ho = [learning_rate * delta_o * h[j] for j in range(2)]
    delta_w_ih = [[learning_rate * delta_h[j] * x[i] for j in range(2)] for i in range(3)]

    layers = [Layer(np.array(w_ih), None, "sigmoid"),
              Layer(np.array(w_ho).reshape(2, 1), None, "sigmoid")]
    gradients = backprop(layers, np.array([x]), np.array([[y]]), "half_squared_error", "mean",
                         learning_rate)
    np.testing.assert_allclose(gradients.error_terms[1], [[delta_o]], rtol=1e-13)
    np.testing.assert_allclose(gradients.error_terms[0], [delta_h], rtol=1e-13)
    np.testing.assert_allclose(gradients.weight_deltas[1], [[d] for d in delta_w_ho], rtol=1e-13)
    np.testing.assert_allclose(gradients.weight_deltas[0], delta_w_ih, rtol=1e-13)
    assert gradients.loss == pytest.approx(0.5 * (y - y_hat) ** 2, rel=1e-13)
    assert gradients.bias_deltas == [None, None]


def test_seed_case_matches_the_article_printout():
    """The reference reproduces the lesson's printout to the digits it printed."""
    layers = [Layer(np.array([[0.5, -0.6], [0.1, -0.2], [0.1, 0.7]]), None, "sigmoid"),
              Layer(np.array([[0.1], [-0.3]]), None, "sigmoid")]
    gradients = backprop(layers, np.array([[0.5, 0.1, -0.2]]), np.array([[0.6]]),
                         "half_squared_error", "mean", 0.5)
    # printed with NumPy's 8 decimals: good to half a unit in the 8th decimal
    np.testing.assert_allclose(gradients.weight_deltas[1].ravel(), [0.00804047, 0.00555918],
                               rtol=0, atol=5e-9)
    np.testing.assert_allclose(gradients.error_terms[0].ravel(), [0.00070802, -0.00204471],
                               rtol=0, atol=5e-9)
    # printed with all 17 significant digits: equal to within a couple of float64 ulps
    assert gradients.error_terms[1][0, 0] == pytest.approx(0.028730669543515018, rel=2e-16)


def test_seed_case_input_weight_deltas_match_the_printout():
    """Δw input→hidden against the lesson's printout (in cases/seed_3_2_1.yaml, 8 decimals)."""
    printed = [[1.77005547e-04, -5.11178506e-04], [3.54011093e-05, -1.02235701e-04],
               [-7.08022187e-05, 2.04471402e-04]]
    layers = [Layer(np.array([[0.5, -0.6], [0.1, -0.2], [0.1, 0.7]]), None, "sigmoid"),
              Layer(np.array([[0.1], [-0.3]]), None, "sigmoid")]
    gradients = backprop(layers, np.array([[0.5, 0.1, -0.2]]), np.array([[0.6]]),
                         "half_squared_error", "mean", 0.5)
    for (i, j), value in np.ndenumerate(np.array(printed)):
        half_unit = 0.5e-8 * 10.0 ** math.floor(math.log10(abs(value)))
        assert abs(gradients.weight_deltas[0][i, j] - value) <= half_unit, (i, j)


def test_one_one_one_network_by_hand():
    """1 → 1 → 1 with biases, tanh then identity, half squared error: every quantity by hand."""
    x, y, learning_rate = 0.8, 0.25, 0.1
    w1, b1, w2, b2 = 0.6, -0.1, -1.3, 0.4
    z1 = x * w1 + b1
    a1 = math.tanh(z1)
    a2 = a1 * w2 + b2  # identity output
    delta2 = y - a2  # −∂E/∂z2 for E = ½(y − a2)²
    delta1 = w2 * delta2 * (1 - math.tanh(z1) ** 2)
    layers = [Layer(np.array([[w1]]), np.array([b1]), "tanh"),
              Layer(np.array([[w2]]), np.array([b2]), "identity")]
    gradients = backprop(layers, np.array([[x]]), np.array([[y]]), "half_squared_error", "sum",
                         learning_rate)
    assert gradients.loss == pytest.approx(0.5 * (y - a2) ** 2, rel=1e-14)
    assert gradients.error_terms[1][0, 0] == pytest.approx(delta2, rel=1e-14)
    assert gradients.error_terms[0][0, 0] == pytest.approx(delta1, rel=1e-14)
    assert gradients.weight_deltas[1][0, 0] == pytest.approx(learning_rate * delta2 * a1, rel=1e-14)
    assert gradients.bias_deltas[1][0] == pytest.approx(learning_rate * delta2, rel=1e-14)
    assert gradients.weight_deltas[0][0, 0] == pytest.approx(learning_rate * delta1 * x, rel=1e-14)
    assert gradients.bias_deltas[0][0] == pytest.approx(learning_rate * delta1, rel=1e-14)


def test_one_one_one_weight_delta_is_minus_eta_times_the_loss_slope():
    """Δw1 = −η·∂E/∂w1, with ∂E/∂w1 a central difference of the hand-written loss."""
    x, y, learning_rate, b1, w2, b2 = 0.8, 0.25, 0.1, -0.1, -1.3, 0.4

    def loss(w1):
        return 0.5 * (y - (math.tanh(x * w1 + b1) * w2 + b2)) ** 2

    layers = [Layer(np.array([[0.6]]), np.array([b1]), "tanh"),
              Layer(np.array([[w2]]), np.array([b2]), "identity")]
    gradients = backprop(layers, np.array([[x]]), np.array([[y]]), "half_squared_error", "sum",
                         learning_rate)
    expected = -learning_rate * central_difference(loss, 0.6)
    assert gradients.weight_deltas[0][0, 0] == pytest.approx(expected, rel=FD_TOLERANCE)


def _random_layers(rng, sizes, activations, dtype=np.float64):
    """Layers with weights ~ N(0, 1/fan_in) and small biases."""
    return [Layer((rng.standard_normal((m, n)) / math.sqrt(m)).astype(dtype),
                  (0.1 * rng.standard_normal(n)).astype(dtype), activation)
            for m, n, activation in zip(sizes, sizes[1:], activations)]


def _targets_for(loss, rng, batch, outputs):
    """Targets that suit `loss`: one-hot for softmax, in (0, 1) otherwise."""
    if loss == "softmax_cross_entropy":
        return np.eye(outputs)[rng.integers(outputs, size=batch)]
    return rng.uniform(0.05, 0.95, size=(batch, outputs))


LAST_ACTIVATION = {"half_squared_error": "tanh", "mean_squared_error": "identity",
                   "binary_cross_entropy": "sigmoid", "softmax_cross_entropy": "identity"}
NETWORKS = [(activation, "half_squared_error") for activation in sorted(ACTIVATIONS)] + \
           [("tanh", loss) for loss in sorted(LOSSES)]


@pytest.mark.parametrize("activation, loss", NETWORKS)
def test_weight_deltas_are_minus_eta_times_finite_difference_of_loss(activation, loss):
    """Every Δw entry of a 3-4-2 network equals −η·∂E/∂w from central differences of E."""
    rng = np.random.default_rng(7)
    layers = _random_layers(rng, [3, 4, 2], [activation, LAST_ACTIVATION[loss]])
    inputs, targets = rng.standard_normal((5, 3)), _targets_for(loss, rng, 5, 2)
    learning_rate = 0.3
    gradients = backprop(layers, inputs, targets, loss, "mean", learning_rate)
    for l, layer in enumerate(layers):
        for index, _ in np.ndenumerate(layer.weights):
            def loss_at(value, l=l, index=index):
                shifted = [Layer(w.weights.copy(), w.bias, w.activation) for w in layers]
                shifted[l].weights[index] = value
                return backprop(shifted, inputs, targets, loss, "mean", learning_rate).loss
            expected = -learning_rate * central_difference(loss_at, layer.weights[index])
            assert gradients.weight_deltas[l][index] == pytest.approx(
                expected, rel=1e-7, abs=1e-9), (l, index)


def test_mean_reduction_is_sum_over_batch_size_exactly():
    """With B = 4 (a power of two) every mean quantity is exactly the sum one times 1/4."""
    rng = np.random.default_rng(3)
    layers = _random_layers(rng, [3, 5, 2], ["tanh", "sigmoid"])
    inputs, targets = rng.standard_normal((4, 3)), rng.uniform(size=(4, 2))
    mean = backprop(layers, inputs, targets, "half_squared_error", "mean", 0.5)
    total = backprop(layers, inputs, targets, "half_squared_error", "sum", 0.5)
    assert mean.loss == pytest.approx(total.loss / 4, rel=1e-15)
    for field in ("error_terms", "weight_deltas", "bias_deltas"):
        for m, s in zip(getattr(mean, field), getattr(total, field)):
            np.testing.assert_array_equal(m * 4, s)


def test_mean_reduction_is_sum_over_batch_size_for_odd_batch():
    """With B = 3 the mean quantities are the sum ones divided by 3, to rounding."""
    rng = np.random.default_rng(4)
    layers = _random_layers(rng, [2, 3, 3], ["relu", "identity"])
    inputs = rng.standard_normal((3, 2))
    targets = np.eye(3)
    mean = backprop(layers, inputs, targets, "softmax_cross_entropy", "mean", 1.0)
    total = backprop(layers, inputs, targets, "softmax_cross_entropy", "sum", 1.0)
    assert mean.loss == pytest.approx(total.loss / 3, rel=1e-15)
    for field in ("error_terms", "weight_deltas", "bias_deltas"):
        for m, s in zip(getattr(mean, field), getattr(total, field)):
            np.testing.assert_allclose(m, s / 3, rtol=1e-14, atol=1e-17)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_keeps_dtype(name, dtype):
    """f and f' return the dtype they were given."""
    z = np.array([-1.5, 0.0, 2.0], dtype=dtype)
    assert ACTIVATIONS[name][0](z).dtype == dtype
    assert ACTIVATIONS[name][1](z).dtype == dtype


@pytest.mark.parametrize("activation, loss", NETWORKS)
def test_backprop_float32_in_float32_out(activation, loss):
    """float32 layers and batch give float32 error terms, weight deltas and bias deltas."""
    rng = np.random.default_rng(11)
    layers = _random_layers(rng, [3, 4, 2], [activation, LAST_ACTIVATION[loss]], np.float32)
    inputs = rng.standard_normal((5, 3)).astype(np.float32)
    targets = _targets_for(loss, rng, 5, 2).astype(np.float32)
    gradients = backprop(layers, inputs, targets, loss, "mean", 0.3)
    for array in gradients.error_terms + gradients.weight_deltas + gradients.bias_deltas:
        assert array.dtype == np.float32
    assert isinstance(gradients.loss, float)


@pytest.mark.parametrize("z", [8.0, 14.0, 30.0])
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 2.3e-16), (np.float32, 1.2e-7)])
def test_binary_cross_entropy_near_one_keeps_its_digits(z, dtype, rtol):
    """Output σ(z) near 1, target 0: δ = y − a = −1/(1 + e^−z) to within one rounding, where a
    chain through 1 − a lost 1e-11 (float64, z = 14) to 1.4e-4 (float32, z = 8)."""
    layers = [Layer(np.array([[1.0]], dtype=dtype), None, "sigmoid")]
    gradients = backprop(layers, np.array([[z]], dtype=dtype), np.array([[0.0]], dtype=dtype),
                         "binary_cross_entropy", "mean", 1.0)
    exact = -1 / (1 + math.exp(-z))
    assert gradients.error_terms[0].dtype == dtype
    assert abs(float(gradients.error_terms[0][0, 0]) / exact - 1) <= rtol
