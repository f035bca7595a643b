"""GAN disentangler: an adversarial autoencoder whose 99-d code is split into identity, pose and style.

Training scheme of Browatzki & Wallraven (2019), "Robust discrimination and generation of faces using
compact, disentangled embeddings" (ICCV workshops), generator of Zeno et al., "Learning disentangled
representation of identity and head pose using GANs" (AdaIN residual blocks).

Stage 1 — adversarial autoencoder (no labels). Encoder ``E`` (ResNet-style) → code ``z``; generator
``G`` → image; latent discriminator ``D_z`` pushes ``E(x)`` towards the prior N(0, I); DCGAN-style
image discriminator ``D_x`` judges real images, reconstructions and samples of the prior:

    L_rec  = |x − G(E(x))|₁                                    (Eq. 1)
    L_enc  = −log D_z(E(x))                                    (Eq. 2, adversarial feature loss)
    L_adv  = −log D_x(G(E(x)))                                 (Eq. 3, adversarial image loss)
    L_gen  = −log D_x(G(z)),  z ~ N(0, I)                      (Eq. 4, generative image loss)
    L_AE   = λ_rec L_rec + λ_enc L_enc + λ_adv L_adv + λ_gen L_gen      (Eq. 5)

optimised with Adam, β₁ = 0 (as the paper). The discriminators minimise the usual cross-entropy;
non-saturating ``−log D`` losses for E and G.

Stage 2 — disentanglement (labels), ``E`` and ``G`` frozen. ``Φ`` (MLP) maps ``z`` to
``f = (f_id, f_pose, f_style)``, ``Φ⁻¹`` maps back:

    L_encrec = |z − Φ⁻¹(Φ(z))|₁                                (Eq. 6)
    L_id     = triplet loss on f_id/|f_id| over in-batch triplets of P×K batches (facelab miners)
    L_pose   = |f_pose[:2] − t|²  with t the OpenCV head pose (:mod:`facelab.generative.pose`)  (Eq. 11)
    L_cyc    = Σ_S |Φ(E(G(Φ⁻¹(f'))))_S − f'_S|₁,  f' = f with sub-vector S permuted across the batch  (Eq. 8–9)
    L_aug    = the permuted labels recognised on the generated faces: the triplet loss on
               [f_id(x); f_id(x')] with labels [y; y[perm]], the pose loss against t[perm]    (Eq. 10)

``f_style`` has no target of its own: it is what the code needs besides identity and pose.

Stage 3 — joint: all losses of stages 1 and 2, every network trained.

Generator (Zeno): ``G(z)`` takes ``z[:id_dim]`` as its input (a dense layer to a small map, 4×4 for 32 or 64 pixels) and
sends ``z[id_dim:]`` through an MLP to the (γ, β) of AdaIN in every residual up-sampling block.
``Φ⁻¹`` is block-structured — ``f_id → z[:id_dim]`` and ``(f_pose, f_style) → z[id_dim:]`` — so the
decoder of the disentangled code, ``G ∘ Φ⁻¹``, is exactly Zeno's: identity in, everything else
through AdaIN.

Every stage is a Keras model with its own ``train_step`` trained by
:func:`facelab.nets.training.train` (checkpoints, resume mid-epoch, NaN guard, TensorBoard), in
``stage1|stage2|stage3`` of the run folder (``<run_dir>/gan-disentangler/data-<training set>`` for
:meth:`GanDisentangler.fit`). The losses are ``keras.ops``; the training step uses
``tf.GradientTape`` under TensorFlow and a stateless ``jax.vjp`` step under Keras on JAX (the GPU
machine has no TensorFlow), with the same gradients (tested).
"""
from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

from .. import io, presets
from ..base import FaceMethod, check_images, check_labels
from ..data.pipeline import image_spec, mapped_batches, to_float, vector_spec
from ..data.preprocess import PreprocessConfig
from ..data.samplers import BatchSampler, PKSampler
from ..memo import MEMO
from ..losses.triplet import MinedTripletLoss, TripletMarginLoss
from ..miners.online import BatchHardMiner, SemiHardMiner
from ..nets.backbones import _basic_block
from ..nets.layers import L2Normalize
from ..nets.training import (CHECKPOINT, CheckpointMismatchError, TrainConfig, scope_values,
                             stateless_record, train, training_set_dir, training_set_fingerprint)
from ..shared_fits import share_fits
from .pose import POSE_NAMES, head_pose

PARTS = ("id", "noid", "pose", "style", "z")


def _halvings(size: int) -> int:
    """How often ``size`` halves evenly before it is at most 7 (32 → 3: 32, 16, 8, 4)."""
    n = 0
    while size > 7 and size % 2 == 0:
        size, n = size // 2, n + 1
    return n
STAGES = (1, 2, 3)
MINERS = {"batch-hard": BatchHardMiner, "semi-hard": SemiHardMiner}


class DxWinsWarning(UserWarning):
    """The image discriminator separates real from generated images perfectly: G gets no signal."""


# -- the attribute swap and cycle loss (Eq. 8–9), shared with the unit-6 assignment -----------------
def swap_attributes(z, attr_idx, perm):
    """``z'[i, S] = z[perm[i], S]``, ``z'[i, ¬S] = z[i, ¬S]`` with ``S = attr_idx`` (Eq. 8's swap).

    Works on NumPy arrays and tensors (``keras.ops``), keeps the dtype; ``attr_idx`` must be concrete.
    """
    z = ops.convert_to_tensor(z)
    mask = np.zeros(int(z.shape[-1]), dtype=bool)
    mask[np.asarray(attr_idx, dtype=int)] = True
    return ops.where(mask[None, :], ops.take(z, ops.convert_to_tensor(perm, "int32"), axis=0), z)


def cycle_codes(z, attr_idx, perm, encode, decode):
    """``(z', ẑ)``: the swapped codes and their re-encoding ``encode(decode(z'))`` (Eq. 8)."""
    swapped = swap_attributes(z, attr_idx, perm)
    return swapped, ops.convert_to_tensor(encode(decode(swapped)))


