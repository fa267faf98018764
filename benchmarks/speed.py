"""How fast crossgrad checks, each figure a ratio of two things measured side by side in this run.

    .venv/bin/python benchmarks/speed.py            # every section (about 40 minutes on 2 cores)
    .venv/bin/python benchmarks/speed.py --quick    # fewer repeats, 1,000 scale cases only
    .venv/bin/python benchmarks/speed.py --sections 4 --counts 1000,10000
    .venv/bin/python benchmarks/speed.py --sections 1,2

1. the NumPy reference's backprop against this machine's float64 matmul throughput and against
   torch CPU autograd, on a 4-layer, 1024-wide tanh MLP (batch 512);
2. crossgrad's cross-check of one case (every backend and dtype) against torch.autograd.gradcheck
   and jax.test_util.check_grads, on a 16-32-32-4 tanh MLP (batch 8, 1,664 parameters); the
   ground truth alone, the 50-digit mpmath one against the proven balls, there and over the
   catalogue;
3. `crossgrad report` on the committed catalogue: wall time, and import, compile and run time
   per backend;
4. `crossgrad report` as a user runs it on 1,000, 10,000 and 100,000 generated small cases of
   mixed topologies (`--counts`): wall time, against the execution alone, peak memory, the
   page's size; 10,000 also with every referee;
5. training: 1,000 sgd steps of the lesson's 3-2-1 case (cases/training/seed_3_2_1_sgd_1000)
   on every installed backend in float64 and float32, warm (each backend's own optimizers; JAX's
   loop one compiled program), against the target of 5 s for all of them together.

Timings are the best of several repeats: the machine may be shared. Nothing here is a test.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CROSSGRAD = [sys.executable, "-m", "crossgrad"]


def best_of(repeats, work):
    """The shortest of `repeats` timings of work(), in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def verdict(met):
    return "met" if met else "MISSED"


def figure(label, value, target=None, met=None):
    print(f"   {label:<58} {value}" + (f"   target {target}: {verdict(met)}" if target else ""))


def tanh_mlp(sizes, batch, seed, bias=True):
    """Layers (weights ~ N(0, 1/fan_in), biases ~ N(0, 0.1²)), inputs and targets as NumPy."""
    from crossgrad.problem import Layer
    rng = np.random.default_rng(seed)
    layers = tuple(Layer(rng.standard_normal((a, b)) / np.sqrt(a),
                         0.1 * rng.standard_normal(b) if bias else None, "tanh")
                   for a, b in zip(sizes, sizes[1:]))
    return layers, rng.standard_normal((batch, sizes[0])), rng.uniform(-1, 1, (batch, sizes[-1]))


def torch_loss(torch, weights, biases, inputs, targets):
    """The same network and loss (½·squared error, mean over the batch) in torch, as a torch user
    writes it; E and each pre-activation z."""
    functional = torch.nn.functional
    x, pre_activations = inputs, []
    for w, b in zip(weights, biases):
        z = functional.linear(x, w.T, b)
        pre_activations.append(z)
        x = torch.tanh(z)
    return 0.5 * functional.mse_loss(x, targets, reduction="sum") / len(inputs), pre_activations


# 1 ------------------------------------------------------------------------------------------

