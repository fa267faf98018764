"""The activations and losses in ball arithmetic (python-flint's arb): each value a midpoint with
a proven radius, at the working precision of the caller (flint.ctx.workprec).

They mirror reference/activations.py and reference/losses.py formula by formula, each
derivative written out with its derivation, but are written for balls: a tail form is used
where the plain one would cancel (1 + erf at −18, 1 + tanh at −20), which arb would keep
correct but only at more bits. A pre-activation ball that contains the kink at 0 of relu,
leaky_relu or elu without being exactly 0 gets the hull of both one-sided values: the ball is
then still true, and wide, and ground_truth reports what it feeds as a kink.
"""
from flint import arb

KINKED = ("relu", "leaky_relu", "elu")  # a kink at z = 0


# The constants are the float64 numbers that the reference and every framework are handed
# (0.01 is 0.01000000000000000020816…), exact as balls: the truth is that of the function the
# backends compute. The decimal 0.01 differs by 2e-19, which cancellations then amplify.
LEAKY_RELU_SLOPE = arb(0.01)
GELU_TANH_K = arb(0.044715)


def straddles_kink(z):
    """Whether the pre-activation ball z holds 0 and points on both sides of it."""
    return z.contains(0) and not z.is_zero()


def _sides(z, at_most_zero, positive):
    # f(z) for z ≤ 0 or z > 0 by the ball's side; the hull of both where it straddles 0
    if z > 0:
        return positive
    if z <= 0:
        return at_most_zero
    return at_most_zero.union(positive)


def identity(z):
    return z


def identity_prime(z):
    # d/dz z = 1
    return arb(1)


def sigmoid(z):
    # σ(z) = 1 / (1 + e^−z); e^−z is a ball with its relative accuracy at any z
    return 1 / (1 + (-z).exp())


def sigmoid_prime(z):
    # σ'(z) = σ(z)·(1 − σ(z)) = σ(z)·σ(−z), since 1 − σ(z) = e^−z/(1 + e^−z) = σ(−z)
    return sigmoid(z) * sigmoid(-z)


def tanh(z):
    return z.tanh()


def tanh_prime(z):
    # d/dz tanh z = 1 − tanh² z = sech² z
    return z.sech() ** 2


def relu(z):
    # max(z, 0)
    return _sides(z, arb(0), z)


def relu_prime(z):
    # 1 for z > 0, 0 for z ≤ 0 (the case format's one-sided value at the kink)
    return _sides(z, arb(0), arb(1))


def leaky_relu(z):
    # z for z > 0, slope·z for z ≤ 0
    return _sides(z, LEAKY_RELU_SLOPE * z, z)


def leaky_relu_prime(z):
    # 1 for z > 0, the slope for z ≤ 0 (as relu takes 0 at the kink)
    return _sides(z, LEAKY_RELU_SLOPE, arb(1))


def softplus(z):
    # log(1 + e^z)
    return z.exp().log1p()


def softplus_prime(z):
    # d/dz log(1 + e^z) = e^z / (1 + e^z) = σ(z)
    return sigmoid(z)


def elu(z):
    # z for z > 0, e^z − 1 for z ≤ 0 (α = 1)
    return _sides(z, z.expm1(), z)


def elu_prime(z):
    # 1 for z > 0, e^z for z ≤ 0; both are 1 at 0 (α = 1), so the hull stays narrow there
    return _sides(z, z.exp(), arb(1))


def silu(z):
    # z·σ(z)
    return z * sigmoid(z)


def silu_prime(z):
    # d/dz z·σ(z) = σ(z) + z·σ'(z) = σ(z) + z·σ(z)·σ(−z)
    return sigmoid(z) + z * sigmoid_prime(z)


def normal_cdf(z):
    # Φ(z) = ½·(1 + erf(z/√2)) = ½·erfc(−z/√2), since erf(−t) = −erf(t) and erfc = 1 − erf;
    # erfc has no cancellation in the negative tail, where 1 + erf(z/√2) would lose every digit
    return (-z / arb(2).sqrt()).erfc() / 2


def normal_pdf(z):
    # φ(z) = e^(−z²/2) / √(2π)
    return (-z * z / 2).exp() / (2 * arb.pi()).sqrt()


def gelu(z):
    # the exact form: z·Φ(z)
    return z * normal_cdf(z)


def gelu_prime(z):
    # d/dz z·Φ(z) = Φ(z) + z·Φ'(z) = Φ(z) + z·φ(z)
    return normal_cdf(z) + z * normal_pdf(z)


