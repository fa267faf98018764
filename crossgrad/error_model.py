"""An a-priori rounding bound for every number a backend computes: a running error bound in the
style of Wilkinson and Higham (Accuracy and Stability of Numerical Algorithms, §3.1, §3.5).

It bounds a *correct* backprop done with the reference's formulas in the row's dtype (unit
roundoff u), computed in float64 from the reference's own forward and backward pass on absolute
values. A backend with another, cancelling formula (a derivative taken from the output) is
outside it, and stays visible. To first order in u, with the standard model fl(a ∘ b) =
(a ∘ b)(1 + ε) + η, |ε| ≤ u, where η is the absolute error of a rounding that underflows
(`underflow`: a value below the dtype's range comes out 0, and that is rounding too):

- A dot product of length n, Σ xᵢwᵢ, is off by at most γ_n·Σ|xᵢ||wᵢ|, γ_n = n·u/(1 − n·u). Its
  inputs' own errors eᵢ add Σ eᵢ|wᵢ| (and |xᵢ|·(error of wᵢ)). So a matmul's bound is the
  same matmul on absolute values.
- f(z) for a z off by e_z is off by max|f'|·e_z over [z − e_z, z + e_z] (taken at its ends and
  middle), plus its own error: the reference evaluates each activation, derivative and loss
  element in float64 with formulas that keep their digits (no 1 − σ, no 1 + erf that cancels)
  and rounds once to the dtype, so ROUNDINGS·u·|f(z)| covers it with room for a library's few
  ulps. The same for f' with f''. A framework whose formula cancels (1 − y² from the output y,
  ½(1 + erf) in a tail) is outside this: that is a divergence to declare, not rounding.
- Inputs, targets, weights and biases are rounded to the dtype first, each by its own known
  amount |v − fl(v)| (0 for a number the dtype holds exactly, as a case's 0.5 or 1.0).
"""
import ml_dtypes
import numpy as np

from crossgrad.dtypes import numpy_dtype, unit_roundoff
from crossgrad.reference import ACTIVATIONS, LOSSES, Gradients
from crossgrad.reference.activations import (ELU_ALPHA, GELU_TANH_C, GELU_TANH_K, normal_pdf,
                                             sigmoid, tanh_prime)
from crossgrad.reference.backprop import backprop, batch_factor, forward
from crossgrad.reference.losses import binary_cross_entropy_from_logits, log_softmax

ROUNDINGS = 8  # roundings and library calls in one activation, derivative or loss element


def gamma(n, u):
    """γ_n = n·u / (1 − n·u): the relative error bound of n successive roundings."""
    return n * u / (1 - n * u)


def _sigmoid_second(z):
    # σ'' = d/dz σ(z)σ(−z) = σ(z)σ(−z)·(σ(−z) − σ(z))
    return sigmoid(z) * sigmoid(-z) * (sigmoid(-z) - sigmoid(z))


def _silu_second(z):
    # silu' = σ + z·σ', so silu'' = 2σ' + z·σ''
    return 2 * sigmoid(z) * sigmoid(-z) + z * _sigmoid_second(z)


def _gelu_tanh_second(z):
    # f' = ½(1 + tanh v) + ½·z·sech²v·v', v = c(z + k z³), v' = c(1 + 3k z²), v'' = 6ck·z;
    # f'' = sech²v·v' + ½·z·sech²v·(v'' − 2·tanh v·v'²)
    v = GELU_TANH_C * (z + GELU_TANH_K * z**3)
    dv = GELU_TANH_C * (1 + 3 * GELU_TANH_K * z**2)
    return tanh_prime(v) * (dv + 0.5 * z * (6 * GELU_TANH_C * GELU_TANH_K * z
                                            - 2 * np.tanh(v) * dv**2))


