"""Running a case on a backend in a dtype, and turning the result into Comparison records."""
from dataclasses import replace

import numpy as np

from crossgrad import adapters, referees
from crossgrad.compare import Comparison, compare
from crossgrad.diagnose import kink_units, label, localize
from crossgrad.error_model import directional_bound, rounding_bounds
from crossgrad.tolerances import Tolerance, tolerance_for
from crossgrad.training import rows as training_rows

QUANTITIES = ("error_term", "weight_delta", "bias_delta")
_FIELDS = {"error_term": "error_terms", "weight_delta": "weight_deltas",
           "bias_delta": "bias_deltas"}

_references = {}  # id(case) -> (case, its reference Gradients)
_bounds = {}  # (id(case), dtype) -> (case, the error model's Gradients of bounds)


def reference(case):
    """The float64 NumPy reference's Gradients for `case`, computed once per Case object."""
    cached = _references.get(id(case))
    if cached is None or cached[0] is not case:
        cached = _references[id(case)] = (case, adapters.load("numpy").backprop(case.problem,
                                                                                "float64"))
    return cached[1]


def bounds(case, dtype):
    """The error model's rounding bounds for `case` in `dtype` (a Gradients), once per Case."""
    cached = _bounds.get((id(case), dtype))
    if cached is None or cached[0] is not case:
        cached = _bounds[id(case), dtype] = (case, rounding_bounds(case.problem, dtype))
    return cached[1]


def _golden_tolerance(case, dtype):
    # The golden values' own tolerance (printed digits) and the dtype's, whichever is looser.
    table = tolerance_for(dtype, case.tolerances)
    given = case.expected.tolerance
    if given is None:
        return table
    return Tolerance(max(table.rtol, given.rtol), max(table.atol, given.atol))


def _comparisons(gradients, truth, tolerance, identity, bounds):
    """Loss and every layer's quantities of `gradients` against `truth` (a Gradients or Expected),
    each element allowed its rounding bound from `bounds` (a Gradients) besides `tolerance`."""
    rows = []
    if isinstance(getattr(truth, "loss", None), float):
        rows.append(compare(np.float64(gradients.loss).astype(identity["dtype"]), truth.loss,
                            tolerance, bounds.loss, layer=None, quantity="loss", **identity))
    for quantity in QUANTITIES:
        expected_layers = getattr(truth, _FIELDS[quantity])
        if expected_layers is None:
            continue
        actual_layers = list(getattr(gradients, _FIELDS[quantity]) or [])
        bound_layers = getattr(bounds, _FIELDS[quantity])
        if len(actual_layers) != len(expected_layers):  # structure before values
            rows.append(Comparison(**identity, layer=None, quantity=quantity, status="fail",
                                   problem=f"{len(actual_layers)} layers of {quantity}, expected "
                                           f"{len(expected_layers)}"))
        for layer, expected in enumerate(expected_layers):
            if expected is None:
                continue
            actual = actual_layers[layer] if layer < len(actual_layers) else None
            rows.append(compare(actual, expected, tolerance, bound_layers[layer], layer=layer,
                                quantity=quantity, **identity))
    return rows


def skipped(case, backend, dtype, reason, device=""):
    """The one row that says a case × backend × dtype did not run, and why."""
    return Comparison(case=case.name, backend=backend, dtype=dtype, device=device, layer=None,
                      quantity="", compared_to="", status="skipped", problem=reason)


def _diagnosed(case, dtype, rows):
    """Each row outside its tolerance labelled; every row told where the disagreement starts."""
    kinks = kink_units(case.problem, dtype) if any(r.failed for r in rows) else {}
    rows = [replace(r, **dict(zip(("label", "label_detail"), label(
                r, case.problem, kinks, bounds(case, dtype), reference(case)))))
            if r.failed else r for r in rows]
    first, growth = localize(rows, len(case.problem.layers))
    if first is None:  # nothing to say: the rows keep their defaults (None, nan)
        return rows
    return [replace(r, first_divergent_layer=first, error_growth=growth) for r in rows]


