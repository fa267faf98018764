"""tinygrad as a backend: Tensor ops and .backward() on tinygrad's CPU device; training with
tinygrad.nn.optim under TinyJit.

tinygrad's CPU device compiles every kernel it runs with clang (`CC`, default `clang`, taken from
PATH: `apt-get install clang` on Debian), so a machine without clang has no tinygrad backend;
that is a clean skip with the reason. Compiled kernels are kept in tinygrad's SQLite cache,
here $XDG_CACHE_HOME/crossgrad/tinygrad/cache.db (~/.cache/crossgrad/tinygrad) beside JAX's
(adapters/compile_cache.py), unless the user set tinygrad's own CACHEDB.
"""
import functools
import hashlib
import importlib.metadata
import math
import os
import platform
import shutil
import subprocess
from pathlib import Path

from crossgrad.adapters import BackendUnavailable, topology

# Before tinygrad is imported, which reads them once. One CPU thread, as the torch and
# tensorflow adapters: tinygrad splits a kernel's work across NUM_CPU_THREADS, so its code would
# depend on the machine's cores. The networks are small; the parallelism is across cases.
os.environ.setdefault("NUM_CPU_THREADS", "1")
os.environ.setdefault("PARALLEL", "0")  # lower kernels here: a pool of one only adds its start
CACHE_HOME = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
os.environ.setdefault("CACHEDB", str(CACHE_HOME / "crossgrad" / "tinygrad" / "cache.db"))

import numpy as np  # noqa: E402
# the package first: where tinygrad is missing, the error names 'tinygrad' itself, which the
# registry turns into "tinygrad is not installed"
from tinygrad import Tensor, TinyJit, dtypes  # noqa: E402, I001
import tinygrad.codegen  # noqa: E402
import tinygrad.engine.realize  # noqa: E402
from tinygrad.helpers import (DEFAULT_FLOAT, Context, diskcache_get, diskcache_put,  # noqa: E402
                             getenv)
from tinygrad.nn import optim  # noqa: E402

from crossgrad.dtypes import numpy_dtype  # noqa: E402
from crossgrad.problem import Gradients  # noqa: E402
from crossgrad.reference import Trajectory  # noqa: E402

COMPILER = os.environ.get("CC", "clang")
if shutil.which(COMPILER) is None:
    raise BackendUnavailable("tinygrad's CPU device compiles its kernels with clang, which is not "
                             "on PATH (apt-get install clang, or set CC to a clang)")


def _compiles(source):
    """Whether the compiler takes `source` as tinygrad's CPU device compiles a kernel."""
    machine = platform.machine().lower()
    arch = {"amd64": "x86_64", "aarch64": "arm64"}.get(machine, machine)
    done = subprocess.run([COMPILER, "-c", "-x", "c", "-ffreestanding", "-nostdlib",
                           f"--target={arch}-none-unknown-elf", "-", "-o", os.devnull],
                          input=source, capture_output=True, text=True)
    return done.returncode == 0


VERSION = importlib.metadata.version("tinygrad")  # tinygrad has no __version__


class _ProgramCache(dict):
    """tinygrad's in-process cache of lowered, compiled kernels (codegen.to_program_cache), kept
    in its SQLite cache too. tinygrad keeps only clang's output on disk, and turning a kernel
    into C (its rewrites, about 0.5 s a kernel here) is most of a new network's time: every new
    topology and dtype is half a dozen kernels. With this, a process (a pytest worker, a test's
    `crossgrad report`) reuses what any earlier one lowered. The key is tinygrad's own."""

    TABLE = "crossgrad_program"

    @staticmethod
    def _disk_key(key):
        return hashlib.sha256(repr((VERSION, key)).encode()).hexdigest()

    def __missing__(self, key):
        found = diskcache_get(self.TABLE, self._disk_key(key))
        if found is None:
            raise KeyError(key)
        dict.__setitem__(self, key, found)
        return found

    def __contains__(self, key):
        try:
            self[key]
        except KeyError:
            return False
        return True

    def get(self, key, default=None):
        return self[key] if key in self else default

    def __setitem__(self, key, program):
        dict.__setitem__(self, key, program)
        diskcache_put(self.TABLE, self._disk_key(key), program)


# realize and codegen each look the cache up by its module-level name
_programs = _ProgramCache(tinygrad.codegen.to_program_cache)
tinygrad.codegen.to_program_cache = tinygrad.engine.realize.to_program_cache = _programs

DEVICE = "CPU"
UNSUPPORTED_DTYPES = {} if _compiles("__bf16 first(__bf16 *x) { return x[0]; }") else {
    # dtype -> why this backend cannot compute in it
    "bfloat16": f"tinygrad's CPU device writes bfloat16 as C's __bf16, which this {COMPILER} "
                "does not compile for this target (Debian 12's clang 14 does not; clang 15 and "
                "later do)"}
