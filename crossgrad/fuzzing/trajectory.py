"""The fuzzer's training blocks: drawn on a share of the draws, shrunk with the rest of a
finding, and written into its case file.

A draw trains with probability TRAINING_SHARE, from a stream of its own
(default_rng([seed, index, TRAINING_STREAM])), so that a draw's network, batch and numbers are
what they were before draws trained, and whether it trains replays from (seed, index) too. A
block has 1 to MAX_STEPS steps (log-uniform: fuzzing stays fast), any optimizer, and learns
the weights and biases, the weights alone or the biases alone; it records the case format's
default steps or a few drawn ones (the last step always); a training draw's learning rate is
log-uniform over 1e-3..1 (η = 10 overshoots in a few steps, where no bound holds).
"""
from dataclasses import replace

import numpy as np

from crossgrad.reference import OPTIMIZERS, Training, train
from crossgrad.training.case_block import default_record

TRAINING_SHARE = 0.25  # of the draws
TRAINING_STREAM = 1  # the third word of a training block's seed
MAX_STEPS = 50
UPDATES = (("weights", "biases"), ("weights",), ("biases",))
MOMENTA = (0.5, 0.9, 0.99)
BETAS = ((0.9, 0.999), (0.5, 0.9))
EPSILONS = (1e-8, 1e-4)


def draw_training(seed, index):
    """(Training or None, the learning rate it trains with or None) of draw `index` of `seed`."""
    rng = np.random.default_rng([seed, index, TRAINING_STREAM])
    if rng.random() >= TRAINING_SHARE:
        return None, None
    steps = int(min(MAX_STEPS, np.floor(np.exp(rng.uniform(0, np.log(MAX_STEPS + 1))))))
    optimizer = OPTIMIZERS[rng.integers(len(OPTIMIZERS))]
    options = {}
    if optimizer == "momentum":
        options["momentum"] = float(rng.choice(MOMENTA))
    elif optimizer == "adam":
        options["betas"] = BETAS[rng.integers(len(BETAS))]
        options["eps"] = float(rng.choice(EPSILONS))
    update = UPDATES[rng.choice(len(UPDATES), p=[0.6, 0.3, 0.1])]
    if rng.random() < 0.5:
        record = default_record(steps)
    else:
        drawn = rng.choice(steps + 1, size=min(steps + 1, int(rng.integers(1, 5))), replace=False)
        record = tuple(sorted({steps, *map(int, drawn)}))
    learning_rate = float(10.0 ** rng.uniform(-3, 0))
    return Training(steps, optimizer, update=update, record=record, **options), learning_rate


def finite_trajectory(case):
    """Whether the float64 reference trains `case` without a NaN or Inf at any recorded step
    (True for a case that does not train)."""
    if case.training is None:
        return True
    problem = case.problem
    with np.errstate(all="ignore"):
        trajectory = train(problem.layers, problem.inputs, problem.targets, problem.loss,
                           problem.reduction, problem.learning_rate, case.training)
    arrays = [np.asarray(trajectory.losses)] + [a for field in (trajectory.weights,
                                                                trajectory.biases)
                                                for step in field for a in step if a is not None]
    return all(np.all(np.isfinite(a)) for a in arrays)


def _steps_to(training, steps):
    """`training` stopped after `steps` updates: a recorded step beyond it becomes the last."""
    return replace(training, steps=steps,
                   record=tuple(sorted({min(step, steps) for step in training.record})))


def shorter_training(case):
    """No training; then fewer steps (1, 2, a quarter, half, to the last recorded step, one
    fewer); then fewer recorded steps (each one left out in turn)."""
    training = case.training
    if training is None:
        return
    yield replace(case, training=None)
    steps = training.steps
    for fewer in sorted({1, 2, steps // 4, steps // 2, max(training.record), steps - 1}):
        if 1 <= fewer < steps:
            yield replace(case, training=_steps_to(training, fewer))
    for left_out in range(len(training.record) if len(training.record) > 1 else 0):
        yield replace(case, training=replace(training, record=training.record[:left_out]
                                             + training.record[left_out + 1:]))


def plainer_training(case):
    """sgd before momentum before adam; the optimizer's default constants; fewer parts learning
    (the weights alone, the biases alone)."""
    training = case.training
    if training is None:
        return
    defaults = Training(training.steps)
    for optimizer in OPTIMIZERS[:OPTIMIZERS.index(training.optimizer)]:
        yield replace(case, training=replace(training, optimizer=optimizer,
                                             momentum=defaults.momentum, betas=defaults.betas,
                                             eps=defaults.eps))
    for constant in ("momentum", "betas", "eps"):
        if getattr(training, constant) != getattr(defaults, constant):
            yield replace(case, training=replace(training, **{constant: getattr(defaults,
                                                                                constant)}))
    if len(training.update) > 1:
        for part in training.update:
            yield replace(case, training=replace(training, update=(part,)))


def describe_training(training):
    """'12 momentum steps, recorded at 0, 1, 2, 5, 10, 12' ('' for no training)."""
    if training is None:
        return ""
    learning = "" if len(training.update) > 1 else f", the {training.update[0]} alone learning"
    return (f"{training.steps} {training.optimizer} step{'s' * (training.steps != 1)}, "
            f"recorded at {', '.join(map(str, training.record))}{learning}")


def training_lines(training, number):
    """The case file's training: block, every key written out (`number` writes a float)."""
    if training is None:
        return []
    lines = ["training:", f"  steps: {training.steps}", f"  optimizer: {training.optimizer}"]
    if training.optimizer == "momentum":
        lines.append(f"  momentum: {number(training.momentum)}")
    if training.optimizer == "adam":
        lines += [f"  betas: [{', '.join(map(number, training.betas))}]",
                  f"  eps: {number(training.eps)}"]
    return lines + [f"  update: [{', '.join(training.update)}]",
                    f"  record: [{', '.join(map(str, training.record))}]"]
