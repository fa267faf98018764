"""Backends by name, and the contract every backend follows, built in or plugged in.

A backend is a module, or any object, with these attributes:

- `backprop(problem, dtype) -> Gradients` (required): `problem` is a `crossgrad.Problem`, all
  float64 NumPy; `dtype` a name such as "float32". It returns a `crossgrad.Gradients`: the loss
  (a float) and, per layer from 0 up, δ (batch × fan_out), Δw (fan_in × fan_out) and Δb
  (fan_out, or None for a layer without bias), as NumPy arrays of `dtype`;
- `version() -> str` (optional): what the report says it ran;
- `DEVICE` (optional, default ""): where it computes;
- `UNSUPPORTED_DTYPES` (optional, default {}): {dtype: why this backend cannot compute in it};
  those runs are skipped with the reason;
- `backprop_batch(problems, dtype) -> [Gradients]` (optional): problems of one `topology` in
  one vectorized call (`crossgrad report --batch`);
- `directional_derivatives(problem, dtype, directions)` (optional): ⟨v, ∇E⟩ along each
  direction by forward mode, for the fwd referee;
- `train(problem, training, dtype) -> Trajectory` (optional): `problem` trained for
  `training.steps` full-batch updates with the framework's own optimizer (`training.optimizer`
  sgd, momentum or adam, with `training.momentum`, `betas` and `eps`; only the parts named in
  `training.update` learn), as a `crossgrad.Trajectory`: at each step of `training.record`, the
  loss and every layer's weights and biases (None without one), NumPy arrays of `dtype`. A
  backend without it is trained by crossgrad's own loop over its `backprop`
  (crossgrad/training/loop.py).

The built-in backends (BACKENDS) and a user's go through the same door: the registry
maps a name to "module" or "module:attribute", `load` imports it, checks the contract and
hands out a `Backend`, which also checks what `backprop` returns. Plug-ins come from
`register` (`crossgrad report --backend NAME=module:attribute`, the pytest plugin) and from
installed packages' entry points in the group `crossgrad.backends`. Frameworks are imported
only when their backend is asked for. Installed as `crossgrad.adapters`.
"""
import importlib
import importlib.metadata
import numbers
import os
import sys
import traceback
from pathlib import Path

import numpy as np

BACKENDS = ("numpy", "torch", "jax", "tensorflow", "tinygrad", "autograd")  # the built-in ones:
# what case files may name; every one but numpy is an optional extra
ENTRY_POINT_GROUP = "crossgrad.backends"
ENVIRONMENT = "CROSSGRAD_BACKENDS"

_MODULES = {  # name -> "module" or "module:attribute" (or, registered in process, the object)
    "numpy": "crossgrad.adapters.numpy_backend",
    "torch": "crossgrad.adapters.torch_backend",
    "jax": "crossgrad.adapters.jax_backend",
    "tensorflow": "crossgrad.adapters.tensorflow_backend",
    "tinygrad": "crossgrad.adapters.tinygrad_backend",
    "autograd": "crossgrad.adapters.autograd_backend",
}
_FRAMEWORKS = {name: name for name in BACKENDS}  # backend -> the module its framework imports as
# the distributions that install a framework, where they are not named as it imports
_DISTRIBUTIONS = {"tensorflow": ("tensorflow-cpu", "tensorflow")}
_FIELDS = ("loss", "error_terms", "weight_deltas", "bias_deltas")
_loaded = {}  # name -> (what it was loaded from, its Backend)
_entry_points_read = False


class BackendUnavailable(Exception):
    """The backend's framework is not installed; the message says how to install it."""


class BackendError(Exception):
    """A backend that breaks the contract: it does not import, lacks `backprop`, or returns
    something other than Gradients. The message is one line that names the backend."""


