"""Why a comparison is outside its tolerance, and where in the network the disagreement starts.

Labels, in order of precedence:
- non_finite: NaN or Inf on either side.
- kink: a pre-activation that feeds the row lies within rounding distance of a point where its
  activation is not differentiable (relu, leaky_relu and elu at 0), so backends may take
  different one-sided derivatives there.
- precision: the row's rel_l2 is within what rounding in the row's dtype explains (the bound below).
- mismatch: none of these: a real disagreement.
"""
import numpy as np

from crossgrad.dtypes import unit_roundoff
from crossgrad.reference import forward

KINKS = {"relu": 0.0, "leaky_relu": 0.0, "elu": 0.0}  # activation -> where it has a kink
ELEMENTWISE_ROUNDINGS = 10  # a generous count of roundings per layer outside the matmuls


def kink_units(problem, dtype):
    """{layer: [(sample, unit), ...]} of pre-activations within rounding distance of a kink.

    In `dtype`, z_l = x_l @ W_l + b_l can be off by about (l + 1)·(fan_in + 1)·u·(|x_l| @ |W_l| +
    |b_l|): the dot product's own rounding bound γ_n ≈ n·u, grown by each layer below. A unit
    whose float64 z lies within 4 times that of the kink may fall on either side of it.
    """
    layer_inputs, pre_activations, _ = forward(problem.layers, problem.inputs)
    found = {}
    for index, (layer, x, z) in enumerate(zip(problem.layers, layer_inputs, pre_activations)):
        if layer.activation not in KINKS:
            continue
        magnitude = np.abs(x) @ np.abs(layer.weights)
        if layer.bias is not None:
            magnitude = magnitude + np.abs(layer.bias)
        radius = 4 * (index + 1) * (layer.fan_in + 1) * unit_roundoff(dtype) * magnitude
        near = np.argwhere(np.abs(z - KINKS[layer.activation]) <= radius)
        if len(near):
            found[index] = [tuple(int(i) for i in pair) for pair in near]
    return found


def precision_bound(problem, layer, quantity, dtype):
    """The rel_l2 that rounding in `dtype` explains for `quantity` of `layer`.

    u·Σ_(k = layer … L−1) (fan_in_k + fan_out_k + 10), plus u·batch for a weight or bias delta:
    each layer's forward matmul (γ_fan_in), the backward product δ @ Wᵀ (γ_fan_out), about ten
    elementwise roundings (activation, derivative, loss), and the sum over the batch of a delta.
    The loss row (layer None) counts every layer's forward pass.
    """
    layers = problem.layers[layer or 0:]
    steps = sum(l.fan_in + l.fan_out + ELEMENTWISE_ROUNDINGS for l in layers)
    if quantity in ("weight_delta", "bias_delta"):
        steps += len(problem.inputs)
    return unit_roundoff(dtype) * steps


def label(row, problem, kinks):
    """(label, detail) for a row outside its tolerance; kinks is kink_units(problem, row.dtype)."""
    if row.non_finite:
        return "non_finite", f"{row.non_finite} of {row.size} elements are NaN or Inf"
    # δ_l depends on f'(z_k) for every k ≥ l; the loss depends on no derivative
    feeding = {k: units for k, units in kinks.items() if row.layer is not None and k >= row.layer}
    if feeding:
        detail = "; ".join(f"layer {k} ({problem.layers[k].activation}) at (sample, unit) "
                           + ", ".join(map(str, units[:4])) + (" …" if len(units) > 4 else "")
                           for k, units in sorted(feeding.items()))
        return "kink", detail
    if not row.problem and row.rel_l2 <= precision_bound(problem, row.layer, row.quantity,
                                                         row.dtype):
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
