"""Each backend, reached through the registry by name, against the float64 NumPy reference."""
import math
import sys

import numpy as np
import pytest

from crossgrad import adapters
from crossgrad.compare import compare
from crossgrad.problem import Layer, Problem
from crossgrad.reference import ACTIVATIONS, LOSSES
from crossgrad.reference import backprop as reference_backprop
from crossgrad.tolerances import tolerance_for

BACKENDS = [pytest.param(name, marks=getattr(pytest.mark, name)) for name in adapters.BACKENDS]
# Agreement expected of a float64 backend on small, well-scaled problems: a few ulps per op.
RTOL_FLOAT64 = 1e-12
LAST_ACTIVATION = {"half_squared_error": "tanh", "mean_squared_error": "identity",
                   "binary_cross_entropy": "sigmoid", "softmax_cross_entropy": "identity"}


def load(name):
    """The adapter for backend `name`; the test is skipped when its framework is not installed."""
    if name != "numpy":
        pytest.importorskip(name)
    return adapters.load(name)


def random_problem(activations, loss, reduction="mean", biases=(True, True), seed=0):
    """A seeded 3-4-2 network on a batch of 5, with targets that suit `loss`."""
    rng = np.random.default_rng(seed)
    sizes = (3, 4, 2)
    layers = tuple(Layer(rng.standard_normal((m, n)) / math.sqrt(m),
                         0.1 * rng.standard_normal(n) if bias else None, activation)
                   for m, n, activation, bias in zip(sizes, sizes[1:], activations, biases))
    inputs = rng.standard_normal((5, 3))
    if loss == "softmax_cross_entropy":
        targets = rng.dirichlet(np.ones(2), size=5)  # soft labels that sum to 1
    else:
        targets = rng.uniform(0.05, 0.95, size=(5, 2))
    return Problem(layers, inputs, targets, loss, reduction, 0.3)


def reference(problem):
    """The float64 reference's Gradients for `problem`."""
    return reference_backprop(problem.layers, problem.inputs, problem.targets, problem.loss,
                              problem.reduction, problem.learning_rate)


def assert_agrees_with_reference(gradients, problem):
    """Loss and each layer's δ, Δw, Δb within RTOL_FLOAT64 (atol: that × the largest |expected|)."""
    __tracebackhide__ = True
    truth = reference(problem)
    assert gradients.loss == pytest.approx(truth.loss, rel=RTOL_FLOAT64)
    for field in ("error_terms", "weight_deltas", "bias_deltas"):
        for layer, (actual, expected) in enumerate(zip(getattr(gradients, field),
                                                       getattr(truth, field))):
            if expected is None:
                assert actual is None, f"{field}[{layer}]"
                continue
            np.testing.assert_allclose(actual, expected, rtol=RTOL_FLOAT64,
                                       atol=RTOL_FLOAT64 * np.max(np.abs(expected)),
                                       err_msg=f"{field}[{layer}]")


# Known float64 divergences of an op itself, each declared in the catalogue's cases with its
# measured size; strict, so that a framework that fixes one makes its test say so.
FLOAT64_OP_DIVERGENCES = {
    ("tensorflow", "gelu"): "tf.nn.gelu's √½ is a float32 constant cast to float64 (1.7e-8 low)",
    ("tensorflow", "gelu_tanh"): "tf.nn.gelu's 0.044715 is a float32 constant cast to float64",
    ("tensorflow", "leaky_relu"): "tf.nn.leaky_relu's alpha is a 32-bit attribute: 0.01 in float32",
    ("tinygrad", "gelu"): "Tensor.erf is Abramowitz–Stegun 7.1.26, 1.5e-7 off in float64 too",
}


def _activation_param(backend, activation):
    reason = FLOAT64_OP_DIVERGENCES.get((backend, activation))
    marks = [getattr(pytest.mark, backend)] + ([pytest.mark.xfail(strict=True, reason=reason)]
                                               if reason else [])
    return pytest.param(backend, activation, marks=marks, id=f"{activation}-{backend}")


@pytest.mark.parametrize("backend, activation", [
    _activation_param(backend, activation) for activation in sorted(ACTIVATIONS)
    for backend in adapters.BACKENDS])