def reference_at_the_roofline(repeats):
    import torch
    from crossgrad.reference import backprop

    print("\n1. Reference at the roofline: 4 × 1024 tanh MLP, batch 512, float64")
    width, batch = 1024, 512
    layers, inputs, targets = tanh_mlp([width] * 5, batch, seed=1)
    a, b = np.random.default_rng(2).standard_normal((2, 2048, 2048))
    flops = 11 * 2 * batch * width * width  # 4 forward, 3 error-term and 4 weight-delta matmuls

    def reference():
        backprop(layers, inputs, targets, "half_squared_error", "mean", 0.1)

    torch.set_num_threads(os.cpu_count())  # as a torch user runs it (the adapter uses one)
    weights = [torch.tensor(layer.weights, requires_grad=True) for layer in layers]
    biases = [torch.tensor(layer.bias, requires_grad=True) for layer in layers]
    x, y = torch.tensor(inputs), torch.tensor(targets)

    def autograd():
        loss, pre_activations = torch_loss(torch, weights, biases, x, y)
        torch.autograd.grad(loss, pre_activations + weights + biases)

    reference(), autograd(), a @ b  # warm up
    matmul, ours, theirs = float("inf"), float("inf"), float("inf")
    for _ in range(2):  # in blocks (OpenBLAS's and OpenMP's threads spin a while after a call,
        # which slows whatever runs next), twice, so a busy moment slows all three alike
        matmul = min(matmul, best_of(repeats, lambda: a @ b))
        ours = min(ours, best_of(repeats, reference))
        theirs = min(theirs, best_of(repeats, autograd))
    peak = 2 * 2048 ** 3 / matmul
    figure("float64 matmul 2048³ (this machine's throughput)", f"{peak / 1e9:.1f} GFLOP/s")
    figure("reference backprop (its 11 matmuls' FLOPs / its time)",
           f"{ours * 1e3:.1f} ms = {flops / ours / 1e9:.1f} GFLOP/s")
    ratio = flops / ours / peak
    figure("reference throughput / matmul throughput", f"{ratio:.2f}", "≥ 0.85", ratio >= 0.85)
    figure(f"torch {torch.__version__} CPU autograd, {torch.get_num_threads()} threads",
           f"{theirs * 1e3:.1f} ms")
    figure("torch time / reference time", f"{theirs / ours:.2f}", "≥ 1.00 (no slower than torch)",
           theirs / ours >= 1)
    torch.set_num_threads(1)


# 2 ------------------------------------------------------------------------------------------

