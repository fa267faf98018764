"""Case files: reading one YAML file into a Case, or into errors that name the file, line and field.

The format is documented in cases/README.md. Every problem in a file is reported, one line each,
as `path:line:col: field: message`; nothing here raises anything but InvalidCase.
"""
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from crossgrad.adapters import BACKENDS
from crossgrad.problem import DEFAULT_DTYPES, DTYPES, Layer, Problem
from crossgrad.reference import ACTIVATIONS, LOSSES, REDUCTIONS
from crossgrad.case_reader import CaseError, InvalidCase, Reader, describe, field_name
from crossgrad.generated import (DATA_KEYS, MAX_BATCH_ELEMENTS, MAX_PARAMETERS, generated_data,
                                 generated_layers)
from crossgrad.tolerances import Tolerance
from crossgrad.training.case_block import INVALID, read_losses, read_training
from crossgrad.yaml_source import YamlError, parse

__all__ = ["CASE_KEYS", "DATA_KEYS", "MAX_BATCH_ELEMENTS", "MAX_PARAMETERS", "Case", "CaseError",
           "Divergence", "Expected", "InvalidCase", "case_files", "field_name", "load_case",
           "load_catalogue", "read_case"]

CASE_KEYS = ("description", "network", "inputs", "targets", "data", "loss", "reduction",
             "learning_rate", "training", "expected", "dtypes", "backends", "tolerances",
             "divergences")
LAYER_KEYS = ("weights", "bias", "activation")
NETWORK_KEYS = ("layers", "sizes", "activations", "bias", "seed")
EXPECTED_KEYS = ("source", "weight_deltas", "bias_deltas", "error_terms", "losses", "tolerance")
TOLERANCE_KEYS = ("rtol", "atol")
DIVERGENCE_KEYS = ("backend", "dtype", "quantity", "layer", "compared_to", "reason", "at_most")
# a declaration's measured size: upper bounds on each matching row's max_rel_diff and on its
# count of elements outside the tolerance (a new error elsewhere in the row raises one of them)
AT_MOST_KEYS = ("max_rel_diff", "mismatched")
# weights and biases: a trajectory's parameters at a recorded step (its loss is `loss` too)
QUANTITIES = ("error_term", "weight_delta", "bias_delta", "loss", "directional_derivative",
              "weights", "biases")
COMPARED_TO = ("reference", "expected", "finite_difference", "ground_truth", "forward_mode")


@dataclass(frozen=True)
class Expected:
    """Golden values from outside, with their source; a layer's entry may be None (not given)."""

    source: str
    weight_deltas: tuple | None
    bias_deltas: tuple | None
    error_terms: tuple | None
    tolerance: Tolerance | None
    losses: tuple = ()  # ((step, E after that many updates), ...) of a training case


@dataclass(frozen=True)
class Divergence:
    """A known, explained disagreement: rows of `backend` (and of dtype, quantity, layer and
    compared_to, where given) may be outside their tolerance, and at least one must be; with
    `at_most`, a row's max_rel_diff and mismatched may be at most those (beyond, it grew)."""

    backend: str
    reason: str
    dtype: str | None = None
    quantity: str | None = None
    layer: int | None = None
    compared_to: str | None = None
    at_most: tuple = ()  # (("max_rel_diff", 1.8), ("mismatched", 2)): the measured size

    def beyond(self, row):
        """'max rel diff 2.00e+00 is over its at_most 1.50e+00' where `row` is beyond the
        measured size, else ''."""
        for key, limit in self.at_most:
            value = getattr(row, key)
            if not value <= limit:
                what = key.replace("_", " ")
                return (f"{what} {value:.2e} is over its at_most {limit:.2e}" if key ==
                        "max_rel_diff" else f"{value} elements are {what}, its at_most is {limit}")
        return ""

    def matches(self, row):
        return (row.backend == self.backend
                and self.dtype in (None, row.dtype) and self.quantity in (None, row.quantity)
                and self.layer in (None, row.layer)
                and self.compared_to in (None, row.compared_to))

    def describe(self):
        scope = [f"{key} {value}" for key, value in (("dtype", self.dtype),
                 ("quantity", self.quantity), ("layer", self.layer),
                 ("compared_to", self.compared_to)) if value is not None]
        return self.backend + (f" ({', '.join(scope)})" if scope else "")


@dataclass(frozen=True)
class Case:
    """A validated case: its name (the file's stem), the problem, and what to run it on."""

    name: str
    path: str
    description: str
    problem: Problem
    expected: Expected | None
    dtypes: tuple
    backends: tuple
    tolerances: dict  # dtype -> Tolerance, the case's overrides of the table
    divergences: tuple = ()  # Divergence, each declared with its reason
    training: object = None  # a reference.Training, or None: one step, as ever


