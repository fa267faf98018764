"""TensorFlow as a backend: tf.nn ops run eagerly, gradients from tf.GradientTape; training
with keras optimizers under tf.function."""
import contextlib
import functools
import os
import sys

# Before the import. Level 3 also hides "oneDNN supports DT_HALF only on platforms with
# AVX-512" at a float16 case's first op (logged as an error; it computes all the same).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


@contextlib.contextmanager
def _c_stderr_muted():
    """File descriptor 2 to /dev/null: TF 2.21 logs "oneDNN custom operations are on" twice
    while it imports, before its logging reads TF_CPP_MIN_LOG_LEVEL, into every report."""
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


with _c_stderr_muted():  # an import error is raised after, with its message
    import tensorflow as tf  # noqa: E402

from crossgrad.adapters import topology  # noqa: E402
from crossgrad.dtypes import numpy_dtype  # noqa: E402
from crossgrad.problem import Gradients  # noqa: E402
from crossgrad.reference import Trajectory  # noqa: E402

DEVICE = "cpu"  # the extra installs tensorflow-cpu
UNSUPPORTED_DTYPES = {}  # dtype -> why this backend cannot compute in it

# One thread, as the torch adapter: oneDNN's and Eigen's float32 kernels split their sums by
# thread, so results would depend on the machine's cores. The networks are small; the
# parallelism is across cases. (Only possible before TF starts its runtime.)
try:
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
except RuntimeError:  # someone in this process ran TF already: it keeps its threads
    pass
# Full-precision float32 matmuls on a GPU, where TF would use TF32.
tf.config.experimental.enable_tensor_float_32_execution(False)

# Each op pinned to the variant the case format names. tf.nn.relu's gradient at 0 is 0 and
# tf.nn.leaky_relu's is alpha (ReluGrad, LeakyReluGrad: features > 0); tf.nn.gelu's exact form
# is ½·z·erfc(−z/√2), its tanh form ½·z·(1 + tanh(√(2/π)·(z + 0.044715·z³))).
# https://github.com/tensorflow/tensorflow/blob/master/tensorflow/python/ops/nn_ops.py (gelu)
ACTIVATIONS = {
    "identity": lambda z: z,
    "sigmoid": tf.nn.sigmoid,
    "tanh": tf.nn.tanh,
    "relu": tf.nn.relu,
    "leaky_relu": lambda z: tf.nn.leaky_relu(z, alpha=0.01),
    "softplus": tf.nn.softplus,
    "elu": tf.nn.elu,  # α = 1, TF's only one
    "silu": tf.nn.silu,
    "gelu": lambda z: tf.nn.gelu(z, approximate=False),
    "gelu_tanh": lambda z: tf.nn.gelu(z, approximate=True),
}

# Per-sample losses, each summed (or averaged, for MSE) over the outputs. tf.nn has binary
# cross-entropy only from the logits (sigmoid_cross_entropy_with_logits), and the case format's
# is on the probability: it is written out as TF users write it. (tf.keras.losses'
# binary_crossentropy would clip a to [1e-7, 1 − 1e-7], keras's epsilon, and add 1e-7 inside
# each log: a 1e-7 change of every float64 loss.)
LOSSES = {
    "half_squared_error": lambda a, y: 0.5 * tf.reduce_sum(tf.square(y - a), axis=1),
    "mean_squared_error": lambda a, y: tf.reduce_mean(tf.square(y - a), axis=1),
    "binary_cross_entropy": lambda a, y: -tf.reduce_sum(
        y * tf.math.log(a) + (1 - y) * tf.math.log1p(-a), axis=1),
    "softmax_cross_entropy": lambda z, y: tf.nn.softmax_cross_entropy_with_logits(labels=y,
                                                                                 logits=z),
}


def version():
    return tf.__version__


def _numpy(tensor):
    # TF's bfloat16 is ml_dtypes', the one crossgrad uses
    return tensor.numpy()


def _delta(learning_rate, gradient):
    # −η·g in g's own dtype, η rounded to it first
    gradient = _numpy(gradient)
    return gradient.dtype.type(-learning_rate) * gradient


def _forward(weights, biases, x, targets, activations, loss, reduction):
    """E, and each layer's pre-activation z = x @ W (+ b)."""
    pre_activations = []
    for w, b, activation in zip(weights, biases, activations):
        z = tf.matmul(x, w) if b is None else tf.nn.bias_add(tf.matmul(x, w), b)
        pre_activations.append(z)
        x = ACTIVATIONS[activation](z)
    per_sample = LOSSES[loss](x, targets)
    return (tf.reduce_mean(per_sample) if reduction == "mean"
            else tf.reduce_sum(per_sample)), pre_activations


def backprop(problem, dtype):
    """Error terms, weight and bias deltas of `problem`, computed in `dtype`, as NumPy arrays."""
    # stderr muted, as in train: once JAX has started absl's logging, a first float16 op
    # logs "oneDNN supports DT_HALF only on platforms with AVX-512" as an error, which
    # TF_CPP_MIN_LOG_LEVEL no longer filters; it computes with Eigen all the same
    with _c_stderr_muted():
        cast = numpy_dtype(dtype)
        weights = [tf.Variable(layer.weights.astype(cast)) for layer in problem.layers]
        biases = [None if layer.bias is None else tf.Variable(layer.bias.astype(cast))
                  for layer in problem.layers]
        x = tf.constant(problem.inputs.astype(cast))
        targets = tf.constant(problem.targets.astype(cast))
        with tf.GradientTape() as tape:
            loss, pre_activations = _forward(  # ∂E/∂z: δ
                weights, biases, x, targets, [layer.activation for layer in problem.layers],
                problem.loss, problem.reduction)
        with_bias = [b for b in biases if b is not None]
        dz, dw, db = tape.gradient(loss, (pre_activations, weights, with_bias))
    rest = iter(db)
    # δ = −∂E/∂z, Δw = −η·∂E/∂W, Δb = −η·∂E/∂b, negated and scaled in NumPy
    return Gradients(float(loss), [-_numpy(g) for g in dz],
                     [_delta(problem.learning_rate, g) for g in dw],
                     [None if b is None else _delta(problem.learning_rate, next(rest))
                      for b in biases])