def _gelu_tanh_u(z):
    # u = √(2/π)·(z + 0.044715·z³)
    return (2 / arb.pi()).sqrt() * (z + GELU_TANH_K * z**3)


def gelu_tanh(z):
    # ½·z·(1 + tanh u) = z·σ(2u), since 1 + tanh u = 2/(1 + e^−2u) = 2·σ(2u): no cancellation
    # for u ≪ 0, where tanh u is near −1
    return z * sigmoid(2 * _gelu_tanh_u(z))


def gelu_tanh_prime(z):
    # d/dz ½·z·(1 + tanh u) = ½·(1 + tanh u) + ½·z·sech²(u)·du/dz,
    # du/dz = √(2/π)·(1 + 3·0.044715·z²);
    # with ½·(1 + tanh u) = σ(2u) and sech² u = 1 − tanh² u = 4·σ(2u)·σ(−2u):
    # = σ(2u) + 2·z·σ(2u)·σ(−2u)·du/dz
    u = _gelu_tanh_u(z)
    du_dz = (2 / arb.pi()).sqrt() * (1 + 3 * GELU_TANH_K * z**2)
    return sigmoid(2 * u) + 2 * z * sigmoid_prime(2 * u) * du_dz


ACTIVATIONS = {
    "identity": (identity, identity_prime),
    "sigmoid": (sigmoid, sigmoid_prime),
    "tanh": (tanh, tanh_prime),
    "relu": (relu, relu_prime),
    "leaky_relu": (leaky_relu, leaky_relu_prime),
    "softplus": (softplus, softplus_prime),
    "elu": (elu, elu_prime),
    "silu": (silu, silu_prime),
    "gelu": (gelu, gelu_prime),
    "gelu_tanh": (gelu_tanh, gelu_tanh_prime),
}


# Losses of one sample: y the targets, a the outputs (the logits z for softmax_cross_entropy),
# both lists of balls. Each returns E and −∂E/∂a (−∂E/∂z for the logit forms).

def half_squared_error(y, a):
    # E = ½·Σ_k (y_k − a_k)²; −∂E/∂a_k = y_k − a_k
    return sum((t - v) ** 2 for t, v in zip(y, a)) / 2, [t - v for t, v in zip(y, a)]


def mean_squared_error(y, a):
    # E = (1/K)·Σ_k (y_k − a_k)²; −∂E/∂a_k = (2/K)·(y_k − a_k)
    k = len(a)
    return sum((t - v) ** 2 for t, v in zip(y, a)) / k, [2 * (t - v) / k for t, v in zip(y, a)]


def binary_cross_entropy(y, a):
    # E = −Σ_k [y_k·log a_k + (1 − y_k)·log(1 − a_k)]; −∂E/∂a_k = y_k/a_k − (1 − y_k)/(1 − a_k)
    return (-sum(t * v.log() + (1 - t) * (1 - v).log() for t, v in zip(y, a)),
            [t / v - (1 - t) / (1 - v) for t, v in zip(y, a)])


def binary_cross_entropy_of_logits(y, z):
    # The same E on sigmoid outputs a = σ(z), from the logits: log σ(z) = −softplus(−z) and
    # log(1 − σ(z)) = log σ(−z) = −softplus(z),
    # so E = Σ_k y_k·softplus(−z_k) + (1 − y_k)·softplus(z_k);
    # −∂E/∂z_k = y_k·σ(−z_k) − (1 − y_k)·σ(z_k) = y_k − σ(z_k), the reference's y − a taken whole
    return (sum(t * softplus(-v) + (1 - t) * softplus(v) for t, v in zip(y, z)),
            [t - sigmoid(v) for t, v in zip(y, z)])


def softmax_cross_entropy(y, z):
    # E = −Σ_k y_k·log softmax(z)_k, log softmax(z)_k = z_k − log Σ_j e^(z_j) (arb's exponent
    # range is unbounded: no shift needed); −∂E/∂z_k = y_k − (Σ_j y_j)·softmax(z)_k
    exponentials = [v.exp() for v in z]
    total = sum(exponentials)
    log_total, mass = total.log(), sum(y)
    return (-sum(t * (v - log_total) for t, v in zip(y, z)),
            [t - mass * e / total for t, e in zip(y, exponentials)])


LOSSES = {
    "half_squared_error": half_squared_error,
    "mean_squared_error": mean_squared_error,
    "binary_cross_entropy": binary_cross_entropy,
    "softmax_cross_entropy": softmax_cross_entropy,
}