def against_the_usual_tools(repeats):
    import jax
    import jax.numpy as jnp
    import torch
    from jax.test_util import check_grads

    from crossgrad import executors, runner
    from crossgrad.cases import Case
    from crossgrad.problem import Problem
    from crossgrad.referees import REFEREES

    print("\n2. Against the usual tools: 16-32-32-4 tanh MLP, no biases, batch 8 "
          "(1,664 parameters)")
    layers, inputs, targets = tanh_mlp([16, 32, 32, 4], 8, seed=3, bias=False)
    problem = Problem(layers, inputs, targets, "half_squared_error", "mean", 0.1)
    case = Case("tools_16_32_32_4", "", "benchmark", problem, None, ("float64", "float32"),
                ("numpy", "torch", "jax"), {})
    runs = [(case, backend, dtype) for backend in case.backends for dtype in case.dtypes]

    def cross_check(referees):
        def work():
            rows = executors.execute(runs, referees, "serial")
            assert all(not row.failed for found in rows for row in found)
            runner.forget()  # the referees' results are not kept from one repeat to the next
        return work

    first = best_of(1, cross_check([]))  # jit compiles (or loads) this topology's programs
    plain = best_of(repeats, cross_check([]))
    referees = best_of(max(1, repeats // 3), cross_check(list(REFEREES)))

    torch.set_num_threads(1)
    weights = [torch.tensor(layer.weights, requires_grad=True) for layer in layers]
    x, y = torch.tensor(inputs), torch.tensor(targets)

    def loss_of(*parameters):
        return torch_loss(torch, parameters, [None] * 3, x, y)[0]

    gradcheck = best_of(max(1, repeats // 3),
                        lambda: torch.autograd.gradcheck(loss_of, tuple(weights)))
    backward = best_of(repeats * 20, lambda: torch.autograd.grad(loss_of(*weights), weights))

    def jax_loss(*parameters):
        h = jnp.asarray(inputs)
        for w in parameters:
            h = jnp.tanh(h @ w)
        return 0.5 * jnp.sum((jnp.asarray(targets) - h) ** 2) / len(inputs)

    jax_weights = tuple(jnp.asarray(layer.weights) for layer in layers)
    check_grads(jax_loss, jax_weights, order=1)  # warm up
    checked = best_of(max(1, repeats // 3), lambda: check_grads(jax_loss, jax_weights, order=1))
    digits, balls = truth_side_by_side(problem, repeats)
    catalogue_digits, catalogue_balls, counts = truth_side_by_side_on_the_catalogue()

    figure("torch.autograd.gradcheck (default mode)", f"{gradcheck * 1e3:.0f} ms")
    figure(f"jax.test_util.check_grads (jax {jax.__version__}, fwd and rev)",
           f"{checked * 1e3:.0f} ms")
    figure("one torch backward, for scale", f"{backward * 1e3:.2f} ms")
    figure("crossgrad, 3 backends × 2 dtypes, no referees", f"{plain * 1e3:.1f} ms")
    figure("  the same, first time this topology runs (compiles JAX)", f"{first * 1e3:.0f} ms")
    figure("crossgrad, the same with every referee (fd, truth, fwd)", f"{referees * 1e3:.0f} ms")
    figure("gradcheck time / crossgrad time, no referees", f"{gradcheck / plain:.0f}×",
           "≥ 30×", gradcheck / plain >= 30)
    figure("check_grads time / crossgrad time, no referees", f"{checked / plain:.0f}×")
    figure("gradcheck time / crossgrad time, every referee", f"{gradcheck / referees:.1f}×",
           "≥ 30×", gradcheck / referees >= 30)
    figure("ground truth: 50-digit mpmath (the referee before)", f"{digits * 1e3:.0f} ms")
    figure("ground truth: proven balls (python-flint arb)", f"{balls * 1e3:.1f} ms")
    figure("mpmath time / ball time", f"{digits / balls:.0f}×", "≥ 20×", digits / balls >= 20)
    figure("every referee's own time / gradcheck time", f"{(referees - plain) / gradcheck:.2f}",
           "≤ 1", referees - plain <= gradcheck)
    figure(f"catalogue's ground truth, mpmath ({counts[0]} cases ≤ 200,000 ops)",
           f"{catalogue_digits:.2f} s")
    figure(f"  proven balls ({counts[1]} cases, every one)", f"{catalogue_balls:.2f} s",
           "≤ mpmath's", catalogue_balls <= catalogue_digits)


def truth_side_by_side(problem, repeats):
    """The best times of the mpmath and the ball ground truth of `problem`, taken in turns."""
    from crossgrad import ground_truth, mpmath_cross_check
    times = [(best_of(1, lambda: mpmath_cross_check.ground_truth(problem)),
              best_of(1, lambda: ground_truth.ground_truth(problem))) for _ in range(repeats)]
    return min(t[0] for t in times), min(t[1] for t in times)


def truth_side_by_side_on_the_catalogue():
    """Seconds of the mpmath truth over the catalogue cases it took (up to its limit) and of
    the ball truth over every case, each case's two timed in turn; and the two case counts."""
    from crossgrad import ground_truth, mpmath_cross_check
    from crossgrad.cases import load_catalogue
    cases, _ = load_catalogue([ROOT / "cases"])
    digits, balls, small = 0.0, 0.0, 0
    for case in cases:
        if ground_truth.operations(case.problem) <= mpmath_cross_check.MAX_OPERATIONS:
            digits += best_of(1, lambda: mpmath_cross_check.ground_truth(case.problem))
            small += 1
        balls += best_of(1, lambda: ground_truth.ground_truth(case.problem))
    return digits, balls, (small, len(cases))


# 3 ------------------------------------------------------------------------------------------

def timed_command(argv, environment=None):
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, **(environment or {})))
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stderr}")
    return time.perf_counter() - start


def catalogue(repeats):
    print("\n3. Catalogue: crossgrad report over cases/ (63 cases, every referee)")
    with tempfile.TemporaryDirectory() as scratch:
        out = str(Path(scratch) / "out")
        cache = {"CROSSGRAD_JAX_CACHE": str(Path(scratch) / "jax-cache")}
        cold = timed_command(CROSSGRAD + ["report", "--out", out], cache)  # fills the cache
        warm = min(timed_command(CROSSGRAD + ["report", "--out", out], cache)
                   for _ in range(repeats))
        serial = timed_command(CROSSGRAD + ["report", "--out", out, "--executor", "serial"],
                               cache)
        split = json.loads(subprocess.run([sys.executable, __file__, "--breakdown", out],
                                          cwd=ROOT, capture_output=True, text=True, check=True,
                                          env=dict(os.environ, **cache)).stdout.splitlines()[-1])
    figure("crossgrad report, JAX compile cache empty (first run)", f"{cold:.1f} s",
           "≤ 20 s", cold <= 20)
    figure("crossgrad report, compile cache warm (every later run)", f"{warm:.1f} s",
           "≤ 20 s", warm <= 20)
    figure("  the same with --executor serial (one process)", f"{serial:.1f} s")
    print("   where the time goes, in one process with a warm cache:")
    figure("  import crossgrad and the catalogue", f"{split['load']:.2f} s")
    figure("  the fd and truth referees' own work, once per case", f"{split['referees']:.2f} s")
    for backend in ("numpy", "torch", "jax"):
        figure(f"  {backend}: import / compile / run",
               f"{split['import'][backend]:.2f} / {split['compile'][backend]:.2f} / "
               f"{split['run'][backend]:.2f} s")
    figure("  writing the five report files", f"{split['write']:.2f} s")


def breakdown(out):
    """Print, as JSON, where the time of a serial report goes (run in a fresh interpreter)."""
    start = time.perf_counter()
    from crossgrad import adapters, referees, report, runner
    from crossgrad.cases import load_catalogue
    from crossgrad.referees import REFEREES
    from crossgrad.runner import reference
    from crossgrad.tolerances import tolerance_for
    cases, _ = load_catalogue([ROOT / "cases"])
    split = {"load": time.perf_counter() - start, "import": {}, "compile": {}, "run": {}}
    compiling = {"seconds": 0.0}
    for backend in adapters.BACKENDS:
        start = time.perf_counter()
        adapters.load(backend)
        split["import"][backend] = time.perf_counter() - start
    import jax.monitoring
    events = ("/jax/core/compile/jaxpr_trace_duration",
              "/jax/core/compile/jaxpr_to_mlir_module_duration",
              "/jax/core/compile/backend_compile_duration",
              "/jax/compilation_cache/cache_retrieval_time_sec")
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, seconds, **_: compiling.update(seconds=compiling["seconds"] + seconds)
        if event in events else None)
    start = time.perf_counter()
    for case in cases:  # computed once per case, then kept for every backend and dtype
        referees.truth(case)
        referees.finite_difference_rows(case, reference(case), tolerance_for("float64", {}),
                                        dict(case=case.name, backend="", dtype="float64",
                                             device=""), reference(case).loss)
    split["referees"] = time.perf_counter() - start
    rows = []
    for backend in adapters.BACKENDS:
        before, start = compiling["seconds"], time.perf_counter()
        for case in cases:
            for dtype in case.dtypes:
                if backend in case.backends:
                    rows += runner.run(case, backend, dtype, list(REFEREES))
        split["compile"][backend] = compiling["seconds"] - before
        split["run"][backend] = time.perf_counter() - start - split["compile"][backend]
    start = time.perf_counter()
    report.write(rows, out, cases)
    split["write"] = time.perf_counter() - start
    print(json.dumps(split))


# 4 ------------------------------------------------------------------------------------------

SMALL_ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "elu",
                     "silu", "gelu", "gelu_tanh")