def _check_shape(reader, where, array, shape, what):
    if array is not None and array.shape != shape:
        got = " × ".join(map(str, array.shape))
        reader.error(where, f"{what} is {got}, expected {' × '.join(map(str, shape))}")
        return False
    return array is not None


def _read_layers(reader, value):
    if not isinstance(value, list) or not value:
        reader.error(("network", "layers"), f"expected a list of layers, got {describe(value)}")
        return None
    layers = []
    for i, entry in enumerate(value):
        where = ("network", "layers", i)
        entry = reader.mapping(where, entry, LAYER_KEYS, required=("weights", "activation"))
        if entry is None:
            layers.append(None)
            continue
        weights = reader.matrix(where + ("weights",), entry["weights"], "fan_in", "fan_out",
                                hint="; a layer with one output is written [[w1], [w2], ...]")
        bias = entry.get("bias")
        if bias is not None:
            bias = reader.vector(where + ("bias",), bias)
            if weights is not None and bias is not None and len(bias) != weights.shape[1]:
                reader.error(where + ("bias",), f"bias has {len(bias)} numbers, but the layer "
                                                f"has {weights.shape[1]} outputs (fan_out)")
        activation = reader.name(where + ("activation",), entry["activation"], ACTIVATIONS,
                                 "activation")
        ok = weights is not None and activation is not None and (entry.get("bias") is None
                                                                  or bias is not None)
        layers.append(Layer(weights, bias, activation) if ok else None)
    for i in range(1, len(layers)):
        if layers[i] is not None and layers[i - 1] is not None and \
                layers[i].fan_in != layers[i - 1].fan_out:
            reader.error(("network", "layers", i, "weights"),
                         f"layer {i} takes {layers[i].fan_in} inputs (fan_in), but layer {i - 1} "
                         f"gives {layers[i - 1].fan_out} outputs (fan_out)")
            return None
    return None if None in layers else tuple(layers)


def _read_expected(reader, value, layers, batch, training):
    value = reader.mapping(("expected",), value, EXPECTED_KEYS, required=("source",))
    if value is None:
        return None
    source = value["source"]
    if not isinstance(source, str) or not source.strip():
        reader.error(("expected", "source"), "expected a sentence saying where the numbers "
                                             f"come from, got {describe(source)}")
    ok = True

    def per_layer(key, shape_of, what):
        nonlocal ok
        if key not in value:
            return None
        where = ("expected", key)
        entries = value[key]
        if not isinstance(entries, list) or len(entries) != len(layers):
            reader.error(where, f"expected a list with one entry per layer ({len(layers)}), "
                                f"null where not given; got {describe(entries)}"
                                + (f" of {len(entries)}" if isinstance(entries, list) else ""))
            ok = False
            return None
        arrays = []
        for i, (entry, layer) in enumerate(zip(entries, layers)):
            shape = shape_of(layer)
            if entry is None:
                arrays.append(None)
                continue
            if shape is None:
                reader.error(where + (i,), f"layer {i} has no bias, so its bias delta is null")
                ok = False
                continue
            array = (reader.vector(where + (i,), entry) if len(shape) == 1 else
                     reader.matrix(where + (i,), entry, *(str(n) for n in shape)))
            ok &= _check_shape(reader, where + (i,), array, shape, f"layer {i}'s {what}")
            arrays.append(array)
        return tuple(arrays)

    weight_deltas = per_layer("weight_deltas", lambda l: l.weights.shape, "weight delta")
    bias_deltas = per_layer("bias_deltas", lambda l: None if l.bias is None else l.bias.shape,
                            "bias delta")
    error_terms = per_layer("error_terms", lambda l: (batch, l.fan_out), "error term")
    losses = ()
    if "losses" in value:
        losses = read_losses(reader, value["losses"], training)
        ok &= losses is not None
    tolerance = None
    if "tolerance" in value:
        tolerance = _read_tolerance(reader, ("expected", "tolerance"), value["tolerance"])
        ok &= tolerance is not None
    if not ok or not isinstance(source, str):
        return None
    return Expected(source.strip(), weight_deltas, bias_deltas, error_terms, tolerance, losses)


def _read_tolerance(reader, where, value):
    value = reader.mapping(where, value, TOLERANCE_KEYS, required=TOLERANCE_KEYS)
    if value is None:
        return None
    rtol = reader.number(where + ("rtol",), value["rtol"])
    atol = reader.number(where + ("atol",), value["atol"])
    for key, number in (("rtol", rtol), ("atol", atol)):
        if number is not None and number < 0:
            reader.error(where + (key,), f"expected a number ≥ 0, got {number}")
            return None
    return None if None in (rtol, atol) else Tolerance(rtol, atol)


