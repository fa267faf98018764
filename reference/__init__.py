"""The reference: backpropagation in plain NumPy, one small function per formula.

Installed as `crossgrad.reference`; it imports no framework.
"""
from .activations import ACTIVATIONS
from .backprop import Gradients, backprop, forward
from .losses import LOSSES, REDUCTIONS
from .optimizers import OPTIMIZERS, Training, Trajectory
from .training import train

__all__ = ["ACTIVATIONS", "LOSSES", "OPTIMIZERS", "REDUCTIONS", "Gradients", "Training",
           "Trajectory", "backprop", "forward", "train"]
