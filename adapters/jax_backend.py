"""JAX as a backend: jax.nn and jax.numpy ops, gradients from jax.grad, compiled per topology."""
import jax

jax.config.update("jax_enable_x64", True)  # before any array is made, or float64 is float32

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from crossgrad.adapters.compile_cache import use_persistent_cache  # noqa: E402
from crossgrad.dtypes import numpy_dtype  # noqa: E402
from crossgrad.problem import Gradients  # noqa: E402
from crossgrad.reference import Trajectory  # noqa: E402

DEVICE = jax.default_backend()  # "cpu" here; "gpu" on a GPU worker with jax[cuda]
UNSUPPORTED_DTYPES = {}  # dtype -> why this backend cannot compute in it

use_persistent_cache(jax)

# Each op pinned to the variant the case format names: jax.nn.gelu defaults to the tanh
# approximation, and jax.nn.relu (not jnp.maximum, whose derivative at 0 is 0.5) is relu.
ACTIVATIONS = {
    "identity": lambda z: z,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "leaky_relu": lambda z: jax.nn.leaky_relu(z, negative_slope=0.01),
    "softplus": jax.nn.softplus,
    "elu": lambda z: jax.nn.elu(z, alpha=1.0),
    "silu": jax.nn.silu,
    "gelu": lambda z: jax.nn.gelu(z, approximate=False),
    "gelu_tanh": lambda z: jax.nn.gelu(z, approximate=True),
}

# Per-sample losses, each summed (or averaged, for MSE) over the outputs.
LOSSES = {
    "half_squared_error": lambda a, y: 0.5 * jnp.sum((y - a) ** 2, axis=1),
    "mean_squared_error": lambda a, y: jnp.mean((y - a) ** 2, axis=1),
    "binary_cross_entropy": lambda a, y: -jnp.sum(y * jnp.log(a) + (1 - y) * jnp.log1p(-a), axis=1),
    "softmax_cross_entropy": lambda z, y: -jnp.sum(y * jax.nn.log_softmax(z, axis=1), axis=1),
}

# XLA's CPU compile time is mostly LLVM's; its expensive passes cost a third of it on these small
# programs and change no bit of any result in the catalogue (tests/test_batching.py checks four
# cases, every activation among them).
COMPILER_OPTIONS = {"xla_llvm_disable_expensive_passes": True}
STATIC = ("activations", "loss", "reduction")


def version():
    return jax.__version__


def _loss(weights, biases, shifts, inputs, targets, activations, loss, reduction):
    """E as a function of the parameters and of a zero shift added to each pre-activation.

    The gradient with respect to a shift s_l at 0 is ∂E/∂z_l: that is how jax.grad yields δ.
    """
    x = inputs
    for w, b, s, activation in zip(weights, biases, shifts, activations):
        z = jnp.matmul(x, w, precision=jax.lax.Precision.HIGHEST) + s
        if b is not None:
            z = z + b
        x = ACTIVATIONS[activation](z)
    per_sample = LOSSES[loss](x, targets)
    return jnp.mean(per_sample) if reduction == "mean" else jnp.sum(per_sample)


def _batched(weights, biases, shifts, inputs, targets, activations, loss, reduction):
    """E and its gradients for a stack of same-topology problems (leading axis: the problem)."""
    one = jax.value_and_grad(_loss, argnums=(0, 1, 2))
    return jax.vmap(lambda w, b, s, x, y: one(w, b, s, x, y, activations, loss, reduction))(
        weights, biases, shifts, inputs, targets)


# One compilation per topology: jit caches on the static names and on the arrays' shapes and
# dtypes. Every operation on the way in and out is NumPy's: an eager JAX op would compile too.
_value_and_grad = jax.jit(jax.value_and_grad(_loss, argnums=(0, 1, 2)), static_argnames=STATIC,
                          compiler_options=COMPILER_OPTIONS)
_batched_value_and_grad = jax.jit(_batched, static_argnames=STATIC,
                                  compiler_options=COMPILER_OPTIONS)


