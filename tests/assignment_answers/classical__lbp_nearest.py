"""Typical mistake: no interpolation — the diagonal neighbours are the corner pixels of the 3×3 block."""
from classical import *  # noqa: F401,F403


def lbp_codes(image, P=8, R=1.0):
    img = np.asarray(image, dtype=np.float64)
    m = int(np.ceil(R))
    h, w = img.shape
    centre = img[m:h - m, m:w - m]
    codes = np.zeros(centre.shape, dtype=np.int64)
    for p in range(P):
        dy = int(round(-R * np.sin(2 * np.pi * p / P)))  # WRONG: rounds the point to a pixel
        dx = int(round(R * np.cos(2 * np.pi * p / P)))
        g = img[m + dy:h - m + dy, m + dx:w - m + dx]
        codes += (g >= centre).astype(np.int64) << p
    return codes