DTYPES = {"float64": dtypes.float64, "float32": dtypes.float32, "float16": dtypes.float16,
          "bfloat16": dtypes.bfloat16}

# Each op pinned to the variant the case format names. tinygrad's gelu defaults to the tanh
# approximation; approximate="none" is the erf form, with tinygrad's polynomial erf.
# https://github.com/tinygrad/tinygrad/blob/master/tinygrad/mixin/elementwise.py
ACTIVATIONS = {
    "identity": lambda z: z,
    "sigmoid": Tensor.sigmoid,
    "tanh": Tensor.tanh,
    "relu": Tensor.relu,  # (z > 0).where(z, 0): derivative 0 at 0
    "leaky_relu": lambda z: z.leaky_relu(neg_slope=0.01),  # (z < 0).where(…): slope 1 at 0
    "softplus": lambda z: z.softplus(beta=1.0),
    "elu": lambda z: z.elu(alpha=1.0),
    "silu": Tensor.silu,
    "gelu": lambda z: z.gelu(approximate="none"),
    "gelu_tanh": lambda z: z.gelu(approximate="tanh"),
}

# Per-sample losses, each summed (or averaged, for MSE) over the outputs; tinygrad's own
# binary_crossentropy and cross_entropy (which takes class probabilities as Y).
LOSSES = {
    "half_squared_error": lambda a, y: 0.5 * ((y - a) ** 2).sum(axis=1),
    "mean_squared_error": lambda a, y: ((y - a) ** 2).mean(axis=1),
    "binary_cross_entropy": lambda a, y: a.binary_crossentropy(y, reduction="none").sum(axis=1),
    "softmax_cross_entropy": lambda z, y: z.cross_entropy(y, reduction="none"),
}


def version():
    return VERSION


def _tensor(array, dtype):
    return Tensor(array.astype(numpy_dtype(dtype)), dtype=DTYPES[dtype], device=DEVICE)


def _numpy(tensor):
    if tensor.dtype == dtypes.bfloat16:  # .numpy() gives float32, NumPy having no bfloat16
        return tensor.numpy().astype(numpy_dtype("bfloat16"))  # exact: ml_dtypes' bfloat16
    return tensor.numpy()


def _forward(weights, biases, x, targets, activations, loss_name, reduction):
    """E, and each layer's pre-activation z = x @ W (+ b)."""
    pre_activations = []
    for w, b, activation in zip(weights, biases, activations):
        z = x.linear(w, b)  # x @ w (+ b)
        pre_activations.append(z)
        x = ACTIVATIONS[activation](z)
    per_sample = LOSSES[loss_name](x, targets)
    return (per_sample.mean() if reduction == "mean" else per_sample.sum()), pre_activations


def _gradients_of(layers, loss_name, reduction, shapes, flat):
    """E and its gradients with respect to each z, W and b, flattened into one realized Tensor
    (the inputs come the same way: one copy in and one copy out a call)."""
    pieces, start = [], 0
    for shape in shapes:  # x, targets, each W, each b, as backprop packed them
        size = math.prod(shape)
        pieces.append(flat[start:start + size].reshape(shape))
        start += size
    x, targets, *parameters = pieces
    rest = iter(parameters)
    weights = [next(rest) for _ in layers]
    biases = [next(rest) if bias else None for _, _, bias, _ in layers]
    # backward() fills .grad of every live tensor it reaches: each z's is δ
    loss, pre_activations = _forward(weights, biases, x, targets,
                                     [activation for *_, activation in layers], loss_name,
                                     reduction)
    loss.backward()
    grads = [t.grad for t in pre_activations + weights + [b for b in biases if b is not None]]
    return Tensor.cat(*(t.flatten() for t in [loss] + grads)).realize()


@functools.cache
def _compiled(topology, dtype):
    """_gradients_of for one topology and dtype under TinyJit: from the third call on, its
    kernels are replayed on the new input's buffer, without building or scheduling the graph
    again (some 0.1 s a call, which a training case pays at every step)."""
    layers, batch, loss_name, reduction = topology
    shapes = [(batch, layers[0][0]), (batch, layers[-1][1])] + [
        (fan_in, fan_out) for fan_in, fan_out, _, _ in layers] + [
        (fan_out,) for _, fan_out, bias, _ in layers if bias]
    return TinyJit(functools.partial(_gradients_of, layers, loss_name, reduction, shapes))