def _read_tolerances(reader, value):
    if not isinstance(value, dict):
        reader.error(("tolerances",), "expected a mapping from dtype to {rtol, atol}, got "
                                      f"{describe(value)}")
        return None
    overrides = {}
    for dtype, entry in value.items():
        if reader.name(("tolerances", dtype), dtype, DTYPES, "dtype") is not None:
            overrides[dtype] = _read_tolerance(reader, ("tolerances", dtype), entry)
    return None if None in overrides.values() else overrides


def _read_at_most(reader, where, value):
    """A declaration's measured size, {max_rel_diff: number > 0, mismatched: integer ≥ 1}
    (either or both), as ((key, limit), ...), or None."""
    entry = reader.mapping(where, value, AT_MOST_KEYS)
    if entry is None:
        return None
    if not entry:
        reader.error(where, f"expected one or both of {', '.join(AT_MOST_KEYS)}, got none")
        return None
    limits = {"max_rel_diff": lambda v: reader.number(where + ("max_rel_diff",), v, positive=True),
              "mismatched": lambda v: reader.integer(where + ("mismatched",), v, 1)}
    found = tuple((key, limits[key](entry[key])) for key in AT_MOST_KEYS if key in entry)
    return None if any(limit is None for _, limit in found) else found


def _read_divergences(reader, value, layer_count):
    if not isinstance(value, list):
        reader.error(("divergences",), "expected a list of {backend, reason, ...} entries, got "
                                       f"{describe(value)}")
        return None
    divergences = []
    for i, entry in enumerate(value):
        where = ("divergences", i)
        entry = reader.mapping(where, entry, DIVERGENCE_KEYS, required=("backend", "reason"))
        if entry is None:
            divergences.append(None)
            continue
        backend = reader.name(where + ("backend",), entry["backend"], BACKENDS, "backend")
        reason = entry["reason"]
        if not isinstance(reason, str) or not reason.strip():
            reader.error(where + ("reason",), "expected a sentence saying why this backend "
                                              f"differs, with a link; got {describe(reason)}")
            reason = None
        scope = {}
        for key, known, what in (("dtype", DTYPES, "dtype"), ("quantity", QUANTITIES, "quantity"),
                                 ("compared_to", COMPARED_TO, "comparison")):
            if key in entry:
                scope[key] = reader.name(where + (key,), entry[key], known, what)
        if "layer" in entry:
            scope["layer"] = reader.integer(where + ("layer",), entry["layer"], 0)
            if scope["layer"] is not None and scope["layer"] >= layer_count:
                reader.error(where + ("layer",), f"the network has layers 0–{layer_count - 1}")
                scope["layer"] = None
        if "at_most" in entry:
            scope["at_most"] = _read_at_most(reader, where + ("at_most",), entry["at_most"])
        ok = backend is not None and reason is not None and None not in scope.values()
        divergences.append(Divergence(backend, reason.strip(), **scope) if ok else None)
    return None if None in divergences else tuple(divergences)


def _check_loss_fits(reader, loss, layers, targets):
    last = layers[-1].activation
    where = ("network", "layers", len(layers) - 1, "activation")
    if loss == "softmax_cross_entropy" and last != "identity":
        reader.error(where, f"softmax_cross_entropy takes the logits, so the last layer's "
                            f"activation must be identity, not {last}")
    if loss == "binary_cross_entropy":
        if last != "sigmoid":
            reader.error(where, "binary_cross_entropy needs outputs in (0, 1), so the last "
                                f"layer's activation must be sigmoid, not {last}")
        if targets is not None and (np.any(targets < 0) or np.any(targets > 1)):
            row, column = np.argwhere((targets < 0) | (targets > 1))[0]
            reader.error(("targets", int(row), int(column)), "binary_cross_entropy needs targets "
                         f"in [0, 1], got {targets[row, column]:g}")