def _arrays(problem, dtype):
    """Weights, biases (or None), zero shifts, inputs and targets as NumPy arrays of `dtype`."""
    cast = numpy_dtype(dtype)
    return ([layer.weights.astype(cast) for layer in problem.layers],
            [None if layer.bias is None else layer.bias.astype(cast) for layer in problem.layers],
            [np.zeros((len(problem.inputs), layer.fan_out), cast) for layer in problem.layers],
            problem.inputs.astype(cast), problem.targets.astype(cast))


def _static(problem):
    return dict(activations=tuple(layer.activation for layer in problem.layers),
                loss=problem.loss, reduction=problem.reduction)


def _delta(learning_rate, gradient):
    # −η·g in g's own dtype, η rounded to it first, as jnp does with a Python float
    gradient = np.asarray(gradient)
    return gradient.dtype.type(-learning_rate) * gradient


def _gradients(loss, dw, db, dz, learning_rate):
    # δ = −∂E/∂z, Δw = −η·∂E/∂W, Δb = −η·∂E/∂b, negated and scaled in NumPy
    return Gradients(float(loss), [-np.asarray(g) for g in dz],
                     [_delta(learning_rate, g) for g in dw],
                     [None if g is None else _delta(learning_rate, g) for g in db])


def backprop(problem, dtype):
    """Error terms, weight and bias deltas of `problem`, computed in `dtype`, as NumPy arrays."""
    loss, (dw, db, dz) = _value_and_grad(*_arrays(problem, dtype), **_static(problem))
    return _gradients(loss, dw, db, dz, float(problem.learning_rate))


def backprop_batch(problems, dtype):
    """backprop of each of `problems`, which share one topology, as one jax.vmap call. The
    results agree with backprop's to rounding, not always to the bit: XLA compiles the batched
    program's matmuls and reductions in its own order (tests/test_batching.py measures it)."""
    stacked = [jax.tree_util.tree_map(lambda *leaves: np.stack(leaves), *parts)
               for parts in zip(*(_arrays(problem, dtype) for problem in problems))]
    loss, (dw, db, dz) = _batched_value_and_grad(*stacked, **_static(problems[0]))
    loss, dw, db, dz = jax.tree_util.tree_map(np.asarray, (loss, dw, db, dz))
    return [_gradients(loss[i], [g[i] for g in dw], [None if g is None else g[i] for g in db],
                       [g[i] for g in dz], float(problem.learning_rate))
            for i, problem in enumerate(problems)]


def _directional(weights, biases, tangent_weights, tangent_biases, inputs, targets, activations,
                 loss, reduction):
    shifts = [jnp.zeros((inputs.shape[0], w.shape[1]), dtype=w.dtype) for w in weights]
    return jax.jvp(lambda w, b: _loss(w, b, shifts, inputs, targets, activations, loss, reduction),
                   (weights, biases), (tangent_weights, tangent_biases))[1]


_jvp = jax.jit(_directional, static_argnames=STATIC, compiler_options=COMPILER_OPTIONS)


def directional_derivatives(problem, dtype, directions):
    """d/dt E(p + t·v) at t = 0 for each direction v (per layer (dW, db)), by forward mode
    (jax.jvp), computed in `dtype`; returns a float64 array."""
    cast = numpy_dtype(dtype)

    def array(values):
        return None if values is None else np.asarray(values).astype(cast)

    weights, biases, _, inputs, targets = _arrays(problem, dtype)
    return np.array([float(_jvp(weights, biases, [array(dw) for dw, _ in direction],
                                [array(db) for _, db in direction], inputs, targets,
                                **_static(problem)))
                     for direction in directions])


def _optax(optimizer, learning_rate, momentum, b1, b2, eps):
    """optax's own: sgd, sgd with momentum (t ← g + μ·t, update −η·t) or adam."""
    import optax  # only a training case needs it
    if optimizer == "adam":
        return optax.adam(learning_rate, b1=b1, b2=b2, eps=eps)
    return optax.sgd(learning_rate, momentum=momentum if optimizer == "momentum" else None)


