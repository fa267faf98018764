"""The case format as a JSON Schema, for editors: `crossgrad schema`, kept as cases/schema.json.

Built from the constants cases.py validates with (CASE_KEYS, LAYER_KEYS, ACTIVATIONS, LOSSES, …),
so the two cannot drift: a key added there and not described here makes case_schema() raise.
The schema says what an editor can check as you type (keys, required keys, names, types, the
two kinds of network); shapes, finiteness and the fit of a loss to its last layer are left to
`crossgrad validate`.
"""
import json

from crossgrad.adapters import BACKENDS
from crossgrad.cases import (AT_MOST_KEYS, CASE_KEYS, COMPARED_TO, DATA_KEYS, DIVERGENCE_KEYS,
                             EXPECTED_KEYS, LAYER_KEYS, MAX_BATCH_ELEMENTS, MAX_PARAMETERS, NETWORK_KEYS,
                             QUANTITIES, TOLERANCE_KEYS)
from crossgrad.problem import DTYPES
from crossgrad.reference import ACTIVATIONS, LOSSES, OPTIMIZERS, REDUCTIONS
from crossgrad.reference.optimizers import PARTS
from crossgrad.training.case_block import MAX_STEPS, OPTIMIZER_KEYS, TRAINING_KEYS

DRAFT = "http://json-schema.org/draft-07/schema#"


def _number(description, minimum=None, exclusive=False):
    schema = {"type": "number", "description": description}
    if minimum is not None:
        schema["exclusiveMinimum" if exclusive else "minimum"] = minimum
    return schema


def _integer(description, minimum, maximum=None):
    schema = {"type": "integer", "minimum": minimum, "description": description}
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def _names(known, description):
    return {"enum": list(known), "description": description}


