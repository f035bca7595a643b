"""The grouped-identity VAE model (Tan, Pal & Courville, "Inferring identity factors for grouped
examples"): its distributions, loss and training steps. The face method that trains it on LFW groups
through :func:`facelab.nets.training.train` is :mod:`facelab.generative.grouped_vae`.

Every image x_i of a group of N images of one person has a shared identity variable w and its
own style variable z_i:

    generative   p(w) = N(0, I),  p(z_i | w) = N(μ_z(w), σ_z(w)²),  p(x_i | w, z_i) = decoder
    inference    q(w | x_1:N) from the MEAN of f(x_i) over the group (permutation invariant, any N ≥ 1)
                 q(z_i | x_i, w) from [f(x_i), w]

The decoder starts from a tensor computed from w alone (identity is the "content") and every
convolution is followed by conditional instance normalisation whose scale and shift come from
z_i (the "style"; Dumoulin, Shlens & Kudlur 2017). The loss is the negative ELBO of a group,

    KL(q(w|X) ‖ p(w)) + Σ_i E_q(w)[KL(q(z_i|x_i,w) ‖ p(z_i|w))] − Σ_i E_q[log p(x_i | w, z_i)],

with the two KL terms logged separately and an optional linear KL warm-up (Bowman et al. 2016).

Likelihood: a Gaussian on pixel intensities in [0, 1] with one learned (or fixed) σ for all
pixels. It is a proper density for grey levels, unlike a Bernoulli, and does not push every pixel
to 0 or 1 like the continuous Bernoulli; learning σ calibrates the weight of the reconstruction
term against the KL terms instead of hand-tuning it (Rybkin, Daniilidis & Levine 2021, "σ-VAE").
The same σ serves every identity, so log p(x | w) of two candidate identities stays comparable
in the few-shot rule (eq. 8).

Distributions are ``tfp.distributions`` used inside a Keras 3 model (``tfp.layers`` does not work
with Keras 3). Training uses a custom ``train_step`` with ``tf.GradientTape`` under TensorFlow;
under ``KERAS_BACKEND=jax`` (a GPU machine without TensorFlow) the same step runs stateless
(:func:`facelab.nets.training.jax_objectives_step`, shared with the GAN disentangler) with the two
Gaussian formulas in ``keras.ops``, tested equal to TFP's. The KL warm-up reads the optimizer's step
counter, which a checkpoint keeps, so a resumed run weighs every step as an uninterrupted one does.
"""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from ..nets.training import jax_objectives_step, scope_values, stateless_record

PACKAGE = "facelab"


def _tfd():
    import tensorflow_probability as tfp

    return tfp.distributions


def _seeded(seed: int):
    """Distinct, reproducible initialisers without touching a global seed."""
    counter = [0]

    def glorot():
        counter[0] += 1
        return keras.initializers.GlorotUniform(seed=seed * 1000 + counter[0])

    return glorot


def _scale(raw):
    """Positive standard deviation from an unconstrained output (softplus, floored)."""
    return ops.softplus(raw) + 1e-3


def _tfp_backend() -> bool:
    """TFP's distributions take TensorFlow tensors: under any other Keras backend (JAX on a GPU
    machine without TensorFlow) the same formulas are written in ``keras.ops`` below, tested
    equal to TFP's (tests/test_grouped_vae.py)."""
    return keras.backend.backend() == "tensorflow"


def gaussian_kl(mu_q, scale_q, mu_p, scale_p):
    """KL(N(μ_q, diag σ_q²) ‖ N(μ_p, diag σ_p²)) summed over the last axis (tfp, closed form)."""
    if _tfp_backend():
        tfd = _tfd()
        return ops.sum(tfd.kl_divergence(tfd.Normal(mu_q, scale_q), tfd.Normal(mu_p, scale_p)), axis=-1)
    return ops.sum(gaussian_kl_ops(mu_q, scale_q, mu_p, scale_p), axis=-1)


def gaussian_kl_ops(mu_q, scale_q, mu_p, scale_p):
    """Elementwise KL of two Gaussians in ``keras.ops``: log(σ_p/σ_q) + (σ_q² + (μ_q − μ_p)²) / (2σ_p²) − ½."""
    ratio = ops.square(scale_q / scale_p)
    return 0.5 * (ratio + ops.square((mu_q - mu_p) / scale_p) - 1.0 - ops.log(ratio))