def attribute_cycle_loss(z, attr_idx, perm, encode, decode, norm: str = "l1"):
    """Eq. (8–9), Browatzki & Wallraven: mean over the batch and over ``S`` of
    ``|encode(decode(z'))_S − z'_S|`` (``"l1"``) or its square (``"l2"``); 0.0 for an empty ``S``."""
    if norm not in ("l1", "l2"):
        raise ValueError(f"norm must be 'l1' or 'l2', got {norm!r}")
    idx = np.asarray(attr_idx, dtype=int)
    if idx.size == 0:
        return 0.0
    swapped, cycled = cycle_codes(z, idx, perm, encode, decode)
    diff = ops.take(cycled, idx, axis=1) - ops.take(ops.cast(swapped, cycled.dtype), idx, axis=1)
    return ops.mean(ops.abs(diff) if norm == "l1" else ops.square(diff))


# -- configuration ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class GanConfig:
    """Architecture and training settings. ``z_dim = id_dim + pose_dim + style_dim`` (99 = 64 + 2 + 33,
    the paper's code size). ``width`` is the first conv width of E and D_x; ``mlp`` the hidden width
    of D_z, Φ, Φ⁻¹ and the AdaIN MLP."""

    image_shape: tuple = (64, 64, 1)
    id_dim: int = 64
    pose_dim: int = 2
    style_dim: int = 33
    width: int = 32
    mlp: int = 256
    epochs: tuple = (20, 10, 10)  # stage 1, 2, 3
    batch_size: int = 64  # stage 1 (stages 2 and 3: p × k)
    p: int = 16
    k: int = 4
    lr: float = 2e-4  # E, G, Φ, Φ⁻¹ (Adam β₁ = 0)
    d_lr: float = 2e-4  # D_z, D_x (Adam β₁ = 0)
    lambda_rec: float = 1.0
    lambda_enc: float = 0.01
    lambda_adv: float = 0.01
    lambda_gen: float = 0.01
    lambda_encrec: float = 1.0
    lambda_id: float = 1.0
    lambda_pose: float = 1.0
    lambda_cyc: float = 0.5
    lambda_aug: float = 0.5
    margin: float = 0.2
    miner: str = "batch-hard"
    augment: bool = True  # horizontal flips (pose targets negated with them)
    steps_cap: int | None = None  # at most this many batches per epoch (quick mode)

    def __post_init__(self):
        shape = tuple(int(s) for s in self.image_shape)
        object.__setattr__(self, "image_shape", shape)
        object.__setattr__(self, "epochs", tuple(int(e) for e in self.epochs))
        h, w, c = shape if len(shape) == 3 else (0, 0, 0)
        if len(shape) != 3 or h != w or c not in (1, 3) or h < 8 or h >> _halvings(h) > 7:
            raise ValueError(f"image_shape must be (s, s, 1 or 3) with s = b·2^n, 3 <= b <= 7, s >= 8 (16, 24, 32, "
                             f"48, 64, 96, 128, ...); got {self.image_shape}")
        for name in ("id_dim", "pose_dim", "style_dim", "width", "mlp", "batch_size", "p", "k"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.pose_dim < len(POSE_NAMES):
            raise ValueError(f"pose_dim must be >= {len(POSE_NAMES)} (the OpenCV targets {POSE_NAMES})")
        if len(self.epochs) != 3 or min(self.epochs) < 1:
            raise ValueError(f"epochs must be three positive integers (stage 1, 2, 3), got {self.epochs}")
        if self.miner not in MINERS:
            raise ValueError(f"miner must be one of {sorted(MINERS)}, got {self.miner!r}")
        if self.k < 2:
            raise ValueError(f"k must be >= 2 images per identity for in-batch positives, got {self.k}")

    @property
    def z_dim(self) -> int:
        return self.id_dim + self.pose_dim + self.style_dim

    def part_slice(self, part: str) -> np.ndarray:
        """Indices of a sub-vector of f: ``id``, ``pose``, ``style``, ``noid`` (pose + style)."""
        a, b = self.id_dim, self.id_dim + self.pose_dim
        spans = {"id": (0, a), "pose": (a, b), "style": (b, self.z_dim), "noid": (a, self.z_dim),
                 "z": (0, self.z_dim)}
        if part not in spans:
            raise ValueError(f"part must be one of {PARTS}, got {part!r}")
        return np.arange(*spans[part])

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


# -- layers and networks ----------------------------------------------------------------------------
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


def _channels(cfg: GanConfig, level: int) -> int:
    return cfg.width * 2 ** min(level, 3)


def build_encoder(cfg: GanConfig) -> keras.Model:
    """ResNet-style E: 3×3 stem, one strided basic block (He et al. 2016) per halving down to the base map (3–7 pixels),
    then a linear layer to z (no normalisation: D_z shapes its distribution)."""
    x_in = keras.Input(cfg.image_shape, name="image")
    x = layers.Conv2D(cfg.width, 3, padding="same", name="stem_conv")(x_in)
    x = layers.ReLU(name="stem_relu")(x)
    for level in range(_n_up(cfg)):
        x = _basic_block(x, _channels(cfg, level + 1), 2, "fused", f"down{level + 1}")
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

    def decode(self, z, training=False):
        return self.generator([z[:, :self.cfg.id_dim], z[:, self.cfg.id_dim:]], training=training)

    def encode_f(self, x, training=False):
        return self.phi(self.encoder(x, training=training), training=training)

    def decode_f(self, f, training=False):
        return self.decode(self.phi_inverse(f, training=training), training=training)


# -- losses -------------------------------------------------------------------------------------------
def _real(logits):
    """Cross-entropy of "real": −log σ(l) = softplus(−l)."""
    return ops.mean(ops.softplus(-logits))


def _fake(logits):
    return ops.mean(ops.softplus(logits))


def _accuracy(logits, real: bool):
    return ops.mean(ops.cast(logits > 0 if real else logits < 0, "float32"))


def _masked_mse(pred, target, valid):
    w = ops.cast(valid, pred.dtype)
    per = ops.sum(ops.square(pred - target), axis=1)
    return ops.sum(per * w) / ops.maximum(ops.sum(w), 1.0)


# -- the trainer model of one stage -------------------------------------------------------------------
class StageTrainer(keras.Model):
    """One stage as a Keras model with a custom ``train_step``; :func:`~facelab.nets.training.train`
    fits it. ``optimizer`` (compile) trains E/G/Φ/Φ⁻¹; the discriminators have their own Adam whose
    slots are part of :attr:`variables`, so the shared checkpoints hold them and resume is exact."""

    def __init__(self, nets: Networks, stage: int, cfg: GanConfig, seed: int = 0, **kwargs):
        super().__init__(name=f"gan_stage{stage}", **kwargs)
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {stage}")
        self.nets, self.stage, self.cfg = nets, stage, cfg
        for n in Networks.names:
            setattr(self, n, getattr(nets, n))  # tracked: their variables are checkpointed
        self.prior_seed = keras.random.SeedGenerator(seed)
        miner = MINERS[cfg.miner]()
        self.triplet = MinedTripletLoss(miner, TripletMarginLoss(cfg.margin, "L2"))
        self.l2norm = L2Normalize()
        self.l2norm.build((None, cfg.id_dim))
        self.adversarial = stage in (1, 3)
        self.disentangle = stage in (2, 3)
        self.trackers = {n: keras.metrics.Mean(name=n) for n in self.loss_names()}
        # every layer is built (the networks are functional models): nothing for Keras to build
        # symbolically (its JAX trainer would otherwise call this model on the first batch)
        self.built = True

    # which networks each optimiser moves
    def main_variables(self) -> list:
        nets = {1: ("encoder", "generator"), 2: ("phi", "phi_inverse"),
                3: ("encoder", "generator", "phi", "phi_inverse")}[self.stage]
        return [v for n in nets for v in getattr(self, n).trainable_variables]

    def compile(self, **kwargs):
        opt = keras.optimizers.Adam(self.cfg.lr, beta_1=0.0, beta_2=0.999)
        super().compile(optimizer=opt, **kwargs)
        opt.build(self.main_variables())
        self.d_optimizers = {}
        if self.adversarial:
            for n in ("latent_discriminator", "image_discriminator"):
                o = keras.optimizers.Adam(self.cfg.d_lr, beta_1=0.0, beta_2=0.999)
                o.build(getattr(self, n).trainable_variables)
                self.d_optimizers[n] = o

    @property
    def variables(self):
        own = list(super().variables)
        seen = {id(v) for v in own}
        extra = [v for o in getattr(self, "d_optimizers", {}).values() for v in o.variables if id(v) not in seen]
        return own + extra

    def loss_names(self) -> list[str]:
        names = ["loss"]
        if self.adversarial:
            names += ["rec", "enc_adv", "rec_adv", "gen_adv", "dz_loss", "dx_loss", "dx_real_acc", "dx_fake_acc"]
        if self.disentangle:
            names += ["encrec", "id", "pose", "cyc_id", "cyc_pose", "cyc_style", "aug_id", "aug_pose"]
        return names

    @property
    def metrics(self):
        return list(self.trackers.values())

    def _disentangle_losses(self, z, y, t, valid, training: bool):
        """Eq. 6, 8–11 on the codes z = E(x) of one P×K batch; returns (weighted total, logs).

        The three swaps (identity, pose, style) are decoded and re-encoded as one batch of 3B."""
        cfg, nets = self.cfg, self.nets
        train_ae = self.stage == 3
        f = nets.phi(z, training=training)
        encrec = ops.mean(ops.abs(z - nets.phi_inverse(f, training=training)))  # Eq. 6
        n_t = len(POSE_NAMES)
        f_id = self.l2norm(f[:, :cfg.id_dim])
        id_loss = self.triplet(y, f_id)
        pose_loss = _masked_mse(f[:, cfg.id_dim:cfg.id_dim + n_t], t, valid)  # Eq. 11
        # swap with the next identity group of the P×K batch: every face gets another person's attributes
        b = ops.shape(f)[0]
        perm = (ops.arange(b, dtype="int32") + cfg.k) % b
        parts = ("id", "pose", "style")
        swapped = [swap_attributes(f, cfg.part_slice(p), perm) for p in parts]
        cycled = nets.encode_f(nets.decode_f(ops.concatenate(swapped), training=train_ae), training=train_ae)
        logs, cyc = {}, 0.0
        for i, part in enumerate(parts):
            idx = cfg.part_slice(part)
            c = ops.mean(ops.abs(ops.take(cycled[i * b:(i + 1) * b], idx, axis=1) - ops.take(swapped[i], idx, axis=1)))
            logs[f"cyc_{part}"] = c  # Eq. 8
            cyc = cyc + c  # Eq. 9
        # Eq. 10: the swapped-in labels must be recognised on the generated faces
        f_id_gen = self.l2norm(cycled[:b, :cfg.id_dim])
        aug_id = self.triplet(ops.concatenate([y, ops.take(y, perm)]), ops.concatenate([f_id, f_id_gen]))
        pose_gen = cycled[b:2 * b, cfg.id_dim:cfg.id_dim + n_t]
        aug_pose = _masked_mse(pose_gen, ops.take(t, perm, axis=0), ops.take(valid, perm))
        total = (cfg.lambda_encrec * encrec + cfg.lambda_id * id_loss + cfg.lambda_pose * pose_loss
                 + cfg.lambda_cyc * cyc + cfg.lambda_aug * (aug_id + aug_pose))
        logs.update(encrec=encrec, id=id_loss, pose=pose_loss, aug_id=aug_id, aug_pose=aug_pose)
        return total, logs

    def _prior_sample(self, batch):
        """Codes from the prior N(0, I) for Eq. 4 and D_z (its own method so tests can fix them)."""
        return keras.random.normal((batch, self.cfg.z_dim), seed=self.prior_seed)

    def _objectives(self, data):
        """Every loss of one step: ``(main, dz_loss, dx_loss, logs)``. ``main`` trains
        :meth:`main_variables`, ``dz_loss`` D_z and ``dx_loss`` D_x; each objective is differentiated
        only with respect to its own networks, so the discriminators' inputs need no stop_gradient."""
        cfg, nets = self.cfg, self.nets
        x, y, t, valid = data
        batch = ops.shape(x)[0]
        dz_loss = dx_loss = 0.0
        logs = {}
        main = 0.0
        z = nets.encoder(x, training=self.stage != 2)
        if self.stage == 2:
            z = ops.stop_gradient(z)
        if self.adversarial:
            dz, dx = nets.latent_discriminator, nets.image_discriminator
            z_prior = self._prior_sample(batch)
            fakes = nets.decode(ops.concatenate([z, z_prior]), training=True)  # [G(E(x)); G(z)]
            x_rec = fakes[:batch]
            dz_logits = dz(ops.concatenate([z, z_prior]), training=True)
            dx_logits = dx(ops.concatenate([x, fakes]), training=True)
            enc_logits, prior_logits = dz_logits[:batch], dz_logits[batch:]
            real_logits, rec_logits, gen_logits = (dx_logits[:batch], dx_logits[batch:2 * batch],
                                                   dx_logits[2 * batch:])
            rec = ops.mean(ops.abs(x - x_rec))  # Eq. 1
            enc_adv = _real(enc_logits)  # Eq. 2
            rec_adv = _real(rec_logits)  # Eq. 3
            gen_adv = _real(gen_logits)  # Eq. 4
            main = (cfg.lambda_rec * rec + cfg.lambda_enc * enc_adv + cfg.lambda_adv * rec_adv
                    + cfg.lambda_gen * gen_adv)  # Eq. 5
            dz_loss = _real(prior_logits) + _fake(enc_logits)
            fake_logits = dx_logits[batch:]
            dx_loss = _real(real_logits) + _fake(fake_logits)
            logs.update(rec=rec, enc_adv=enc_adv, rec_adv=rec_adv, gen_adv=gen_adv, dz_loss=dz_loss,
                        dx_loss=dx_loss, dx_real_acc=_accuracy(real_logits, True),
                        dx_fake_acc=_accuracy(fake_logits, False))
        if self.disentangle:
            d_total, d_logs = self._disentangle_losses(z, y, t, valid, training=True)
            main = main + d_total
            logs.update(d_logs)
        # "loss" (watched by the NaN guard) = every objective of the step, discriminators included
        logs["loss"] = main + dz_loss + dx_loss
        return main, dz_loss, dx_loss, logs

    def _updates(self):
        """``(optimizer, variables)`` per objective of :meth:`_objectives`, in its order."""
        pairs = [(self.optimizer, self.main_variables())]
        if self.adversarial:
            pairs += [(self.d_optimizers[n], getattr(self, n).trainable_variables)
                      for n in ("latent_discriminator", "image_discriminator")]
        return pairs

    def _record(self, logs):
        for name, value in logs.items():
            self.trackers[name].update_state(value)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, *args):
        """One step of the stage: one forward pass, one gradient per objective (each only for its own
        networks), one optimiser each. TensorFlow: ``train_step(data)`` with a persistent tape; Keras'
        JAX trainer calls ``train_step(state, data)`` (:meth:`_jax_train_step`)."""
        if len(args) == 2:
            return self._jax_train_step(*args)
        import tensorflow as tf

        (data,) = args
        with tf.GradientTape(persistent=True) as tape:
            *objectives, logs = self._objectives(data)
        for loss, (opt, variables) in zip(objectives, self._updates()):
            opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        del tape
        return self._record(logs)

    def _jax_train_step(self, state, data):
        """The same step, stateless (as :meth:`GroupedVAE._jax_train_step`). One forward pass under
        ``jax.vjp``; its pull-back is applied once per objective (the persistent tape's three
        gradients). Keras' JAX trainer carries only ``self.optimizer``'s slots in ``state``; the
        discriminators' Adam slots are non-trainable variables of this model (:attr:`variables`),
        so they travel in ``state``'s non-trainable part and are updated there."""
        import jax

        trainable, non_trainable, optimizer_vars, metric_vars = state
        t_vars, nt_vars = self.trainable_variables, self.non_trainable_variables

        def forward(trainable):
            mapping = (list(zip(t_vars, trainable)) + list(zip(nt_vars, non_trainable))
                       + list(zip(self.optimizer.variables, optimizer_vars)))
            with keras.StatelessScope(state_mapping=mapping) as scope:
                main, dz_loss, dx_loss, logs = self._objectives(data)
            return (main, dz_loss, dx_loss), (logs, scope_values(scope, nt_vars, non_trainable))

        objectives, pull_back, (logs, non_trainable) = jax.vjp(forward, trainable, has_aux=True)
        trainable, non_trainable = list(trainable), list(non_trainable)
        t_index = {id(v): i for i, v in enumerate(t_vars)}
        nt_index = {id(v): i for i, v in enumerate(nt_vars)}
        for k, (opt, variables) in enumerate(self._updates()):
            cotangent = tuple(ops.ones_like(o) if j == k else ops.zeros_like(o) for j, o in enumerate(objectives))
            (grads,) = pull_back(cotangent)
            rows = [t_index[id(v)] for v in variables]
            if opt is self.optimizer:
                opt_values = optimizer_vars
            else:
                opt_values = [non_trainable[nt_index[id(v)]] for v in opt.variables]
            new_values, opt_values = opt.stateless_apply(opt_values, [grads[i] for i in rows],
                                                         [trainable[i] for i in rows])
            for i, value in zip(rows, new_values):
                trainable[i] = value
            if opt is self.optimizer:
                optimizer_vars = opt_values
            else:
                for v, value in zip(opt.variables, opt_values):
                    non_trainable[nt_index[id(v)]] = value
        logs, metric_vars = stateless_record(self, metric_vars, lambda: self._record(logs))
        return logs, (trainable, non_trainable, optimizer_vars, metric_vars)