SECOND_DERIVATIVES = {  # f''(z) away from the kinks; a kink's jump is a label, not rounding
    "identity": np.zeros_like,
    "sigmoid": _sigmoid_second,
    "tanh": lambda z: -2 * np.tanh(z) * tanh_prime(z),  # d/dz sech²z = −2·tanh z·sech²z
    "relu": np.zeros_like,
    "leaky_relu": np.zeros_like,
    "softplus": lambda z: sigmoid(z) * sigmoid(-z),  # d/dz σ(z) = σ'(z)
    "elu": lambda z: np.where(z > 0, 0.0, ELU_ALPHA * np.exp(np.minimum(z, 0))),  # α·e^z, z ≤ 0
    "silu": _silu_second,
    "gelu": lambda z: normal_pdf(z) * (2 - z * z),  # d/dz (Φ + zφ) = 2φ + z·(−zφ)
    "gelu_tanh": _gelu_tanh_second,
}


def _propagated(derivative, z, error):
    """max|derivative| at z − e, z and z + e, times e: what an input error e does to the output."""
    with np.errstate(over="ignore", invalid="ignore"):
        largest = np.maximum.reduce([np.abs(derivative(z + s * error)) for s in (-1, 0, 1)])
    return np.nan_to_num(largest, nan=np.inf) * error


def _own_rounding(values, u, eta):
    """ROUNDINGS·(u·|values| + η): an elementwise formula's own error, relative to its result,
    and absolute where it underflows."""
    return ROUNDINGS * (u * np.abs(values) + eta)


def underflow(dtype):
    """η, the absolute error of one rounding near 0 in `dtype`: the smallest normal number for
    float64, float32 and bfloat16 (a backend may flush subnormals to zero), half the smallest
    subnormal for float16, which every backend computes through float32 and rounds once."""
    info = ml_dtypes.finfo(numpy_dtype(dtype))
    return float(info.smallest_subnormal) / 2 if dtype == "float16" else float(info.smallest_normal)


def on_logits(problem):
    """Whether the reference takes the loss and δ_L from the logits z_L: softmax cross-entropy,
    and binary cross-entropy on a sigmoid output."""
    return problem.loss == "softmax_cross_entropy" or (
        problem.loss == "binary_cross_entropy" and problem.layers[-1].activation == "sigmoid")


def rounding_error(values, dtype):
    """|v − fl(v)|: how far each of `values` moves when it is rounded to `dtype`."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.abs(values - values.astype(numpy_dtype(dtype)).astype(np.float64))


def _output_error_bound(problem, prediction, e, u, t, eta):
    """(g, e_g): g = −∂E_b/∂p as the reference computes it, p the logits where on_logits, else
    the output a; e_g its bound, from p's bound e, y's rounding t = |y − fl(y)| and g's own."""
    y, p = problem.targets, prediction
    if problem.loss == "softmax_cross_entropy":
        # g = y − S·s, S = Σy, s = softmax(z): |∂s_k/∂z_j| = s_k·|δ_kj − s_j|, so s_k is off by
        # s_k·(e_k + Σ_j s_j e_j); computed as y·(1 − s) − s·(S − y), whose terms keep digits
        s, total = np.exp(log_softmax(p)), np.sum(y, axis=1, keepdims=True)
        g = LOSSES[problem.loss][1](y, p)
        spread = total * s * (e + np.sum(s * e, axis=1, keepdims=True))
        moved = t + s * np.sum(t, axis=1, keepdims=True)  # ∂g_k/∂y_j = δ_kj − s_k
        return g, spread + ROUNDINGS * (u * (np.abs(y) * (1 - s) + s * np.abs(total - y)) + eta) \
            + moved
    if on_logits(problem):
        # g = y − σ(z), computed as y·σ(−z) − (1 − y)·σ(z); ∂g/∂z = −σ'(z), ∂g/∂y = 1
        g = y * sigmoid(-p) - (1 - y) * sigmoid(p)
        own = np.abs(y) * sigmoid(-p) + np.abs(1 - y) * sigmoid(p)
        derivative = ACTIVATIONS["sigmoid"][1]
        return g, _propagated(derivative, p, e) + ROUNDINGS * (u * own + eta) + t
    g = LOSSES[problem.loss][1](y, p)
    if problem.loss == "half_squared_error":  # g = y − a: one rounding of a difference
        return g, e + t + 2 * (u * np.abs(g) + eta)
    if problem.loss == "mean_squared_error":  # g = (2/K)(y − a)
        return g, (2 / y.shape[1]) * (e + t) + 3 * (u * np.abs(g) + eta)
    # binary cross-entropy on a probability: g = y/a − (1 − y)/(1 − a), ∂g/∂a = −y/a² − (1 − y)/(1 − a)²
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        slope = np.abs(y) / p**2 + np.abs(1 - y) / (1 - p) ** 2
        return g, slope * e + t / (p * (1 - p)) + ROUNDINGS * (u * np.abs(g) + eta)


