"""The `crossgrad fuzz` command: options checked, the search run under a progress bar, the
findings listed, and a last line with the counts and the time."""
import os
import sys
import time
import warnings

from tqdm import tqdm

from crossgrad import executors
from crossgrad.fuzzing import NothingToRun, search

DEFAULT_CASES = 100


def usage_problem(args):
    """Why the fuzz command cannot start, in one line, or None."""
    if args.cases is not None and args.cases < 1:
        return f"--cases: expected a number of draws ≥ 1, got {args.cases}"
    if args.budget is not None and not args.budget > 0:
        return f"--budget: expected seconds > 0, got {args.budget:g}"
    if args.seed < 0:
        return f"--seed: expected an integer ≥ 0, got {args.seed}"
    if args.workers is not None and args.workers < 1:
        return f"--workers: expected ≥ 1, got {args.workers}"
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        return f"--out: {args.out} is a file, not a folder"
    if not args.backends:
        return "--backends: no backend to run"
    return None


def _plan(bar, runs):
    """Grow the progress bar's total by a chunk's runs (with --budget, chunk by chunk)."""
    bar.total = (bar.total or 0) + runs
    bar.refresh()


def run(args, quiet):
    """Exit status: 0 when nothing was found, 1 when something was, 2 for bad options."""
    problem = usage_problem(args)
    if problem:
        print(f"crossgrad fuzz: {problem}", file=sys.stderr)
        return 2
    cases = args.cases if args.cases is not None or args.budget is not None else DEFAULT_CASES
    # drawn topologies seldom recur: JAX's persistent cache would only evict the catalogue's
    os.environ.setdefault("CROSSGRAD_JAX_CACHE", "off")
    started = time.monotonic()
    with tqdm(total=None, desc="crossgrad fuzz", unit="run", file=sys.stderr, disable=quiet,
              leave=False, dynamic_ncols=True) as bar, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the libraries' warnings are not the user's business
        try:
            outcome = search(args.seed, args.backends, args.dtypes, args.out, cases=cases,
                             budget=args.budget, progress=bar.update, report=bar.write,
                             planned=lambda runs: _plan(bar, runs),
                             execution=dict(executor=args.executor, workers=args.workers))
        except (executors.ExecutorError, NothingToRun) as error:
            print(f"crossgrad fuzz: {error}", file=sys.stderr)
            return 2
    print(f"crossgrad fuzz: seed {args.seed}, {outcome.draws} draws ({outcome.unusable} with a "
          f"non-finite reference, {outcome.beyond_dtype} beyond their dtype, {outcome.failing} "
          f"failing), {len(outcome.findings)} finding{'s' * (len(outcome.findings) != 1)} in "
          f"{args.out}, "
          f"{time.monotonic() - started:.1f} s")
    return 1 if outcome.findings else 0