class DxWinsMonitor(keras.callbacks.Callback):
    """Warns (:class:`DxWinsWarning`) when, over an epoch, D_x classifies at least ``accuracy`` of
    both real and generated images correctly and G's adversarial loss exceeds ``loss`` (−log D_x(G)
    large: D_x wins outright and the generator's gradient vanishes)."""

    def __init__(self, accuracy: float = 0.99, loss: float = 4.0):
        super().__init__()
        self.accuracy, self.loss = accuracy, loss
        self.fired: list[int] = []

    def check(self, epoch: int, logs: dict) -> bool:
        if not logs or "dx_real_acc" not in logs:
            return False
        wins = (logs["dx_real_acc"] >= self.accuracy and logs["dx_fake_acc"] >= self.accuracy
                and min(logs["rec_adv"], logs["gen_adv"]) >= self.loss)
        if wins:
            self.fired.append(epoch)
            warnings.warn(f"epoch {epoch + 1}: the image discriminator D_x wins outright (real accuracy "
                          f"{logs['dx_real_acc']:.3f}, generated {logs['dx_fake_acc']:.3f}, G's adversarial loss "
                          f"{min(logs['rec_adv'], logs['gen_adv']):.2f}): the generator gets no useful gradient. "
                          "Lower d_lr, or raise lr or lambda_adv / lambda_gen.", DxWinsWarning,
                          stacklevel=2)
        return wins

    def on_epoch_end(self, epoch, logs=None):
        self.check(epoch, {k: float(v) for k, v in (logs or {}).items()})


