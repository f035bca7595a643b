"""The disentangler's settings (:class:`GanConfig`) and the names its other modules check against."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ...losses.margin import check_margin
from ...miners.online import BatchHardMiner, SemiHardMiner
from ...nets.training import LR_SCHEDULES, check_choice
from ..pose import POSE_NAMES

PARTS = ("id", "noid", "pose", "style", "z")
STAGES = (1, 2, 3)
MINERS = {"batch-hard": BatchHardMiner, "semi-hard": SemiHardMiner}
INVERSES = ("blocks", "full")


def _halvings(size: int) -> int:
    """How often ``size`` halves evenly before it is at most 7 (32 → 3: 32, 16, 8, 4)."""
    n = 0
    while size > 7 and size % 2 == 0:
        size, n = size // 2, n + 1
    return n


def _check_positive_integer(name: str, value, alternative: str = "") -> None:
    """A size setting is a whole number of at least 1; a text, a fraction or true/false is refused by name."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer{alternative}, got {value!r}")


@dataclass(frozen=True)
class GanConfig:
    """Architecture and training settings. ``z_dim = id_dim + pose_dim + style_dim`` (99 = 64 + 2 + 33,
    the paper's code size). ``width`` is the first conv width of E and D_x; ``mlp`` the hidden width
    of D_z, Φ, Φ⁻¹ and the AdaIN MLP.

    Four defaults depart from the paper's schedule, each because a measurement on View 1 said so
    (``facelab disentangle --preset class --protocol view1`` measures after every stage; the paper's
    schedule, measured the same way, is ``reports/cpu/gan-view1-paper-schedule``):
    ``encoder_in_stage2`` (the paper freezes E: f_id then verifies no better than the unsupervised
    code z it is computed from), ``miner="semi-hard"`` (batch-hard's hinge sat at the margin, the
    collapse of the triplet unit), ``lambda_frec`` (Φ⁻¹ recovering z in L1 still decoded faces worse
    than the mean image) and a small ``lambda_pose`` (the OpenCV targets are noisy; at 1.0 their loss
    outweighed identity and reconstruction). The ``class`` and ``full`` presets go further on the same
    evidence: ``lambda_pose=0.5`` with ``fixed_cycle_targets`` (at 0.1 f_pose learned no pose)."""

    image_shape: tuple = (64, 64, 1)
    id_dim: int = 64
    pose_dim: int = 2
    style_dim: int = 33
    width: int = 32
    #: E's own first conv width (None: ``width``): a wider encoder without a wider G and D_x
    encoder_width: int | None = None
    mlp: int = 256
    epochs: tuple = (20, 10, 10)  # stage 1, 2, 3
    batch_size: int = 64  # stage 1 (stages 2 and 3: p × k)
    p: int = 16
    k: int = 4
    lr: float = 2e-4  # E, G, Φ, Φ⁻¹ (Adam β₁ = 0)
    d_lr: float = 2e-4  # D_z, D_x (Adam β₁ = 0)
    #: "constant", or "cosine": ``lr`` decays to 0 along a cosine over each stage's epochs (Loshchilov &
    #: Hutter 2017); ``d_lr`` stays constant, so the discriminators keep judging while E and G settle
    lr_schedule: str = "constant"
    lambda_rec: float = 1.0
    lambda_enc: float = 0.01
    lambda_adv: float = 0.01
    lambda_gen: float = 0.01
    lambda_encrec: float = 1.0
    lambda_frec: float = 1.0  # |x − G(Φ⁻¹(Φ(E(x))))|₁ (stages 2, 3): the face decoded from f must be x; 0: the paper
    lambda_id: float = 1.0
    lambda_pose: float = 0.1  # Eq. 11 (the paper: 1.0)
    lambda_cyc: float = 0.5
    lambda_aug: float = 0.5
    margin: float = 0.2
    #: beside the triplet loss, a margin softmax over the training identities on f_id (0: the paper's
    #: triplet loss alone): ``softmax`` (arcface, cosface or sphereface, :mod:`facelab.losses.margin`) at
    #: scale ``softmax_scale`` and margin ``softmax_margin``, the identification loss of the deep methods
    lambda_softmax: float = 0.0
    softmax: str = "arcface"
    softmax_scale: float = 30.0
    softmax_margin: float = 0.5
    miner: str = "semi-hard"  # or "batch-hard"
    inverse: str = "full"  # Φ⁻¹: "full" (f → z, the paper's) or "blocks" (f_id → z[:id_dim], the rest → the rest)
    encoder_in_stage2: bool = True  # stage 2 also trains E and G (with L_rec), so identity reaches E; False: the paper
    fixed_cycle_targets: bool = False  # Eq. 8 compares the re-encoded code with the swapped-in one held fixed
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
            _check_positive_integer(name, getattr(self, name))
        if self.encoder_width is not None:
            _check_positive_integer("encoder_width", self.encoder_width, " or None (the width)")
        if self.pose_dim < len(POSE_NAMES):
            raise ValueError(f"pose_dim must be >= {len(POSE_NAMES)} (the OpenCV targets {POSE_NAMES})")
        if len(self.epochs) != 3 or min(self.epochs) < 1:
            raise ValueError(f"epochs must be three positive integers (stage 1, 2, 3), got {self.epochs}")
        check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        if not self.lambda_softmax >= 0:
            raise ValueError(f"lambda_softmax must be >= 0 (0: no margin softmax on f_id), got {self.lambda_softmax}")
        check_margin(self.softmax, self.softmax_scale, self.softmax_margin)
        if self.inverse not in INVERSES:
            raise ValueError(f"inverse must be one of {INVERSES}, got {self.inverse!r}")
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

    #: settings made after the first records: a run record leaves them out while they are at their
    #: defaults, so runs made before them still resume
    LATER_SETTINGS = ("lr_schedule", "lambda_softmax", "softmax", "softmax_scale", "softmax_margin", "encoder_width")

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}