def _with_divergences(case, backend, dtype, rows):
    """Rows that a declared divergence matches become expected_divergence, unless they are
    beyond its measured size (at_most): then they fail, saying the divergence grew. A
    declaration that matches no row outside its tolerance adds a failing row: it no longer
    reproduces."""
    compared = {r.compared_to for r in rows}
    for divergence in case.divergences:
        if divergence.backend != backend or divergence.dtype not in (None, dtype):
            continue
        if divergence.compared_to and divergence.compared_to not in compared:
            continue  # about a referee that did not run (pytest runs none): nothing to judge
        matching = [i for i, r in enumerate(rows) if divergence.matches(r) and r.outside]
        for i in matching:
            grown = divergence.beyond(rows[i])
            if grown:
                rows[i] = replace(rows[i], divergence=divergence.reason, problem=(
                    f"declared divergence grew: {grown} ({divergence.describe()}; declared "
                    f"because: {divergence.reason})"))
                continue
            rows[i] = replace(rows[i], status="expected_divergence", divergence=divergence.reason)
        if not matching and getattr(divergence, "strict", True):  # see plugins.case_for
            rows.append(Comparison(
                case=case.name, backend=backend, dtype=dtype, device=rows[0].device,
                layer=divergence.layer, quantity=divergence.quantity or "",
                compared_to=divergence.compared_to or "", status="fail",
                problem=f"declared divergence no longer reproduces: {divergence.describe()} "
                        f"is within its tolerance now (declared because: {divergence.reason})"))
    return rows


def _referee_rows(case, adapter, gradients, dtype, identity, names):
    """The rows of the referees named in `names` (fd, truth, fwd)."""
    table = tolerance_for(dtype, case.tolerances)
    rows = []
    if "fd" in names:
        rows += referees.finite_difference_rows(case, gradients, table, identity,
                                                reference(case).loss, bounds(case, dtype))
    if "truth" in names:
        truth = referees.proven_truth(case)
        if isinstance(truth, str):
            rows.append(replace(skipped(case, identity["backend"], dtype,
                                        f"ground truth skipped: {truth}", identity["device"]),
                                compared_to="ground_truth"))
        else:  # elements a kink leaves unknown are not compared, and their rows say so
            rows += referees.proven_rows(_comparisons(
                gradients, referees.known_truth(truth.gradients, gradients), table,
                dict(identity, compared_to="ground_truth"), bounds(case, dtype)), truth)
    if "fwd" in names:
        rows += referees.forward_mode_rows(
            case, adapter, gradients, table, identity, lambda directions: directional_bound(
                directions, bounds(case, dtype), reference(case), case.problem.learning_rate,
                dtype))
    return rows


def _closer_to_truth(case, gradients, rows):
    """Name, on each reference row outside its tolerance, the side nearer the ground truth."""
    truth = referees.truth(case)
    if truth is None:
        return rows
    ours, theirs = reference(case), None
    for i, row in enumerate(rows):
        if row.compared_to != "reference" or not row.failed or row.layer is None:
            continue
        field = _FIELDS[row.quantity]
        theirs = getattr(truth, field)[row.layer]
        rows[i] = replace(row, closer_to_truth=referees.closer_to_truth(
            getattr(gradients, field)[row.layer], getattr(ours, field)[row.layer], theirs,
            row.backend))
    return rows


def run(case, backend, dtype, referee_names=(), gradients=None):
    """Every Comparison of `case` on `backend` in `dtype`: against the float64 reference, against
    the case's golden values when it has them, and against the referees named in
    `referee_names` (fd, truth, fwd); each labelled and localized, with the case's declared
    divergences applied. A backend whose framework is missing gives one skipped row.
    `gradients`, when given, are the backend's already (from a batch, see run_many).
    """
    try:
        adapter = adapters.load(backend)
    except adapters.BackendUnavailable as unavailable:
        return [skipped(case, backend, dtype, str(unavailable))]
    except adapters.BackendError as error:  # a plug-in that does not import: its line
        return [Comparison(case=case.name, backend=backend, dtype=dtype, device="", layer=None,
                           quantity="", compared_to="", status="error", problem=str(error))]
    if dtype in adapter.UNSUPPORTED_DTYPES:
        return [skipped(case, backend, dtype, f"{backend} does not compute in {dtype}: "
                                              f"{adapter.UNSUPPORTED_DTYPES[dtype]}", adapter.DEVICE)]
    try:
        return _run(case, adapter, backend, dtype, referee_names, gradients)
    except Exception as error:  # a backend that raises loses its rows, not the run
        message = " ".join(str(error).split())
        return [Comparison(case=case.name, backend=backend, dtype=dtype, device=adapter.DEVICE,
                           layer=None, quantity="", compared_to="", status="error",
                           problem=message if isinstance(error, adapters.BackendError)
                           else f"{backend} raised {type(error).__name__}: {message}")]