# -- data ---------------------------------------------------------------------------------------------
def stage_dataset(images, labels, targets, sampler, *, epochs: int, start_epoch: int, skip: int,
                  max_steps: int | None, augment: bool, seed: int):
    """``(x float32 in [0, 1], y int32, pose float32 (B, 2), valid bool)`` batches of ``sampler``'s epochs
    ``start_epoch..epochs-1`` (first ``skip`` batches of the first left out, for resuming).
    ``targets(idx) -> (pose (B, 2), valid (B,))``. Flips are drawn per batch from ``(seed, epoch,
    batch)``, so resumed runs see the same ones; a flipped image's pose target is negated (exact,
    see :mod:`facelab.generative.pose`)."""
    n_steps = len(sampler) if max_steps is None else min(len(sampler), max_steps)

    def gen():
        for e in range(start_epoch, epochs):
            batches = sampler.epoch(e)
            for b in range(skip if e == start_epoch else 0, n_steps):
                idx = np.asarray(batches[b])
                pose, valid = targets(idx)
                x, pose = images[idx], np.asarray(pose, np.float32).copy()
                if augment:
                    flip = np.random.default_rng([seed & 0xFFFFFFFF, e, b]).random(len(idx)) < 0.5
                    x = x.copy()
                    x[flip] = x[flip, :, ::-1]
                    pose[flip] = -pose[flip]
                yield x, labels[idx], pose, np.asarray(valid, bool)

    signature = lambda: (image_spec(images), vector_spec(), vector_spec((None, len(POSE_NAMES)), "float32"),
                         vector_spec((None,), "bool"))
    return mapped_batches(gen, signature, lambda x, y, t, v: (to_float(x), y, t, v))


