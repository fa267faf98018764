"""Backpropagation for a multi-layer perceptron, written the way the lesson writes it.

Layer l computes z_l = x_l @ W_l (+ b_l) and a_l = f_l(z_l), with x_0 the inputs and
x_(l+1) = a_l. E is the loss reduced over the batch. The error term of a layer is
δ_l = −∂E/∂z_l, and the weight delta is Δw_l = η·x_lᵀ·δ_l = −η·∂E/∂W_l.
"""
from typing import NamedTuple

import numpy as np

from .activations import ACTIVATIONS
from .losses import LOSSES, binary_cross_entropy_from_logits


class Gradients(NamedTuple):
    """What a backend computes for one case: the loss, and per layer δ, Δw and Δb (or None)."""

    loss: float
    error_terms: list
    weight_deltas: list
    bias_deltas: list


def forward(layers, inputs):
    """Each layer's input x_l and pre-activation z_l, and the network's output."""
    layer_inputs, pre_activations = [], []
    x = inputs
    for layer in layers:
        z = x @ layer.weights
        if layer.bias is not None:
            z = z + layer.bias
        layer_inputs.append(x)
        pre_activations.append(z)
        x = ACTIVATIONS[layer.activation][0](z)
    return layer_inputs, pre_activations, x


def batch_factor(reduction, batch):
    # E = (1/B)·Σ_b E_b for mean, Σ_b E_b for sum, so ∂E/∂E_b = 1/B or 1
    return 1 / batch if reduction == "mean" else 1


def output_error_term(loss, reduction, targets, prediction, activation, z):
    # δ_L = −∂E/∂z_L = −∂E/∂a_L · f_L'(z_L), times the batch factor ∂E/∂E_b
    # (softmax_cross_entropy is given the logits z_L: the last layer is identity, so a_L = z_L)
    factor = batch_factor(reduction, len(targets))
    if loss == "binary_cross_entropy" and activation == "sigmoid":
        # (y − a)/(a(1 − a)) · σ'(z) = (y − a)/(a(1 − a)) · a(1 − a) = y − a: taken whole, since
        # 1 − a, computed apart, loses the digits that σ'(z) = σ(z)·σ(−z) keeps when a is near 1;
        # and y − σ(z) = y·σ(−z) − (1 − y)·σ(z), from z, since a = σ(z) rounds to 1 beyond z ≈ 37
        # (y = 1: 1 − a = 0 where the truth is σ(−z) = e^−z)
        sigmoid = ACTIVATIONS["sigmoid"][0]
        return factor * (targets * sigmoid(-z) - (1 - targets) * sigmoid(z))
    output_error = LOSSES[loss][1](targets, prediction)
    return factor * output_error * ACTIVATIONS[activation][1](z)


def hidden_error_term(next_error_term, next_weights, activation, z):
    # δ_l = −∂E/∂z_l = (δ_(l+1) @ W_(l+1)ᵀ) ⊙ f_l'(z_l), since z_(l+1) = f_l(z_l) @ W_(l+1) + b
    return (next_error_term @ next_weights.T) * ACTIVATIONS[activation][1](z)


def weight_delta(learning_rate, layer_input, error_term):
    # Δw = η·Σ_b x_bᵀ·δ_b = η·xᵀ @ δ, since ∂z_bj/∂W_ij = x_bi
    return learning_rate * (layer_input.T @ error_term)


def bias_delta(learning_rate, error_term):
    # Δb = η·Σ_b δ_b, since ∂z_bj/∂b_j = 1
    return learning_rate * np.sum(error_term, axis=0)


def reduced_loss(loss, reduction, targets, output, logits=None):
    """E: the per-sample loss, averaged or summed over the batch. Binary cross-entropy on a
    sigmoid output is given its `logits` z too, and computed from them."""
    if loss == "binary_cross_entropy" and logits is not None:
        per_sample = binary_cross_entropy_from_logits(targets, logits)
    else:
        per_sample = LOSSES[loss][0](targets, output)
    return float(np.sum(per_sample) * batch_factor(reduction, len(targets)))


def backprop(layers, inputs, targets, loss, reduction, learning_rate):
    """Run the forward pass, then the backward pass from the output layer down to the first.

    `layers` are objects with `weights` (fan_in × fan_out), `bias` (fan_out, or None) and
    `activation` (a name in ACTIVATIONS); `loss` names one of LOSSES and `reduction` is
    "mean" or "sum". Arrays keep the dtype they are given. Returns Gradients, layer 0 first.
    """
    layer_inputs, pre_activations, output = forward(layers, inputs)
    # The loss sees the logits for softmax_cross_entropy, the activations otherwise.
    prediction = pre_activations[-1] if loss == "softmax_cross_entropy" else output
    error_terms = [output_error_term(loss, reduction, targets, prediction,
                                     layers[-1].activation, pre_activations[-1])]
    for l in range(len(layers) - 2, -1, -1):
        error_terms.insert(0, hidden_error_term(error_terms[0], layers[l + 1].weights,
                                                layers[l].activation, pre_activations[l]))
    weight_deltas = [weight_delta(learning_rate, x, d) for x, d in zip(layer_inputs, error_terms)]
    bias_deltas = [None if layer.bias is None else bias_delta(learning_rate, d)
                   for layer, d in zip(layers, error_terms)]
    sigmoid_logits = pre_activations[-1] if layers[-1].activation == "sigmoid" else None
    return Gradients(reduced_loss(loss, reduction, targets, prediction, sigmoid_logits),
                     error_terms, weight_deltas, bias_deltas)
