"""HIPS autograd as a backend: autograd.numpy ops, gradients from autograd.grad; training with
autograd.misc.optimizers."""
import importlib.metadata
import math

import autograd
import autograd.numpy as anp
import numpy as np
from autograd.misc.optimizers import adam, sgd
from autograd.scipy.special import erf, expit, logsumexp

from crossgrad.dtypes import numpy_dtype
from crossgrad.problem import Gradients
from crossgrad.reference import Trajectory

DEVICE = "cpu"
UNSUPPORTED_DTYPES = {  # dtype -> why this backend cannot compute in it
    "float16": "autograd.scipy.special's expit and erf wrap SciPy's ufuncs, which have no "
               "float16 loop: they compute in float32 and return float32 (their VJPs too), so "
               "a float16 network would not be computed in float16",
    "bfloat16": "autograd computes with NumPy, which has no bfloat16 arithmetic of its own "
                "(ml_dtypes' bfloat16 promotes to float32 in matmuls)",
}

SQRT_HALF = math.sqrt(0.5)  # Python floats: an np.float64 constant would promote float32 to float64
GELU_TANH_C = math.sqrt(2 / math.pi)

# Each op pinned to the variant the case format names. The kinks are written as a product with
# a mask, as autograd users write relu: anp.maximum's VJP splits a tie (its derivative at 0 is
# 0.5), and anp.where's and anp.maximum's VJPs add float64 zeros (anp.zeros(g.shape)), which
# would turn a float32 network's gradients into float64 ones.
# https://github.com/HIPS/autograd/blob/master/autograd/numpy/numpy_vjps.py (where, balanced_eq)
ACTIVATIONS = {
    "identity": lambda z: z,
    "sigmoid": expit,  # scipy.special.expit; its VJP is g·ans·(1 − ans), from the output
    "tanh": anp.tanh,
    "relu": lambda z: z * (z > 0),  # derivative 0 at 0
    "leaky_relu": lambda z: z * (z > 0) + 0.01 * z * (z <= 0),  # slope 0.01 at 0
    "softplus": lambda z: anp.logaddexp(0.0, z),
    # expm1 of the negative part only, so a large positive z does not overflow into 0·inf
    "elu": lambda z: z * (z > 0) + anp.expm1(z * (z <= 0)),  # α = 1
    "silu": lambda z: z * expit(z),
    "gelu": lambda z: 0.5 * z * (1 + erf(z * SQRT_HALF)),  # the exact, erf form
    "gelu_tanh": lambda z: 0.5 * z * (1 + anp.tanh(GELU_TANH_C * (z + 0.044715 * z ** 3))),
}

# Per-sample losses, each summed (or averaged, for MSE) over the outputs.
LOSSES = {
    "half_squared_error": lambda a, y: 0.5 * anp.sum((y - a) ** 2, axis=1),
    "mean_squared_error": lambda a, y: anp.mean((y - a) ** 2, axis=1),
    "binary_cross_entropy": lambda a, y: -anp.sum(y * anp.log(a) + (1 - y) * anp.log1p(-a),
                                                  axis=1),
    "softmax_cross_entropy": lambda z, y: -anp.sum(y * (z - logsumexp(z, axis=1, keepdims=True)),
                                                   axis=1),
}


def version():
    return importlib.metadata.version("autograd")  # autograd has no __version__


def _loss(parameters, inputs, targets, problem):
    """E as a function of (weights, biases, shifts), a zero shift added to each pre-activation:
    the gradient with respect to a shift s_l at 0 is ∂E/∂z_l, which is how autograd yields δ
    (None: no shift, where δ is not asked for)."""
    weights, biases, shifts = parameters
    rest, x = iter(biases), inputs
    for w, s, layer in zip(weights, shifts, problem.layers):
        z = anp.dot(x, w) if s is None else anp.dot(x, w) + s
        if layer.bias is not None:
            z = z + next(rest)
        x = ACTIVATIONS[layer.activation](z)
    per_sample = LOSSES[problem.loss](x, targets)
    return anp.mean(per_sample) if problem.reduction == "mean" else anp.sum(per_sample)