# -- the method -----------------------------------------------------------------------------------------
POSE_MEMO_KEY = "head_pose"


def _pose_rows(images: np.ndarray) -> np.ndarray:
    pose, found = head_pose(images)
    return np.column_stack([pose, found]).astype(np.float64)


def pose_targets(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(pose (n, 2), found (n,))`` = :func:`~facelab.generative.pose.head_pose`, memoised per image
    content (:mod:`facelab.memo`): quick runs pay only for the images they see, the evaluator's folds
    share the work, and a packed LFW copy (``facelab data pack --methods gan-disentangler``) brings
    the rows computed where OpenCV has its Haar cascades."""
    rows = MEMO(POSE_MEMO_KEY, np.asarray(images), _pose_rows)
    return rows[:, :-1], rows[:, -1] > 0.5


class PoseTargets:
    """The pose targets of an image array, looked up per batch of indices (:func:`pose_targets`)."""

    def __init__(self, images: np.ndarray):
        self.images = images

    def get(self, idx) -> tuple[np.ndarray, np.ndarray]:
        return pose_targets(self.images[np.asarray(idx, dtype=np.int64)])


def _describe_differences(saved: dict, now: dict) -> list[str]:
    keys = sorted(set(saved) | set(now))
    return [f"{k}: checkpoint {saved.get(k, '<missing>')!r}, now {now.get(k, '<missing>')!r}"
            for k in keys if saved.get(k) != now.get(k)]


class GanDisentangler(FaceMethod):
    """Browatzki & Wallraven's disentangler with Zeno's generator as a facelab method (module doc).

    ``embed`` returns the L2-normalised sub-vector ``part`` of f = Φ(E(x)): ``"id"`` (the registered
    ``gan-disentangler``), ``"noid"`` (f_pose ⊕ f_style), ``"pose"``, ``"style"`` — the paper's
    Table 2 — or ``"z"`` (the stage-1 code). Keyword arguments go to :class:`GanConfig` (``epochs``
    per stage, dimensions, λ's, ...). ``quick=True`` caps every epoch at ``quick_steps`` batches and
    makes the default ``quick_epochs`` epochs per stage (``epochs`` given explicitly are kept).
    ``run_dir`` keeps checkpoints, TensorBoard logs and ``history.json`` (every loss per epoch) per stage
    (None: a temporary folder, no resumption).
    :meth:`fit` trains in ``run_dir/gan-disentangler/data-<fingerprint of the training set>``, as the
    deep methods do, so one folder serves every split and sub-vector of a comparison; the stage
    methods called one by one train in ``run_dir`` itself. Methods that differ only in ``part`` read one fitted model (Table 2
    in one training) inside :func:`facelab.shared_fits.share_fits`.
    """

    name = "gan-disentangler"
    kind = "generative"
    embedding_only = ("part", "name")  # every sub-vector is read from the same fitted model (Table 2)
    similarity = "cosine"
    part = "id"
    quick_epochs = 2
    quick_steps = 4
    pose_subset = 512  # images whose OpenCV pose sets the targets' scale
    #: per-image functions whose rows ``facelab data pack`` computes and ships (see :func:`pose_targets`)
    memo_tables = {POSE_MEMO_KEY: _pose_rows}

    def __init__(self, preprocess: PreprocessConfig | None = None, seed: int = 0, quick: bool = False, *,
                 part: str | None = None, run_dir: str | None = None, progress: bool = False,
                 tensorboard: bool | None = None, checkpoint_every: int = 50, **config):
        super().__init__(PreprocessConfig.coerce(preprocess, PreprocessConfig(size=64, grayscale=True)), seed=seed, quick=quick)
        self.part = part or type(self).part
        if self.part not in PARTS:
            raise ValueError(f"part must be one of {PARTS}, got {self.part!r}")
        settable = [f for f in GanConfig.__dataclass_fields__ if f not in ("image_shape", "steps_cap")]
        unknown = set(config) - set(settable)
        if unknown:
            from ..methods import declared_parameter_names, unknown_parameters

            raise unknown_parameters(self.name, unknown, [*declared_parameter_names(GanDisentangler), *settable])
        if quick:  # a small default budget; epochs the caller gave are kept
            config.setdefault("epochs", (self.quick_epochs,) * 3)
            config["steps_cap"] = self.quick_steps
        self.gan_config = GanConfig(image_shape=self.preprocess.shape, **config)
        self.run_dir, self.progress, self.checkpoint_every = run_dir, progress, checkpoint_every
        self.tensorboard = run_dir is not None if tensorboard is None else tensorboard

    def params(self) -> dict:
        return {"part": self.part, **self.gan_config.to_dict()}

    # -- training ------------------------------------------------------------------------------
    def fit(self, images, labels) -> "GanDisentangler":
        images, labels = self._check(images, labels)
        # every sub-vector reads the same fit, so the folder is named for the model, not the part
        self.fit_dir_ = training_set_dir(self.run_dir, GanDisentangler.name, training_set_fingerprint(images, labels),
                                        self.seed)
        self.train_autoencoder(images)
        self.train_disentanglement(images, labels)
        self.train_joint(images, labels)
        return self

    def _check(self, images, labels=None):
        images = check_images(images, self.gan_config.image_shape, "images")
        if images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 as produced by the data layer; got {images.dtype}")
        if labels is None:
            return images, None
        labels = check_labels(labels, len(images), min_classes=2)
        return images, np.unique(labels, return_inverse=True)[1].astype(np.int32)

    def _stage_images_check(self, images, stage: int):
        got = tuple(np.shape(images)[1:])
        if not hasattr(self, "nets_"):
            if stage > 1:
                raise RuntimeError(f"stage {stage} needs the stage-1 autoencoder: call train_autoencoder() first")
            return
        if got != self.input_shape_:
            raise ValueError(f"stage {stage} got images of shape {got}, but stage 1 was trained on {self.input_shape_} "
                             "images: use the same preprocessing for every stage")

    def train_autoencoder(self, images) -> "GanDisentangler":
        """Stage 1 (Eq. 1–5) on unlabelled images."""
        self._stage_images_check(images, 1)
        images, _ = self._check(images)
        keras.utils.set_random_seed(self.seed)
        self.nets_ = Networks(self.gan_config)
        self.input_shape_ = tuple(images.shape[1:])
        self.curves_ = {}
        sampler = BatchSampler(len(images), min(self.gan_config.batch_size, len(images)), seed=self.seed)
        no_pose = lambda idx: (np.zeros((len(idx), len(POSE_NAMES))), np.zeros(len(idx), bool))
        self._run_stage(1, images, np.zeros(len(images), np.int32), no_pose, sampler)
        return self

    def train_disentanglement(self, images, labels) -> "GanDisentangler":
        """Stage 2 (Eq. 6, 8–11): Φ and Φ⁻¹ alone, E and G frozen."""
        return self._supervised(2, images, labels)

    def train_joint(self, images, labels) -> "GanDisentangler":
        """Stage 3: every loss, every network."""
        return self._supervised(3, images, labels)

    def _supervised(self, stage, images, labels):
        self._stage_images_check(images, stage)
        images, labels = self._check(images, labels)
        targets = PoseTargets(images)
        if stage == 2 or not hasattr(self, "pose_scale_"):
            # target scale from a seeded subset (the OpenCV cascade costs ~15 ms per image)
            subset = np.random.default_rng(self.seed).permutation(len(images))[:self.pose_subset]
            pose, found = targets.get(subset)
            scale = pose[found].std(axis=0) if found.sum() > 1 else np.ones(len(POSE_NAMES))
            self.pose_scale_ = np.where(scale > 0, scale, 1.0)
            self.pose_mean_ = pose[found].mean(axis=0) if found.any() else np.zeros(len(POSE_NAMES))
            self.pose_found_fraction_ = float(found.mean())
        cfg = self.gan_config
        sampler = PKSampler(labels, min(cfg.p, int((np.bincount(labels) >= 2).sum())), cfg.k, short="replace",
                            seed=self.seed + stage)

        def normalised(idx):
            pose, found = targets.get(idx)
            return pose / self.pose_scale_, found

        self._run_stage(stage, images, labels, normalised, sampler)
        return self

    def _run_stage(self, stage, images, labels, targets, sampler):
        cfg = self.gan_config
        run_dir = self.fit_dir_ if hasattr(self, "fit_dir_") else self.run_dir  # fit()'s folder, or run_dir
        run_root = Path(run_dir) if run_dir else None
        stage_dir = None if run_root is None else run_root / f"stage{stage}"
        data_fp = training_set_fingerprint(images, labels)
        # everything but the epoch budgets: a finished run may be extended by asking for more epochs
        record = {"stage": stage, "seed": self.seed, "data": data_fp,
                  **{k: v for k, v in cfg.to_dict().items() if k != "epochs"}}
        record["image_shape"] = list(self.input_shape_)
        if stage_dir is not None:
            self._check_run_record(stage_dir, record)
        steps = len(sampler) if cfg.steps_cap is None else min(len(sampler), cfg.steps_cap)
        model = StageTrainer(self.nets_, stage, cfg, seed=self.seed + stage)
        model.compile()
        tconf = TrainConfig(epochs=cfg.epochs[stage - 1], learning_rate=cfg.lr, checkpoint_every=self.checkpoint_every,
                            run_dir=None if stage_dir is None else str(stage_dir), tensorboard=self.tensorboard,
                            progress=self.progress, extra={"method": self.name, "stage": stage, "config": record})
        monitor = DxWinsMonitor()
        make = lambda e, s: stage_dataset(images, labels, targets, sampler,
                                          epochs=tconf.epochs, start_epoch=e, skip=s, max_steps=steps,
                                          augment=cfg.augment, seed=self.seed + 1000 * stage)
        batch = f"{sampler.batch_size} images" if stage == 1 else f"P×K = {sampler.p}×{sampler.k} images"
        result = train(model, make, steps, tconf, data_fingerprint=data_fp,
                       callbacks=[monitor] if model.adversarial else [], desc=f"{self.name} stage {stage}",
                       shown_settings={"batch": batch, "width": cfg.width, "z": cfg.z_dim,
                                       "precision": keras.config.dtype_policy().name})
        self.curves_[f"stage{stage}"] = result.run_history  # every epoch, across resumed calls
        self.dx_wins_epochs_ = {**getattr(self, "dx_wins_epochs_", {}), f"stage{stage}": monitor.fired}
        setattr(self, f"training_stage{stage}_", result)
        self.stage_models_ = {**getattr(self, "stage_models_", {}), stage: model}

    @staticmethod
    def _check_run_record(stage_dir: Path, record: dict):
        """A checkpoint left by another configuration gets an error naming what differs."""
        path = stage_dir / "config.json"
        if (stage_dir / CHECKPOINT).exists() and path.exists():
            saved = json.loads(path.read_text())
            diffs = _describe_differences(saved, json.loads(json.dumps(record)))
            if diffs:
                raise CheckpointMismatchError(f"{stage_dir / CHECKPOINT} was written by another configuration; "
                                              "differences: " + "; ".join(diffs)
                                              + ". Use another run_dir or delete it to start afresh.")
        stage_dir.mkdir(parents=True, exist_ok=True)
        io.write_json(path, record)

    # -- inference -----------------------------------------------------------------------------
    def _require_fit(self):
        if not hasattr(self, "nets_"):
            raise RuntimeError(f"{self.name}: call fit() before embed() or generation")

    def _batches(self, fn, array, batch_size=256):
        return np.concatenate([np.asarray(ops.convert_to_numpy(fn(array[i:i + batch_size])))
                               for i in range(0, len(array), batch_size)])

    def codes(self, images) -> dict:
        """``{"z": (n, z_dim), "f": (n, z_dim)}`` of uint8 images."""
        self._require_fit()
        images = check_images(images, self.input_shape_)
        x = images.astype(np.float32) / 255.0
        z = self._batches(lambda b: self.nets_.encoder(b, training=False), x)
        f = self._batches(lambda b: self.nets_.phi(b, training=False), z)
        return {"z": z, "f": f}

    def embed(self, images, part: str | None = None) -> np.ndarray:
        part = part or self.part
        c = self.codes(images)
        v = c["z"] if part == "z" else c["f"][:, self.gan_config.part_slice(part)]
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)

    def predict_pose(self, images) -> np.ndarray:
        """f_pose's first two dimensions in the OpenCV targets' units (roll degrees, yaw proxy)."""
        f = self.codes(images)["f"]
        a = self.gan_config.id_dim
        return f[:, a:a + len(POSE_NAMES)] * self.pose_scale_

    def _to_uint8(self, x) -> np.ndarray:
        return np.clip(np.rint(np.asarray(x) * 255.0), 0, 255).astype(np.uint8)

    def decode_f(self, f) -> np.ndarray:
        self._require_fit()
        f = np.asarray(f, np.float32)
        return self._to_uint8(self._batches(lambda b: self.nets_.decode_f(b), f))

    def reconstruct(self, images, route: str = "z") -> np.ndarray:
        """G(E(x)) (``route="z"``) or G(Φ⁻¹(Φ(E(x)))) (``"f"``), uint8."""
        c = self.codes(images)
        if route == "f":
            return self.decode_f(c["f"])
        if route == "z":
            return self._to_uint8(self._batches(lambda b: self.nets_.decode(b), c["z"]))
        raise ValueError(f"route must be 'z' or 'f', got {route!r}")

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """Images of n codes drawn from the prior N(0, I), uint8."""
        self._require_fit()
        z = np.random.default_rng(seed).normal(size=(n, self.gan_config.z_dim)).astype(np.float32)
        return self._to_uint8(self._batches(lambda b: self.nets_.decode(b), z))

    def transfer(self, sources, targets) -> np.ndarray:
        """Identity transfer grid ``(n_sources, n_targets, h, w, c)``: the source's f_id with the
        target's f_pose and f_style, decoded by G ∘ Φ⁻¹."""
        fs, ft = self.codes(sources)["f"], self.codes(targets)["f"]
        a = self.gan_config.id_dim
        grid = np.concatenate([np.repeat(fs[:, None, :a], len(ft), 1),
                               np.repeat(ft[None, :, a:], len(fs), 0)], axis=2)
        out = self.decode_f(grid.reshape(-1, grid.shape[-1]))
        return out.reshape(len(fs), len(ft), *out.shape[1:])


def _variant(part: str, cls_name: str):
    return type(cls_name, (GanDisentangler,), {
        "name": f"gan-disentangler-{part}", "part": part,
        "__doc__": f"GAN disentangler embedding with the ``{part}`` sub-vector (Table 2 of Browatzki & Wallraven)."})


GanDisentanglerNoId = _variant("noid", "GanDisentanglerNoId")
GanDisentanglerPose = _variant("pose", "GanDisentanglerPose")
GanDisentanglerStyle = _variant("style", "GanDisentanglerStyle")


# -- measurements (package functions the notebook, the lecture and the tests call) ---------------------
def verification_by_part(lfw, *, protocol: str = "view1", parts=("id", "noid", "pose", "style"), folds=None,
                         progress: bool = False, **method_kwargs) -> tuple[dict, "GanDisentangler"]:
    """LFW verification with each sub-vector of f (Browatzki & Wallraven, Table 2) through
    :func:`facelab.evaluation.evaluate_verification`; one model is trained per split and read by every
    part (:func:`~facelab.shared_fits.share_fits`, as ``facelab compare`` does; with
    ``run_dir``, each split trains in its own folder, so a killed run resumes split by split). Returns
    ``({part: summary}, the fitted model of the last split)``."""
    from ..evaluation.runner import evaluate_verification

    made: list = []

    def factory(part):
        def make():
            m = GanDisentangler(part=part, **method_kwargs)
            made.append(m)
            return m
        return make

    with share_fits():
        out = {part: evaluate_verification(factory(part), lfw, protocol, progress=progress, folds=folds).summary()
               for part in parts}
    fitted = [m for m in made if hasattr(m, "nets_")]
    return out, fitted[-1]


def reconstruction_rmse(model: GanDisentangler, images) -> dict:
    """Root-mean-square pixel error on the 0–255 scale (the paper's Table 1) of ``G(E(x))``
    (``autoencoder``) and ``G(Φ⁻¹(Φ(E(x))))`` (``disentangled``); ``mean_image`` is the error of the
    held-out images' own mean image, a floor any useful model should beat."""
    x = np.asarray(images, np.float64)
    rmse = lambda r: float(np.sqrt(np.mean((x - np.asarray(r, np.float64)) ** 2)))
    return {"autoencoder": rmse(model.reconstruct(images, "z")), "disentangled": rmse(model.reconstruct(images, "f")),
            "mean_image": rmse(np.broadcast_to(x.mean(axis=0), x.shape)), "images": int(len(x))}


def pose_error(model: GanDisentangler, images) -> dict:
    """Mean absolute error of f_pose (in target units) against the OpenCV targets on the images whose
    eyes OpenCV finds, next to the error of always predicting the training mean, and the correlation."""
    target, found = pose_targets(np.asarray(images))
    pred = model.predict_pose(np.asarray(images))
    out = {"images": int(len(found)), "with_target": int(found.sum())}
    for j, name in enumerate(POSE_NAMES):
        t, p = target[found, j], pred[found, j]
        out[name] = {"mae": float(np.mean(np.abs(p - t))) if len(t) else float("nan"),
                     "mae_predict_mean": float(np.mean(np.abs(model.pose_mean_[j] - t))) if len(t) else float("nan"),
                     "pearson_r": float(np.corrcoef(p, t)[0, 1]) if len(t) > 2 and p.std() > 0 and t.std() > 0
                     else float("nan")}
    return out


def identity_transfer(model: GanDisentangler, images, labels, *, n_sources: int = 6, n_targets: int = 6,
                      seed: int = 0) -> dict:
    """Identity transfer, measured. ``n_sources`` people and ``n_targets`` other people, each with at
    least two images, are drawn (seeded); the first image of each is the source/target face, the
    others form that person's gallery entry (mean f_id). Every generated face (source f_id, target
    f_pose and f_style) is re-encoded; reported: how often its f_id is nearest to the source person's
    gallery entry (and to the target's), against chance 1/people, and the mean distance of its f_pose
    to the target's against the source's own distance to the target (roll degrees, yaw proxy).
    ``grid`` (n_sources, n_targets, h, w, c) holds the generated faces for plotting."""
    images, labels = np.asarray(images), np.asarray(labels)
    people = np.flatnonzero(np.bincount(labels) >= 2)
    if len(people) < n_sources + n_targets:
        raise ValueError(f"identity_transfer needs {n_sources + n_targets} people with >= 2 images; "
                         f"the images hold {len(people)}")
    chosen = np.random.default_rng(seed).choice(people, n_sources + n_targets, replace=False)
    first = np.array([np.flatnonzero(labels == p)[0] for p in chosen])
    gallery = np.stack([model.embed(images[np.flatnonzero(labels == p)[1:]], "id").mean(0) for p in chosen])
    gallery /= np.linalg.norm(gallery, axis=1, keepdims=True)
    src, tgt = first[:n_sources], first[n_sources:]
    grid = model.transfer(images[src], images[tgt])  # (S, T, h, w, c)
    generated = grid.reshape(-1, *grid.shape[2:])
    nearest = np.argmax(model.embed(generated, "id") @ gallery.T, axis=1).reshape(n_sources, n_targets)
    src_people = np.arange(n_sources)[:, None]
    tgt_people = n_sources + np.arange(n_targets)[None, :]
    pose_gen = model.predict_pose(generated).reshape(n_sources, n_targets, -1)
    pose_src, pose_tgt = model.predict_pose(images[src]), model.predict_pose(images[tgt])
    gen_to_tgt = np.abs(pose_gen - pose_tgt[None]).mean(axis=(0, 1))
    src_to_tgt = np.abs(pose_src[:, None] - pose_tgt[None]).mean(axis=(0, 1))
    return {"people": int(len(chosen)), "chance": 1.0 / len(chosen),
            "nearest_is_source": float(np.mean(nearest == src_people)),
            "nearest_is_target": float(np.mean(nearest == tgt_people)),
            "pose_distance_to_target": {n: float(v) for n, v in zip(POSE_NAMES, gen_to_tgt)},
            "pose_distance_source_to_target": {n: float(v) for n, v in zip(POSE_NAMES, src_to_tgt)},
            "grid": grid, "sources": images[src], "targets": images[tgt]}


#: the budgets are the method's presets (facelab/presets/generative.toml): quick (the test suite's tiny
#: networks), class (the lecture's CPU budget, 32×32, 6 + 3 + 3 epochs), full (GanConfig's, a GPU job)
BUDGETS = {name: {**preset.params, **({"quick": True} if preset.quick else {})}
           for name, preset in presets.presets_of("gan-disentangler").items()}
QUICK_SETTINGS = BUDGETS["quick"]
LECTURE_SETTINGS = BUDGETS["class"]


def measure(lfw, *, protocol: str = "view1", seed: int = 0, **settings) -> dict:
    """Every measurement of the disentangler in one call: verification per sub-vector, reconstruction RMSE,
    pose error and identity transfer on the images of the last split's test pairs (people never
    trained on). ``settings`` go to :class:`GanDisentangler`."""
    import time

    from ..evaluation.protocols import verification_splits

    t0 = time.perf_counter()
    table, model = verification_by_part(lfw, protocol=protocol, seed=seed, **settings)
    split = verification_splits(lfw, protocol)[-1]
    images = lfw.load_images(model.preprocess)
    held = np.unique(np.concatenate([split.test_pairs.index_a, split.test_pairs.index_b]))
    transfer = identity_transfer(model, images[held], lfw.labels[held], seed=seed)
    return {"protocol": protocol, "config": model.config,
            "verification": {p: {k: s[k] for k in ("accuracy_mean", "accuracy_se", "auc")} for p, s in table.items()},
            "reconstruction_rmse": reconstruction_rmse(model, images[held]),
            "pose_error": pose_error(model, images[held[:300]]),
            "identity_transfer": {k: v for k, v in transfer.items() if k not in ("grid", "sources", "targets")},
            "pose_targets_found_fraction": model.pose_found_fraction_,
            "dx_wins_epochs": model.dx_wins_epochs_, "seconds": time.perf_counter() - t0}


def main(argv=None) -> int:
    """``python -m facelab.generative.gan_disentangler [--budget quick|class|full] [--out FILE]``."""
    import argparse
    import shlex
    import sys

    from ..data.lfw import LFW
    from ..evaluation.report import device_description

    ap = argparse.ArgumentParser(prog="python -m facelab.generative.gan_disentangler",
                                 description="GAN disentangler measurements on LFW (Table 2 per sub-vector, "
                                             "reconstruction RMSE, pose error, identity transfer), JSON")
    ap.add_argument("--budget", choices=sorted(BUDGETS), default="full",
                    help="the method's preset (see `facelab methods`): quick, the test suite's tiny networks; "
                         "class, the lecture figures' CPU budget (32×32, 6+3+3 epochs); full, 64×64, 20+10+10 "
                         "epochs, a GPU job")
    ap.add_argument("--quick", action="store_true", help="same as --budget quick")
    ap.add_argument("--protocol", default="view1", choices=("view1", "view2"))
    ap.add_argument("--data-dir", default=None, help="LFW root or a packed copy (default: $FACELAB_DATA)")
    ap.add_argument("--run-dir", default=None, help="checkpoints per stage (a killed run resumes)")
    ap.add_argument("--out", default=None, help="also write the JSON here (atomically)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    budget = "quick" if args.quick else args.budget
    result = measure(LFW(args.data_dir, progress=False), protocol=args.protocol, seed=args.seed,
                     run_dir=args.run_dir, **dict(BUDGETS[budget]))
    argv = sys.argv[1:] if argv is None else argv
    result.update(budget=budget, device=device_description(), keras_backend=keras.backend.backend(),
                  command=" ".join(["python -m facelab.generative.gan_disentangler", *map(shlex.quote, argv)]))
    text = json.dumps(result, indent=1, default=float)
    if args.out:
        io.write_text(args.out, text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
