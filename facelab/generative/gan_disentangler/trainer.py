"""One stage of training as a Keras model (:class:`StageTrainer`): every loss of Eq. 1–11 in
``keras.ops``, a ``train_step`` that gives each objective's gradient to its own optimiser (a persistent
``tf.GradientTape`` under TensorFlow, :func:`~facelab.nets.training.jax_objectives_step` under JAX),
and the warning when the image discriminator wins outright (:class:`DxWinsMonitor`)."""
from __future__ import annotations

import warnings

import keras
from keras import ops

from ...losses.margin import MarginSoftmaxLoss
from ...losses.triplet import MinedTripletLoss, TripletMarginLoss
from ...nets.layers import L2Normalize
from ...nets.training import jax_objectives_step, stateless_record
from ..pose import POSE_NAMES
from .config import MINERS, STAGES, GanConfig
from .cycle import swap_attributes
from .networks import Networks


class DxWinsWarning(UserWarning):
    """The image discriminator separates real from generated images perfectly: G gets no signal."""


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
        self.softmax = self.disentangle and cfg.lambda_softmax > 0
        if self.softmax:
            if nets.identity_classifier is None:
                raise RuntimeError("lambda_softmax > 0 needs the identities' centres: Networks.add_identity_classifier")
            self.identity_classifier = nets.identity_classifier  # tracked: checkpointed with the networks
            self.softmax_loss = MarginSoftmaxLoss(cfg.softmax, cfg.softmax_scale, cfg.softmax_margin)
        self.trackers = {n: keras.metrics.Mean(name=n) for n in self.loss_names()}
        # every layer is built (the networks are functional models): nothing for Keras to build
        # symbolically (its JAX trainer would otherwise call this model on the first batch)
        self.built = True

    # which networks each optimiser moves
    def main_variables(self) -> list:
        nets = {1: ("encoder", "generator"), 2: ("phi", "phi_inverse"),
                3: ("encoder", "generator", "phi", "phi_inverse")}[self.stage]
        if self.stage == 2 and self.cfg.encoder_in_stage2:
            nets = ("encoder", "generator", "phi", "phi_inverse")
        if self.softmax:
            nets += ("identity_classifier",)
        return [v for n in nets for v in getattr(self, n).trainable_variables]

    def compile(self, learning_rate=None, **kwargs):
        """``learning_rate``: E, G, Φ and Φ⁻¹'s rate or schedule (:meth:`facelab.nets.training.TrainConfig.rate`); ``cfg.lr`` if None."""
        opt = keras.optimizers.Adam(self.cfg.lr if learning_rate is None else learning_rate, beta_1=0.0, beta_2=0.999)
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
        if self.stage == 2 and self.cfg.encoder_in_stage2:
            names += ["rec"]
        if self.disentangle:
            names += ["frec"] if self.cfg.lambda_frec else []
            names += ["encrec", "id", "pose", "cyc_id", "cyc_pose", "cyc_style", "aug_id", "aug_pose"]
            names += ["id_softmax"] if self.softmax else []
        return names

    @property
    def metrics(self):
        return list(self.trackers.values())

    def _disentangle_losses(self, x, z, y, t, valid, training: bool):
        """Eq. 6, 8–11 on the codes z = E(x) of one P×K batch; returns (weighted total, logs).

        The three swaps (identity, pose, style) are decoded and re-encoded as one batch of 3B."""
        cfg, nets = self.cfg, self.nets
        train_ae = self.stage == 3
        f = nets.phi(z, training=training)
        z_back = nets.phi_inverse(f, training=training)
        encrec = ops.mean(ops.abs(z - z_back))  # Eq. 6
        n_t = len(POSE_NAMES)
        f_id = self.l2norm(f[:, :cfg.id_dim])
        id_loss = self.triplet(y, f_id)
        pose_loss = _masked_mse(f[:, cfg.id_dim:cfg.id_dim + n_t], t, valid)  # Eq. 11
        logs = dict(encrec=encrec, id=id_loss, pose=pose_loss)
        total = cfg.lambda_encrec * encrec + cfg.lambda_id * id_loss + cfg.lambda_pose * pose_loss
        if self.softmax:  # the identities' margin softmax on f_id (ArcFace, CosFace, SphereFace)
            id_softmax = self.softmax_loss(y, self.identity_classifier(f[:, :cfg.id_dim]))
            total = total + cfg.lambda_softmax * id_softmax
            logs["id_softmax"] = id_softmax
        if cfg.lambda_frec:  # the face decoded from f must be x itself, not only z recovered (Eq. 6)
            frec = ops.mean(ops.abs(x - nets.decode(z_back, training=train_ae)))
            total = total + cfg.lambda_frec * frec
            logs["frec"] = frec
        if cfg.lambda_cyc == 0 and cfg.lambda_aug == 0:  # no generated faces needed
            return total, {**logs, **{n: ops.zeros(()) for n in ("cyc_id", "cyc_pose", "cyc_style", "aug_id", "aug_pose")}}
        # swap with the next identity group of the P×K batch: every face gets another person's attributes
        b = ops.shape(f)[0]
        perm = (ops.arange(b, dtype="int32") + cfg.k) % b
        parts = ("id", "pose", "style")
        swapped = [swap_attributes(f, cfg.part_slice(p), perm) for p in parts]
        cycled = nets.encode_f(nets.decode_f(ops.concatenate(swapped), training=train_ae), training=train_ae)
        cyc = 0.0
        for i, part in enumerate(parts):
            idx = cfg.part_slice(part)
            # a fixed target trains G and E to honour the code asked for, never the code to be easy to honour
            target = ops.stop_gradient(swapped[i]) if cfg.fixed_cycle_targets else swapped[i]
            c = ops.mean(ops.abs(ops.take(cycled[i * b:(i + 1) * b], idx, axis=1) - ops.take(target, idx, axis=1)))
            logs[f"cyc_{part}"] = c  # Eq. 8
            cyc = cyc + c  # Eq. 9
        # Eq. 10: the swapped-in labels must be recognised on the generated faces
        f_id_gen = self.l2norm(cycled[:b, :cfg.id_dim])
        aug_id = self.triplet(ops.concatenate([y, ops.take(y, perm)]), ops.concatenate([f_id, f_id_gen]))
        pose_gen = cycled[b:2 * b, cfg.id_dim:cfg.id_dim + n_t]
        aug_pose = _masked_mse(pose_gen, ops.take(t, perm, axis=0), ops.take(valid, perm))
        total = total + cfg.lambda_cyc * cyc + cfg.lambda_aug * (aug_id + aug_pose)
        logs.update(aug_id=aug_id, aug_pose=aug_pose)
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
        frozen = self.stage == 2 and not cfg.encoder_in_stage2
        z = nets.encoder(x, training=not frozen)
        if frozen:
            z = ops.stop_gradient(z)
        elif self.stage == 2:  # E and G move: L_rec keeps G decoding what E now encodes
            rec = ops.mean(ops.abs(x - nets.decode(z, training=True)))
            main = cfg.lambda_rec * rec
            logs["rec"] = rec
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
            d_total, d_logs = self._disentangle_losses(x, z, y, t, valid, training=True)
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
        """The same step, stateless: :func:`~facelab.nets.training.jax_objectives_step` (shared with
        :class:`~facelab.generative.grouped_vae_model.GroupedVAE`) takes one forward pass under
        ``jax.vjp`` and applies its pull-back once per objective (the persistent tape's gradients).
        Keras' JAX trainer carries only ``self.optimizer``'s slots in ``state``; the discriminators'
        Adam slots are non-trainable variables of this model (:attr:`variables`), so they travel in
        ``state``'s non-trainable part and are updated there."""
        updates = self._updates()

        def compute():
            *objectives, logs = self._objectives(data)
            return objectives[:len(updates)], logs  # stage 2 has no discriminator objectives

        logs, trainable, non_trainable, optimizer_vars = jax_objectives_step(self, state, compute, updates)
        logs, metric_vars = stateless_record(self, state[3], lambda: self._record(logs))
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
