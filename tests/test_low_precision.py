"""float16 and bfloat16: every backend that supports them computes in them, within the table."""
import numpy as np
import pytest

from crossgrad import adapters, runner
from crossgrad.cases import load_case
from crossgrad.compare import compare
from crossgrad.dtypes import numpy_dtype
from crossgrad.metrics import ulp_distance
from crossgrad.reference import ACTIVATIONS, LOSSES
from crossgrad.tolerances import tolerance_for

from test_adapters import LAST_ACTIVATION, random_problem, reference

LOW = ("float16", "bfloat16")
SUPPORTED = [pytest.param(backend, dtype, marks=getattr(pytest.mark, backend),
                          id=f"{backend}-{dtype}")
             for backend in adapters.BACKENDS for dtype in LOW
             if not (backend == "numpy" and dtype == "bfloat16")]


def load(name, dtype=None):
    """The adapter for backend `name`; skipped where its framework is missing or, given a
    dtype, where the backend lists that dtype in UNSUPPORTED_DTYPES (with its reason)."""
    if name != "numpy":
        pytest.importorskip(name)
    backend = adapters.load(name)
    if dtype in backend.UNSUPPORTED_DTYPES:
        pytest.skip(f"{name} does not compute in {dtype}: {backend.UNSUPPORTED_DTYPES[dtype]}")
    return backend


# Every activation under one loss, and every loss after one activation (JAX compiles each pair).
PAIRS = [(activation, "half_squared_error") for activation in sorted(ACTIVATIONS)] + \
        [("tanh", loss) for loss in sorted(LOSSES) if loss != "half_squared_error"]


@pytest.mark.parametrize("backend, dtype", SUPPORTED)
@pytest.mark.parametrize("activation, loss", PAIRS)
def test_computes_in_the_dtype_and_agrees_within_the_table(backend, dtype, activation, loss):
    """Every δ, Δw and Δb comes back in the dtype and within its tolerance of float64."""
    problem = random_problem((activation, LAST_ACTIVATION[loss]), loss, seed=5)
    gradients, truth = load(backend, dtype).backprop(problem, dtype), reference(problem)
    for field in ("error_terms", "weight_deltas", "bias_deltas"):
        for layer, (actual, expected) in enumerate(zip(getattr(gradients, field),
                                                       getattr(truth, field))):
            row = compare(actual, expected, tolerance_for(dtype), case="random", backend=backend,
                          dtype=dtype, device="cpu", layer=layer, quantity=field,
                          compared_to="reference")
            assert row.status == "pass", row.message()
            assert actual.dtype == numpy_dtype(dtype)


def test_numpy_bfloat16_is_skipped_with_its_reason(tmp_path):
    """The reference cannot honestly compute in bfloat16, and says so instead of upcasting."""
    path = tmp_path / "seed.yaml"
    path.write_text("description: d\nnetwork: {layers: [{weights: [[0.5]], activation: tanh}]}\n"
                    "inputs: [[1.0]]\ntargets: [[0.2]]\nloss: half_squared_error\n"
                    "dtypes: [float64, bfloat16]\n", encoding="utf-8")
    rows = runner.run(load_case(path), "numpy", "bfloat16")
    assert [r.status for r in rows] == ["skipped"]
    assert "NumPy has no bfloat16 arithmetic" in rows[0].problem


def test_bfloat16_ulps():
    """bfloat16 keeps 7 fraction bits: 1 + 2^-7 is the next value after 1, 1 + 2^-8 rounds to 1."""
    one = np.array([1.0])
    assert ulp_distance(np.array([1.0 + 2**-7]), one, "bfloat16")[0] == 1
    assert ulp_distance(np.array([1.0 + 3 * 2**-7]), one, "bfloat16")[0] == 3
    assert ulp_distance(np.array([1.0 + 2**-9]), one, "bfloat16")[0] == 0
    assert ulp_distance(np.array([1.0 + 2**-10]), one, "float16")[0] == 1
