"""Head-pose targets for LFW from OpenCV alone (LFW has no pose labels).

Browatzki & Wallraven regress the pose sub-vector ``f_pose`` on head-pose labels (Eq. 11). For LFW
we make the labels ourselves from OpenCV's Haar eye cascade (Viola & Jones 2001), per image:

- **roll** (degrees): the angle of the line through the two eye centres, positive when the
  right-hand eye (in the image) is lower;
- **yaw proxy** (dimensionless): the horizontal offset of the eye midpoint from the image centre,
  divided by the inter-ocular distance. facelab's crops are centred on the deep-funneled face, so a
  head turned to one side moves its eyes towards that side of the crop.

A mirrored face has the opposite roll and yaw. The cascade itself is not mirror-symmetric, so the
estimate is *antisymmetrised*: ``pose(x) = (raw(x) − raw(flip x)) / 2`` (or ``raw(x)``, or
``−raw(flip x)``, when the eyes are found in only one of the two). Then
``pose(flip x) = −pose(x)`` holds exactly, in floating point, for every image — so horizontal-flip
augmentation can simply negate the targets. Images where no eye pair is found in either
orientation get ``(0, 0)`` and ``found = False``; the pose loss and the pose error skip them.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

POSE_NAMES = ("roll_deg", "yaw_proxy")


@dataclass(frozen=True)
class EyeDetector:
    """Haar eye cascade on the upper band of a face crop, upsampled to ``work_size`` pixels.

    The defaults detect an eye pair in ~75 % of 64×64 LFW crops at ~8 ms per image (measured on 300
    random LFW images; a larger ``work_size`` finds a few more at twice the cost).
    """

    work_size: int = 96
    scale_factor: float = 1.08
    min_neighbors: int = 2
    band: tuple = (0.15, 0.65)  # rows (fractions of the height) searched for eyes
    min_eye: float = 0.10  # eye box size limits, fractions of work_size
    max_eye: float = 0.42

    def __post_init__(self):
        if self.work_size < 32:
            raise ValueError(f"work_size must be >= 32 pixels, got {self.work_size}")

    @property
    def cascade(self) -> cv2.CascadeClassifier:
        c = _CASCADES.get("eye")
        if c is None:
            hint = ("; on a machine without them, train from a packed LFW copy made where they are: "
                    "facelab data pack --methods gan-disentangler --out DIR (it carries the pose targets)")
            if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
                raise RuntimeError(f"OpenCV {cv2.__version__} has no Haar cascades (5.x dropped them; "
                                   f"facelab needs opencv-contrib-python-headless 4.x){hint}")
            c = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_eye.xml")
            if c.empty():
                raise RuntimeError("OpenCV could not load haarcascade_eye.xml from cv2.data.haarcascades" + hint)
            _CASCADES["eye"] = c
        return c

    def raw(self, gray: np.ndarray) -> tuple[float, float] | None:
        """``(roll_deg, yaw_proxy)`` of one greyscale uint8 image, or None without an eye pair."""
        s = self.work_size
        g = cv2.resize(gray, (s, s), interpolation=cv2.INTER_LINEAR)
        top, bottom = int(self.band[0] * s), int(self.band[1] * s)
        lo, hi = max(1, int(self.min_eye * s)), int(self.max_eye * s)
        eyes = self.cascade.detectMultiScale(g[top:bottom], self.scale_factor, self.min_neighbors,
                                             minSize=(lo, lo), maxSize=(hi, hi))
        if len(eyes) < 2:
            return None
        centres = np.array([(x + w / 2.0, top + y + h / 2.0, w) for x, y, w, h in eyes], dtype=np.float64)
        left, right = centres[centres[:, 0] < s / 2.0], centres[centres[:, 0] >= s / 2.0]
        if not len(left) or not len(right):
            return None
        # the largest detection on each side (small ones are eyebrows, nostrils, glasses' corners)
        (xl, yl, _), (xr, yr, _) = left[np.argmax(left[:, 2])], right[np.argmax(right[:, 2])]
        roll = float(np.degrees(np.arctan2(yr - yl, xr - xl)))
        yaw = float(((xl + xr) / 2.0 - s / 2.0) / (xr - xl))
        return roll, yaw


_CASCADES: dict = {}


def _gray(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"images must be uint8; got {image.dtype}")
    if image.ndim == 3 and image.shape[-1] == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if image.ndim == 3 and image.shape[-1] == 1:
        return image[..., 0]
    if image.ndim == 2:
        return image
    raise ValueError(f"an image must be (h, w), (h, w, 1) or (h, w, 3); got shape {image.shape}")


def head_pose(images: np.ndarray, detector: EyeDetector | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pose targets of a batch: ``(pose float64 (n, 2) = [roll_deg, yaw_proxy], found bool (n,))``.

    Antisymmetrised (module docstring), so ``head_pose(images[:, :, ::-1])[0] == -head_pose(images)[0]``
    exactly.
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must be (n, height, width, channels); got shape {images.shape}")
    detector = detector or EyeDetector()
    pose = np.zeros((len(images), 2), dtype=np.float64)
    found = np.zeros(len(images), dtype=bool)
    for i, image in enumerate(images):
        gray = _gray(image)
        a = detector.raw(gray)
        b = detector.raw(np.ascontiguousarray(gray[:, ::-1]))
        if a is not None and b is not None:
            pose[i] = ((a[0] - b[0]) / 2.0, (a[1] - b[1]) / 2.0)
        elif a is not None:
            pose[i] = a
        elif b is not None:
            pose[i] = (-b[0], -b[1])
        found[i] = a is not None or b is not None
    pose += 0.0  # -0.0 → 0.0, so that flipped zeros compare equal bit for bit
    return pose, found