def _run(case, adapter, backend, dtype, referee_names, gradients=None):
    if gradients is None:
        gradients = adapter.backprop(case.problem, dtype)
    identity = dict(case=case.name, backend=backend, dtype=dtype, device=adapter.DEVICE)
    rows = []
    if not (backend == "numpy" and dtype == "float64"):  # that one is the reference itself
        rows += _comparisons(gradients, reference(case), tolerance_for(dtype, case.tolerances),
                             dict(identity, compared_to="reference"), bounds(case, dtype))
    if case.expected is not None:
        rows += _comparisons(gradients, case.expected, _golden_tolerance(case, dtype),
                             dict(identity, compared_to="expected"), bounds(case, dtype))
    rows += _referee_rows(case, adapter, gradients, dtype, identity, referee_names)
    # a training case's trajectory: its rows are labelled and localized by step on their own
    trajectory = [] if case.training is None else training_rows.trajectory_rows(
        case, adapter, dtype, identity, _golden_tolerance(case, dtype) if case.expected
        is not None else None)
    if not rows and not trajectory:
        return [skipped(case, backend, dtype, "numpy float64 is the reference itself, and the "
                                              "case has no expected values to check it against",
                        adapter.DEVICE)]
    rows = _diagnosed(case, dtype, rows) if rows else rows
    if "truth" in referee_names:
        rows = _closer_to_truth(case, gradients, rows)
    return _with_divergences(case, backend, dtype, rows + trajectory)


def _batched_gradients(runs, batch_size):
    """{run index: Gradients} for the runs whose backend has backprop_batch and whose topology
    and dtype they share with another run; a batch that raises is left to run case by case."""
    groups = {}
    for index, (case, backend, dtype) in enumerate(runs):
        groups.setdefault((backend, dtype, adapters.topology(case.problem)), []).append(index)
    found = {}
    for (backend, dtype, _), indices in groups.items():
        try:
            adapter = adapters.load(backend)
        except adapters.BackendUnavailable:
            continue
        if len(indices) < 2 or not hasattr(adapter, "backprop_batch") \
                or dtype in adapter.UNSUPPORTED_DTYPES:
            continue
        for start in range(0, len(indices), batch_size):
            chunk = indices[start:start + batch_size]
            problems = [runs[i][0].problem for i in chunk]
            # padded to a power of two with copies of the last: JAX compiles one program per
            # batch size, so a topology needs a few, not one for each size its groups come in
            problems += problems[-1:] * ((1 << (len(chunk) - 1).bit_length()) - len(chunk))
            try:
                results = adapter.backprop_batch(problems, dtype)
            except Exception:  # noqa: BLE001  each case then raises (and is reported) on its own
                continue
            found.update(zip(chunk, results))
    return found


def run_many(runs, referee_names=(), batch=False, batch_size=64):
    """run() for each (case, backend, dtype) of `runs`: a list of row lists, in the same order.

    With `batch`, the cases of one topology go through the backend's backprop_batch (jax.vmap,
    torch.func.vmap), up to `batch_size` at a time. Batched gradients agree with a case's own to
    rounding, not to the bit (tests/test_batching.py), so a case's rows then depend, at that
    level, on which other cases share its topology; without `batch` they never do.
    """
    batched = _batched_gradients(runs, batch_size) if batch else {}
    return [run(case, backend, dtype, referee_names, batched.get(index))
            for index, (case, backend, dtype) in enumerate(runs)]


def forget():
    """Drop the reference and referee results kept for every case so far (a worker that has
    finished a share of the cases frees their memory)."""
    _references.clear()
    _bounds.clear()
    training_rows.forget()
    referees.forget()
