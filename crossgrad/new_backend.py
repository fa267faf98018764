"""`crossgrad new-backend NAME`: a commented template of a backend of one's own.

The template follows the contract (crossgrad.adapters) and passes on the seed case
(cases/seed_3_2_1.yaml: sigmoid layers, half squared error) as it stands; the activations and
losses it does not know yet raise NotImplementedError, for the student to fill in.
"""
from pathlib import Path

TEMPLATE = '''\
"""{name}: a crossgrad backend. Check it with

    pytest --crossgrad-backend {name}={name} -k seed_3_2_1      # the seed case, in this folder
    pytest --crossgrad-backend {name}={name}                    # the whole catalogue
    crossgrad report --backend {name}={name} --backends numpy,{name}

The contract (crossgrad.adapters): backprop(problem, dtype) -> crossgrad.Gradients. Layer l
computes z_l = x_l @ W_l (+ b_l) and a_l = f_l(z_l), with x_0 the inputs and x_(l+1) = a_l; E is
the loss, averaged ("mean") or summed ("sum") over the batch. Per layer, from 0 up:
    error term   δ_l  = −∂E/∂z_l            batch × fan_out
    weight delta Δw_l = η·x_lᵀ @ δ_l         fan_in × fan_out
    bias delta   Δb_l = η·Σ_batch δ_l        fan_out (None for a layer without bias)
as NumPy arrays of `dtype`, and the loss E as a float.
"""
import numpy as np

from crossgrad import Gradients

DEVICE = "cpu"  # optional: where it computes, for the report's device column
UNSUPPORTED_DTYPES = {{"bfloat16": "NumPy has no bfloat16 arithmetic"}}  # optional: skipped


def version():
    """Optional: what the report says ran."""
    return "0.1"


def activation(name, z):
    """f(z) for the activation called `name`."""
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))
    raise NotImplementedError(f"activation {{name}}: add f(z) here")  # identity, tanh, relu, ...


def activation_prime(name, z):
    """f'(z), the activation's derivative."""
    if name == "sigmoid":
        s = activation("sigmoid", z)
        return s * (1 - s)  # σ' = σ·(1 − σ)
    raise NotImplementedError(f"activation {{name}}: add f'(z) here")


def loss_and_output_error(name, targets, outputs):
    """E per sample, and −∂E/∂a (the output error), for the loss called `name`."""
    if name == "half_squared_error":
        return 0.5 * np.sum((targets - outputs) ** 2, axis=1), targets - outputs  # E = ½Σ(y − a)²
    raise NotImplementedError(f"loss {{name}}: add E and −∂E/∂a here")


def backprop(problem, dtype):
    """δ, Δw and Δb of every layer of `problem`, computed in `dtype`."""
    cast = np.dtype(dtype)
    weights = [layer.weights.astype(cast) for layer in problem.layers]
    biases = [None if layer.bias is None else layer.bias.astype(cast) for layer in problem.layers]
    eta = cast.type(problem.learning_rate)

    # forward: keep each layer's input x_l and pre-activation z_l
    x, layer_inputs, pre_activations = problem.inputs.astype(cast), [], []
    for layer, w, b in zip(problem.layers, weights, biases):
        z = x @ w if b is None else x @ w + b
        layer_inputs.append(x)
        pre_activations.append(z)
        x = activation(layer.activation, z)

    # the loss, and the batch factor ∂E/∂E_b: 1/B for a mean, 1 for a sum
    per_sample, output_error = loss_and_output_error(problem.loss, problem.targets.astype(cast), x)
    factor = cast.type(1 / len(x) if problem.reduction == "mean" else 1)

    # backward, from the output layer down: δ_L = −∂E/∂a·f'(z_L); δ_l = (δ_(l+1) @ W_(l+1)ᵀ)·f'(z_l)
    error_terms = [None] * len(problem.layers)
    error = factor * output_error
    for l in range(len(problem.layers) - 1, -1, -1):
        error_terms[l] = error * activation_prime(problem.layers[l].activation, pre_activations[l])
        error = error_terms[l] @ weights[l].T

    weight_deltas = [eta * (x_l.T @ d) for x_l, d in zip(layer_inputs, error_terms)]
    bias_deltas = [None if b is None else eta * np.sum(d, axis=0)
                   for b, d in zip(biases, error_terms)]
    return Gradients(float(np.sum(per_sample) * factor), error_terms, weight_deltas, bias_deltas)
'''


class NewBackendError(Exception):
    """The template cannot be written; the message says why, in one line."""


def target(name):
    """(path, module name): NAME.py in the current folder for a bare name, or a path ending in
    .py as it is. Raises NewBackendError when the module name is not a Python identifier."""
    path = Path(name if name.endswith(".py") else f"{name}.py")
    if not path.stem.isidentifier():
        raise NewBackendError(f"{path.stem!r} is not a module name (letters, digits and _, not "
                              "starting with a digit)")
    return path, path.stem


def write_new(name):
    """Write the template for `name` (see target); returns (path, module name). Never
    overwrites a file: raises NewBackendError if it exists."""
    path, module = target(name)
    try:
        with open(path, "x", encoding="utf-8") as file:
            file.write(TEMPLATE.format(name=module))
    except FileExistsError:
        raise NewBackendError(f"{path} already exists; crossgrad new-backend does not "
                              "overwrite") from None
    return path, module
