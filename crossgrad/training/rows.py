"""A trajectory's Comparisons: at every recorded step, the loss and each layer's weights and
biases of a backend's run against the float64 reference's trajectory (and the golden losses),
each element allowed the table's tolerance plus K times the drift bound (training/bounds.py)."""
import math
from dataclasses import replace

import numpy as np

from crossgrad.compare import compare
from crossgrad.metrics import norm
from crossgrad.tolerances import ROUNDING_BOUND_MULTIPLE, tolerance_for
from crossgrad.training.bounds import drift_bounds

PARTS = (("weights", "weights"), ("biases", "biases"))  # quantity, Trajectory field
_kept = {}  # (id(case), dtype) -> (case, (bounds per recorded step, the reference Trajectory))


def reference_trajectory(case, dtype):
    """(bounds per recorded step for a run in `dtype`, the float64 reference's Trajectory),
    computed once per Case object and dtype."""
    kept = _kept.get((id(case), dtype))
    if kept is None or kept[0] is not case:
        kept = _kept[id(case), dtype] = (case, drift_bounds(case.problem, case.training, dtype))
    return kept[1]


def forget():
    _kept.clear()


def _explained(bound, expected):
    """‖K·bound‖/‖expected‖: the rel_l2 that the drift bound explains, taken as a whole."""
    allowed, size = norm(ROUNDING_BOUND_MULTIPLE * np.asarray(bound)), norm(np.asarray(expected))
    return (0.0 if allowed == 0 else math.inf) if size == 0 else allowed / size


def _step_rows(trajectory, k, truth, tolerance, bound, identity):
    """(row, the rel_l2 its bound explains) for the loss and every layer's weights and biases
    at recorded step k against `truth` (a Trajectory)."""
    loss_bound, weight_bounds, bias_bounds = bound
    rows = [(compare(np.float64(trajectory.losses[k]).astype(identity["dtype"]),
                     truth.losses[k], tolerance, loss_bound, layer=None, quantity="loss",
                     **identity), _explained(loss_bound, truth.losses[k]))]
    for quantity, field in PARTS:
        bounds = weight_bounds if quantity == "weights" else bias_bounds
        actual_layers = getattr(trajectory, field)[k]
        for layer, expected in enumerate(getattr(truth, field)[k]):
            if expected is None:
                continue
            actual = actual_layers[layer] if layer < len(actual_layers) else None
            rows.append((compare(actual, expected, tolerance, bounds[layer], layer=layer,
                                 quantity=quantity, **identity),
                         _explained(bounds[layer], expected)))
    return rows


def _label(row, bound):
    """non_finite, precision (inside the drift bound taken as a whole, ‖K·bound‖/‖expected‖)
    or mismatch, for a row outside its tolerance."""
    if row.non_finite:
        return replace(row, label="non_finite",
                       label_detail=f"{row.non_finite} of {row.size} elements are NaN or Inf")
    if row.problem:
        return replace(row, label="mismatch")
    return replace(row, label="precision" if row.rel_l2 <= bound else "mismatch")


def drift_growth(rows):
    """log10 rel_l2 per step: the slope of a least-squares line through the largest rel_l2 of
    any layer's weights against the reference at each recorded step after 0 (nan with fewer
    than two steps where it is finite and above 0)."""
    worst = {}
    for row in rows:
        if row.quantity == "weights" and row.compared_to == "reference" and row.step:
            worst[row.step] = max(worst.get(row.step, 0.0), row.rel_l2)
    points = [(step, math.log10(value)) for step, value in sorted(worst.items())
              if 0 < value < math.inf]
    if len(points) < 2:
        return math.nan
    steps, logs = np.array(points).T
    return float(np.polyfit(steps, logs, 1)[0])


def trajectory_rows(case, adapter, dtype, identity, golden_tolerance):
    """Every row of `case`'s training on `adapter` (an adapters.Backend) in `dtype`; `identity`
    gives case, backend, dtype and device, `golden_tolerance` the tolerance of the case's golden
    values. The reference rows are left out for numpy float64, which is the reference."""
    trajectory = adapter.train(case.problem, case.training, dtype)
    bounds, reference = reference_trajectory(case, dtype)
    table = tolerance_for(dtype, case.tolerances)
    golden = dict(case.expected.losses) if case.expected is not None else {}
    itself = identity["backend"] == "numpy" and dtype == "float64"
    rows = []
    for k, step in enumerate(case.training.record):
        where = dict(identity, step=step)
        if not itself:
            rows += _step_rows(trajectory, k, reference, table, bounds[k],
                               dict(where, compared_to="reference"))
        if step in golden:
            rows.append((compare(np.float64(trajectory.losses[k]).astype(dtype), golden[step],
                                 golden_tolerance, bounds[k][0], layer=None,
                                 quantity="loss", compared_to="expected", **where),
                         _explained(bounds[k][0], golden[step])))
    rows = [_label(row, explained) if row.failed else row for row, explained in rows]
    outside = [row.step for row in rows if row.outside]
    first, growth = (min(outside) if outside else None), drift_growth(rows)
    return [replace(row, first_divergent_step=first, drift_growth=growth) for row in rows]
