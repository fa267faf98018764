"""Shrinking a failing draw to the smallest case that keeps its signature.

Greedy and deterministic: each pass proposes smaller cases in a fixed order, the first that
keeps the signature is taken, and the passes repeat until none makes progress or the
evaluations run out. In order: a shorter training (none, fewer steps, fewer recorded steps:
first, since every later candidate trains), fewer layers (the bottom layer's outputs become
the inputs, a middle layer is merged into the next, the output layer is dropped), fewer units,
fewer samples, no bias, identity activations, the plainest loss and learning rate; then the
numbers, each array rounded to 1–3 significant digits, then each number (the learning rate
last) to 0, to a short decimal, or to a small dyadic value k/2^m, whichever is shortest to
write and keeps the failure; last a plainer training (sgd before momentum before adam, default
constants, fewer parts learning).
"""
from dataclasses import replace

import numpy as np

from crossgrad.fuzzing.trajectory import describe_training, plainer_training, shorter_training
from crossgrad.problem import Layer, Problem
from crossgrad.reference import forward

MAX_EVALUATIONS = 1000


def size(problem):
    """(layers, widest layer, batch, numbers): how large a problem is, for the description."""
    widths = [layer.fan_out for layer in problem.layers] + [problem.layers[0].fan_in]
    numbers = problem.inputs.size + problem.targets.size + sum(
        layer.weights.size + (0 if layer.bias is None else layer.bias.size)
        for layer in problem.layers)
    return len(problem.layers), max(widths), len(problem.inputs), numbers


def describe_size(case):
    """'2 layers (3 → 2 → 1), batch 4, 17 numbers' (and the training, where the case trains)."""
    problem = case.problem
    sizes = [problem.layers[0].fan_in] + [layer.fan_out for layer in problem.layers]
    layers, _, batch, numbers = size(problem)
    trained = describe_training(case.training)
    return (f"{layers} layer{'s' * (layers != 1)} ({' → '.join(map(str, sizes))}), batch {batch}, "
            f"{numbers} numbers" + (f", {trained}" if trained else ""))


def _replace(problem, **changes):
    fields = dict(layers=problem.layers, inputs=problem.inputs, targets=problem.targets,
                  loss=problem.loss, reduction=problem.reduction,
                  learning_rate=problem.learning_rate)
    fields.update(changes)
    fields["layers"] = tuple(fields["layers"])
    return Problem(**fields)


def _fitting_activation(problem, activation):
    """The output activation that the loss needs, or `activation` when any will do."""
    return {"softmax_cross_entropy": "identity",
            "binary_cross_entropy": "sigmoid"}.get(problem.loss, activation)


def _plain_targets(problem, batch, width):
    if problem.loss == "softmax_cross_entropy":
        return np.eye(width)[np.zeros(batch, dtype=int)]
    if problem.loss == "binary_cross_entropy":
        return np.full((batch, width), 0.5)
    return np.zeros((batch, width))


def fewer_layers(problem):
    layers = list(problem.layers)
    if len(layers) == 1:
        return
    with np.errstate(all="ignore"):
        yield _replace(problem, layers=layers[1:], inputs=forward(layers[:1], problem.inputs)[2])
    for i in range(1, len(layers) - 1):  # layer i merged into i + 1: its activation dropped
        below, above = layers[i], layers[i + 1]
        bias = above.bias if below.bias is None else below.bias @ above.weights + (
            0 if above.bias is None else above.bias)
        yield _replace(problem, layers=layers[:i] + [Layer(below.weights @ above.weights, bias,
                                                           above.activation)] + layers[i + 2:])
    last = layers[-2]
    yield _replace(problem, layers=layers[:-2] + [Layer(last.weights, last.bias,
                   _fitting_activation(problem, last.activation))],
                   targets=_plain_targets(problem, len(problem.inputs), last.fan_out))


def _without_units(problem, layer_index, keep, fold=False):
    """`problem` with only the units `keep` of layer `layer_index`'s outputs (-1: the inputs).
    With `fold`, what the dropped units fed the layer above (their values are the same in
    every sample) is added to its bias, so its pre-activations stay as they were: a kink at
    exactly 0 survives."""
    layers = list(problem.layers)
    inputs, targets = problem.inputs, problem.targets
    dropped = [i for i in range(problem.layers[0].fan_in if layer_index == -1
                                else problem.layers[layer_index].fan_out) if i not in keep]
    if layer_index == -1:
        values, inputs = inputs[:1, dropped], inputs[:, keep]
    else:
        with np.errstate(all="ignore"):
            values = forward(layers[:layer_index + 1], inputs[:1])[2][:, dropped]
        layer = layers[layer_index]
        layers[layer_index] = Layer(layer.weights[:, keep],
                                    None if layer.bias is None else layer.bias[keep],
                                    layer.activation)
        if layer_index == len(layers) - 1:
            targets = targets[:, keep]
    if layer_index + 1 < len(layers):
        above = layers[layer_index + 1]
        bias = above.bias
        if fold:
            bias = (0 if bias is None else bias) + (values @ above.weights[dropped, :])[0]
        layers[layer_index + 1] = Layer(above.weights[keep, :], bias, above.activation)
    return _replace(problem, layers=layers, inputs=inputs, targets=targets)


def _constant_columns(problem, layer_index, keep):
    """Whether the units of layer `layer_index` (-1: the inputs) not in `keep` take one value
    in every sample, and feed a layer above (so that they can be folded into its bias)."""
    if layer_index + 1 >= len(problem.layers):
        return False
    with np.errstate(all="ignore"):
        values = problem.inputs if layer_index == -1 \
            else forward(problem.layers[:layer_index + 1], problem.inputs)[2]
    dropped = [i for i in range(values.shape[1]) if i not in keep]
    return bool(np.all(values[:, dropped] == values[:1, dropped]))


