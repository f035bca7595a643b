"""The six networks (module doc of :mod:`facelab.generative.gan_disentangler`): the encoder E, Zeno's
AdaIN generator G, the image and latent discriminators D_x and D_z, Φ and Φ⁻¹, each a functional
Keras model built from a :class:`~.config.GanConfig`, and :class:`Networks`, which holds them."""
from __future__ import annotations

import keras
from keras import layers, ops

from ...nets.backbones import basic_block
from ...nets.heads import CosineClassifier
from .config import GanConfig, _halvings


@keras.saving.register_keras_serializable(package="facelab")
class AdaIN(keras.layers.Layer):
    """Adaptive instance normalisation (Huang & Belongie 2017), as in Zeno's generator:
    ``(1 + γ(s)) · (x − μ_hw(x)) / σ_hw(x) + β(s)`` with per-sample γ, β from the style code."""

    def __init__(self, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, inputs):
        x, gamma, beta = inputs  # (B, H, W, C), (B, C), (B, C)
        mean = ops.mean(x, axis=(1, 2), keepdims=True)
        var = ops.var(x, axis=(1, 2), keepdims=True)
        x = (x - mean) / ops.sqrt(var + self.epsilon)
        return x * (1.0 + gamma[:, None, None, :]) + beta[:, None, None, :]

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def _n_up(cfg: GanConfig) -> int:
    return _halvings(cfg.image_shape[0])  # base map (3..7 pixels) → image size


def _base(cfg: GanConfig) -> int:
    return cfg.image_shape[0] >> _n_up(cfg)


def _channels(cfg: GanConfig, level: int, width: int | None = None) -> int:
    return (width or cfg.width) * 2 ** min(level, 3)


def build_encoder(cfg: GanConfig) -> keras.Model:
    """ResNet-style E: 3×3 stem, one strided basic block (He et al. 2016) per halving down to the base map (3–7 pixels),
    then a linear layer to z (no normalisation: D_z shapes its distribution). Its widths start at
    ``encoder_width`` (``width`` when None)."""
    width = cfg.encoder_width or cfg.width
    x_in = keras.Input(cfg.image_shape, name="image")
    x = layers.Conv2D(width, 3, padding="same", name="stem_conv")(x_in)
    x = layers.ReLU(name="stem_relu")(x)
    for level in range(_n_up(cfg)):
        x = basic_block(x, _channels(cfg, level + 1, width), 2, "fused", f"down{level + 1}")
    x = layers.Flatten(name="flatten")(x)
    z = layers.Dense(cfg.z_dim, name="z")(x)
    return keras.Model(x_in, z, name="encoder")


def _adain_block(x, style, filters: int, name: str):
    h = layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv1")(x)
    h = AdaIN(name=f"{name}_adain1")([h, layers.Dense(filters, name=f"{name}_gamma1")(style),
                                       layers.Dense(filters, name=f"{name}_beta1")(style)])
    h = layers.ReLU(name=f"{name}_relu1")(h)
    h = layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv2")(h)
    h = AdaIN(name=f"{name}_adain2")([h, layers.Dense(filters, name=f"{name}_gamma2")(style),
                                       layers.Dense(filters, name=f"{name}_beta2")(style)])
    shortcut = x if x.shape[-1] == filters else layers.Conv2D(filters, 1, name=f"{name}_proj")(x)
    return layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([shortcut, h]))


def build_generator(cfg: GanConfig) -> keras.Model:
    """Zeno's G: ``z[:id_dim]`` → dense → base map (4×4 for 32 or 64 pixels); ``z[id_dim:]`` → MLP → AdaIN (γ, β) of each
    residual block; nearest-neighbour up-sampling ×2 per block; sigmoid image in [0, 1]."""
    n = _n_up(cfg)
    z_in = keras.Input((cfg.id_dim,), name="z_input")
    z_mod = keras.Input((cfg.z_dim - cfg.id_dim,), name="z_adain")
    style = layers.Dense(cfg.mlp, activation="relu", name="adain_mlp1")(z_mod)
    style = layers.Dense(cfg.mlp, activation="relu", name="adain_mlp2")(style)
    c0, b = _channels(cfg, n), _base(cfg)
    h = layers.Dense(b * b * c0, name="seed")(z_in)
    h = layers.ReLU(name="seed_relu")(layers.Reshape((b, b, c0), name="seed_map")(h))
    for level in range(n, 0, -1):
        h = layers.UpSampling2D(2, name=f"up{level}")(h)
        h = _adain_block(h, style, _channels(cfg, level - 1), f"block{level}")
    image = layers.Conv2D(cfg.image_shape[-1], 3, padding="same", activation="sigmoid", name="image")(h)
    return keras.Model([z_in, z_mod], image, name="generator")


