"""crossgrad: is this gradient right? A readable NumPy backprop against the frameworks'.

What a backend is handed and returns (the contract is in `crossgrad.adapters`):

- `Problem`: `layers` (a tuple of `Layer`), `inputs` (batch × fan_in of layer 0), `targets`
  (batch × fan_out of the last layer), `loss` (a name, e.g. "half_squared_error"), `reduction`
  ("mean" or "sum") and `learning_rate` (η); every array float64 NumPy.
- `Layer`: `weights` (fan_in × fan_out), `bias` (fan_out, or None) and `activation` (a name);
  the layer computes z = x @ weights (+ bias), a = activation(z).
- `Gradients`: `loss` (E, a float), and per layer from 0 up `error_terms` (δ = −∂E/∂z, batch ×
  fan_out), `weight_deltas` (Δw = η·xᵀ·δ, fan_in × fan_out) and `bias_deltas` (Δb = η·Σ δ over
  the batch, fan_out; None for a layer without bias), as NumPy arrays of the requested dtype.
- `Training` (a case's `training:` block: steps, optimizer, momentum, betas, eps, update,
  record) and `Trajectory` (`steps`, and per recorded step `losses`, `weights` and `biases`),
  for a backend's optional `train`.
"""
from crossgrad.problem import DTYPES, Gradients, Layer, Problem
from crossgrad.reference import Training, Trajectory

__all__ = ["DTYPES", "Gradients", "Layer", "Problem", "Training", "Trajectory"]
