"""JAX's training loop compiles once per topology, dtype, optimizer and bucket of recorded steps,
whatever η, μ, β and ε; a program reused for other constants gives what one compiled for them
alone gives (constants static, the recorded steps unpadded: how train compiled before)."""
import numpy as np
import pytest

from crossgrad import adapters
from crossgrad.metrics import ulp_distance
from crossgrad.problem import Layer, Problem
from crossgrad.reference import Training

# Two runs each: other η, constants and count of recorded steps (5 and 8, or 6 and 7: one bucket)
RUNS = {
    "momentum": [(0.1, dict(momentum=0.9, record=(0, 1, 2, 5, 12))),
                 (0.037, dict(momentum=0.5, record=(0, 3, 4, 6, 7, 9, 10, 12)))],
    "adam": [(0.01, dict(betas=(0.9, 0.999), eps=1e-8, record=(0, 1, 3, 6, 11, 12))),
             (0.2, dict(betas=(0.5, 0.9), eps=1e-4, record=(0, 1, 2, 3, 4, 5, 12)))],
}


def _jax():
    try:
        return adapters.load("jax")
    except adapters.BackendUnavailable as unavailable:
        pytest.skip(str(unavailable))


def _problem(learning_rate):
    """A 4-3-2 softplus/tanh network no other test trains, on a batch of 5."""
    rng = np.random.default_rng(13)
    layers = (Layer(rng.normal(size=(4, 3)), rng.normal(size=3), "softplus"),
              Layer(rng.normal(size=(3, 2)), rng.normal(size=2), "tanh"))
    return Problem(layers, rng.normal(size=(5, 4)), rng.uniform(-0.9, 0.9, size=(5, 2)),
                   "half_squared_error", "mean", learning_rate)


def _compiled_alone(jax_backend, problem, training, dtype):
    """The run's trajectory (losses, then each learned array by step) from a program compiled
    for it alone, with η, μ, β and ε static and one segment per recorded step."""
    weights, biases, _, inputs, targets = jax_backend._arrays(problem, dtype)
    segments = np.diff(np.array(training.record), prepend=0).astype(np.int32)
    constants = (problem.learning_rate, training.momentum, *training.betas, training.eps)
    alone = jax_backend.jax.jit(jax_backend._trajectory, static_argnames=jax_backend.STATIC
                                + ("optimizer", "constants"),
                                compiler_options=jax_backend.COMPILER_OPTIONS)
    losses, history = alone({"weights": weights, "biases": biases}, {}, inputs, targets,
                            segments, constants=constants, optimizer=training.optimizer,
                            **jax_backend._static(problem))
    return [np.asarray(losses)] + [np.asarray(v) for v in history["weights"] + history["biases"]]


def _as_arrays(trajectory, dtype):
    """Losses (back in `dtype`: exact), then each learned array by step, as _compiled_alone's."""
    return [np.array(trajectory.losses).astype(dtype)] + [
        np.stack(layer) for part in (trajectory.weights, trajectory.biases)
        for layer in zip(*part)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("optimizer", sorted(RUNS))
def test_other_constants_and_record_counts_reuse_one_program(optimizer, dtype):
    jax_backend = _jax()
    before = jax_backend._train._cache_size()
    trajectories = []
    for learning_rate, options in RUNS[optimizer]:
        problem, training = _problem(learning_rate), Training(12, optimizer, **options)
        trajectories.append((problem, training, jax_backend.train(problem, training, dtype)))
    assert jax_backend._train._cache_size() == before + 1
    for problem, training, trajectory in trajectories:
        assert trajectory.steps == training.record
        alone = _compiled_alone(jax_backend, problem, training, dtype)
        for mine, theirs in zip(_as_arrays(trajectory, dtype), alone, strict=True):
            assert (mine.shape, mine.dtype) == (theirs.shape, theirs.dtype)
            apart = ulp_distance(mine.astype(np.float64), theirs.astype(np.float64), dtype)
            # 0 ulps here; 1 allowed, as XLA folds a static constant and may round around it
            assert np.max(apart) <= 1, (problem.learning_rate, training, np.max(apart))
