"""lesson_backprop with one planted bug, for crossgrad to find: tanh's derivative written as
1 − tanh h, where it is 1 − tanh² h. Every case with a tanh layer fails, first at that layer.

    pytest --crossgrad-backend buggy=lesson_backprop_planted_bug
"""
import numpy as np

import lesson_backprop
from lesson_backprop import DEVICE, UNSUPPORTED_DTYPES, version  # noqa: F401  the contract

DERIVATIVES = {name: pair[1] for name, pair in lesson_backprop.ACTIVATIONS.items()}
DERIVATIVES["tanh"] = lambda h: 1 - np.tanh(h)  # the bug: the square is missing


def backprop(problem, dtype):
    return lesson_backprop.backprop(problem, dtype, derivatives=DERIVATIVES)
