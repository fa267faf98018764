"""Backends by name. Each adapter module exposes the same three things:

- `backprop(problem, dtype) -> Gradients`: δ, Δw and Δb per layer as NumPy arrays of `dtype`;
- `version() -> str`: the framework's version, for the report;
- `DEVICE`: where it computes;
- `UNSUPPORTED_DTYPES`: {dtype: why this backend cannot compute in it}.

Some also have `backprop_batch(problems, dtype)`, backprop of problems of one `topology` in one
vectorized call, and `directional_derivatives` (forward mode, for the fwd referee).

Installed as `crossgrad.adapters`. Frameworks are imported only when their backend is asked for.
"""
import importlib
import importlib.metadata
import sys

BACKENDS = ("numpy", "torch", "jax")

_MODULES = {
    "numpy": "crossgrad.adapters.numpy_backend",
    "torch": "crossgrad.adapters.torch_backend",
    "jax": "crossgrad.adapters.jax_backend",
}
_FRAMEWORKS = {"numpy": "numpy", "torch": "torch", "jax": "jax"}


class BackendUnavailable(Exception):
    """The backend's framework is not installed; the message says how to install it."""


def load(name):
    """The adapter module for backend `name`. Raises BackendUnavailable or KeyError."""
    module = _MODULES[name]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name != _FRAMEWORKS[name]:
            raise
        raise BackendUnavailable(
            f"{name} is not installed (pip install 'crossgrad[{name}]' -c constraints.txt)"
        ) from None


def framework_version(name):
    """The version of backend `name`'s framework, or None when it is not installed; read from
    the package's metadata unless its adapter is loaded already, so nothing heavy is imported."""
    loaded = sys.modules.get(_MODULES[name])
    if loaded is not None:
        return loaded.version()
    try:
        return importlib.metadata.version(_FRAMEWORKS[name])
    except importlib.metadata.PackageNotFoundError:
        return None


def topology(problem):
    """What one compiled program serves: each layer's shape, bias and activation, the batch
    size, the loss and its reduction. Problems of one topology differ only in their numbers."""
    layers = tuple((layer.fan_in, layer.fan_out, layer.bias is not None, layer.activation)
                   for layer in problem.layers)
    return layers, len(problem.inputs), problem.loss, problem.reduction
