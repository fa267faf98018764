"""Why a comparison is outside its tolerance, and where in the network the disagreement starts.

Labels, in order of precedence:
- non_finite: NaN or Inf on either side.
- kink: a pre-activation that feeds the row lies within rounding distance of a point where its
  activation is not differentiable (relu, leaky_relu and elu at 0), so backends may take
  different one-sided derivatives there; rounding distance is the larger of the radius below
  and K times the error model's bound on z.
- precision: inside the error model's bound taken as a whole: the row's rel_l2 is at most
  ‖K·bound‖/‖expected‖ (crossgrad/error_model.py), though some elements are outside theirs.
- mismatch: none of these: a real disagreement.
"""
import numpy as np

from crossgrad.dtypes import unit_roundoff
from crossgrad.error_model import pre_activation_bounds
from crossgrad.metrics import norm
from crossgrad.reference import forward
from crossgrad.tolerances import ROUNDING_BOUND_MULTIPLE

KINKS = {"relu": 0.0, "leaky_relu": 0.0, "elu": 0.0}  # activation -> where it has a kink
QUANTITIES = ("error_term", "weight_delta", "bias_delta", "loss")  # what the error model bounds


def kink_units(problem, dtype):
    """{layer: [(sample, unit), ...]} of pre-activations within rounding distance of a kink.

    In `dtype`, z_l = x_l @ W_l + b_l can be off by about (l + 1)·(fan_in + 1)·u·(|x_l| @ |W_l| +
    |b_l|): the dot product's own rounding bound γ_n ≈ n·u, grown by each layer below. A unit
    whose float64 z lies within 4 times that of the kink may fall on either side of it.
    """
    layer_inputs, pre_activations, _ = forward(problem.layers, problem.inputs)
    modelled = pre_activation_bounds(problem, dtype) if any(
        layer.activation in KINKS for layer in problem.layers) else None
    found = {}
    for index, (layer, x, z) in enumerate(zip(problem.layers, layer_inputs, pre_activations)):
        if layer.activation not in KINKS:
            continue
        magnitude = np.abs(x) @ np.abs(layer.weights)
        if layer.bias is not None:
            magnitude = magnitude + np.abs(layer.bias)
        # or within K times the error model's bound on z, which carries the layers below
        radius = np.maximum(4 * (index + 1) * (layer.fan_in + 1) * unit_roundoff(dtype) * magnitude,
                            ROUNDING_BOUND_MULTIPLE * modelled[index])
        near = np.argwhere(np.abs(z - KINKS[layer.activation]) <= radius)
        if len(near):
            found[index] = [tuple(int(i) for i in pair) for pair in near]
    return found


def precision_bound(bounds, expected, layer, quantity):
    """The rel_l2 that rounding explains for `quantity` of `layer`: ‖K·bound‖ / ‖expected‖, from
    the error model's `bounds` and the reference's `expected` (both Gradients); the loss when
    `layer` is None. inf when expected is all zero and the bound is not."""
    if quantity == "loss":
        bound, value = np.asarray(bounds.loss), np.asarray(expected.loss)
    else:
        bound = getattr(bounds, quantity + "s")[layer]
        value = getattr(expected, quantity + "s")[layer]
    allowed, size = norm(ROUNDING_BOUND_MULTIPLE * np.asarray(bound)), norm(np.asarray(value))
    if size == 0:
        return 0.0 if allowed == 0 else float("inf")
    return allowed / size


def label(row, problem, kinks, bounds, expected):
    """(label, detail) for a row outside its tolerance; kinks is kink_units(problem, row.dtype),
    bounds the error model's rounding bounds in row.dtype and expected the reference."""
    if row.non_finite:
        return "non_finite", f"{row.non_finite} of {row.size} elements are NaN or Inf"
    # δ_l depends on f'(z_k) for every k ≥ l; the loss depends on no derivative
    feeding = {k: units for k, units in kinks.items() if row.layer is not None and k >= row.layer}
    if feeding:
        detail = "; ".join(f"layer {k} ({problem.layers[k].activation}) at (sample, unit) "
                           + ", ".join(map(str, units[:4])) + (" …" if len(units) > 4 else "")
                           for k, units in sorted(feeding.items()))
        return "kink", detail
    if not row.problem and row.quantity in QUANTITIES and row.rel_l2 <= precision_bound(
            bounds, expected, row.layer, row.quantity):
        return "precision", ""
    return "mismatch", ""


def localize(rows, layer_count):
    """(first layer, growth): the first layer, scanning from the output down, whose error term is
    outside its tolerance against the reference, and the factor by which rel_l2 grows per layer
    from there down to layer 0 (nan when it cannot be measured). (None, nan) when none is."""
    error_terms = {r.layer: r for r in rows
                   if r.quantity == "error_term" and r.compared_to == "reference"}
    first = next((layer for layer in range(layer_count - 1, -1, -1)
                  if layer in error_terms and error_terms[layer].outside), None)
    if first is None or first == 0 or 0 not in error_terms:
        return first, float("nan")
    top, bottom = error_terms[first].rel_l2, error_terms[0].rel_l2
    if not (0 < top < np.inf and 0 < bottom < np.inf):
        return first, float("nan")
    return first, float((bottom / top) ** (1 / first))


def localization_line(first, growth, layer_count):
    """'first disagreement at layer 2 of layers 0–3 (from the output down), error term; …'"""
    line = (f"first disagreement at layer {first} of layers 0–{layer_count - 1} "
            "(scanning from the output down), error term")
    if np.isfinite(growth):
        line += f"; rel_l2 grows ×{growth:.3g} per layer below it"
    return line
