"""PyTorch autograd as a backend: torch.nn.functional ops, gradients from torch.autograd.grad."""
import numpy as np
import torch
import torch.nn.functional as F

from crossgrad.dtypes import numpy_dtype
from crossgrad.problem import Gradients

DEVICE = "cpu"
UNSUPPORTED_DTYPES = {}  # dtype -> why this backend cannot compute in it

# Full-precision float32 matmuls: a gradient checker must not compare TF32 on a GPU.
torch.set_float32_matmul_precision("highest")

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


def _loss(problem, weights, biases, dtype):
    """E, and each layer's pre-activation z, from torch.nn.functional ops."""
    x = _tensor(problem.inputs, dtype)
    pre_activations = []
    for layer, w, b in zip(problem.layers, weights, biases):
        z = F.linear(x, w.T, b)
        pre_activations.append(z)
        x = ACTIVATIONS[layer.activation](z)
    summed = _summed_loss(problem.loss, x, _tensor(problem.targets, dtype))
    return (summed / len(problem.inputs) if problem.reduction == "mean" else summed,
            pre_activations)


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
    lr = problem.learning_rate

    def numpy(t):
        t = t.detach().cpu()
        if t.dtype == torch.bfloat16:  # NumPy has no bfloat16 of its own; ml_dtypes' is exact
            return t.float().numpy().astype(numpy_dtype("bfloat16"))
        return t.numpy()

    return Gradients(float(loss.detach()), [numpy(-g) for g in dz], [numpy(-lr * g) for g in dw],
                     [None if b is None else numpy(-lr * next(db)) for b in biases])


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
