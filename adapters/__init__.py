"""Backends by name. Each adapter module exposes the same three things:

- `backprop(problem, dtype) -> Gradients`: δ, Δw and Δb per layer as NumPy arrays of `dtype`;
- `version() -> str`: the framework's version, for the report;
- `DEVICE`: where it computes;
- `UNSUPPORTED_DTYPES`: {dtype: why this backend cannot compute in it}.

Installed as `crossgrad.adapters`. Frameworks are imported only when their backend is asked for.
"""
import importlib

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