def test_float64_agrees_with_reference_for_every_activation(backend, activation):
    """Both layers use the activation, so its derivative is used at the output and below it."""
    problem = random_problem((activation, activation), "half_squared_error")
    assert_agrees_with_reference(load(backend).backprop(problem, "float64"), problem)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_float64_agrees_with_reference_for_every_loss(backend, loss, reduction):
    """Each loss, with the last activation it needs, under both reductions."""
    problem = random_problem(("tanh", LAST_ACTIVATION[loss]), loss, reduction, seed=1)
    assert_agrees_with_reference(load(backend).backprop(problem, "float64"), problem)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_returns_arrays_of_the_requested_dtype(backend, dtype):
    """Every δ, Δw and Δb is a NumPy array of the requested dtype; the loss is a float."""
    problem = random_problem(("gelu", "sigmoid"), "binary_cross_entropy", seed=2)
    gradients = load(backend).backprop(problem, dtype)
    assert isinstance(gradients.loss, float)
    for field in ("error_terms", "weight_deltas", "bias_deltas"):
        for layer, array in enumerate(getattr(gradients, field)):
            assert isinstance(array, np.ndarray), f"{field}[{layer}]"
            assert array.dtype == np.dtype(dtype), f"{field}[{layer}] is {array.dtype}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_agrees_with_reference_within_the_table(backend):
    """float32 results are within the float32 tolerance of the float64 reference."""
    problem = random_problem(("softplus", "identity"), "softmax_cross_entropy", seed=3)
    gradients = load(backend).backprop(problem, "float32")
    truth = reference(problem)
    for field in ("error_terms", "weight_deltas", "bias_deltas"):
        for layer, (actual, expected) in enumerate(zip(getattr(gradients, field),
                                                       getattr(truth, field))):
            result = compare(actual, expected, tolerance_for("float32"), case="t", backend=backend,
                             dtype="float32", device="cpu", layer=layer, quantity=field,
                             compared_to="reference")
            assert result.status == "pass", result.message()


@pytest.mark.parametrize("backend", BACKENDS)
def test_layer_without_bias_gets_no_bias_delta(backend):
    """A layer with bias None gets bias delta None; a layer with a bias gets a (fan_out,) array."""
    problem = random_problem(("tanh", "sigmoid"), "half_squared_error", biases=(False, True))
    gradients = load(backend).backprop(problem, "float64")
    assert gradients.bias_deltas[0] is None
    assert gradients.bias_deltas[1].shape == (2,)
    assert_agrees_with_reference(gradients, problem)


def kink_problem(activation):
    """Inputs [1, −1] into a 2-2-1 network whose first hidden unit has z = 0 exactly."""
    layers = (Layer(np.array([[1.0, 2.0], [1.0, -1.0]]), None, activation),
              Layer(np.array([[0.3], [-0.7]]), np.array([0.1]), "identity"))
    return Problem(layers, np.array([[1.0, -1.0]]), np.array([[0.5]]), "half_squared_error",
                   "mean", 0.5)


def _kink_param(backend, activation, slope):
    if backend == "jax" and activation == "leaky_relu":
        # A known divergence, not an adapter bug: jax.nn.leaky_relu tests x >= 0, so its
        # derivative at 0 is 1 where torch's and the reference's is the slope. Cases at that
        # kink declare it; if JAX changes, this test says so.
        slope = 1.0
    if backend == "tinygrad" and activation in ("elu", "leaky_relu"):
        # tinygrad's elu is relu(z) − α·relu(1 − e^z), both relus with derivative 0 at 0, and
        # its leaky_relu is (z < 0).where(slope·z, z), derivative 1 at 0 (as jax's)
        slope = {"elu": 0.0, "leaky_relu": 1.0}[activation]
    if backend == "tensorflow" and activation == "leaky_relu":
        # LeakyReluGrad takes the slope at 0 too, but alpha is a 32-bit attribute of the op
        slope = float(np.float32(0.01))
    return pytest.param(backend, activation, slope, marks=[getattr(pytest.mark, backend)],
                        id=f"{backend}-{activation}")


@pytest.mark.parametrize("backend, activation, slope", [
    _kink_param(backend, activation, slope) for backend in adapters.BACKENDS
    for activation, slope in (("relu", 0.0), ("leaky_relu", 0.01), ("elu", 1.0))])
def test_derivative_at_exactly_zero_is_the_one_sided_value(backend, activation, slope):
    """z = (0, 3): a = (f(0), 3), output −2, δ_out = 2.5, δ_hidden = (0.75·f'(0), −1.75)."""
    gradients = load(backend).backprop(kink_problem(activation), "float64")
    # a_0 = f(0) = 0 for all three, a_1 = 3; output 0·0.3 + 3·(−0.7) + 0.1 = −2; δ = 0.5 + 2
    assert gradients.error_terms[1][0, 0] == pytest.approx(2.5, rel=1e-15)
    assert gradients.error_terms[0][0, 0] == pytest.approx(2.5 * 0.3 * slope, rel=1e-15, abs=0)
    assert gradients.error_terms[0][0, 1] == pytest.approx(2.5 * -0.7, rel=1e-15)


@pytest.mark.parametrize("backend", [
    pytest.param(name, marks=[getattr(pytest.mark, name)] + (
        [pytest.mark.xfail(strict=True, reason=FLOAT64_OP_DIVERGENCES[name, "gelu"])]
        if (name, "gelu") in FLOAT64_OP_DIVERGENCES else [])) for name in adapters.BACKENDS])