def register(name, backend):
    """Add backend `name`: "module", "module:attribute", or the object itself. A name already
    registered is replaced (a plug-in may stand in for a built-in)."""
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise BackendError(f"backend name {name!r}: use letters, digits, _ and -")
    _MODULES[name] = backend
    _loaded.pop(name, None)


def parse_spec(text):
    """(name, "module[:attribute]") from 'NAME=module:attribute' or 'NAME=module'; BackendError
    with one line when it is not of that form."""
    name, equals, target = text.partition("=")
    module, _, attribute = target.strip().partition(":")
    if not equals or not name.strip() or not module.strip() or (":" in target and not attribute):
        raise BackendError(f"--backend {text!r}: expected NAME=module:attribute or NAME=module")
    return name.strip(), target.strip()


def registered():
    """{name: spec} of the backends added by name (not the built-ins): what a worker process
    registers again before it runs (objects registered in process cannot travel)."""
    _read_entry_points()
    return {name: spec for name, spec in _MODULES.items()
            if isinstance(spec, str) and spec != _builtin_spec(name)}


def _builtin_spec(name):
    return f"crossgrad.adapters.{name}_backend" if name in BACKENDS else None


def names():
    """Every backend name: the built-ins first, then the added ones in the order they came."""
    _read_entry_points()
    return tuple(_MODULES)


def _read_entry_points():
    """Register, once, the backends named in CROSSGRAD_BACKENDS ('NAME=module:attribute,...',
    how the command line's --backend reaches worker processes) and the entry points of the
    group crossgrad.backends; a name given already keeps what was given."""
    global _entry_points_read
    if _entry_points_read:
        return
    _entry_points_read = True
    for item in filter(str.strip, os.environ.get(ENVIRONMENT, "").split(",")):
        name, spec = parse_spec(item)
        _MODULES.setdefault(name, spec)
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        _MODULES.setdefault(entry_point.name, entry_point.value)


def export():
    """Put the backends added by name into CROSSGRAD_BACKENDS, which worker processes started
    from now on inherit (and so load the same backends under the same names)."""
    os.environ[ENVIRONMENT] = ",".join(f"{name}={spec}" for name, spec in registered().items())


def load(name):
    """The Backend named `name`. Raises KeyError for a name nobody registered,
    BackendUnavailable when a built-in's framework is missing, and BackendError when a
    plug-in does not import or lacks backprop."""
    _read_entry_points()
    spec = _MODULES[name]
    target = _resolve(name, spec) if isinstance(spec, str) else spec
    cached = _loaded.get(name)
    if cached is not None and cached[0] is target:
        return cached[1]
    if not callable(getattr(target, "backprop", None)):
        raise BackendError(f"backend {name}: {_describe(spec)} has no backprop(problem, dtype) "
                           "function")
    backend = Backend(name, target)
    _loaded[name] = (target, backend)
    return backend


def _describe(spec):
    return repr(spec) if isinstance(spec, str) else type(spec).__name__


def _resolve(name, spec):
    """The module or object that `spec` ("module" or "module:attribute") names."""
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if name in _FRAMEWORKS and error.name == _FRAMEWORKS[name]:
            raise BackendUnavailable(f"{name} is not installed (pip install "
                                     f"'crossgrad[{name}]' -c constraints.txt)") from None
        if name in _FRAMEWORKS:
            raise  # a built-in adapter's own dependency is missing: a bug, not a plug-in fault
        raise BackendError(f"backend {name}: cannot import {module_name!r}: {_one_line(error)}") \
            from None
    except Exception as error:  # noqa: BLE001  whatever a plug-in's import raises, one line
        if name in _FRAMEWORKS:
            raise
        raise BackendError(f"backend {name}: importing {module_name!r} raised "
                           f"{_one_line(error)}") from None
    target = module
    for part in filter(None, attribute.split(".")):
        if not hasattr(target, part):
            raise BackendError(f"backend {name}: {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    return target


def _one_line(error):
    """'ValueError: message (file.py:12)' on one line, where the plug-in raised it."""
    machinery = (__file__, importlib.__file__)  # where the import came from, not the plug-in
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if not frame.filename.startswith("<frozen ") and frame.filename not in machinery]
    where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" \
        if frames and not isinstance(error, SyntaxError) else ""  # a SyntaxError says where
    return f"{type(error).__name__}: {' '.join(str(error).split())}{where}"


