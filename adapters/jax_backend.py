"""JAX as a backend: jax.nn and jax.numpy ops, gradients from jax.grad, compiled per topology."""
import jax

jax.config.update("jax_enable_x64", True)  # before any array is made, or float64 is float32

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from crossgrad.problem import Gradients  # noqa: E402

DEVICE = "cpu"
UNSUPPORTED_DTYPES = {}  # dtype -> why this backend cannot compute in it

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


# One compilation per topology: jit caches on the static names and on the arrays' shapes and dtypes.
_value_and_grad = jax.jit(jax.value_and_grad(_loss, argnums=(0, 1, 2)),
                          static_argnames=("activations", "loss", "reduction"))


def backprop(problem, dtype):
    """Error terms, weight and bias deltas of `problem`, computed in `dtype`, as NumPy arrays."""
    def array(values):
        return jnp.asarray(values, dtype=dtype)

    weights = [array(layer.weights) for layer in problem.layers]
    biases = [None if layer.bias is None else array(layer.bias) for layer in problem.layers]
    batch = problem.inputs.shape[0]
    shifts = [jnp.zeros((batch, layer.fan_out), dtype=dtype) for layer in problem.layers]
    loss, (dw, db, dz) = _value_and_grad(
        weights, biases, shifts, array(problem.inputs), array(problem.targets),
        activations=tuple(layer.activation for layer in problem.layers),
        loss=problem.loss, reduction=problem.reduction)
    lr = problem.learning_rate
    return Gradients(float(loss), [np.asarray(-g) for g in dz], [np.asarray(-lr * g) for g in dw],
                     [None if g is None else np.asarray(-lr * g) for g in db])


def _directional(weights, biases, tangent_weights, tangent_biases, inputs, targets, activations,
                 loss, reduction):
    shifts = [jnp.zeros((inputs.shape[0], w.shape[1]), dtype=w.dtype) for w in weights]
    return jax.jvp(lambda w, b: _loss(w, b, shifts, inputs, targets, activations, loss, reduction),
                   (weights, biases), (tangent_weights, tangent_biases))[1]


_jvp = jax.jit(_directional, static_argnames=("activations", "loss", "reduction"))


def directional_derivatives(problem, dtype, directions):
    """d/dt E(p + t·v) at t = 0 for each direction v (per layer (dW, db)), by forward mode
    (jax.jvp), computed in `dtype`; returns a float64 array."""
    def array(values):
        return None if values is None else jnp.asarray(values, dtype=dtype)

    weights = [array(layer.weights) for layer in problem.layers]
    biases = [array(layer.bias) for layer in problem.layers]
    return np.array([float(_jvp(weights, biases, [array(dw) for dw, _ in direction],
                                [array(db) for _, db in direction], array(problem.inputs),
                                array(problem.targets),
                                activations=tuple(layer.activation for layer in problem.layers),
                                loss=problem.loss, reduction=problem.reduction))
                     for direction in directions])