# The scale targets were set for these three; the other built-in backends (tensorflow,
# autograd, tinygrad) are optional extras that a generated case does not ask for.
SMALL_BACKENDS = ("numpy", "torch", "jax")


def write_small_cases(folder, count, topologies=50, seed=7):
    """`count` generated case files over `topologies` small topologies (depth 1 to 3, widths
    1 to 16, batch 1 to 16, every activation and loss), each case with seeds of its own, run
    on SMALL_BACKENDS."""
    rng = np.random.default_rng(seed)
    shapes = []
    for _ in range(topologies):
        sizes = [int(n) for n in rng.integers(1, 17, size=int(rng.integers(2, 5)))]
        activations = [str(a) for a in rng.choice(SMALL_ACTIVATIONS, size=len(sizes) - 1)]
        loss = str(rng.choice(["half_squared_error", "mean_squared_error",
                               "binary_cross_entropy", "softmax_cross_entropy"]))
        activations[-1] = {"binary_cross_entropy": "sigmoid",
                           "softmax_cross_entropy": "identity"}.get(loss, activations[-1])
        shapes.append((sizes, activations, loss, int(rng.integers(1, 17))))
    for index in range(count):
        sizes, activations, loss, batch = shapes[index % topologies]
        (folder / f"small_{index:05d}.yaml").write_text(
            f"description: generated small case {index}\n"
            f"network: {{sizes: {sizes}, activations: [{', '.join(activations)}], "
            f"seed: {2 * index}}}\n"
            f"data: {{batch: {batch}, seed: {2 * index + 1}}}\nloss: {loss}\n"
            f"backends: [{', '.join(SMALL_BACKENDS)}]\n", encoding="utf-8")