def gaussian_log_prob(x, mu, scale):
    """log N(x; μ, diag σ²) summed over every axis but the first."""
    lp = _tfd().Normal(mu, scale).log_prob(x) if _tfp_backend() else gaussian_log_density_ops(x, mu, scale)
    return ops.sum(ops.reshape(lp, (ops.shape(lp)[0], -1)), axis=-1)


def gaussian_log_density_ops(x, mu, scale):
    """Elementwise log N(x; μ, σ²) in ``keras.ops``: −½((x − μ)/σ)² − log σ − ½ log 2π."""
    return -0.5 * ops.square((x - mu) / scale) - ops.log(scale) - 0.5 * math.log(2 * math.pi)


@keras.saving.register_keras_serializable(package=PACKAGE)
class ConditionalInstanceNorm(keras.layers.Layer):
    """Instance normalisation whose per-channel scale and shift are functions of a code z.

    Dumoulin, Shlens & Kudlur (2017), "A learned representation for artistic style", eq. (5):
    y = γ(z) · (x − μ(x)) / σ(x) + β(z), μ and σ over the spatial positions of each channel.
    Inputs ``[x (n, h, w, c), z (n, d)]``.
    """

    def __init__(self, epsilon: float = 1e-5, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon
        self.seed = seed

    def build(self, input_shape):
        channels = input_shape[0][-1]
        init = keras.initializers.GlorotUniform(seed=self.seed)
        # γ = 1 + dense(z), β = dense(z): starts as plain instance norm
        self.to_gamma = keras.layers.Dense(channels, kernel_initializer=init, name="gamma")
        self.to_beta = keras.layers.Dense(channels, kernel_initializer=keras.initializers.GlorotUniform(seed=self.seed + 1),
                                          name="beta")
        self.to_gamma.build(input_shape[1])
        self.to_beta.build(input_shape[1])

    def call(self, inputs):
        x, z = inputs
        mean = ops.mean(x, axis=(1, 2), keepdims=True)
        var = ops.var(x, axis=(1, 2), keepdims=True)
        x_hat = (x - mean) / ops.sqrt(var + self.epsilon)
        gamma = 1.0 + self.to_gamma(z)[:, None, None, :]
        beta = self.to_beta(z)[:, None, None, :]
        return gamma * x_hat + beta

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon, "seed": self.seed}


@keras.saving.register_keras_serializable(package=PACKAGE)
class PixelScale(keras.layers.Layer):
    """The likelihood's σ: one learned scalar (σ = σ_min + softplus(s)) or a fixed value."""

    def __init__(self, fixed: float | None = None, initial: float = 0.1, minimum: float = 1e-2, **kwargs):
        super().__init__(**kwargs)
        self.fixed, self.initial, self.minimum = fixed, initial, minimum

    def build(self, input_shape=None):
        start = math.log(math.expm1(max(self.initial - self.minimum, 1e-6)))  # softplus⁻¹
        self.raw = self.add_weight(shape=(), initializer=keras.initializers.Constant(start),
                                   trainable=self.fixed is None, name="raw_sigma")

    def call(self, inputs=None):
        if self.fixed is not None:
            return ops.convert_to_tensor(self.fixed, dtype=self.compute_dtype)
        return self.minimum + ops.softplus(self.raw)

    def get_config(self):
        return {**super().get_config(), "fixed": self.fixed, "initial": self.initial, "minimum": self.minimum}


def _mlp(in_dim, hidden, out_dim, init, name):
    return keras.Sequential([keras.Input((in_dim,)),
                             keras.layers.Dense(hidden, activation="relu", kernel_initializer=init()),
                             keras.layers.Dense(out_dim, kernel_initializer=init())], name=name)


