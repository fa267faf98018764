"""PyTorch autograd as a backend: torch.nn.functional ops, gradients from torch.autograd.grad
(torch.func.vmap for a batch of problems of one topology)."""
import os

import numpy as np
import torch
import torch.nn.functional as F

from crossgrad.dtypes import numpy_dtype
from crossgrad.problem import Gradients
from crossgrad.reference import Trajectory

# A GPU worker (see crossgrad.executors) sets CROSSGRAD_TORCH_DEVICE=cuda.
DEVICE = os.environ.get("CROSSGRAD_TORCH_DEVICE", "cpu")
UNSUPPORTED_DTYPES = {}  # dtype -> why this backend cannot compute in it

# Full-precision float32 matmuls: a gradient checker must not compare TF32 on a GPU.
torch.set_float32_matmul_precision("highest")
# One thread: MKL's float32 matmuls round differently with another thread count, so results
# would depend on the machine's cores and on how many worker processes share them. The
# networks are small; the parallelism is across cases (crossgrad.executors).
torch.set_num_threads(1)

# Each op pinned to the variant the case format names.
ACTIVATIONS = {
    "identity": lambda z: z,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": F.relu,
    "leaky_relu": lambda z: F.leaky_relu(z, negative_slope=0.01),
    "softplus": lambda z: F.softplus(z, beta=1.0, threshold=20.0),  # torch's own linear tail
    "elu": lambda z: F.elu(z, alpha=1.0),
    "silu": F.silu,
    "gelu": lambda z: F.gelu(z, approximate="none"),
    "gelu_tanh": lambda z: F.gelu(z, approximate="tanh"),
}


def _summed_loss(name, output, targets):
    """The loss summed over the batch (per-sample losses are summed over outputs, except MSE)."""
    if name == "half_squared_error":
        return 0.5 * F.mse_loss(output, targets, reduction="sum")
    if name == "mean_squared_error":
        return F.mse_loss(output, targets, reduction="sum") / targets.shape[1]
    if name == "binary_cross_entropy":
        return F.binary_cross_entropy(output, targets, reduction="sum")
    if name == "softmax_cross_entropy":
        return F.cross_entropy(output, targets, reduction="sum")  # output: the logits
    raise ValueError(f"unknown loss {name!r}")


def version():
    return torch.__version__


def _tensor(array, dtype, grad=False):
    return torch.tensor(array, dtype=getattr(torch, dtype), device=DEVICE, requires_grad=grad)


def _network_loss(weights, biases, shifts, inputs, targets, activations, loss, reduction):
    """E, and each layer's pre-activation z = x @ W (+ b) (+ its shift, where one is given)."""
    x, pre_activations = inputs, []
    for w, b, s, activation in zip(weights, biases, shifts, activations):
        z = F.linear(x, w.T, b)
        z = z if s is None else z + s
        pre_activations.append(z)
        x = ACTIVATIONS[activation](z)
    summed = _summed_loss(loss, x, targets)
    return (summed / len(targets) if reduction == "mean" else summed), pre_activations


def _loss(problem, weights, biases, dtype):
    """E, and each layer's pre-activation z, for `problem`'s batch in `dtype`."""
    return _network_loss(weights, biases, [None] * len(weights), _tensor(problem.inputs, dtype),
                         _tensor(problem.targets, dtype), [l.activation for l in problem.layers],
                         problem.loss, problem.reduction)


def _numpy(t):
    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:  # NumPy has no bfloat16 of its own; ml_dtypes' is exact
        return t.float().numpy().astype(numpy_dtype("bfloat16"))
    return t.numpy()


def _gradients(loss, dz, dw, db, learning_rate):
    # δ = −∂E/∂z, Δw = −η·∂E/∂W, Δb = −η·∂E/∂b, each in the gradient's own dtype
    return Gradients(float(loss.detach()), [_numpy(-g) for g in dz],
                     [_numpy(-learning_rate * g) for g in dw],
                     [None if g is None else _numpy(-learning_rate * g) for g in db])


def backprop(problem, dtype):
    """Error terms, weight and bias deltas of `problem`, computed in `dtype`, as NumPy arrays."""
    weights = [_tensor(layer.weights, dtype, grad=True) for layer in problem.layers]
    biases = [None if layer.bias is None else _tensor(layer.bias, dtype, grad=True)
              for layer in problem.layers]
    loss, pre_activations = _loss(problem, weights, biases, dtype)
    with_bias = [b for b in biases if b is not None]
    grads = torch.autograd.grad(loss, pre_activations + weights + with_bias)
    n = len(weights)
    dz, dw, db = grads[:n], grads[n:2 * n], iter(grads[2 * n:])
    return _gradients(loss, dz, dw, [None if b is None else next(db) for b in biases],
                      problem.learning_rate)


