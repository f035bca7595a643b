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

Stage 2 — disentanglement (labels). ``Φ`` (MLP) maps ``z`` to ``f = (f_id, f_pose, f_style)``,
``Φ⁻¹`` maps back. The paper trains Φ and Φ⁻¹ alone, E and G frozen; facelab trains E and G too,
with L_rec (``encoder_in_stage2``): from a frozen unsupervised code no MLP verifies identity better
than the code itself (measured: :class:`GanConfig`). Losses:

    L_encrec = |z − Φ⁻¹(Φ(z))|₁                                (Eq. 6)
    L_frec   = |x − G(Φ⁻¹(Φ(z)))|₁                             (facelab's: the face decoded from f is x)
    L_id     = triplet loss on f_id/|f_id| over in-batch triplets of P×K batches (facelab miners)
    L_pose   = |f_pose[:2] − t|²  with t the OpenCV head pose (:mod:`facelab.generative.pose`)  (Eq. 11)
    L_cyc    = Σ_S |Φ(E(G(Φ⁻¹(f'))))_S − f'_S|₁,  f' = f with sub-vector S permuted across the batch  (Eq. 8–9)
    L_aug    = the permuted labels recognised on the generated faces: the triplet loss on
               [f_id(x); f_id(x')] with labels [y; y[perm]], the pose loss against t[perm]    (Eq. 10)

``f_style`` has no target of its own: it is what the code needs besides identity and pose.

Stage 3 — joint: all losses of stages 1 and 2, every network trained.

Generator (Zeno): ``G(z)`` takes ``z[:id_dim]`` as its input (a dense layer to a small map, 4×4 for 32 or 64 pixels) and
sends ``z[id_dim:]`` through an MLP to the (γ, β) of AdaIN in every residual up-sampling block.
``Φ⁻¹`` maps the whole f back to z, as in the paper (``inverse="blocks"`` instead rebuilds
``z[:id_dim]`` from f_id alone, which makes ``G ∘ Φ⁻¹`` exactly Zeno's decoder, but asks f_id, trained to
hold identity only, for whatever else the autoencoder put in z[:id_dim]).

Every stage is a Keras model with its own ``train_step`` trained by
:func:`facelab.nets.training.train` (checkpoints, resume mid-epoch, NaN guard, TensorBoard), in
``stage1|stage2|stage3`` of the run folder (``<run_dir>/gan-disentangler/data-<training set>`` for
:meth:`GanDisentangler.fit`). The losses are ``keras.ops``; the training step uses
``tf.GradientTape`` under TensorFlow and a stateless ``jax.vjp`` step under Keras on JAX (the GPU
machine has no TensorFlow; :func:`facelab.nets.training.jax_objectives_step`, the grouped VAE's step
too), with the same gradients (tested).

One idea per module:

- :mod:`.config` — :class:`GanConfig` (every setting) and the names it checks against;
- :mod:`.cycle` — the attribute swap and cycle loss of Eq. 8–9 (also the unit-6 assignment's);
- :mod:`.networks` — AdaIN, E, G, D_x, D_z, Φ, Φ⁻¹ and :class:`Networks`, which holds them;
- :mod:`.trainer` — the losses and :class:`StageTrainer`, one stage's Keras model and training step;
- :mod:`.data` — one stage's batches and the memoised OpenCV pose targets;
- :mod:`.method` — :class:`GanDisentangler`, the facelab method, and its Table 2 variants;
- :mod:`.measurements` — reconstruction error, pose error and identity transfer of a fitted model, and
  the method's presets by name (:data:`BUDGETS`).

Verification with each sub-vector (Table 2) and every measurement in one JSON are the evaluation room's:
:mod:`facelab.evaluation.disentanglement`, ``facelab disentangle`` on the command line.
"""
from __future__ import annotations

from .config import INVERSES, MINERS, PARTS, STAGES, GanConfig
from .cycle import attribute_cycle_loss, cycle_codes, swap_attributes
from .data import POSE_MEMO_KEY, PoseTargets, pose_targets, stage_dataset
from .measurements import (BUDGETS, LECTURE_SETTINGS, QUICK_SETTINGS, grid_spread, identity_transfer, pose_error,
                           reconstruction_rmse, transfer_people)
from .method import GanDisentangler, GanDisentanglerNoId, GanDisentanglerPose, GanDisentanglerStyle
from .networks import (AdaIN, Networks, build_encoder, build_generator, build_image_discriminator,
                       build_latent_discriminator, build_phi, build_phi_inverse)
from .trainer import DxWinsMonitor, DxWinsWarning, StageTrainer

__all__ = [
    "BUDGETS", "INVERSES", "LECTURE_SETTINGS", "MINERS", "PARTS", "POSE_MEMO_KEY", "QUICK_SETTINGS", "STAGES",
    "AdaIN", "DxWinsMonitor", "DxWinsWarning", "GanConfig", "GanDisentangler", "GanDisentanglerNoId",
    "GanDisentanglerPose", "GanDisentanglerStyle", "Networks", "PoseTargets", "StageTrainer",
    "attribute_cycle_loss", "build_encoder", "build_generator", "build_image_discriminator",
    "build_latent_discriminator", "build_phi", "build_phi_inverse", "cycle_codes", "identity_transfer",
    "pose_error", "pose_targets", "reconstruction_rmse", "stage_dataset", "swap_attributes", "transfer_people",
]