def scale_run(folder, referees, executor, batch):
    """Load and run the cases in `folder` (run in a fresh interpreter), no report; print JSON.
    This is the execution alone, against which the whole command is measured."""
    import pandas  # noqa: F401  (imported before the clock starts, as crossgrad's CLI does)
    from crossgrad import executors
    from crossgrad.cases import load_catalogue
    start = time.perf_counter()
    cases, errors = load_catalogue([folder])
    assert not errors, errors[:3]
    runs = [(case, backend, dtype) for case in cases for backend in case.backends
            for dtype in case.dtypes]
    loaded = time.perf_counter()
    counted = {"rows": 0, "failed": 0}

    def count(position, rows):  # the rows are dropped as they come, as the report's store does
        counted["rows"] += len(rows)
        counted["failed"] += sum(row.failed for row in rows)

    executors.execute(runs, referees, executor, batch=batch, collect=count)
    ran = time.perf_counter()
    print(json.dumps({"cases": len(cases), **counted, "load": loaded - start,
                      "run": ran - loaded, "seconds": ran - start}))


def measured(argv, environment):
    """Run argv; return (its stdout, wall seconds, the peak resident memory of it and its
    children summed, the peak of the command's own process), sampled every 0.1 s with psutil."""
    import psutil
    start = time.perf_counter()
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=dict(os.environ, **environment))
    peak = {"tree": 0, "own": 0}

    def sample():
        parent = psutil.Process(process.pid)
        while process.poll() is None:
            try:
                own = parent.memory_info().rss
                tree = own + sum(p.memory_info().rss for p in parent.children(recursive=True))
                peak["tree"], peak["own"] = max(peak["tree"], tree), max(peak["own"], own)
            except psutil.Error:
                pass
            time.sleep(0.1)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - start
    watcher.join()
    if process.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(map(str, argv))} exited {process.returncode}:\n{stderr}")
    return stdout, seconds, peak["tree"], peak["own"]


def peak_memory_of(argv, environment):
    """Run argv; return the JSON it prints last and the peak memory of it and its children."""
    stdout, _, tree, _ = measured(argv, environment)
    return json.loads(stdout.splitlines()[-1]), tree


def gib(size):
    return f"{size / 2 ** 30:.2f} GiB"


def command(folder, out, referees, cache):
    """`crossgrad report` on `folder` as a user runs it: (seconds, peak of the process tree,
    peak of the command's own process, the page's bytes, the summary line)."""
    stdout, seconds, tree, own = measured(
        CROSSGRAD + ["report", "--cases", str(folder), "--out", str(out), "--referees", referees],
        dict(cache, CI="1"))
    return seconds, tree, own, (Path(out) / "agreement.html").stat().st_size, stdout.strip()


