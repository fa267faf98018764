"""Referees that share no code or arithmetic with either side: finite differences of the
reference's forward loss, the ground truth proven in ball arithmetic, and each framework's own
forward mode.

Each adds rows with its own `compared_to`; expected is the referee, actual the backend.
"""
from dataclasses import replace

import numpy as np

from crossgrad import finite_difference as fd
from crossgrad.compare import compare
from crossgrad.ground_truth import CERTAIN_BITS, MAX_OPERATIONS, Uncertain, ground_truth, operations
from crossgrad.metrics import relative_l2
from crossgrad.tolerances import Tolerance

REFEREES = {"fd": "finite_difference", "truth": "ground_truth", "fwd": "forward_mode"}
# A finite difference is good to about ε^(2/3) ≈ 4e-11 of |E| per unit step: its noise floor,
# with a thousandfold margin for E''' and for E's own rounding.
FD_RTOL = 1e-6
FD_NOISE = 1e3 * fd.EPSILON ** (2 / 3)
FORWARD_DIRECTIONS = 3
FORWARD_SEED = 20_240_602

_cache = {}  # (id(case), referee) -> (case, value)


def _once(case, referee, compute):
    cached = _cache.get((id(case), referee))
    if cached is None or cached[0] is not case:
        cached = _cache[id(case), referee] = (case, compute(case.problem))
    return cached[1]


def forget():
    """Drop every referee result kept so far."""
    _cache.clear()


def _gradients(deltas, learning_rate):
    """∂E/∂p from a delta −η·∂E/∂p, in float64."""
    return [None if d is None else -np.asarray(d, dtype=np.float64) / learning_rate for d in deltas]


def _loosest(table, rtol, floor):
    return Tolerance(max(table.rtol, rtol), table.atol, floor)


def finite_difference_rows(case, gradients, table, identity, reference_loss, bounds=None):
    """The backend's deltas against −η·(central differences of the float64 forward loss);
    `bounds` (a Gradients of the error model's rounding bounds in the backend's dtype) allows
    each delta its own rounding, as against the reference (a float16 delta that underflows to
    0 is rounding there as here)."""
    result = _once(case, "fd", fd.finite_differences)
    identity = dict(identity, compared_to="finite_difference")
    rate = case.problem.learning_rate
    noise = FD_NOISE * max(abs(reference_loss), np.finfo(np.float64).tiny)
    if result.mode == "projection":
        actual = fd.directional_from_gradients(result.directions,
                                               _gradients(gradients.weight_deltas, rate),
                                               _gradients(gradients.bias_deltas, rate))
        kinked = result.directional_kinked
        expected = np.where(kinked, actual, result.directional)
        row = compare(actual.astype(identity["dtype"]), expected, _loosest(table, FD_RTOL, noise),
                      layer=None, quantity="directional_derivative", **identity)
        note = (f"projection on {len(kinked)} random directions, seed {result.seed}"
                + (f"; {int(kinked.sum())} crossed a kink and were not compared" if kinked.any()
                   else ""))
        return [_with_kinks(row, note, int(kinked.sum()))]
    rows = []
    for quantity, field, fd_layers, kinked_layers in (
            ("weight_delta", "weight_deltas", result.weight_gradients, result.weight_kinked),
            ("bias_delta", "bias_deltas", result.bias_gradients, result.bias_kinked)):
        actual_layers = getattr(gradients, field)
        bound_layers = getattr(bounds, field) if bounds is not None else [None] * len(fd_layers)
        for layer, (actual, gradient, kinked, bound) in enumerate(zip(
                actual_layers, fd_layers, kinked_layers, bound_layers)):
            if gradient is None:
                continue
            expected = -rate * gradient
            # a difference across a kink means nothing: there, the backend is not compared
            if actual is not None and getattr(actual, "shape", None) == expected.shape:
                expected = np.where(kinked, np.asarray(actual, dtype=np.float64), expected)
            row = compare(actual, expected, _loosest(table, FD_RTOL, rate * noise), bound,
                          layer=layer, quantity=quantity, **identity)
            note = "every partial derivative" + (
                f"; {int(kinked.sum())} of {kinked.size} differences crossed a kink and were "
                "not compared" if kinked.any() else "")
            rows.append(_with_kinks(row, note, int(kinked.sum())))
    return rows


def _with_kinks(row, note, kinked):
    if kinked:
        return replace(row, note=note, label="kink",
                       label_detail=f"{kinked} finite differences straddle a kink")
    return replace(row, note=note)


def _proven_or_why_not(problem):
    if operations(problem) > MAX_OPERATIONS:
        return f"over {MAX_OPERATIONS:,} multiply-adds"
    try:
        return ground_truth(problem)
    except Uncertain as uncertain:
        return str(uncertain)


