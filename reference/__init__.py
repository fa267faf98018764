"""The reference: backpropagation in plain NumPy, one small function per formula.

Installed as `crossgrad.reference`; it imports no framework.
"""
from .activations import ACTIVATIONS
from .backprop import Gradients, backprop, forward
from .losses import LOSSES, REDUCTIONS

__all__ = ["ACTIVATIONS", "LOSSES", "REDUCTIONS", "Gradients", "backprop", "forward"]
