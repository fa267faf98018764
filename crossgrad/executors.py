"""Where a report's runs execute: in this process, in a pool of local processes, or on a Dask
cluster; every executor gives the same rows in the same order.

The runs (case × backend × dtype, in catalogue order) are cut into units: up to UNIT_CASES
cases of one topology, with all their backends and dtypes. A unit runs in one process, so its
compiled programs, its reference and its referees' results are computed once and reused; each
unit's rows come back under the positions of its runs, and the rows are put back in that
order. Runs of the backends named in `gpu_backends` form units of their own that ask Dask for
a GPU worker (a worker started with `--resources GPU=1`).
"""
import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

from crossgrad import adapters, runner

EXECUTORS = ("auto", "serial", "processes", "dask")
# auto runs this many runs or more in processes: each worker first imports torch and JAX (about
# 2 s), which a smaller run does not win back.
AUTO_PROCESSES_FROM = 200
UNIT_CASES = 32
# One thread per worker process: the processes are the parallelism, and BLAS or OpenMP threads
# on top of them would only contend for the same cores.
WORKER_ENVIRONMENT = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                      "OPENBLAS_NUM_THREADS": "1"}
GPU = {"GPU": 1}


class ExecutorError(RuntimeError):
    """The executor cannot run the units (dask missing, no worker with a needed resource)."""


@dataclass(frozen=True)
class Unit:
    """Runs that execute together in one process, and where each sits in the whole list."""

    positions: tuple  # of each run in the list given to execute()
    runs: tuple  # (case, backend, dtype)
    resources: dict = field(default_factory=dict)  # Dask worker resources, e.g. {"GPU": 1}

    @property
    def cost(self):
        """A rough size, to hand out the largest units first: runs × layers."""
        return sum(len(case.problem.layers) for case, _, _ in self.runs)


def units(runs, gpu_backends=(), unit_cases=UNIT_CASES):
    """`runs` cut into Units: the cases of one topology, UNIT_CASES at a time, each with all
    its runs (those on a GPU backend in a unit of their own), in order of first appearance."""
    groups = {}
    for position, (case, backend, dtype) in enumerate(runs):
        on_gpu = backend in gpu_backends
        groups.setdefault((adapters.topology(case.problem), on_gpu), {}).setdefault(
            id(case), []).append(position)
    found = []
    for (_, on_gpu), by_case in groups.items():
        cases = list(by_case.values())
        for start in range(0, len(cases), unit_cases):
            positions = tuple(p for chosen in cases[start:start + unit_cases] for p in chosen)
            found.append(Unit(positions, tuple(runs[p] for p in positions),
                              dict(GPU) if on_gpu else {}))
    return found


# The topology whose compiled programs this process holds (see run_unit).
_held = {"topology": None}


def run_unit(unit, referee_names=(), batch=False):
    """The rows of each of `unit`'s runs (what a worker process executes)."""
    topology = adapters.topology(unit.runs[0][0].problem)
    if topology != _held["topology"]:
        _drop_compiled_programs()
        _held["topology"] = topology
    try:
        return runner.run_many(unit.runs, referee_names, batch)
    finally:
        runner.forget()  # the next unit's cases are others: free this one's results
        _return_free_memory()


def _drop_compiled_programs():
    """Free the compiled JAX programs of the topology before. A worker that kept every
    topology's programs held 0.6 GiB at 10,000 cases; dropping them after every unit instead
    (32 cases) made each unit trace its programs again and read them from the persistent cache
    (adapters/compile_cache.py), about 0.4 s a program: most of a small case's time. Units of
    one topology are handed out one after another (units() groups them; execute() sorts them
    by a cost they share), so a worker keeps one topology's programs while its units last."""
    if "jax" in sys.modules:
        sys.modules["jax"].clear_caches()