def _output_error_term_bound(problem, z, prediction, prediction_bound, z_bound, u, t, eta):
    """e_δ for δ_L = factor·g·f'(z_L), or factor·g where g is taken from the logits."""
    factor = batch_factor(problem.reduction, len(problem.targets))
    g, g_bound = _output_error_bound(problem, prediction, prediction_bound, u, t, eta)
    if on_logits(problem):
        return factor * (g_bound + 2 * (u * np.abs(g) + eta))  # and the factor's rounding
    activation = problem.layers[-1].activation
    derivative = ACTIVATIONS[activation][1](z)
    derivative_bound = (_propagated(SECOND_DERIVATIVES[activation], z, z_bound)
                        + _own_rounding(derivative, u, eta))
    # (g + e_g)(f' + e_f') − g·f' ≈ e_g·|f'| + |g|·e_f', then two roundings (× f', × factor)
    return factor * (g_bound * np.abs(derivative) + np.abs(g) * derivative_bound
                     + 3 * (u * np.abs(g * derivative) + eta))


def _second_order(problem, p, e):
    """Per sample, ½·eᵀ·H·e for ℓ's Hessian H at p (a bound on it near p): all there is where
    the first order vanishes, an output that meets its target (g = 0, off by e: ½e²)."""
    if problem.loss == "half_squared_error":  # H = I
        return 0.5 * np.sum(e**2, axis=1)
    if problem.loss == "mean_squared_error":  # H = (2/K)·I
        return np.sum(e**2, axis=1) / p.shape[1]
    if problem.loss == "softmax_cross_entropy":
        # eᵀ(diag(s) − s·sᵀ)e is e's variance under s, at most Σ_(k≠m) s_k·(e_k − e_m)² ≤
        # (1 − s_m)·(2·max|e|)², m the largest logit; 1 − s_m = r/(1 + r) keeps its digits
        shifted = p - np.max(p, axis=1, keepdims=True)
        largest = np.arange(p.shape[1]) == np.argmax(p, axis=1)[:, None]
        rest = np.sum(np.where(largest, 0.0, np.exp(shifted)), axis=1)
        return 2 * rest / (1 + rest) * np.max(e, axis=1) ** 2
    if on_logits(problem):  # H = diag(σ'(z)), σ' largest nearest 0 within [z − e, z + e]
        nearest = np.maximum(np.abs(p) - e, 0.0)
        return 0.5 * np.sum(ACTIVATIONS["sigmoid"][1](nearest) * e**2, axis=1)
    return np.zeros(len(p))  # binary cross-entropy on a probability: first order only