class Backend:
    """A backend seen through the contract: the optional attributes defaulted, `backprop`'s
    result checked (type and loss here; lengths, shapes, dtypes and values by the runner), and
    any other attribute the backend's own."""

    def __init__(self, name, target):
        self.name, self.target = name, target

    @property
    def DEVICE(self):  # noqa: N802  the contract's name
        return str(getattr(self.target, "DEVICE", ""))

    @property
    def UNSUPPORTED_DTYPES(self):  # noqa: N802  the contract's name
        return dict(getattr(self.target, "UNSUPPORTED_DTYPES", {}) or {})

    def version(self):
        found = getattr(self.target, "version", None)
        return str(found()) if callable(found) else ""

    def backprop(self, problem, dtype):
        return checked(self.name, self.target.backprop(problem, dtype))

    def train(self, problem, training, dtype):
        """The backend's Trajectory: its own `train` where it has one, else crossgrad's loop
        over its backprop; checked either way."""
        from crossgrad.training import loop  # only a training case needs it
        return loop.train(self, problem, training, dtype)

    def __getattr__(self, attribute):
        found = getattr(self.target, attribute)  # AttributeError when the backend lacks it
        if attribute == "backprop_batch":
            return lambda problems, dtype: [checked(self.name, gradients)
                                            for gradients in found(problems, dtype)]
        return found


def checked(name, gradients):
    """`gradients` when they have the Gradients fields and a real scalar loss; BackendError
    with one line otherwise. Lengths, shapes, dtypes and values are the runner's to compare."""
    missing = [field for field in _FIELDS if not hasattr(gradients, field)]
    if missing:
        raise BackendError(f"backend {name}: backprop returned {type(gradients).__name__}, not "
                           f"crossgrad.Gradients (no {', '.join(missing)})")
    loss = gradients.loss
    if isinstance(loss, np.ndarray) and loss.size == 1:
        loss = loss.reshape(()).item()
    if not isinstance(loss, numbers.Real) or isinstance(loss, bool):
        raise BackendError(f"backend {name}: loss is {type(loss).__name__}, expected a float")
    for field in _FIELDS[1:]:
        value = getattr(gradients, field)
        if not isinstance(value, (list, tuple)):
            raise BackendError(f"backend {name}: {field} is {type(value).__name__}, expected a "
                               "list with one array per layer")
        for layer, array in enumerate(value):
            if array is not None and not isinstance(array, np.ndarray):
                raise BackendError(f"backend {name}: {field}[{layer}] is "
                                   f"{type(array).__name__}, expected a NumPy array")
    return gradients


def framework_version(name):
    """The version of backend `name`'s framework, or None when it is not installed; for a
    built-in, read from the package's metadata unless its adapter is loaded already, so nothing
    heavy is imported; for a plug-in, its version()."""
    if name not in _FRAMEWORKS:
        try:
            return load(name).version() or None
        except (KeyError, BackendUnavailable, BackendError):
            return None
    loaded = sys.modules.get(_MODULES[name])
    if loaded is not None:
        return loaded.version()
    for distribution in _DISTRIBUTIONS.get(name, (_FRAMEWORKS[name],)):
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            pass
    return None


def topology(problem):
    """What one compiled program serves: each layer's shape, bias and activation, the batch
    size, the loss and its reduction. Problems of one topology differ only in their numbers."""
    layers = tuple((layer.fan_in, layer.fan_out, layer.bias is not None, layer.activation)
                   for layer in problem.layers)
    return layers, len(problem.inputs), problem.loss, problem.reduction