def _return_free_memory():
    """Hand the C heap's free pages back to the system. XLA's compiler frees most of what it
    allocates, but in many threads' arenas, which glibc keeps: about 2 MB per program compiled,
    a quarter of a gigabyte per worker for a hundred small programs."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (AttributeError, OSError):  # not glibc: nothing to do
        pass


def execute(runs, referee_names=(), executor="serial", workers=None, scheduler=None,
            gpu_backends=(), batch=False, progress=None, collect=None):
    """runner.run for each (case, backend, dtype) of `runs`: one list of rows per run, in order.
    With `collect`, each run's rows go instead to collect(position, rows) as its unit finishes
    (units finish in any order), nothing is kept, and execute returns None.

    `executor` is 'serial' (here), 'processes' (`workers` spawned processes, default one per
    CPU), 'dask' (the cluster at `scheduler`, or a LocalCluster of `workers` processes) or
    'auto' (processes from AUTO_PROCESSES_FROM runs on a machine with several CPUs, else
    serial). `progress`, when given, is called with the number of runs each finished unit held.
    """
    executor = resolve(executor, len(runs), workers)
    results = [None] * len(runs) if collect is None else None

    def finish(unit, rows):
        for position, run_rows in zip(unit.positions, rows):
            if collect is None:
                results[position] = run_rows
            else:
                collect(position, run_rows)
        if progress:
            progress(len(unit.runs))

    if executor == "serial":
        for unit in units(runs, gpu_backends):
            finish(unit, run_unit(unit, referee_names, batch))
        return results
    todo = _largest_first(units(runs, gpu_backends))
    (_processes if executor == "processes" else _dask)(todo, referee_names, batch, workers,
                                                       scheduler, finish)
    return results


def _largest_first(found):
    """`found` (units, each topology's together) with the costliest topologies' units first,
    so that the pool's last units are small; each topology's units stay one after another, so
    that a worker runs them in turn on the same compiled programs (run_unit)."""
    groups = {}
    for unit in found:
        key = (adapters.topology(unit.runs[0][0].problem), bool(unit.resources))
        groups.setdefault(key, []).append(unit)
    return [unit for group in sorted(groups.values(), key=lambda group: -group[0].cost)
            for unit in group]


def resolve(executor, run_count, workers=None):
    """The executor that runs `run_count` runs: 'auto' becomes 'processes' from
    AUTO_PROCESSES_FROM runs where there are several CPUs (or `workers`), else 'serial'."""
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; choose from {', '.join(EXECUTORS)}")
    if executor != "auto":
        return executor
    several = (workers or os.cpu_count() or 1) > 1
    return "processes" if several and run_count >= AUTO_PROCESSES_FROM else "serial"


@contextlib.contextmanager
def _environment(values):
    """`values` set in os.environ for the block (spawned processes inherit them), then undone."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _processes(todo, referee_names, batch, workers, scheduler, finish):
    # spawn, not fork: JAX and torch hold threads that a forked child would inherit broken
    pool = None
    try:
        with _environment(WORKER_ENVIRONMENT), _interrupts_held():  # the workers inherit both
            pool = ProcessPoolExecutor(max_workers=workers or os.cpu_count(),
                                       mp_context=multiprocessing.get_context("spawn"))
            futures = {pool.submit(run_unit, unit, referee_names, batch): unit for unit in todo}
        for future in as_completed(futures):
            finish(futures.pop(future), future.result())  # popped: its rows are not kept
    except BaseException:  # Ctrl-C included: drop the units not started, finish the rest
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


@contextlib.contextmanager
def _interrupts_held():
    """SIGINT ignored while the workers start, and held back meanwhile for this process. Ctrl-C
    reaches the whole process group, and this process alone should stop the pool: spawned
    workers keep an ignored signal ignored, however early in their start-up it comes, and an
    interrupt in the meantime is delivered here once they are started (Linux keeps a blocked
    signal pending even while it is ignored)."""
    if threading.current_thread() is not threading.main_thread() \
            or not hasattr(signal, "pthread_sigmask"):  # handlers belong to the main thread
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _dask(todo, referee_names, batch, workers, scheduler, finish):
    try:
        from dask.distributed import Client, LocalCluster, as_completed as completed
    except ImportError:
        raise ExecutorError("dask is not installed (pip install 'crossgrad[dask]' "
                            "-c constraints.txt)") from None

    with contextlib.ExitStack() as stack:
        if scheduler is None:
            cluster = stack.enter_context(LocalCluster(
                n_workers=workers or os.cpu_count(), threads_per_worker=1, processes=True,
                dashboard_address=":0", env=dict(WORKER_ENVIRONMENT)))
            client = stack.enter_context(Client(cluster))
        else:
            client = stack.enter_context(Client(scheduler))
        _check_resources(client, todo)
        futures = {client.submit(run_unit, unit, referee_names, batch, pure=False,
                                 resources=unit.resources or None): unit for unit in todo}
        for future in completed(futures):
            finish(futures.pop(future), future.result())  # popped: the cluster drops its rows


def _check_resources(client, todo):
    """Refuse, rather than wait for ever, when units need a resource no worker offers."""
    needed = {name for unit in todo for name in unit.resources}
    offered = {name for worker in client.scheduler_info()["workers"].values()
               for name in worker.get("resources", {})}
    missing = needed - offered
    if missing:
        raise ExecutorError(f"no Dask worker offers {', '.join(sorted(missing))}: start the GPU "
                           f"workers with `--resources {sorted(missing)[0]}=1`")