def backprop(problem, dtype):
    """Error terms, weight and bias deltas of `problem`, computed in `dtype`, as NumPy arrays."""
    cast = numpy_dtype(dtype)
    batch = len(problem.inputs)
    parameters = ([layer.weights.astype(cast) for layer in problem.layers],
                  [layer.bias.astype(cast) for layer in problem.layers if layer.bias is not None],
                  [np.zeros((batch, layer.fan_out), cast) for layer in problem.layers])
    inputs, targets = problem.inputs.astype(cast), problem.targets.astype(cast)
    with np.errstate(all="ignore"):  # a NaN or Inf result is labelled non_finite, not warned of
        loss, (dw, db, dz) = autograd.value_and_grad(_loss)(parameters, inputs, targets, problem)
    rate = cast.type(-problem.learning_rate)  # −η rounded to the dtype, then Δ = −η·g in it
    rest = iter(db)
    # δ = −∂E/∂z, Δw = −η·∂E/∂W, Δb = −η·∂E/∂b
    return Gradients(float(loss), [-g for g in dz], [rate * g for g in dw],
                     [None if layer.bias is None else rate * next(rest)
                      for layer in problem.layers])


def _optimize(training, learning_rate, gradient, start):
    """autograd.misc.optimizers' own, over `training.steps` updates from `start`.

    Its sgd is momentum in the averaging form, v ← mass·v − (1 − mass)·g, x ← x + step_size·v:
    with mass = μ and step_size = η/(1 − μ) it is the reference's v ← μ·v − η·g (for the
    velocity step_size·v), equal in exact arithmetic; its default step_size = η, mass = 0.9
    would step 10× shorter. mass = 0 is plain sgd, x − η·g. Its adam is the reference's
    m̂/(√ŝ + ε). Both keep their state in float64 (np.zeros), and so the parameters: a float32
    run computes its losses and gradients in float32 at float32 copies of float64 parameters.
    """
    if training.optimizer == "adam":
        return adam(gradient, start, num_iters=training.steps, step_size=learning_rate,
                    b1=training.betas[0], b2=training.betas[1], eps=training.eps)
    mass = training.momentum if training.optimizer == "momentum" else 0.0
    return sgd(gradient, start, num_iters=training.steps,
               step_size=learning_rate / (1.0 - mass), mass=mass)


def train(problem, training, dtype):
    """`problem` trained as `training` says with autograd.misc.optimizers (one call for all the
    steps), in `dtype`; the loss and parameters at each recorded step (a crossgrad.Trajectory),
    recorded where the optimizer asks for the step's gradient (its callback would unflatten the
    parameters once more a step: a fifth of the time)."""
    cast = numpy_dtype(dtype)
    weights = [layer.weights.astype(cast) for layer in problem.layers]
    biases = [layer.bias.astype(cast) for layer in problem.layers if layer.bias is not None]
    learns = {"weights": "weights" in training.update, "biases": "biases" in training.update}
    inputs, targets = problem.inputs.astype(cast), problem.targets.astype(cast)
    shifts = [None] * len(problem.layers)
    recorded = Trajectory(tuple(training.record), [], [], [])

    def full(learned):
        rest = iter(learned)
        return [next(rest) if learns[part] else fixed
                for part, fixed in (("weights", weights), ("biases", biases))]

    def energy(learned):
        return _loss((*full(learned), shifts), inputs, targets, problem)

    def record(learned, loss):
        recorded.losses.append(float(loss))
        layer_weights, layer_biases = full(learned)
        rest = iter(layer_biases)
        recorded.weights.append([w.copy() for w in layer_weights])
        recorded.biases.append([None if layer.bias is None else next(rest).copy()
                                for layer in problem.layers])

    def gradient(learned, step):
        """∂E/∂(what learns) at `step` updates, recording E and the parameters there."""
        loss, g = autograd.value_and_grad(energy)(learned)
        if step in training.record:
            record(learned, loss)
        return g

    with np.errstate(all="ignore"):  # a NaN or Inf result is labelled non_finite, not warned of
        start = [part for part, name in ((weights, "weights"), (biases, "biases"))
                 if learns[name]]  # only what learns
        end = _optimize(training, float(problem.learning_rate), gradient, start)
        if training.steps in training.record:
            record(end, energy(end))
    return recorded
