"""`crossgrad fuzz`: draw networks across the case format, run the backends on them with the
report's verdicts, shrink each failure to the smallest problem that keeps its signature, and
write it as a case file.

Draws are numbered; draw i of seed s replays from (s, i) alone (fuzzing.draw), the shrinker is
deterministic (fuzzing.shrink), and draws are handled in their order whichever executor ran
them, so a seed and a number of draws give the same findings, byte for byte.
"""
import time
from dataclasses import dataclass, field

from crossgrad import adapters, executors, runner
from crossgrad.fuzzing.draw import draw_case, usable
from crossgrad.fuzzing.finding import case_text, file_name, write
from crossgrad.fuzzing.shrink import MAX_EVALUATIONS, describe_size, shrink
from crossgrad.fuzzing.signature import evaluate, runs_of, signatures

FIRST_CHUNK = 16  # draws run together before the draw rate is known, with --budget


class NothingToRun(ValueError):
    """No selected backend computes in any selected dtype."""


@dataclass
class Outcome:
    """What a search found: counts, and one (signature, path) per finding, in order found."""

    draws: int = 0
    unusable: int = 0  # draws whose float64 reference is not finite
    beyond_dtype: int = 0  # draws the numpy backend fails in their dtype too
    failing: int = 0  # draws with at least one finding's signature
    findings: list = field(default_factory=list)


def _description(seed, index, flavour, signature, before, after, evaluations):
    return (f"Found by crossgrad fuzz --seed {seed}: draw {index} ({flavour}) failed as "
            f"{signature}. Shrunk while that signature held ({evaluations} candidates tried) "
            f"from {describe_size(before)} to {describe_size(after)}.")


def _finding(seed, index, flavour, case, signature, out, max_evaluations):
    """Shrink draw `index`'s `case` while `signature` holds and write it; its path. Only the
    signature's backend runs (and the yardstick): another backend's rows cannot change it."""
    def keeps(candidate):
        return usable(candidate) and signature in evaluate(candidate, [signature.backend])[0]

    try:
        smallest, evaluations = shrink(case, keeps, max_evaluations)
    finally:
        runner.forget()
    text = case_text(smallest, signature, _description(seed, index, flavour, signature,
                                                       case, smallest, evaluations))
    return write(out, file_name(signature, seed, index), text)


def _computes(backend, dtype):
    """Whether `backend` computes in `dtype` (a draw in a dtype none computes is wasted)."""
    try:
        return dtype not in adapters.load(backend).UNSUPPORTED_DTYPES
    except (KeyError, adapters.BackendUnavailable, adapters.BackendError):
        return False


def _chunks(cases, budget, started):
    """(first index, count) of each chunk of draws: all of --cases at once; with --budget, a
    first small chunk, then a quarter of what the remaining time allows at the rate so far."""
    if cases is not None:
        yield 0, cases
        return
    index, count = 0, FIRST_CHUNK
    while time.monotonic() - started < budget:
        yield index, count
        index += count
        elapsed = time.monotonic() - started
        rate = index / max(elapsed, 1e-9)
        count = max(1, min(1024, int(rate * (budget - elapsed) / 4)))


def search(seed, backends, dtypes, out, cases=None, budget=None, execution=None,
           max_evaluations=MAX_EVALUATIONS, progress=None, planned=None, report=None):
    """Draw `cases` networks (or draw for `budget` seconds) from `seed`, run them on `backends`
    in one of `dtypes` each, and shrink and write each new signature into `out`. `execution`
    holds executors.execute's options; planned(n) is called with the runs of each chunk of
    draws before they start, progress(n) as they finish, report(line) for each finding.
    Returns an Outcome."""
    started, outcome, seen = time.monotonic(), Outcome(), set()
    computed = [dtype for dtype in dtypes if any(_computes(backend, dtype) for backend in backends)]
    if not computed:
        raise NothingToRun(f"none of {', '.join(backends)} computes in {', '.join(dtypes)}")
    dtypes = computed
    for first, count in _chunks(cases, budget, started):
        draws = [(index,) + draw_case(seed, index, dtypes, backends)
                 for index in range(first, first + count)]
        kept = []
        for index, case, flavour in draws:
            if usable(case):
                kept.append((index, case, flavour))
            else:
                outcome.unusable += 1
        runner.forget()
        runs = [run for _, case, _ in kept for run in runs_of(case, backends)]
        if planned:
            planned(len(runs))
        results = executors.execute(runs, (), progress=progress, **(execution or {}))
        position = 0
        for index, case, flavour in kept:
            mine = runs_of(case, backends)
            found, beyond = signatures(case, {backend: rows for (_, backend, _), rows
                                              in zip(mine, results[position:])})
            position += len(mine)
            outcome.beyond_dtype += beyond
            outcome.failing += bool(found)
            for signature in sorted(found - seen):
                seen.add(signature)
                path = _finding(seed, index, flavour, case, signature, out, max_evaluations)
                outcome.findings.append((signature, path))
                if report:
                    report(f"found {signature}: {path}")
        outcome.draws += count
    return outcome
