"""The dtypes a backend may compute in, by name, as NumPy sees them (bfloat16 from ml_dtypes)."""
import ml_dtypes  # registers bfloat16 with NumPy, so np.dtype("bfloat16") works
import numpy as np

DTYPES = ("float64", "float32", "float16", "bfloat16")
# What a case runs when it names no dtypes; float16 and bfloat16 are asked for by name.
DEFAULT_DTYPES = ("float64", "float32")


def numpy_dtype(name):
    """The NumPy dtype named `name` (one of DTYPES)."""
    return np.dtype(name)


def unit_roundoff(name):
    """u = eps/2, the largest relative error of one rounding in the dtype named `name`."""
    return float(ml_dtypes.finfo(numpy_dtype(name)).eps) / 2