def _trajectory(learned, fixed, inputs, targets, segments, constants, activations, loss,
                reduction, optimizer):
    """The loss and learned parameters after each segment of updates (`segments`: how many
    updates between recorded steps), all of it one lax.scan of lax.fori_loops; `constants`:
    η, μ, β1, β2, ε, traced."""
    import optax
    transform = _optax(optimizer, *constants)
    shifts = [jnp.zeros((inputs.shape[0], w.shape[1]), inputs.dtype)
              for w in {**fixed, **learned}["weights"]]

    def energy(learned):
        parameters = {**fixed, **learned}
        return _loss(parameters["weights"], parameters["biases"], shifts, inputs, targets,
                     activations, loss, reduction)

    def update(_, carry):
        parameters, state = carry
        updates, state = transform.update(jax.grad(energy)(parameters), state, parameters)
        return optax.apply_updates(parameters, updates), state

    def segment(carry, length):
        carry = jax.lax.fori_loop(0, length, update, carry)
        return carry, (energy(carry[0]), carry[0])

    return jax.lax.scan(segment, (learned, transform.init(learned)), segments)[1]


# One compilation per topology, dtype, what learns, optimizer name and bucket of recorded steps.
# η, μ, β1, β2 and ε are traced Python floats, which jit makes weakly typed float64 scalars:
# optax's arithmetic among them (1 − β1, β1^t) is float64 as it was with static Python floats,
# and each meets the parameters rounded to their dtype (float32 stays float32). Arrays of the
# parameters' dtype would not do: 1 − β1 in float32 is 0.100000024 where 1 − 0.9 rounds to 0.1.
# What XLA can no longer do is fold known constants, so a few runs move in their last bits
# (β1 = 0.5 made (1 − β1)·g + β1·m into (g + m)·0.5); cases/training's trajectories do not.
_train = jax.jit(_trajectory, static_argnames=STATIC + ("optimizer",),
                 compiler_options=COMPILER_OPTIONS)


def _bucket(count):
    """The segments' padded length: 1 for one recorded step, where the shrinker mostly ends (XLA
    drops a loop of one, and compiles it in 0.6 of the time of 2 to 8), else the next power of
    two from 8 (a drawn training records 2 to 7 steps)."""
    return 1 if count <= 1 else max(8, 1 << (count - 1).bit_length())


def train(problem, training, dtype):
    """`problem` trained as `training` says with optax, the whole loop one compiled program
    (one per topology, dtype, what learns, optimizer and bucket of the count of recorded steps,
    whatever η, μ, β and ε), in `dtype`; a Trajectory."""
    weights, biases, _, inputs, targets = _arrays(problem, dtype)
    parts = {"weights": weights, "biases": biases}
    learned = {name: value for name, value in parts.items() if name in training.update}
    fixed = {name: value for name, value in parts.items() if name not in training.update}
    record = np.array(training.record)
    segments = np.zeros(_bucket(len(record)), np.int32)  # zero-length segments: no updates
    segments[:len(record)] = np.diff(record, prepend=0)
    constants = tuple(float(c) for c in (problem.learning_rate, training.momentum,
                                         *training.betas, training.eps))
    losses, history = _train(learned, fixed, inputs, targets, segments, constants,
                             optimizer=training.optimizer, **_static(problem))
    losses, history = jax.tree_util.tree_map(lambda v: np.asarray(v)[:len(record)],
                                             (losses, history))

    def at(name, k):
        found = history[name] if name in history else [np.stack([v] * len(record))
                                                       if v is not None else None
                                                       for v in fixed[name]]
        return [None if v is None else v[k] for v in found]

    return Trajectory(tuple(training.record), [float(v) for v in losses],
                      [at("weights", k) for k in range(len(record))],
                      [at("biases", k) for k in range(len(record))])