def backprop_batch(problems, dtype):
    """backprop of each of `problems`, which share one topology, as one torch.func.vmap call.

    torch.func differentiates inputs, not intermediates: δ is the gradient with respect to a
    zero shift added to each pre-activation, as in the JAX adapter. The results agree with
    backprop's to rounding, not to the bit: torch's elementwise kernels take a vectorized path
    for whole SIMD blocks and a scalar one for the rest (sigmoid, softplus, gelu differ by an
    ulp), and vmap splits F.linear's fused addmm (tests/test_batching.py measures it).
    """
    first = problems[0]
    has_bias = [layer.bias is not None for layer in first.layers]

    def stacked(arrays):
        return _tensor(np.stack(arrays), dtype)

    def loss_of(weights, biases, shifts, inputs, targets):
        rest = iter(biases)
        return _network_loss(weights, [next(rest) if b else None for b in has_bias], shifts,
                             inputs, targets, [l.activation for l in first.layers], first.loss,
                             first.reduction)[0]

    layers = range(len(first.layers))
    weights = [stacked([p.layers[l].weights for p in problems]) for l in layers]
    biases = [stacked([p.layers[l].bias for p in problems]) for l in layers if has_bias[l]]
    shifts = [torch.zeros((len(problems), len(first.inputs), layer.fan_out),
                          dtype=getattr(torch, dtype), device=DEVICE) for layer in first.layers]
    (dw, db, dz), loss = torch.func.vmap(torch.func.grad_and_value(loss_of, argnums=(0, 1, 2)))(
        weights, biases, shifts, stacked([p.inputs for p in problems]),
        stacked([p.targets for p in problems]))
    results = []
    for i, problem in enumerate(problems):
        rest = iter(g[i] for g in db)
        results.append(_gradients(loss[i], [g[i] for g in dz], [g[i] for g in dw],
                                  [next(rest) if b else None for b in has_bias],
                                  problem.learning_rate))
    return results


def directional_derivatives(problem, dtype, directions):
    """d/dt E(p + t·v) at t = 0 for each direction v (per layer (dW, db)), by forward mode
    (torch.func.jvp), computed in `dtype`; returns a float64 array."""
    has_bias = [layer.bias is not None for layer in problem.layers]
    primals = tuple(_tensor(layer.weights, dtype) for layer in problem.layers) + tuple(
        _tensor(layer.bias, dtype) for layer in problem.layers if layer.bias is not None)

    def loss_of(*parameters):
        weights, rest = parameters[:len(has_bias)], iter(parameters[len(has_bias):])
        return _loss(problem, weights, [next(rest) if b else None for b in has_bias], dtype)[0]

    values = []
    for direction in directions:
        tangents = tuple(_tensor(dw, dtype) for dw, _ in direction) + tuple(
            _tensor(db, dtype) for _, db in direction if db is not None)
        _, derivative = torch.func.jvp(loss_of, primals, tangents)
        values.append(float(derivative))
    return np.array(values)


def _optimizer(training, parameters, learning_rate):
    """torch.optim's own: SGD, SGD with momentum (b ← μ·b + g, W ← W − η·b) or Adam."""
    if training.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=learning_rate, betas=training.betas,
                                eps=training.eps)
    momentum = training.momentum if training.optimizer == "momentum" else 0.0
    return torch.optim.SGD(parameters, lr=learning_rate, momentum=momentum)


def train(problem, training, dtype):
    """`problem` trained as `training` says with torch.optim on nn.Parameters, in `dtype`; the
    loss and parameters at each recorded step (a crossgrad.Trajectory)."""
    weights = [torch.nn.Parameter(_tensor(layer.weights, dtype),
                                  requires_grad="weights" in training.update)
               for layer in problem.layers]
    biases = [None if layer.bias is None else torch.nn.Parameter(
        _tensor(layer.bias, dtype), requires_grad="biases" in training.update)
        for layer in problem.layers]
    learned = [p for p in weights + biases if p is not None and p.requires_grad]
    optimizer = _optimizer(training, learned, problem.learning_rate)
    inputs, targets = _tensor(problem.inputs, dtype), _tensor(problem.targets, dtype)
    activations, record = [layer.activation for layer in problem.layers], set(training.record)
    recorded = Trajectory(tuple(training.record), [], [], [])
    for step in range(training.steps + 1):
        optimizer.zero_grad()
        loss = _network_loss(weights, biases, [None] * len(weights), inputs, targets,
                             activations, problem.loss, problem.reduction)[0]
        if step in record:
            recorded.losses.append(float(loss.detach()))
            # copies: on the CPU a tensor's NumPy view is the parameter itself, updated in place
            recorded.weights.append([_numpy(w).copy() for w in weights])
            recorded.biases.append([None if b is None else _numpy(b).copy() for b in biases])
        if step == training.steps:
            return recorded
        loss.backward()
        optimizer.step()
