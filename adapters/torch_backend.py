"""PyTorch autograd as a backend: torch.nn.functional ops, gradients from torch.autograd.grad."""
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


def backprop(problem, dtype):
    """Error terms, weight and bias deltas of `problem`, computed in `dtype`, as NumPy arrays."""
    tensor_dtype = getattr(torch, dtype)

    def tensor(array, grad=False):
        return torch.tensor(array, dtype=tensor_dtype, device=DEVICE, requires_grad=grad)

    weights = [tensor(layer.weights, grad=True) for layer in problem.layers]
    biases = [None if layer.bias is None else tensor(layer.bias, grad=True)
              for layer in problem.layers]
    x = tensor(problem.inputs)
    pre_activations = []
    for layer, w, b in zip(problem.layers, weights, biases):
        z = F.linear(x, w.T, b)
        pre_activations.append(z)
        x = ACTIVATIONS[layer.activation](z)
    batch = problem.inputs.shape[0]
    summed = _summed_loss(problem.loss, x, tensor(problem.targets))
    loss = summed / batch if problem.reduction == "mean" else summed

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