def proven_truth(case):
    """The case's ground truth (a ground_truth.Truth), or a str: why it has none."""
    return _once(case, "truth", _proven_or_why_not)


def truth(case):
    """The case's proven ground truth as float64 Gradients (NaN where a kink leaves an element
    unknown), or None when it has none."""
    found = proven_truth(case)
    return None if isinstance(found, str) else found.gradients


def known_truth(truth_gradients, gradients):
    """The truth with each element a kink leaves unknown (NaN) replaced by the backend's own
    value, so that it is not compared (as finite differences across a kink are not)."""
    def known(expected, actual):
        if expected is None or getattr(actual, "shape", None) != expected.shape:
            return expected  # compare() reports the missing or misshapen side first
        return np.where(np.isnan(expected), np.asarray(actual, dtype=np.float64), expected)
    fields = {}
    for field in ("error_terms", "weight_deltas", "bias_deltas"):
        actual = list(getattr(gradients, field) or [])
        fields[field] = [known(expected, actual[l] if l < len(actual) else None)
                         for l, expected in enumerate(getattr(truth_gradients, field))]
    return truth_gradients._replace(**fields)


_FIELDS = {"error_term": "error_terms", "weight_delta": "weight_deltas",
           "bias_delta": "bias_deltas"}


def proven_rows(rows, truth):
    """The ground-truth rows with the proof in `note`, and those holding elements that a kink
    leaves unknown labelled `kink`, with how many were not compared."""
    note = (f"proven: ball arithmetic at {truth.bits} bits, every radius below 2^-{CERTAIN_BITS} "
            "of its value; midpoints rounded once to float64")
    sites = "; ".join(_kink_sites(truth.kinks, layer)
                      for layer in sorted({l for l, _, _ in truth.kinks}))
    proven = []
    for row in rows:
        expected = (getattr(truth.gradients, _FIELDS[row.quantity])[row.layer]
                    if row.quantity in _FIELDS and row.layer is not None else None)
        unknown = int(np.isnan(expected).sum()) if expected is not None else 0
        if unknown:
            row = replace(row, label="kink", label_detail=(
                f"{unknown} of {expected.size} elements unknown: pre-activation balls "
                f"straddle a kink, {sites}"),
                note=note + f"; {unknown} elements a kink leaves unknown were not compared")
        else:
            row = replace(row, note=note)
        proven.append(row)
    return proven


def _kink_sites(kinks, layer, shown=3):
    """'layer 1 at (sample, unit) (0, 0), (1, 0)', the first `shown` of the layer's kinks."""
    units = [f"({s}, {u})" for l, s, u in kinks if l == layer]
    more = f" and {len(units) - shown} more" if len(units) > shown else ""
    return f"layer {layer} at (sample, unit) " + ", ".join(units[:shown]) + more


def closer_to_truth(backend_array, reference_array, truth_array, backend):
    """Which side of a disagreement is nearer the ground truth, with both rel_l2 (over the
    elements the truth knows: not those a kink leaves unknown)."""
    known = ~np.isnan(truth_array)
    ours = relative_l2(np.asarray(backend_array, dtype=np.float64)[known], truth_array[known])
    theirs = relative_l2(np.asarray(reference_array, dtype=np.float64)[known], truth_array[known])
    if ours == theirs:
        return f"neither (both rel_l2 {ours:.2e})"
    winner = backend if ours < theirs else "the reference"
    return f"{winner} (rel_l2 {backend} {ours:.2e}, reference {theirs:.2e})"


def forward_mode_rows(case, adapter, gradients, table, identity, bound=None):
    """⟨v, ∇E⟩ from the backend's reverse mode against its own forward mode, along seeded v;
    `bound(directions)`, when given, is each direction's rounding bound (the error model's)."""
    if not hasattr(adapter, "directional_derivatives"):
        return []
    directions = _once(case, "fwd", lambda problem: fd.random_directions(
        problem, FORWARD_DIRECTIONS, FORWARD_SEED))
    dtype = identity["dtype"]
    expected = adapter.directional_derivatives(case.problem, dtype, directions)
    rate = case.problem.learning_rate
    actual = fd.directional_from_gradients(directions, _gradients(gradients.weight_deltas, rate),
                                           _gradients(gradients.bias_deltas, rate))
    row = compare(actual.astype(dtype), expected, table, bound and bound(directions), layer=None,
                  quantity="directional_derivative",
                  **dict(identity, compared_to="forward_mode"))
    return [replace(row, note=f"{FORWARD_DIRECTIONS} random directions, seed {FORWARD_SEED}; "
                              "expected is forward mode, actual ⟨v, reverse-mode gradient⟩")]