def _loss_bound(problem, prediction, prediction_bound, u, t, eta):
    """E = factor·Σ_b ℓ_b: every ℓ_b ≥ 0 here, off by Σ_k |∂ℓ_b/∂p_k|·e_k = Σ_k |g_k|·e_k from its
    input and γ_(K+ROUNDINGS)·ℓ_b from its own terms; then the batch sum, γ_(B+1)."""
    if problem.loss == "binary_cross_entropy" and on_logits(problem):
        per_sample = binary_cross_entropy_from_logits(problem.targets, prediction)
    else:
        per_sample = LOSSES[problem.loss][0](problem.targets, prediction)
    g, _ = _output_error_bound(problem, prediction, prediction_bound, u, t, eta)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        # and y's rounding: |∂ℓ/∂y| is |g| for the squared errors, |z| for BCE on the logits
        # (softplus(−z) − softplus(z) = −z), |log softmax| and |log a − log(1 − a)| otherwise
        by_target = {"softmax_cross_entropy": lambda: np.abs(log_softmax(prediction)),
                     "binary_cross_entropy": lambda: np.abs(prediction) if on_logits(problem)
                     else np.abs(np.log(prediction) - np.log1p(-prediction))}.get(
            problem.loss, lambda: np.abs(g))()
        sample_bounds = (np.sum(np.abs(g) * prediction_bound + t * by_target, axis=1)
                         + _second_order(problem, prediction, prediction_bound)
                         + gamma(prediction.shape[1] + ROUNDINGS, u) * np.abs(per_sample)
                         + (prediction.shape[1] + ROUNDINGS) * eta)
    factor = batch_factor(problem.reduction, len(problem.targets))
    batch = len(problem.targets)
    return float(factor * (np.sum(sample_bounds) + gamma(batch + 1, u) * np.sum(np.abs(per_sample))
                           + (batch + 1) * eta))


def _forward_bounds(problem, dtype, layer_inputs, pre_activations):
    """Each layer's input bound e_x (and the output's, last) and pre-activation bound e_z."""
    u, eta = unit_roundoff(dtype), underflow(dtype)
    input_bounds, z_bounds = [rounding_error(problem.inputs, dtype)], []
    for layer, x, z in zip(problem.layers, layer_inputs, pre_activations):
        # z = x @ W + b: γ_(n+1)·(|x| @ |W| + |b|) + e_x @ |W| + |x| @ |W − fl(W)| + |b − fl(b)|
        magnitude = np.abs(x) @ np.abs(layer.weights)
        moved = np.abs(x) @ rounding_error(layer.weights, dtype)
        if layer.bias is not None:
            magnitude = magnitude + np.abs(layer.bias)
            moved = moved + rounding_error(layer.bias, dtype)
        z_bounds.append(gamma(layer.fan_in + 1, u) * magnitude + (layer.fan_in + 1) * eta
                        + input_bounds[-1] @ np.abs(layer.weights) + moved)
        f, derivative = ACTIVATIONS[layer.activation]
        input_bounds.append(_propagated(derivative, z, z_bounds[-1])
                            + _own_rounding(f(z), u, eta))
    return input_bounds, z_bounds


def pre_activation_bounds(problem, dtype):
    """Each layer's bound on its pre-activation z in `dtype` (a kink within it is ambiguous)."""
    layer_inputs, pre_activations, _ = forward(problem.layers, problem.inputs)
    with np.errstate(over="ignore", invalid="ignore"):
        return _forward_bounds(problem, dtype, layer_inputs, pre_activations)[1]


