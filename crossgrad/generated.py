"""Generated cases: a network drawn from network.seed and a batch drawn from data.seed.

The recipe is documented in cases/README.md; both are refused, before anything is allocated,
when they would be larger than MAX_PARAMETERS or MAX_BATCH_ELEMENTS.
"""
import math

import numpy as np

from crossgrad.case_reader import describe
from crossgrad.problem import Layer
from crossgrad.reference import ACTIVATIONS

MAX_PARAMETERS = 10_000_000
MAX_BATCH_ELEMENTS = 10_000_000
DATA_KEYS = ("batch", "seed", "scale")


def _per_layer(reader, where, value, count, read_one):
    """A value given once for every layer, or a list with one entry per layer."""
    if not isinstance(value, list):
        one = read_one(where, value)
        return None if one is None else (one,) * count
    if len(value) != count:
        reader.error(where, f"has {len(value)} entries, but sizes describes {count} layers")
        return None
    entries = [read_one(tuple(where) + (i,), v) for i, v in enumerate(value)]
    return None if None in entries else tuple(entries)


def generated_layers(reader, network):
    """Layers drawn from network.seed: W ~ N(0, 1/fan_in), b ~ N(0, 0.1²), layer by layer."""
    sizes = network.get("sizes")
    if not isinstance(sizes, list) or len(sizes) < 2:
        reader.error(("network", "sizes"), "expected a list of at least two widths (the inputs, "
                                           f"then each layer's outputs), got {describe(sizes)}")
        return None
    sizes = [reader.integer(("network", "sizes", i), s, 1, MAX_PARAMETERS, "parameters")
             for i, s in enumerate(sizes)]
    for key in ("activations", "seed"):
        if key not in network:
            reader.error(("network",), f"missing required key {key!r} (a generated network "
                                       "has sizes, activations and seed)")
    if None in sizes or "activations" not in network or "seed" not in network:
        return None
    count = len(sizes) - 1
    activations = _per_layer(reader, ("network", "activations"), network["activations"], count,
                             lambda w, v: reader.name(w, v, ACTIVATIONS, "activation"))
    biases = _per_layer(reader, ("network", "bias"), network.get("bias", True), count,
                        lambda w, v: v if isinstance(v, bool) else reader.error(
                            w, f"expected true or false, got {describe(v)}"))
    seed = reader.integer(("network", "seed"), network["seed"], 0)
    parameters = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
    if parameters > MAX_PARAMETERS:
        reader.error(("network", "sizes"), f"the network has {parameters:,} parameters; "
                                           f"the limit is {MAX_PARAMETERS:,}")
        return None
    if activations is None or biases is None or seed is None:
        return None
    rng = np.random.default_rng(seed)
    layers = []
    for fan_in, fan_out, activation, has_bias in zip(sizes, sizes[1:], activations, biases):
        weights = rng.standard_normal((fan_in, fan_out)) / math.sqrt(fan_in)
        bias = 0.1 * rng.standard_normal(fan_out) if has_bias else None
        layers.append(Layer(weights, bias, activation))
    return tuple(layers)


def generated_data(reader, data, fan_in, outputs, loss):
    """A batch drawn from data.seed: inputs ~ N(0, scale²); targets to suit the loss."""
    data = reader.mapping(("data",), data, DATA_KEYS, required=("batch", "seed"))
    if data is None:
        return None, None
    batch = reader.integer(("data", "batch"), data["batch"], 1, MAX_BATCH_ELEMENTS,
                           "numbers in a batch")
    seed = reader.integer(("data", "seed"), data["seed"], 0)
    scale = reader.number(("data", "scale"), data.get("scale", 1.0), positive=True)
    if batch is not None and batch * max(fan_in, outputs) > MAX_BATCH_ELEMENTS:
        reader.error(("data", "batch"), f"a batch of {batch:,} × {max(fan_in, outputs):,} is over "
                                        f"the limit of {MAX_BATCH_ELEMENTS:,} numbers")
        return None, None
    if None in (batch, seed, scale):
        return None, None
    rng = np.random.default_rng(seed)
    with np.errstate(over="ignore"):
        inputs = scale * rng.standard_normal((batch, fan_in))
    if not np.all(np.isfinite(inputs)):
        reader.error(("data", "scale"), f"scale {scale:g} times N(0, 1) overflows to infinity")
        return None, None
    if loss == "softmax_cross_entropy":
        targets = np.eye(outputs)[rng.integers(outputs, size=batch)]  # one-hot classes
    else:
        targets = rng.uniform(0, 1, size=(batch, outputs))
    return inputs, targets