def scale(counts, with_referees=True, keep=None):
    print("\n4. Scale: `crossgrad report --cases DIR --referees none` on generated small cases "
          "(50 topologies, depth 1-3, widths 1-16, batch 1-16), run as a user runs it, in a "
          "subprocess; peak memory of its process tree (the command and its 2 worker processes) "
          "and of the command's own process")
    with tempfile.TemporaryDirectory() as scratch:
        cache = {"CROSSGRAD_JAX_CACHE": str(Path(scratch) / "jax-cache")}
        warm_up = Path(scratch) / "warm-up"
        warm_up.mkdir()
        write_small_cases(warm_up, 100)  # two cases of each topology: every program compiles
        compiling = sum(peak_memory_of([sys.executable, __file__, "--scale-run", str(warm_up),
                                        referees, "processes", "case"], cache)[0]["seconds"]
                        for referees in ("all", "none"))
        figure("first, every program compiled (2 × 100 cases, empty cache)", f"{compiling:.1f} s")
        times = {}
        for count in counts:
            folder = Path(scratch) / f"cases-{count}"
            folder.mkdir()
            write_small_cases(folder, count)
            out = Path(keep or scratch) / f"report-{count}"  # kept: to open the page
            seconds, tree, own, page, line = command(folder, out, "none", cache)
            times[count] = seconds
            figure(f"{count:,} cases, referees none: crossgrad report",
                   f"{seconds:.1f} s, {count / seconds:.0f} cases/s")
            figure("  peak memory: all processes / the command's own", f"{gib(tree)} / {gib(own)}")
            figure("  agreement.html", f"{page / 2 ** 20:.1f} MB; "
                   + line.split(":", 1)[1].split(" -> ")[0].strip())
            if count <= 10_000:
                alone, _ = peak_memory_of([sys.executable, __file__, "--scale-run", str(folder),
                                           "none", "processes", "case"], cache)
                figure("  execution alone (load and run, no report)", f"{alone['seconds']:.1f} s")
                figure("  the command / the execution alone", f"{seconds / alone['seconds']:.2f}×",
                       "≤ 1.5×" if count == 10_000 else None, seconds <= 1.5 * alone["seconds"])
            if count == 10_000:
                figure("  10,000 cases in 90 s or less", f"{seconds:.0f} s", "≤ 90 s",
                       seconds <= 90)
                figure("  peak memory under 1.5 GiB (all processes)", gib(tree), "< 1.5 GiB",
                       tree < 1.5 * 2 ** 30)
                if 1_000 in times:
                    ratio = seconds / times[1_000]
                    figure("  10,000 cases / 1,000 cases", f"{ratio:.1f}×", "≤ 12×", ratio <= 12)
            if count == 100_000:
                figure("  100,000 cases in 15 minutes or less", f"{seconds / 60:.1f} min",
                       "≤ 15 min", seconds <= 900)
                figure("  peak memory under 2 GiB (all processes)", gib(tree), "< 2 GiB",
                       tree < 2 * 2 ** 30)
                figure("  the page at most 10 MB", f"{page / 2 ** 20:.1f} MB", "≤ 10 MB",
                       page <= 10 * 2 ** 20)
        if 10_000 in counts and with_referees:  # last: the longest run of the section
            folder, out = Path(scratch) / "cases-10000", Path(keep or scratch) / "report-all"
            seconds, tree, own, page, _ = command(folder, out, "all", cache)
            figure("10,000 cases, every referee: crossgrad report",
                   f"{seconds:.1f} s, {10_000 / seconds:.0f} cases/s")
            figure("  peak memory: all processes / the command's own", f"{gib(tree)} / {gib(own)}")


def training(repeats):
    print("\n5. Training: 1,000 sgd steps of seed_3_2_1 on every backend, float64 and float32, "
          "warm")
    from crossgrad import adapters
    from crossgrad.cases import load_case
    case = load_case(ROOT / "cases" / "training" / "seed_3_2_1_sgd_1000.yaml")
    total = 0.0
    for name in adapters.BACKENDS:
        try:
            backend = adapters.load(name)
        except (adapters.BackendUnavailable, adapters.BackendError) as missing:
            figure(f"{name}", f"not run: {missing}")
            continue
        for dtype in ("float64", "float32"):
            def work():
                return backend.train(case.problem, case.training, dtype)
            work()  # warm: imports, the first compilation (JAX caches the program)
            best = best_of(repeats, work)
            total += best
            figure(f"{name} {dtype}", f"{best * 1000:.1f} ms")
    figure("all of them together", f"{total:.2f} s", "≤ 5 s", total <= 5)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sections", default="1,2,3,4,5")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--counts", default=None, help="section 4's catalogue sizes, comma-"
                        "separated (default 1000,10000,100000; with --quick 1000)")
    parser.add_argument("--keep-reports", metavar="DIR", help="section 4 writes its reports "
                        "into DIR/report-COUNT (and keeps them) instead of a scratch folder")
    parser.add_argument("--no-referees-run", action="store_true",
                        help="section 4 without the 10,000-case run with every referee")
    parser.add_argument("--breakdown", metavar="OUT", help=argparse.SUPPRESS)
    parser.add_argument("--scale-run", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.breakdown:
        return breakdown(args.breakdown)
    if args.scale_run:
        folder, referees, executor, batch = args.scale_run
        from crossgrad.referees import REFEREES
        return scale_run(folder, list(REFEREES) if referees == "all" else [], executor,
                         batch == "batch")
    sections = set(args.sections.split(","))
    repeats = 3 if args.quick else 7
    print(f"crossgrad benchmarks on {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, NumPy {np.__version__}")
    if "1" in sections:
        reference_at_the_roofline(repeats)
    if "2" in sections:
        against_the_usual_tools(repeats)
    if "3" in sections:
        catalogue(1 if args.quick else 2)
    if "4" in sections:
        counts = args.counts or ("1000" if args.quick else "1000,10000,100000")
        scale([int(c) for c in counts.split(",")], not args.no_referees_run, args.keep_reports)
    if "5" in sections:
        training(3 if args.quick else 5)


if __name__ == "__main__":
    main()