def _read(reader, name, document):
    """The Case in `document`, or None with the reasons recorded in `reader`."""
    if document is None:
        reader.error((), "the file is empty; a case needs description, network, inputs and "
                         "targets (or data), loss")
        return None
    top = reader.mapping((), document, CASE_KEYS, required=("description", "network", "loss"))
    if top is None:
        return None
    description = top["description"]
    if not isinstance(description, str) or not description.strip():
        reader.error(("description",), "expected a sentence saying what the case probes, got "
                                       f"{describe(description)}")
    loss = reader.name(("loss",), top["loss"], LOSSES, "loss")
    reduction = reader.name(("reduction",), top.get("reduction", "mean"), REDUCTIONS, "reduction")
    learning_rate = reader.number(("learning_rate",), top.get("learning_rate", 1.0), positive=True)
    dtypes = reader.names(("dtypes",), top.get("dtypes", list(DEFAULT_DTYPES)), DTYPES, "dtype")
    backends = reader.names(("backends",), top.get("backends", list(BACKENDS)), BACKENDS,
                            "backend")
    tolerances = _read_tolerances(reader, top.get("tolerances", {}))

    network = reader.mapping(("network",), top["network"], NETWORK_KEYS)
    layers = None
    if network is not None:
        if ("layers" in network) == ("sizes" in network):
            reader.error(("network",), "give either layers (explicit weights) or sizes, "
                                       "activations and seed (a generated network)")
        elif "layers" in network:
            for key in ("activations", "bias", "seed"):
                if key in network:
                    reader.error(("network", key), f"{key} belongs to a generated network "
                                                   "(sizes); each explicit layer names its own")
            layers = _read_layers(reader, network["layers"])
        else:
            layers = generated_layers(reader, network)

    inputs = targets = None
    if "data" in top:
        for key in ("inputs", "targets"):
            if key in top:
                reader.error((key,), "give either inputs and targets, or data, not both")
        if layers is not None and loss is not None:
            inputs, targets = generated_data(reader, top["data"], layers[0].fan_in,
                                              layers[-1].fan_out, loss)
    else:
        for key in ("inputs", "targets"):
            if key not in top:
                reader.error((), f"missing required key {key!r} (or data: {{batch, seed}})")
        if "inputs" in top:
            inputs = reader.matrix(("inputs",), top["inputs"], "batch", "fan_in",
                                   hint="; one record is written [[x1, x2, ...]]")
        if "targets" in top:
            targets = reader.matrix(("targets",), top["targets"], "batch", "outputs",
                                    hint="; one record is written [[y1, ...]]")
        if layers is not None and inputs is not None and targets is not None:
            _check_shape(reader, ("inputs",), inputs, (inputs.shape[0], layers[0].fan_in),
                         "inputs (batch × fan_in of layer 0)")
            _check_shape(reader, ("targets",), targets, (inputs.shape[0], layers[-1].fan_out),
                         "targets (batch × outputs of the last layer)")

    if layers is not None and loss is not None:
        _check_loss_fits(reader, loss, layers, targets)
    training = read_training(reader, top["training"]) if "training" in top else None
    expected = None
    if "expected" in top and layers is not None and inputs is not None:
        given = training if training is not None or "training" not in top else INVALID
        expected = _read_expected(reader, top["expected"], layers, inputs.shape[0], given)
        if expected is not None and expected.losses and training is not None:
            # a golden loss's step is recorded too
            training = replace(training, record=tuple(sorted(
                set(training.record) | {step for step, _ in expected.losses})))
    divergences = ()
    if "divergences" in top and layers is not None:
        divergences = _read_divergences(reader, top["divergences"], len(layers))
    if reader.errors:
        return None
    problem = Problem(layers, inputs, targets, loss, reduction, learning_rate)
    return Case(name, reader.path, description.strip(), problem, expected, dtypes, backends,
                tolerances, divergences, training)


def load_case(path):
    """Read and validate one case file. Returns a Case; raises InvalidCase listing every problem."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise InvalidCase([CaseError(str(path), 1, 1, "(file)", error.strerror or str(error))])
    return read_case(path, raw)


def read_case(path, raw):
    """Validate `raw`, the bytes of the case file `path` (which names the case and its errors).
    Returns a Case; raises InvalidCase listing every problem, and nothing else."""
    path = Path(path)
    try:
        document = parse(raw)
    except YamlError as error:
        raise InvalidCase([CaseError(str(path), error.line, error.column, "(yaml)",
                                     error.message)]) from None
    reader = Reader(path, document)
    case = _read(reader, path.stem, document.value)
    if case is None:
        raise InvalidCase(reader.errors)
    return case


def case_files(paths):
    """The .yaml and .yml files named by `paths` (files, or folders searched recursively), sorted."""
    found = set()
    for path in map(Path, paths):
        if path.is_dir():
            found.update(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
        else:
            found.add(path)
    return sorted(found)


def load_catalogue(paths):
    """Every case under `paths`: (cases, errors). A name used twice is an error on the second."""
    cases, errors, seen = [], [], {}
    for path in case_files(paths):
        try:
            case = load_case(path)
        except InvalidCase as invalid:
            errors.extend(invalid.errors)
            continue
        if case.name in seen:
            errors.append(CaseError(str(path), 1, 1, "(file)", f"the case name {case.name!r} is "
                                    f"already taken by {seen[case.name]}; rename one file"))
            continue
        seen[case.name] = str(path)
        cases.append(case)
    return cases, errors
