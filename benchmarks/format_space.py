"""False failures at scale: generated cases over the whole case format, run without referees.

    .venv/bin/python benchmarks/format_space.py --count 10000 --seed 12 --out /tmp/space

Cases are drawn over depth 1–8, widths 1–64, batch 1–32, every activation, loss and reduction,
layers with and without bias, and inputs of scale 1e-3 to 1e3 (log-uniform), and run on every
backend in float64 and float32. Each topology is shared by `--per-topology` cases (JAX compiles
once per topology); each case has seeds of its own. Every failing row is kept, with its case
file, in OUT/failures.csv with its cause in `note` (CAUSES, or 'unexplained': then the error
model is wrong, or a new divergence is found); the last line printed is the figures as JSON.
"""
import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "elu", "silu",
               "gelu", "gelu_tanh")
LOSSES = ("half_squared_error", "mean_squared_error", "binary_cross_entropy",
          "softmax_cross_entropy")
LAST_ACTIVATION = {"binary_cross_entropy": "sigmoid", "softmax_cross_entropy": "identity"}


def topology(rng):
    """(sizes, activations, biases, loss, reduction, batch), drawn over the whole format."""
    depth = int(rng.integers(1, 9))
    sizes = [int(n) for n in rng.integers(1, 65, size=depth + 1)]
    activations = [str(a) for a in rng.choice(ACTIVATIONS, size=depth)]
    loss = str(rng.choice(LOSSES))
    activations[-1] = LAST_ACTIVATION.get(loss, activations[-1])
    biases = [bool(b) for b in rng.random(depth) < 0.8]
    return sizes, activations, biases, loss, str(rng.choice(["mean", "sum"])), int(
        rng.integers(1, 33))