@contextlib.contextmanager
def _floatx(dtype):
    """keras's default float dtype set to float64 for a float64 run, as keras's users train in
    float64 (keras.config.set_floatx): keras makes η a variable of that dtype, so at float32 a
    float64 run's η = 0.05 would be off by 1.5e-8 relative. (μ and the betas it casts from
    Python floats, through float32 whatever floatx is: declared in the cases.) float16 runs
    keep float32, keras's advice (mixed precision, not floatx float16)."""
    before = tf.keras.config.floatx()
    tf.keras.config.set_floatx("float64" if dtype == "float64" else "float32")
    try:
        yield
    finally:
        tf.keras.config.set_floatx(before)


def _optimizer(optimizer, learning_rate, momentum, betas, eps):
    """keras's own, as a TF user writes it. SGD: m ← μ·m − η·g, W ← W + m (keras 3.15
    optimizers/sgd.py: the reference's form). Adam: W ← W − α·m/(√s + ε) with
    α = η·√(1 − β2^t)/(1 − β1^t) (optimizers/adam.py): the paper's "efficient" form, whose ε
    is the reference's ε·√(1 − β2^t), ε̂."""
    if optimizer == "adam":
        return tf.keras.optimizers.Adam(learning_rate, beta_1=betas[0], beta_2=betas[1],
                                        epsilon=eps)
    return tf.keras.optimizers.SGD(learning_rate,
                                   momentum=momentum if optimizer == "momentum" else 0.0)


@functools.lru_cache(maxsize=64)
def _trainer(network, dtype, optimizer_settings, update):
    """For one topology, dtype, optimizer and what learns: tf.Variables for the parameters, the
    inputs and the targets, a built keras optimizer, and `segment(updates)`, a tf.function that
    makes `updates` updates and returns E there. Made and traced once (about two thirds of a
    short run's time); each `train` assigns its numbers and zeros the optimizer's state."""
    layers, batch, loss, reduction = network
    cast = numpy_dtype(dtype)

    def variable(shape, part=None):
        return tf.Variable(np.zeros(shape, cast), trainable=part in update)

    weights = [variable((fan_in, fan_out), "weights") for fan_in, fan_out, _, _ in layers]
    biases = [variable((fan_out,), "biases") if bias else None for _, fan_out, bias, _ in layers]
    x, targets = variable((batch, layers[0][0])), variable((batch, layers[-1][1]))
    learned = [v for v in weights + biases if v is not None and v.trainable]
    optimizer = _optimizer(*optimizer_settings)
    optimizer.build(learned)
    activations = [activation for *_, activation in layers]

    def energy():
        return _forward(weights, biases, x, targets, activations, loss, reduction)[0]

    @tf.function
    def segment(updates):
        """`updates` updates, then E at the parameters they reach."""
        for _ in tf.range(updates):
            with tf.GradientTape() as tape:
                value = energy()
            optimizer.apply_gradients(zip(tape.gradient(value, learned), learned))
        return energy()

    return weights, biases, x, targets, optimizer, segment


def train(problem, training, dtype):
    """`problem` trained as `training` says with a keras optimizer on tf.Variables, in
    `dtype`: each stretch of updates between recorded steps is one call of a tf.function (a
    tf.range loop, run as a tf.while_loop; one per topology, dtype and optimizer); the loss and
    parameters at each recorded step (a crossgrad.Trajectory)."""
    cast = numpy_dtype(dtype)
    settings = (training.optimizer, float(problem.learning_rate), training.momentum,
                tuple(training.betas), training.eps)
    # stderr muted for the whole run: once JAX has started absl's logging, grappler logs
    # "Not handling type DT_DOUBLE" (util.cc) a few times for each float64 trainer it
    # optimizes, into the report's output; an error is raised, not printed, all the same
    with _c_stderr_muted(), _floatx(dtype):
        weights, biases, x, targets, optimizer, segment = _trainer(
            topology(problem), dtype, settings, tuple(training.update))
        for layer, w, b in zip(problem.layers, weights, biases):
            w.assign(layer.weights.astype(cast))
            if b is not None:
                b.assign(layer.bias.astype(cast))
        x.assign(problem.inputs.astype(cast))
        targets.assign(problem.targets.astype(cast))
        for state in optimizer.variables:  # the step count, momenta; η is the trainer's own
            if state.name != "learning_rate":
                state.assign(np.zeros(state.shape, state.dtype))
        recorded, done = Trajectory(tuple(training.record), [], [], []), 0
        for step in training.record:
            recorded.losses.append(float(segment(tf.constant(step - done))))
            recorded.weights.append([_numpy(w) for w in weights])
            recorded.biases.append([None if b is None else _numpy(b) for b in biases])
            done = step
    return recorded
