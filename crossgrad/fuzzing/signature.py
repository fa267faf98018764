"""What a failing draw is: its signature, from the runner's rows and verdicts.

A draw fails on a backend in a dtype when a row of that run has status fail or error (the same
verdicts as `crossgrad report`). Its signature is (backend, dtype, quantity, label, layer): the
row where the disagreement starts (the error term of the first divergent layer, scanning from
the output down; else the first failing row), and that layer said as its place (output or
hidden), since layer numbers change as the network shrinks, and since an
activation that does not matter is shrunk to identity.

A training draw whose single-step rows all pass and whose trajectory fails has a trajectory
signature: the rows of the first recorded step with a failing row, a layer's weights or biases
before the loss (the loss follows from them), the layer nearest the output first; not the step
itself, which shrinking the training moves. A draw whose single step fails keeps that
signature, whatever its trajectory does: the trajectory follows from it.

The numpy backend in the draw's dtype is the yardstick of what the dtype can carry: when it
fails a draw too (float16's overflow, say), the draw's failures in that dtype are the dtype's,
not a backend's, and count as beyond the dtype rather than as findings.
"""
from dataclasses import dataclass

from crossgrad import adapters, runner

YARDSTICK = "numpy"


@dataclass(frozen=True, order=True)
class Signature:
    """backend · dtype · (trajectory ·) quantity · label · layer of a failing draw."""

    backend: str
    dtype: str
    quantity: str
    label: str
    layer: str
    trajectory: bool = False  # it starts in a training run's recorded steps, not in one step

    def __str__(self):
        return " · ".join(part for part in (self.backend, self.dtype,
                                            "trajectory" if self.trajectory else "",
                                            self.quantity, self.label,
                                            self.layer and f"{self.layer} layer") if part)


def yardstick_runs(dtype):
    """Whether the numpy backend in `dtype` measures the dtype: not in float64 (it is the
    reference itself there), nor where numpy cannot compute."""
    if dtype == "float64":
        return False
    try:
        return dtype not in adapters.load(YARDSTICK).UNSUPPORTED_DTYPES
    except (KeyError, adapters.BackendUnavailable, adapters.BackendError):
        return False


def runs_of(case, backends):
    """(case, backend, dtype) for each of `backends` and, as the yardstick, numpy in the
    case's dtype when it is not among them."""
    dtype = case.dtypes[0]
    extra = [YARDSTICK] if YARDSTICK not in backends and yardstick_runs(dtype) else []
    return [(case, backend, dtype) for backend in list(backends) + extra]


def signature_of(rows, problem):
    """The Signature of one run's rows (a backend in a dtype), or None when none fails."""
    failed = [row for row in rows if row.failed]
    if not failed:
        return None
    first = failed[0]
    if first.status == "error":
        return Signature(first.backend, first.dtype, "", "error", "")
    one_step = [row for row in failed if row.step is None]
    if not one_step:
        return _trajectory_signature(failed, problem)
    first = one_step[0]
    layer = next((row.first_divergent_layer for row in rows
                  if row.first_divergent_layer is not None), None)
    start = next((row for row in one_step if row.layer == layer and row.quantity == "error_term"
                  and row.compared_to == "reference"), first) if layer is not None else first
    return Signature(start.backend, start.dtype, start.quantity, start.label,
                     _place(start, problem))


def _place(row, problem):
    """A row's layer said as its place: output or hidden ('' for the loss)."""
    if row.layer is None:
        return ""
    return "output" if row.layer == len(problem.layers) - 1 else "hidden"


def _trajectory_signature(failed, problem):
    """The Signature of a run whose failing rows are all a trajectory's: at its first failing
    step, the weights or biases of the layer nearest the output, else the loss."""
    step = min(row.step for row in failed)
    at_step = [row for row in failed if row.step == step]
    parameters = [row for row in at_step if row.layer is not None]
    start = max(parameters, key=lambda row: row.layer) if parameters else at_step[0]
    return Signature(start.backend, start.dtype, start.quantity, start.label,
                     _place(start, problem), trajectory=True)


def signatures(case, rows_by_backend):
    """({Signature}, beyond_dtype) of one draw from {backend: its rows}: the yardstick's own
    failures, or any other backend's when the yardstick fails, make beyond_dtype True and are
    not signatures."""
    yardstick = rows_by_backend.get(YARDSTICK)
    if yardstick is not None and yardstick_runs(case.dtypes[0]) \
            and any(row.failed for row in yardstick):
        return set(), True
    found = {signature_of(rows, case.problem) for rows in rows_by_backend.values()}
    return found - {None}, False


def evaluate(case, backends):
    """signatures() of `case` run here on `backends` (and the yardstick), the runner's
    caches for it dropped after."""
    try:
        rows = {backend: runner.run(c, backend, dtype) for c, backend, dtype
                in runs_of(case, backends)}
        return signatures(case, rows)
    finally:
        runner.forget()