def build_image_discriminator(cfg: GanConfig) -> keras.Model:
    """DCGAN-style D_x (Radford et al. 2016): strided 4×4 convolutions with LeakyReLU(0.2) down to
    the base map, a linear logit (no batch norm: real and generated images come in separate batches)."""
    x_in = keras.Input(cfg.image_shape, name="image")
    x = x_in
    for level in range(_n_up(cfg)):
        x = layers.Conv2D(_channels(cfg, level), 4, strides=2, padding="same", name=f"conv{level + 1}")(x)
        x = layers.LeakyReLU(0.2, name=f"lrelu{level + 1}")(x)
    logit = layers.Dense(1, name="logit")(layers.Flatten(name="flatten")(x))
    return keras.Model(x_in, logit, name="image_discriminator")


def _mlp(inputs, hidden: int, out: int, name: str, depth: int = 2):
    x = inputs
    for i in range(depth):
        x = layers.Dense(hidden, name=f"{name}_dense{i + 1}")(x)
        x = layers.LeakyReLU(0.2, name=f"{name}_lrelu{i + 1}")(x)
    return layers.Dense(out, name=f"{name}_out")(x)


def build_latent_discriminator(cfg: GanConfig) -> keras.Model:
    z = keras.Input((cfg.z_dim,), name="z")
    return keras.Model(z, _mlp(z, cfg.mlp, 1, "dz"), name="latent_discriminator")


def build_phi(cfg: GanConfig) -> keras.Model:
    """Φ: z → f = (f_id, f_pose, f_style)."""
    z = keras.Input((cfg.z_dim,), name="z")
    return keras.Model(z, _mlp(z, cfg.mlp, cfg.z_dim, "phi"), name="phi")


def build_phi_inverse(cfg: GanConfig) -> keras.Model:
    """Φ⁻¹: f → z, block-structured: f_id → z[:id_dim], (f_pose, f_style) → z[id_dim:] (module doc)."""
    f = keras.Input((cfg.z_dim,), name="f")
    if cfg.inverse == "full":
        return keras.Model(f, _mlp(f, cfg.mlp, cfg.z_dim, "inv"), name="phi_inverse")
    f_id = layers.Lambda(lambda t: t[:, :cfg.id_dim], output_shape=(cfg.id_dim,), name="f_id")(f)
    f_rest = layers.Lambda(lambda t: t[:, cfg.id_dim:], output_shape=(cfg.z_dim - cfg.id_dim,), name="f_rest")(f)
    z_in = _mlp(f_id, cfg.mlp, cfg.id_dim, "inv_id")
    z_mod = _mlp(f_rest, cfg.mlp, cfg.z_dim - cfg.id_dim, "inv_rest")
    return keras.Model(f, layers.Concatenate(name="z")([z_in, z_mod]), name="phi_inverse")


class Networks:
    """The six networks of the model; ``decode(z)`` splits z for Zeno's generator."""

    names = ("encoder", "generator", "latent_discriminator", "image_discriminator", "phi", "phi_inverse")

    def __init__(self, cfg: GanConfig):
        self.cfg = cfg
        self.encoder = build_encoder(cfg)
        self.generator = build_generator(cfg)
        self.latent_discriminator = build_latent_discriminator(cfg)
        self.image_discriminator = build_image_discriminator(cfg)
        self.phi = build_phi(cfg)
        self.phi_inverse = build_phi_inverse(cfg)
        self.identity_classifier = None  # stages 2 and 3 with a margin softmax on f_id: add_identity_classifier

    def add_identity_classifier(self, n_classes: int) -> None:
        """The training identities' centres on the sphere (:class:`~facelab.nets.heads.CosineClassifier`)
        that the margin softmax on f_id trains against; made once, kept from stage 2 to stage 3."""
        if self.identity_classifier is None:
            self.identity_classifier = CosineClassifier(n_classes, name="identity_centres")
            self.identity_classifier.build((None, self.cfg.id_dim))
        elif self.identity_classifier.n_classes != n_classes:
            raise ValueError(f"the margin softmax on f_id was trained on {self.identity_classifier.n_classes} "
                             f"identities; these labels have {n_classes}: train every stage on one training set")

    def decode(self, z, training=False):
        return self.generator([z[:, :self.cfg.id_dim], z[:, self.cfg.id_dim:]], training=training)

    def encode_f(self, x, training=False):
        return self.phi(self.encoder(x, training=training), training=training)

    def decode_f(self, f, training=False):
        return self.decode(self.phi_inverse(f, training=training), training=training)