def _object(keys, properties, required=(), description=None):
    """An object with exactly `keys`, each described in `properties`."""
    if set(properties) != set(keys):
        raise AssertionError(f"the schema describes {sorted(properties)}, the loader reads "
                             f"{sorted(keys)}")
    schema = {"type": "object", "properties": {key: properties[key] for key in keys},
              "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    return schema


def _vector(description):
    return {"type": "array", "minItems": 1, "items": {"type": "number"},
            "description": description}


def _matrix(description):
    return {"type": "array", "minItems": 1, "items": _vector("a row"),
            "description": description}


def _per_layer(item, description):
    return {"type": "array", "items": {"anyOf": [item, {"type": "null"}]},
            "description": description}


def _tolerance(description):
    return _object(TOLERANCE_KEYS, {
        "rtol": _number("relative tolerance", 0), "atol": _number("absolute tolerance, times "
                                                                  "the layer's largest value", 0),
    }, required=TOLERANCE_KEYS, description=description)


def _explicit_network():
    layer = _object(LAYER_KEYS, {
        "weights": _matrix("fan_in × fan_out: the layer computes x @ W (+ b)"),
        "bias": {"anyOf": [_vector("one number per output (fan_out)"), {"type": "null"}]},
        "activation": _names(ACTIVATIONS, "the layer's activation"),
    }, required=("weights", "activation"))
    return {"type": "object", "required": ["layers"], "additionalProperties": False,
            "properties": {"layers": {"type": "array", "minItems": 1, "items": layer,
                                      "description": "input to output, one entry per layer"}},
            "description": "explicit layers"}


def _generated_network():
    activation = _names(ACTIVATIONS, "an activation")
    generated = {
        "sizes": {"type": "array", "minItems": 2,
                  "items": _integer("a width", 1, MAX_PARAMETERS),
                  "description": f"the input width, then each layer's outputs; at most "
                                 f"{MAX_PARAMETERS:,} parameters in all"},
        "activations": {"anyOf": [activation, {"type": "array", "minItems": 1,
                                               "items": activation}],
                        "description": "one name for every layer, or one per layer"},
        "bias": {"anyOf": [{"type": "boolean"}, {"type": "array", "items": {"type": "boolean"}}],
                 "description": "true (default), false, or one per layer"},
        "seed": _integer("numpy.random.default_rng seed for the weights", 0),
    }
    return _object([key for key in NETWORK_KEYS if key != "layers"], generated,
                   required=("sizes", "activations", "seed"),
                   description="a network drawn from a seed: W ~ N(0, 1/fan_in), b ~ N(0, 0.1²)")


def _training():
    """The training block: an optimizer's own keys only with that optimizer (the loader says
    which key belongs to which)."""
    step = _integer("a step: updates done (0: before any)", 0, MAX_STEPS)
    fraction = {"type": "number", "minimum": 0, "exclusiveMaximum": 1}
    schema = _object(TRAINING_KEYS, {
        "steps": _integer("full-batch updates on the case's inputs and targets", 1, MAX_STEPS),
        "optimizer": _names(OPTIMIZERS, "default sgd: W ← W + Δw"),
        "momentum": dict(fraction, description="μ of the momentum optimizer; default 0.9"),
        "betas": {"type": "array", "items": fraction, "minItems": 2, "maxItems": 2,
                  "description": "adam's [β1, β2]; default [0.9, 0.999]"},
        "eps": _number("adam's ε, outside the square root; default 1e-8", 0, exclusive=True),
        "update": {"type": "array", "minItems": 1, "uniqueItems": True,
                   "items": _names(PARTS, "what learns"),
                   "description": "default both; [weights] keeps the biases fixed"},
        "record": {"type": "array", "minItems": 1, "items": step,
                   "description": "steps compared (default 0, 1 and a 1-2-5 set to the end)"},
    }, required=("steps",), description="train for many steps and compare the trajectory")
    others = {owner: [key for key, of in OPTIMIZER_KEYS.items() if of != owner]
              for owner in OPTIMIZERS}
    schema["allOf"] = [{"if": {"properties": {"optimizer": {"const": owner}}} if owner != "sgd"
                        else {"not": {"required": ["optimizer"], "properties": {
                            "optimizer": {"not": {"const": "sgd"}}}}},
                        "then": {"not": {"anyOf": [{"required": [key]} for key in keys]}}}
                       for owner, keys in others.items()]
    return schema


def case_schema():
    """The JSON Schema (draft 7) of a case file, as a dict."""
    network = {"oneOf": [_explicit_network(), _generated_network()],
               "description": "layers (explicit weights), or sizes, activations and seed"}
    divergence = _object(DIVERGENCE_KEYS, {
        "backend": _names(BACKENDS, "the backend that differs"),
        "dtype": _names(DTYPES, "only this dtype"),
        "quantity": _names(QUANTITIES, "only this quantity"),
        "layer": _integer("only this layer", 0),
        "compared_to": _names(COMPARED_TO, "only this comparison"),
        "reason": {"type": "string", "pattern": r"\S", "description": "why, with a link to the "
                   "framework's source or docs"},
        "at_most": dict(_object(AT_MOST_KEYS, {
            "max_rel_diff": _number("the largest max_rel_diff a matching row may have", 0,
                                    exclusive=True),
            "mismatched": _integer("the most elements of a matching row that may be outside "
                                   "the tolerance", 1),
        }, description="the divergence's measured size; a row beyond it fails: the divergence "
                       "grew"), minProperties=1),
    }, required=("backend", "reason"))
    properties = {
        "description": {"type": "string", "pattern": r"\S",
                        "description": "what the case probes and why"},
        "network": network,
        "inputs": _matrix("batch × fan_in; one record is [[x1, x2, ...]]"),
        "targets": _matrix("batch × outputs; one record is [[y1, ...]]"),
        "data": _object(DATA_KEYS, {
            "batch": _integer("records to draw", 1, MAX_BATCH_ELEMENTS),
            "seed": _integer("numpy.random.default_rng seed for inputs and targets", 0),
            "scale": _number("inputs are scale·N(0, 1); default 1", 0, exclusive=True),
        }, required=("batch", "seed"), description="draw inputs and targets instead"),
        "loss": _names(LOSSES, "the loss, per sample"),
        "reduction": _names(REDUCTIONS, "over the batch; default mean"),
        "learning_rate": _number("η; default 1", 0, exclusive=True),
        "training": _training(),
        "expected": _object(EXPECTED_KEYS, {
            "source": {"type": "string", "pattern": r"\S",
                       "description": "where the numbers come from"},
            "weight_deltas": _per_layer(_matrix("fan_in × fan_out"), "one per layer"),
            "bias_deltas": _per_layer(_vector("fan_out"), "one per layer, null without a bias"),
            "error_terms": _per_layer(_matrix("batch × fan_out"), "one per layer"),
            "losses": {"type": "object", "minProperties": 1,
                       # a key is text in JSON, a number where YAML is read as YAML
                       "propertyNames": {"pattern": "^[0-9]+$", "minimum": 0, "multipleOf": 1},
                       "additionalProperties": {"type": "number"},
                       "description": "{step: the loss after that many updates}; needs "
                                      "training"},
            "tolerance": _tolerance("for printed values with few digits"),
        }, required=("source",), description="golden values from outside"),
        "dtypes": {"type": "array", "minItems": 1, "uniqueItems": True,
                   "items": _names(DTYPES, "a dtype"), "description": "default float64, float32"},
        "backends": {"type": "array", "minItems": 1, "uniqueItems": True,
                     "items": _names(BACKENDS, "a backend"), "description": "default all"},
        "tolerances": {"type": "object", "propertyNames": {"enum": list(DTYPES)},
                       "additionalProperties": _tolerance("rtol and atol together"),
                       "description": "overrides of the tolerance table, per dtype"},
        "divergences": {"type": "array", "items": divergence,
                        "description": "known, explained disagreements"},
    }
    schema = _object(CASE_KEYS, properties, required=("description", "network", "loss"))
    either = [{"required": ["inputs", "targets"], "not": {"required": ["data"]}},
              {"required": ["data"],
               "not": {"anyOf": [{"required": ["inputs"]}, {"required": ["targets"]}]}}]
    return {"$schema": DRAFT, "title": "crossgrad case",
            "description": "A crossgrad case file; the format is documented in cases/README.md.",
            **schema, "oneOf": either}


def schema_text():
    """case_schema() as the text of cases/schema.json."""
    return json.dumps(case_schema(), indent=2, ensure_ascii=False) + "\n"