@keras.saving.register_keras_serializable(package=PACKAGE)
class GroupedVAE(keras.Model):
    """Tan, Pal & Courville's grouped VAE. Input: groups ``(B, N, H, W, C)`` of floats in [0, 1].

    image_shape: (H, W, C) with H = W a power of two ≥ 8. w_dim / z_dim: identity / style sizes.
    feature_dim, hidden: widths of f(x) and of the MLPs. filters: channels of the first conv
    (doubling per level, at most 8×). likelihood_sigma: None learns σ, a float fixes it.
    kl_warmup_steps: the KL weight β rises linearly from ``kl_start`` to 1 over that many steps
    (0 = no warm-up). seed: initialisers and the reparameterisation noise.
    """

    def __init__(self, image_shape=(32, 32, 1), w_dim: int = 32, z_dim: int = 16, feature_dim: int = 256,
                 hidden: int = 256, filters: int = 32, likelihood_sigma: float | None = None,
                 kl_warmup_steps: int = 0, kl_start: float = 0.0, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        image_shape = tuple(int(s) for s in image_shape)
        h, w, c = image_shape
        if h != w or h < 8 or h & (h - 1):
            raise ValueError(f"image_shape must be square with a power-of-two side ≥ 8, got {image_shape}")
        if likelihood_sigma is not None and not likelihood_sigma > 0:
            raise ValueError(f"likelihood_sigma must be positive or None (learned), got {likelihood_sigma}")
        self.image_shape, self.w_dim, self.z_dim = image_shape, int(w_dim), int(z_dim)
        self.feature_dim, self.hidden, self.filters = int(feature_dim), int(hidden), int(filters)
        self.likelihood_sigma, self.kl_warmup_steps, self.kl_start = likelihood_sigma, int(kl_warmup_steps), kl_start
        self.seed = int(seed)
        init = _seeded(self.seed)
        levels = int(math.log2(h)) - 2  # down to 4×4
        widths = [min(self.filters * 2 ** i, self.filters * 8) for i in range(levels)]

        # f(x): shared conv + max-pool feature extractor
        layers = [keras.Input(image_shape)]
        for width in widths:
            layers += [keras.layers.Conv2D(width, 3, padding="same", activation="relu", kernel_initializer=init()),
                       keras.layers.MaxPooling2D(2)]
        layers += [keras.layers.Flatten(), keras.layers.Dense(self.feature_dim, activation="relu",
                                                              kernel_initializer=init())]
        self.extractor = keras.Sequential(layers, name="features")
        self.q_w_net = _mlp(self.feature_dim, self.hidden, 2 * self.w_dim, init, "q_w")
        self.q_z_net = _mlp(self.feature_dim + self.w_dim, self.hidden, 2 * self.z_dim, init, "q_z")
        self.p_z_net = _mlp(self.w_dim, self.hidden, 2 * self.z_dim, init, "p_z")

        # p(x | w, z): w → 4×4 tensor; (upsample, conv, CIN(z), relu) per level; conv → mean in [0, 1]
        w_in, z_in = keras.Input((self.w_dim,), name="w"), keras.Input((self.z_dim,), name="z")
        t = keras.layers.Dense(4 * 4 * widths[-1], activation="relu", kernel_initializer=init())(w_in)
        t = keras.layers.Reshape((4, 4, widths[-1]))(t)
        for i, width in enumerate(reversed(widths)):
            t = keras.layers.UpSampling2D(2)(t)
            t = keras.layers.Conv2D(width, 3, padding="same", kernel_initializer=init())(t)
            t = ConditionalInstanceNorm(seed=self.seed * 1000 + 500 + 2 * i)([t, z_in])
            t = keras.layers.ReLU()(t)
        x_mean = keras.layers.Conv2D(c, 3, padding="same", activation="sigmoid", kernel_initializer=init())(t)
        self.decoder = keras.Model([w_in, z_in], x_mean, name="decoder")
        self.pixel_scale = PixelScale(fixed=likelihood_sigma, name="pixel_sigma")
        self.pixel_scale.build(())
        self.noise = keras.random.SeedGenerator(self.seed)
        self.trackers = {k: keras.metrics.Mean(name=k) for k in ("loss", "nll", "kl_w", "kl_z", "beta")}
        self.built = True  # every sub-network is built above (lets a reloaded optimizer restore its state)

    # -- the distributions' parameters ---------------------------------------------------------
    def features(self, images):
        """f(x): ``(M, H, W, C)`` → ``(M, feature_dim)``."""
        return self.extractor(images)

    def q_w_from_features(self, feats):
        """q(w | X) from per-image features ``(B, N, F)``: MLP of their mean over the group."""
        raw = self.q_w_net(ops.mean(feats, axis=1))
        return raw[:, : self.w_dim], _scale(raw[:, self.w_dim:])

    def q_w(self, groups):
        """q(w | x_1:N): ``(B, N, H, W, C)`` → (μ_w, σ_w), each ``(B, w_dim)``. Any N ≥ 1."""
        groups = ops.convert_to_tensor(groups)
        if len(groups.shape) != 5:
            raise ValueError(f"groups must have shape (B, N, H, W, C); got {tuple(groups.shape)}")
        if groups.shape[1] == 0:
            raise ValueError("a group needs at least one image (N ≥ 1)")
        shape = ops.shape(groups)
        feats = self.features(ops.reshape(groups, (-1, *self.image_shape)))
        return self.q_w_from_features(ops.reshape(feats, (shape[0], shape[1], self.feature_dim)))

    def q_z(self, feats, w):
        """q(z_i | x_i, w) from f(x_i) ``(M, F)`` and w ``(M, w_dim)`` → (μ, σ) ``(M, z_dim)``."""
        raw = self.q_z_net(ops.concatenate([feats, w], axis=-1))
        return raw[:, : self.z_dim], _scale(raw[:, self.z_dim:])

    def p_z(self, w):
        """p(z_i | w) → (μ, σ) ``(M, z_dim)``."""
        raw = self.p_z_net(w)
        return raw[:, : self.z_dim], _scale(raw[:, self.z_dim:])

    def decode(self, w, z):
        """Mean of p(x | w, z): ``(M, w_dim), (M, z_dim)`` → ``(M, H, W, C)`` in [0, 1]."""
        return self.decoder([ops.convert_to_tensor(w, "float32"), ops.convert_to_tensor(z, "float32")])

    def sigma(self):
        return self.pixel_scale(None)

    def log_px(self, x, w, z):
        """log p(x | w, z) per image ``(M,)`` (Gaussian, shared σ)."""
        mean = self.decode(w, z)
        return gaussian_log_prob(x, mean, ops.ones_like(mean) * self.sigma())

    def sample_normal(self, mu, scale):
        """Reparameterised sample μ + σ ε."""
        return mu + scale * keras.random.normal(ops.shape(mu), seed=self.noise)

    # -- the loss ------------------------------------------------------------------------------
    def loss_terms(self, groups, details: bool = False) -> dict:
        """Negative-ELBO terms per group, averaged over the batch (one sample of w and of each z_i).

        kl_w = KL(q(w|X) ‖ N(0, I)); kl_z = Σ_i KL(q(z_i|x_i,w) ‖ p(z_i|w)) at the sampled w;
        nll = −Σ_i log p(x_i | w, z_i). ``details`` also returns the parameters and samples.
        """
        groups = ops.convert_to_tensor(groups)
        shape = ops.shape(groups)
        b, n = shape[0], shape[1]
        x = ops.reshape(groups, (-1, *self.image_shape))  # (B·N, H, W, C), group-major
        feats = self.features(x)
        mu_w, sd_w = self.q_w_from_features(ops.reshape(feats, (b, n, self.feature_dim)))
        kl_w = gaussian_kl(mu_w, sd_w, ops.zeros_like(mu_w), ops.ones_like(sd_w))  # (B,)
        w = self.sample_normal(mu_w, sd_w)  # (B, w_dim)
        w_i = ops.reshape(ops.repeat(w[:, None, :], n, axis=1), (-1, self.w_dim))  # (B·N, w_dim)
        mu_q, sd_q = self.q_z(feats, w_i)
        mu_p, sd_p = self.p_z(w_i)
        z = self.sample_normal(mu_q, sd_q)
        kl_z = ops.sum(ops.reshape(gaussian_kl(mu_q, sd_q, mu_p, sd_p), (b, n)), axis=1)  # (B,)
        nll = -ops.sum(ops.reshape(self.log_px(x, w_i, z), (b, n)), axis=1)  # (B,)
        out = {"kl_w": ops.mean(kl_w), "kl_z": ops.mean(kl_z), "nll": ops.mean(nll)}
        if details:
            out.update(per_group={"kl_w": kl_w, "kl_z": kl_z, "nll": nll}, mu_w=mu_w, sd_w=sd_w, w=w,
                       q_z=(mu_q, sd_q), p_z=(mu_p, sd_p), z=z)
        return out

    def kl_weight(self):
        """β of the warm-up: kl_start → 1 linearly over ``kl_warmup_steps`` optimiser steps."""
        if self.kl_warmup_steps <= 0 or self.optimizer is None:
            return ops.convert_to_tensor(1.0)
        step = ops.cast(self.optimizer.iterations, "float32")
        return ops.minimum(1.0, self.kl_start + (1.0 - self.kl_start) * step / self.kl_warmup_steps)

    def call(self, groups, training=False):
        """Deterministic reconstruction at the posterior means (w = μ_w, z_i = μ_z): same shape."""
        groups = ops.convert_to_tensor(groups)
        shape = ops.shape(groups)
        x = ops.reshape(groups, (-1, *self.image_shape))
        feats = self.features(x)
        mu_w, _ = self.q_w_from_features(ops.reshape(feats, (shape[0], shape[1], self.feature_dim)))
        w_i = ops.reshape(ops.repeat(mu_w[:, None, :], shape[1], axis=1), (-1, self.w_dim))
        mu_z, _ = self.q_z(feats, w_i)
        return ops.reshape(self.decode(w_i, mu_z), shape)

    def build(self, input_shape=None):
        self.built = True

    @property
    def metrics(self):
        return list(self.trackers.values())

    def _record(self, terms, beta, loss):
        for k, v in (("loss", loss), ("nll", terms["nll"]), ("kl_w", terms["kl_w"]), ("kl_z", terms["kl_z"]),
                     ("beta", beta)):
            self.trackers[k].update_state(v)
        return {k: t.result() for k, t in self.trackers.items()}

    def _objective(self, groups):
        terms = self.loss_terms(groups)
        beta = self.kl_weight()
        return terms["nll"] + beta * (terms["kl_w"] + terms["kl_z"]), terms, beta

    def train_step(self, *args):
        """One optimiser step on a batch of groups. TensorFlow: ``train_step(data)`` with a tape.
        Keras' JAX trainer calls ``train_step(state, data)`` and wants the new state back."""
        if len(args) == 2:
            return self._jax_train_step(*args)
        import tensorflow as tf

        (data,) = args
        groups = data[0] if isinstance(data, (tuple, list)) else data
        with tf.GradientTape() as tape:
            loss, terms, beta = self._objective(groups)
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return self._record(terms, beta, loss)

    def _jax_train_step(self, state, data):
        """The same step, stateless (keras-io, "customizing fit() with JAX"): the loss is a function of
        the variables' values, run in a :class:`keras.StatelessScope` that maps every variable to
        its value in ``state`` (the noise seed and the warm-up's step counter included), by
        :func:`~facelab.nets.training.jax_objectives_step` with one objective."""
        groups = data[0] if isinstance(data, (tuple, list)) else data

        def compute():
            loss, terms, beta = self._objective(groups)
            return (loss,), (loss, terms, beta)

        (loss, terms, beta), trainable, non_trainable, optimizer_vars = jax_objectives_step(
            self, state, compute, [(self.optimizer, self.trainable_variables)])
        logs, metric_vars = stateless_record(self, state[3], lambda: self._record(terms, beta, loss))
        return logs, (trainable, non_trainable, optimizer_vars, metric_vars)

    def test_step(self, *args):
        """The negative ELBO at β = 1; ``test_step(state, data)`` under Keras' JAX trainer."""
        state, data = args if len(args) == 2 else (None, args[0])
        groups = data[0] if isinstance(data, (tuple, list)) else data

        def elbo_logs():
            terms = self.loss_terms(groups)
            return self._record(terms, ops.convert_to_tensor(1.0), terms["nll"] + terms["kl_w"] + terms["kl_z"])

        if state is None:
            return elbo_logs()
        trainable, non_trainable, metric_vars = state
        mapping = (list(zip(self.trainable_variables, trainable)) + list(zip(self.non_trainable_variables, non_trainable))
                   + list(zip(self.metrics_variables, metric_vars)))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            logs = elbo_logs()
        return logs, (trainable, scope_values(scope, self.non_trainable_variables, non_trainable),
                      scope_values(scope, self.metrics_variables, metric_vars))

    def get_config(self):
        return {**super().get_config(), "image_shape": list(self.image_shape), "w_dim": self.w_dim,
                "z_dim": self.z_dim, "feature_dim": self.feature_dim, "hidden": self.hidden, "filters": self.filters,
                "likelihood_sigma": self.likelihood_sigma, "kl_warmup_steps": self.kl_warmup_steps,
                "kl_start": self.kl_start, "seed": self.seed}


def to_unit(images) -> np.ndarray:
    """uint8 images → float32 in [0, 1] (the model's input scale)."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (0..255) as the data layer gives them; got {images.dtype}")
    return images.astype(np.float32) / 255.0