def backprop(problem, dtype):
    """Error terms, weight and bias deltas of `problem`, computed in `dtype`, as NumPy arrays."""
    arrays = [problem.inputs, problem.targets] + [layer.weights for layer in problem.layers] + [
        layer.bias for layer in problem.layers if layer.bias is not None]
    flat = np.concatenate([a.ravel() for a in arrays])
    values = _numpy(_compiled(topology(problem), dtype)(_tensor(flat, dtype)))
    shapes = [()] + [(len(problem.inputs), layer.fan_out) for layer in problem.layers] + [
        layer.weights.shape for layer in problem.layers] + [
        layer.bias.shape for layer in problem.layers if layer.bias is not None]
    ends = np.cumsum([math.prod(shape) for shape in shapes])
    loss, *grads = [piece.reshape(shape)
                    for piece, shape in zip(np.split(values, ends[:-1]), shapes)]
    n, rate = len(problem.layers), numpy_dtype(dtype).type(-problem.learning_rate)
    dz, dw, db = grads[:n], grads[n:2 * n], iter(grads[2 * n:])
    # δ = −∂E/∂z, Δw = −η·∂E/∂W, Δb = −η·∂E/∂b, negated and scaled in NumPy
    return Gradients(float(loss), [-g for g in dz], [rate * g for g in dw],
                     [None if layer.bias is None else rate * next(db)
                      for layer in problem.layers])


def _optimizer(training, parameters, learning_rate, dtype):
    """tinygrad.nn.optim's own (0.14, nn/optim.py). SGD: b ← μ·b + g, W ← W − η·b, torch's
    form. Adam: W ← W − η·m̂/(√ŝ + ε), the reference's. Their state (b; m and s) has the dtype
    of the OPTIM_DTYPE setting, float32 by default, and η is a tensor of at least float32 and
    DEFAULT_FLOAT: a float64 run sets both to float64, as a tinygrad user must (SGD's momentum
    fails with "assign dtype mismatch" otherwise). Adam's β1^t and β2^t stay float32 (Adam
    makes them so whatever the settings), and float16 runs keep float32 state and η."""
    saved = os.environ.get("OPTIM_DTYPE")
    os.environ["OPTIM_DTYPE"] = "float64" if dtype == "float64" else saved or "float32"
    getenv.cache_clear()  # tinygrad reads its settings through one functools.cache
    try:
        with Context(DEFAULT_FLOAT="float64" if dtype == "float64" else DEFAULT_FLOAT.value):
            if training.optimizer == "adam":
                return optim.Adam(parameters, lr=learning_rate, b1=training.betas[0],
                                  b2=training.betas[1], eps=training.eps)
            momentum = training.momentum if training.optimizer == "momentum" else 0.0
            return optim.SGD(parameters, lr=learning_rate, momentum=momentum)
    finally:
        if saved is None:
            del os.environ["OPTIM_DTYPE"]
        else:
            os.environ["OPTIM_DTYPE"] = saved
        getenv.cache_clear()


def train(problem, training, dtype):
    """`problem` trained as `training` says with tinygrad.nn.optim, each update one TinyJit
    call (from the third on, its kernels replayed), in `dtype`; the loss and parameters at each
    recorded step (a crossgrad.Trajectory)."""
    weights = [_tensor(layer.weights, dtype) for layer in problem.layers]
    biases = [None if layer.bias is None else _tensor(layer.bias, dtype)
              for layer in problem.layers]
    learned = [t for part, tensors in (("weights", weights), ("biases", biases))
               if part in training.update for t in tensors if t is not None]
    x, targets = _tensor(problem.inputs, dtype), _tensor(problem.targets, dtype)
    tensors = [t for t in weights + biases + [x, targets] if t is not None]
    optimizer = _optimizer(training, learned, float(problem.learning_rate), dtype)
    activations = [layer.activation for layer in problem.layers]

    def energy():
        return _forward(weights, biases, x, targets, activations, problem.loss,
                        problem.reduction)[0]

    @TinyJit
    def update():
        """E at the current parameters, and one update (the loss first: the step's gradient)."""
        for t in tensors:  # backward() fills every tensor's .grad: a frozen one's would grow
            t.grad = None
        loss = energy()
        loss.backward()
        return loss.realize(*optimizer.schedule_step())

    recorded, record = Trajectory(tuple(training.record), [], [], []), set(training.record)
    with Context(TRAINING=1):  # tinygrad's optimizers step only in training mode
        for step in range(training.steps + 1):
            if step in record:
                recorded.weights.append([_numpy(w) for w in weights])
                recorded.biases.append([None if b is None else _numpy(b) for b in biases])
            loss = energy() if step == training.steps else update()
            if step in record:  # not .item(): a float16 one needs Python 3.12
                recorded.losses.append(float(_numpy(loss)))
    return recorded