def _subsets(count):
    """Index lists to keep: without a half, then without each quarter, … then without each one."""
    chunk = count // 2
    while chunk >= 1:
        for start in range(0, count, chunk):
            keep = [i for i in range(count) if not start <= i < start + chunk]
            if keep:
                yield keep
        chunk = chunk // 2 if chunk > 1 else 0


def fewer_units(problem):
    for layer_index in range(-1, len(problem.layers)):
        width = problem.layers[0].fan_in if layer_index == -1 \
            else problem.layers[layer_index].fan_out
        for keep in _subsets(width):
            yield _without_units(problem, layer_index, keep)
            if _constant_columns(problem, layer_index, keep):
                yield _without_units(problem, layer_index, keep, fold=True)


def fewer_samples(problem):
    for keep in _subsets(len(problem.inputs)):
        yield _replace(problem, inputs=problem.inputs[keep], targets=problem.targets[keep])


def plainer_parts(problem):
    """No bias; identity activations; half squared error; learning rate 1."""
    layers = list(problem.layers)
    for i, layer in enumerate(layers):
        if layer.bias is not None:
            yield _replace(problem, layers=layers[:i] + [Layer(layer.weights, None,
                                                               layer.activation)] + layers[i + 1:])
    for i, layer in enumerate(layers):
        identity = "identity" if i < len(layers) - 1 else _fitting_activation(problem, "identity")
        if layer.activation != identity:
            yield _replace(problem, layers=layers[:i] + [Layer(layer.weights, layer.bias,
                                                               identity)] + layers[i + 1:])
    if problem.loss != "half_squared_error":
        yield _replace(problem, loss="half_squared_error")
    if problem.learning_rate != 1.0:
        yield _replace(problem, learning_rate=1.0)


def _arrays(problem):
    """Every array of numbers as (name, array): the weights and biases, inputs, targets."""
    found = []
    for i, layer in enumerate(problem.layers):
        found.append((("weights", i), layer.weights))
        if layer.bias is not None:
            found.append((("bias", i), layer.bias))
    return found + [(("inputs",), problem.inputs), (("targets",), problem.targets)]


def _with_array(problem, name, array):
    if name[0] in ("inputs", "targets"):
        return _replace(problem, **{name[0]: array})
    layers = list(problem.layers)
    layer = layers[name[1]]
    layers[name[1]] = Layer(array, layer.bias, layer.activation) if name[0] == "weights" \
        else Layer(layer.weights, array, layer.activation)
    return _replace(problem, layers=layers)


def _significant(values, digits):
    """Each of `values` rounded to `digits` significant decimal digits, as the shortest float."""
    return np.vectorize(lambda value: float(f"{value:.{digits}g}"), otypes=[float])(values)


def _written(value):
    """How long a number is to write: 3.0 is '3', 0.25 is '0.25', 1e-05 is '1e-05'; 0 is the
    simplest of all."""
    if value == 0:
        return 0
    text = repr(float(value))
    return len(text[:-2] if text.endswith(".0") else text)


def simpler_numbers(value):
    """Candidates for one number, simplest first, each shorter to write than `value`."""
    seen = set()
    steps = [0.0] + [float(f"{value:.{digits}g}") for digits in (1, 2, 3)] + \
        [round(value * 2 ** m) / 2 ** m for m in range(9)]
    for candidate in steps:
        candidate += 0.0  # -0.0 written as 0.0
        if candidate not in seen and _written(candidate) < _written(value):
            seen.add(candidate)
            yield candidate


def rounder_arrays(problem):
    for name, array in _arrays(problem):
        for digits in (1, 2, 3):
            rounded = _significant(array, digits)
            if not np.array_equal(rounded, array):
                yield _with_array(problem, name, rounded)


def rounder_numbers(problem):
    """Each number simpler, then the learning rate (where 1, the plainest, would not do)."""
    for name, array in _arrays(problem):
        for index in np.ndindex(array.shape):
            for candidate in simpler_numbers(float(array[index])):
                changed = array.copy()
                changed[index] = candidate
                yield _with_array(problem, name, changed)
    for candidate in simpler_numbers(problem.learning_rate):
        if candidate > 0:
            yield _replace(problem, learning_rate=candidate)


def _of_problem(propose):
    """A pass over a case's problem, from a pass over a problem."""
    def proposals(case):
        return (replace(case, problem=problem) for problem in propose(case.problem))
    return proposals


PASSES = (shorter_training, *map(_of_problem, (fewer_layers, fewer_units, fewer_samples,
                                              plainer_parts, rounder_arrays, rounder_numbers)),
          plainer_training)


def _apply(propose, case, keeps, evaluations, max_evaluations):
    """One pass taken as far as it goes: after a candidate is taken, the next proposals start at
    its position (those before it failed already; the next round gives them another chance)."""
    position, taken = 0, False
    while evaluations < max_evaluations:
        for index, candidate in enumerate(propose(case)):
            if index < position:
                continue
            evaluations += 1
            if keeps(candidate):
                case, position, taken = candidate, index, True
                break
            if evaluations >= max_evaluations:
                break
        else:
            break
    return case, evaluations, taken


def shrink(case, keeps, max_evaluations=MAX_EVALUATIONS):
    """(smallest case found, evaluations used): the passes applied to `case` (a cases.Case: its
    problem and its training) while keeps(candidate) is true, round after round until one makes
    no progress or `max_evaluations` candidates have been tried."""
    evaluations, progress = 0, True
    while progress and evaluations < max_evaluations:
        progress = False
        for propose in PASSES:
            case, evaluations, taken = _apply(propose, case, keeps, evaluations,
                                              max_evaluations)
            progress |= taken
    return case, evaluations