def rounding_bounds(problem, dtype):
    """Per element, how far a correct backprop in `dtype` may be from the float64 reference.

    Returns a Gradients of bounds (float64 arrays shaped like the quantities; None where a layer
    has no bias), for a Problem in float64. Nothing is raised: a bound may be inf where the
    computation is that ill-conditioned (a probability that rounds to 1 under a log).
    """
    u, eta = unit_roundoff(dtype), underflow(dtype)
    layers = problem.layers
    layer_inputs, pre_activations, output = forward(layers, problem.inputs)
    with np.errstate(over="ignore", invalid="ignore"):
        input_bounds, z_bounds = _forward_bounds(problem, dtype, layer_inputs, pre_activations)
        logits = on_logits(problem)
        prediction = pre_activations[-1] if logits else output
        prediction_bound = z_bounds[-1] if logits else input_bounds[-1]
        reference = backprop(layers, problem.inputs, problem.targets, problem.loss,
                             problem.reduction, 1.0).error_terms
        targets_moved = rounding_error(problem.targets, dtype)
        error_bounds = [_output_error_term_bound(problem, pre_activations[-1], prediction,
                                                 prediction_bound, z_bounds[-1], u, targets_moved,
                                                 eta)]
        for l in range(len(layers) - 2, -1, -1):
            error_bounds.insert(0, _hidden_error_term_bound(
                reference[l + 1], error_bounds[0], layers[l + 1].weights, layers[l].activation,
                pre_activations[l], z_bounds[l], u, eta))
        rate, batch = abs(problem.learning_rate), len(problem.inputs)
        # Δw = η·xᵀ @ δ: γ_(B+1)·|x|ᵀ @ |δ| (the sum and η) + e_xᵀ @ |δ| + |x|ᵀ @ e_δ
        weight_bounds = [rate * (gamma(batch + 1, u) * np.abs(x).T @ np.abs(d) + e_x.T @ np.abs(d)
                                 + np.abs(x).T @ e_d) + (batch + 1) * eta
                         for x, e_x, d, e_d in zip(layer_inputs, input_bounds, reference,
                                                   error_bounds)]
        # Δb = η·Σ_b δ: γ_(B+1)·Σ_b |δ| + Σ_b e_δ
        bias_bounds = [None if layer.bias is None else
                       rate * (gamma(batch + 1, u) * np.sum(np.abs(d), axis=0)
                               + np.sum(e_d, axis=0)) + (batch + 1) * eta
                       for layer, d, e_d in zip(layers, reference, error_bounds)]
        loss_bound = _loss_bound(problem, prediction, prediction_bound, u, targets_moved, eta)
    return Gradients(loss_bound, error_bounds, weight_bounds, bias_bounds)


def _hidden_error_term_bound(next_error_term, next_bound, next_weights, activation, z, z_bound,
                             u, eta):
    """e_δ for δ_l = (δ_(l+1) @ W_(l+1)ᵀ) ⊙ f'(z_l): the product p = δ @ Wᵀ off by
    γ_(m+1)·|δ| @ |W|ᵀ + e_δ @ |W|ᵀ (m = fan_out of layer l+1), then e_p·|f'| + |p|·e_f' + u·|p f'|."""
    product = next_error_term @ next_weights.T
    product_bound = (gamma(next_weights.shape[1] + 1, u) * np.abs(next_error_term)
                     @ np.abs(next_weights.T) + next_bound @ np.abs(next_weights.T)
                     + (next_weights.shape[1] + 1) * eta)
    derivative = ACTIVATIONS[activation][1](z)
    derivative_bound = (_propagated(SECOND_DERIVATIVES[activation], z, z_bound)
                        + _own_rounding(derivative, u, eta))
    return (product_bound * np.abs(derivative) + np.abs(product) * derivative_bound
            + u * np.abs(product * derivative) + eta)


def directional_bound(directions, bounds, reference, learning_rate, dtype):
    """Per direction v (a list of (dW, db) per layer), how far ⟨v, ∇E⟩ from a correct reverse
    mode and from a correct forward mode, both in `dtype`, may lie apart: each is off by
    Σ|v|·e_g from its gradient's bounds e_g = e_Δ/η, and by γ_P·Σ|v||g| from the P-term sum
    (or the forward pass's own accumulation of it); twice that. `bounds` and `reference` are
    the error model's and the reference's Gradients."""
    u, rate = unit_roundoff(dtype), abs(learning_rate)
    count = sum(d.size for d in reference.weight_deltas) + sum(
        0 if d is None else d.size for d in reference.bias_deltas)

    def along(direction, weights, biases):
        return sum(np.vdot(np.abs(dw), w) + (0 if db is None else np.vdot(np.abs(db), b))
                   for (dw, db), w, b in zip(direction, weights, biases))

    sizes = ([np.abs(d) / rate for d in reference.weight_deltas],
             [None if d is None else np.abs(d) / rate for d in reference.bias_deltas])
    errors = ([e / rate for e in bounds.weight_deltas],
              [None if e is None else e / rate for e in bounds.bias_deltas])
    return np.array([2 * (along(v, *errors) + gamma(count, u) * along(v, *sizes))
                     for v in directions])

