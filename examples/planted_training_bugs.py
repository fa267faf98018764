"""Two backends whose backprop is right and whose training is not, for `crossgrad fuzz` to find
in its training draws (a single step cannot see them). Each trains with the numpy reference's
optimizers over its backprop (crossgrad's loop), with one slip:

- bias_step_without_rate: sgd and momentum move the biases by −∂E/∂b, the learning rate
  forgotten (the weights by −η·∂E/∂W, as meant); invisible where η = 1, and for adam;
- momentum_sign_flipped: v ← Δw − μ·v where v ← μ·v + Δw is meant; the first update is
  right (v₀ = 0), the second is not.

    crossgrad fuzz --backends numpy,buggy \\
        --backend buggy=examples.planted_training_bugs:momentum_sign_flipped
"""
from dataclasses import replace
from types import SimpleNamespace

from crossgrad.adapters import numpy_backend
from crossgrad.training.loop import by_backprop


def _bias_deltas_without_rate(problem, dtype):
    """The reference's gradients with each bias delta −∂E/∂b instead of −η·∂E/∂b."""
    right = numpy_backend.backprop(problem, dtype)
    rate = problem.learning_rate
    return right._replace(bias_deltas=[None if delta is None else
                                       (delta / rate).astype(delta.dtype)
                                       for delta in right.bias_deltas])


def _train_bias_step_without_rate(problem, training, dtype):
    return by_backprop(SimpleNamespace(backprop=_bias_deltas_without_rate), problem, training,
                       dtype)


def _train_momentum_sign_flipped(problem, training, dtype):
    # the slip: v ← (−μ)·v + Δw, which is v ← Δw − μ·v
    return by_backprop(numpy_backend, problem, replace(training, momentum=-training.momentum),
                       dtype)


def _backend(train):
    return SimpleNamespace(backprop=numpy_backend.backprop, train=train, DEVICE="cpu",
                           version=numpy_backend.version,
                           UNSUPPORTED_DTYPES=numpy_backend.UNSUPPORTED_DTYPES)


bias_step_without_rate = _backend(_train_bias_step_without_rate)
momentum_sign_flipped = _backend(_train_momentum_sign_flipped)