def test_gelu_is_the_exact_erf_form(backend):
    """gelu agrees with the reference's erf form to 1e-12, where gelu_tanh is 1e-5 or more away."""
    layers = (Layer(np.array([[-3.0, -2.0, -1.0, 0.5, 1.5, 2.5]]), None, "gelu"),)
    problem = Problem(layers, np.array([[1.0]]), np.zeros((1, 6)), "half_squared_error", "sum", 1.0)
    tanh_form = Problem((Layer(layers[0].weights, None, "gelu_tanh"),), problem.inputs,
                        problem.targets, "half_squared_error", "sum", 1.0)
    exact, approximate = reference(problem).error_terms[0], reference(tanh_form).error_terms[0]
    assert np.max(np.abs(exact - approximate)) > 1e-5  # so agreeing with `exact` means something
    actual = load(backend).backprop(problem, "float64").error_terms[0]
    np.testing.assert_allclose(actual, exact, rtol=RTOL_FLOAT64, atol=0)


def _softplus_tail_problem():
    layers = (Layer(np.array([[20.5]]), None, "softplus"),)
    return Problem(layers, np.array([[1.0]]), np.array([[0.0]]), "half_squared_error", "mean", 1.0)


# At z = 20.5 by hand: δ = −(softplus(z) − 0)·σ(z) = −log1p(e^z) / (1 + e^−z)
SOFTPLUS_TAIL_DELTA = -math.log1p(math.exp(20.5)) / (1 + math.exp(-20.5))


@pytest.mark.parametrize("backend", [pytest.param(b, marks=getattr(pytest.mark, b))
                                     for b in ("numpy", "jax")])
def test_softplus_just_past_twenty_is_within_float64_tolerance(backend):
    """At z = 20.5 the exact softplus and its derivative σ(z) meet the float64 table."""
    actual = load(backend).backprop(_softplus_tail_problem(), "float64").error_terms[0]
    result = compare(actual, [[SOFTPLUS_TAIL_DELTA]], tolerance_for("float64"),
                     case="softplus_tail", backend=backend, dtype="float64", device="cpu",
                     layer=0, quantity="error_term", compared_to="reference")
    assert result.status == "pass", result.message()


@pytest.mark.torch
def test_torch_softplus_is_linear_past_its_threshold():
    """A known divergence: torch's softplus is z, with derivative 1, for z > 20, so δ = −20.5
    exactly, 1.2e-9 relative from the exact value: outside the float64 table."""
    actual = load("torch").backprop(_softplus_tail_problem(), "float64").error_terms[0]
    assert actual[0, 0] == -20.5
    assert abs(actual[0, 0] / SOFTPLUS_TAIL_DELTA - 1) > tolerance_for("float64").rtol


@pytest.mark.parametrize("framework", [name for name in adapters.BACKENDS if name != "numpy"])
def test_missing_framework_gives_backend_unavailable(monkeypatch, framework):
    """With the framework unimportable and its adapter not yet imported: BackendUnavailable."""
    monkeypatch.setitem(sys.modules, framework, None)  # importing it raises ModuleNotFoundError
    monkeypatch.delitem(sys.modules, f"crossgrad.adapters.{framework}_backend", raising=False)
    with pytest.raises(adapters.BackendUnavailable, match=f"{framework} is not installed"):
        adapters.load(framework)


def test_missing_dependency_other_than_the_framework_is_not_masked(monkeypatch, tmp_path):
    """An adapter whose own import of something else fails raises that ModuleNotFoundError."""
    module = "crossgrad_test_fresh_adapter"
    (tmp_path / f"{module}.py").write_text("import crossgrad_test_no_such_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(adapters._MODULES, "torch", module)
    monkeypatch.delitem(sys.modules, module, raising=False)
    with pytest.raises(ModuleNotFoundError) as caught:
        adapters.load("torch")
    assert caught.value.name == "crossgrad_test_no_such_dependency"


def test_fresh_adapter_module_missing_its_framework_is_unavailable(monkeypatch, tmp_path):
    """A freshly named adapter module that imports a missing torch gives BackendUnavailable."""
    module = "crossgrad_test_fresh_torch_adapter"
    (tmp_path / f"{module}.py").write_text("import torch\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(adapters._MODULES, "torch", module)
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(adapters.BackendUnavailable, match="pip install"):
        adapters.load("torch")


def test_unknown_backend_is_a_key_error():
    """A name the registry does not know raises KeyError."""
    with pytest.raises(KeyError):
        adapters.load("caffe")


@pytest.mark.parametrize("backend", BACKENDS)
def test_adapter_exposes_device_and_version(backend):
    """Each adapter module has DEVICE and version() for the report."""
    adapter = load(backend)
    assert isinstance(adapter.DEVICE, str) and adapter.DEVICE
    assert isinstance(adapter.version(), str) and adapter.version()