def write_cases(folder, count, seed, per_topology):
    """`count` case files in `folder`, `per_topology` to a topology, each with its own seeds and
    input scale; the same `seed` writes the same files."""
    rng = np.random.default_rng(seed)
    shapes = [topology(rng) for _ in range(-(-count // per_topology))]
    for index in range(count):
        sizes, activations, biases, loss, reduction, batch = shapes[index // per_topology]
        scale = float(10 ** rng.uniform(-3, 3))
        (folder / f"space_{index:06d}.yaml").write_text(
            f"description: format-space case {index} (seed {seed})\n"
            f"network: {{sizes: {sizes}, activations: [{', '.join(activations)}], "
            f"bias: [{', '.join(str(b).lower() for b in biases)}], seed: {2 * index}}}\n"
            f"data: {{batch: {batch}, seed: {2 * index + 1}, scale: {scale:.6g}}}\n"
            f"loss: {loss}\nreduction: {reduction}\n", encoding="utf-8")


# Why a run fails, where a known cause applies: (cause, the catalogue case that declares it)
CAUSES = {
    "kink": "a pre-activation within rounding of a kink (cases/kinks/*)",
    "bce_clamp": "torch's BCE divides by max(a·(1 − a), 1e-12) or clamps log at −100 "
                 "(cases/divergences/binary_cross_entropy_eps_clamp, _log_clamp)",
    "bce_rounds_to_0_or_1": "a sigmoid output that rounds to 0 or 1 in the dtype under BCE's "
                            "log (cases/divergences/binary_cross_entropy_saturated)",
    "derivative_from_output": "torch's or jax's derivative from a saturated output y: σ' = "
                              "y(1 − y), tanh' = 1 − y², elu' = (e^z − 1) + 1 in jax "
                              "(cases/numerics/*_saturated_*, cases/tails/elu_tail_*)",
    "cancelling_tail": "torch's or jax's gelu as ½z(1 + erf) or ½z(1 + tanh u), which cancels "
                       "in the negative tail (cases/tails/gelu_tail_*, gelu_tanh_tail_*)",
    "softplus_threshold": "torch's softplus is linear above z = 20 "
                          "(cases/divergences/softplus_threshold_20)",
    "log_not_log1p": "torch's and jax's log_softmax take log(1 + r) where the reference takes "
                     "log1p(r): a confident sample's loss r loses its digits "
                     "(cases/divergences/softmax_cross_entropy_confident_loss)",
}


def cause(case, backend, dtype, rows):
    """The first of CAUSES that the failing `rows` of one run show, or 'unexplained'."""
    from crossgrad.reference import forward
    from crossgrad.reference.activations import GELU_TANH_C, GELU_TANH_K, normal_cdf, sigmoid
    from crossgrad.tolerances import TOLERANCES
    if any(row.label == "kink" for row in rows):
        return "kink"
    problem = case.problem
    _, pre_activations, _ = forward(problem.layers, problem.inputs)
    if problem.loss == "binary_cross_entropy":
        z = pre_activations[-1]
        a = sigmoid(z.astype(dtype)).astype(np.float64)
        if backend == "torch" and (np.any(a * (1 - a) < 1e-12) or np.any(np.abs(z) > 100)):
            return "bce_clamp"
        if np.any((a == 0) | (a == 1)):
            return "bce_rounds_to_0_or_1"
    if backend == "numpy":
        return "unexplained"
    if problem.loss == "softmax_cross_entropy" and all(row.quantity == "loss" for row in rows):
        from crossgrad.reference import LOSSES
        losses = LOSSES[problem.loss][0](problem.targets, pre_activations[-1])
        if np.any(np.finfo(dtype).eps / 2 / np.maximum(losses, 1e-300)
                  > TOLERANCES[dtype].rtol / 100):
            return "log_not_log1p"
    u, rtol = np.finfo(dtype).eps / 2, TOLERANCES[dtype].rtol
    for layer, z in zip(problem.layers, pre_activations):
        if layer.activation == "softplus" and backend == "torch" and np.any(z > 20):
            return "softplus_threshold"
        # a formula that cancels loses u/(what is left) relative: counted from rtol/100 on
        with np.errstate(divide="ignore", over="ignore"):
            left = {"sigmoid": ("derivative_from_output", sigmoid(-np.abs(z))),
                    "tanh": ("derivative_from_output", 1 - np.tanh(np.abs(z))),
                    "elu": ("derivative_from_output", np.exp(np.minimum(z, 0))),
                    "gelu": ("cancelling_tail", normal_cdf(np.minimum(z, 0))),
                    "gelu_tanh": ("cancelling_tail", sigmoid(2 * GELU_TANH_C * np.minimum(
                        z + GELU_TANH_K * z**3, 0)))}.get(layer.activation)
            if left is not None and np.any(u / left[1] > rtol / 100):
                return left[0]
    return "unexplained"


def run(folder, out, workers, chunk):
    """Run every case in `folder`, `chunk` cases at a time; keep only the failing rows."""
    from crossgrad import executors, report
    from crossgrad.cases import load_catalogue
    paths = sorted(folder.glob("*.yaml"))
    counts = {"cases": 0, "rows": 0, "failed_rows": 0}
    failing, causes = [], {}
    start = time.perf_counter()
    for first in range(0, len(paths), chunk):
        cases, errors = load_catalogue(paths[first:first + chunk])
        assert not errors, errors[:3]
        runs = [(case, backend, dtype) for case in cases for backend in case.backends
                for dtype in case.dtypes]

        def collect(position, rows):
            counts["rows"] += len(rows)
            failed = [row for row in rows if row.failed]
            if failed:
                case, backend, dtype = runs[position]
                why = cause(case, backend, dtype, failed)
                causes[why] = causes.get(why, 0) + 1
                failing.extend(replace(row, note=why) for row in failed)

        executors.execute(runs, (), "processes" if workers > 1 else "serial", workers=workers,
                          collect=collect)
        counts["cases"] += len(cases)
        counts["failed_rows"] = len(failing)
        print(json.dumps(dict(counts, causes=causes, seconds=round(time.perf_counter() - start, 1))),
              flush=True)
        if failing:  # after each chunk, so that a long run can be looked at while it goes on
            report.to_frame(failing).to_csv(out / "failures.csv", index=False)
    return dict(counts, causes=causes, unexplained=sorted(
        {row.case for row in failing if row.note == "unexplained"}),
                seconds=round(time.perf_counter() - start, 1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--per-topology", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=2_000)
    parser.add_argument("--out", type=Path, required=True)
    options = parser.parse_args()
    cases = options.out / "cases"
    cases.mkdir(parents=True, exist_ok=True)
    write_cases(cases, options.count, options.seed, options.per_topology)
    found = run(cases, options.out, options.workers, options.chunk)
    print(json.dumps(dict(found, seed=options.seed, per_topology=options.per_topology)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
