"""Plug-in backends from the command line and the pytest plugin: NAME=module:attribute specs
registered, checked before a run, and the backends of a run chosen among all that are known."""
import dataclasses
import os
import sys

from crossgrad import adapters
from crossgrad.cases import Divergence


def add(specs):
    """Register each 'NAME=module:attribute' (or 'NAME=module') of `specs`, importable from the
    current folder as `python -m` would, and pass them on to worker processes. Raises
    adapters.BackendError with one line for a spec that is not of that form."""
    parsed = [adapters.parse_spec(spec) for spec in specs]
    if parsed and os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    for name, target in parsed:
        adapters.register(name, target)
    if parsed:
        adapters.export()
    return [name for name, _ in parsed]


def choose(requested=None):
    """The backends to run: `requested` (names), or every known one; and a line for each that
    cannot run: a plug-in that does not import or lacks backprop (a built-in whose framework
    is missing is not one: its runs are skipped with the reason). Raises
    adapters.BackendError for a name nobody registered."""
    known = adapters.names()
    chosen = list(known) if requested is None else list(dict.fromkeys(requested))
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise adapters.BackendError(f"--backends: unknown {unknown[0]!r}; choose from "
                                    f"{', '.join(known)}, or add one with --backend "
                                    "NAME=module:attribute")
    problems = []
    for name in [name for name in chosen if name not in adapters.BACKENDS]:
        try:
            adapters.load(name)
        except adapters.BackendError as error:
            problems.append(str(error))
            chosen.remove(name)
    return chosen, problems


def runs_case(backend, case):
    """Whether `backend` runs `case`: a built-in when the case lists it; a plug-in always (a
    case's `backends` names only the built-ins)."""
    return backend in case.backends or backend not in adapters.BACKENDS


@dataclasses.dataclass(frozen=True)
class InheritedDivergence(Divergence):
    """A divergence a plug-in inherits from the built-ins (see case_for): it covers the rows it
    matches, but its absence fails nothing; a plug-in may well compute better than they do."""

    strict = False  # a class attribute, read by the runner


_cases = {}  # (id(case), backend) -> (case, the case as the plug-in runs it)


def case_for(case, backend):
    """`case` as plug-in `backend` runs it. The divergences that the case declares alike (same
    dtype, quantity, layer and comparison) for every built-in backend it runs, two or more, are
    the dtype's or the math's rather than a framework's (float16's range, say): they cover
    `backend` too, without requiring it to reproduce them. One object per case and backend."""
    if backend in adapters.BACKENDS or not case.divergences or len(case.backends) < 2:
        return case
    found = _cases.get((id(case), backend))
    if found is not None and found[0] is case:
        return found[1]
    by_scope = {}
    for divergence in case.divergences:
        scope = (divergence.dtype, divergence.quantity, divergence.layer, divergence.compared_to)
        by_scope.setdefault(scope, {})[divergence.backend] = divergence
    inherited = tuple(
        InheritedDivergence(**dict(vars(declared[case.backends[0]]), backend=backend, reason=(
            f"as for every built-in backend: {declared[case.backends[0]].reason}")))
        for declared in by_scope.values() if set(case.backends) <= set(declared))
    seen = dataclasses.replace(case, divergences=case.divergences + inherited) if inherited \
        else case
    _cases[id(case), backend] = (case, seen)
    return seen
