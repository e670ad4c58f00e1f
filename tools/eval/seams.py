"""seams.py: the seam measure of issue 9: the mean gradient magnitude across the boundaries of a
grid of `period`-pixel cells (between pixel period*k - 1 and period*k, along both axes) over the
mean gradient magnitude across every other pair of neighbouring pixels. 1 means no seam; a
visible seam raises it.

    boundary_ratio(img, period) -> float   (img: (H, W, 3) uint8 or float)
"""
import numpy as np


def _axis_means(img, axis, period):
    """(mean |difference| across boundaries, mean elsewhere) along one axis."""
    d = np.abs(np.diff(img, axis=axis)).mean(axis=2)   # d[i] is between i and i + 1
    d = d.mean(axis=1 - axis)                           # per boundary position
    pos = np.arange(1, d.shape[0] + 1)                  # the difference ending at pixel pos
    on = pos % period == 0
    return d[on].sum(), on.sum(), d[~on].sum(), (~on).sum()


def boundary_ratio(img, period):
    """Mean gradient magnitude on the period grid's lines over that elsewhere (both axes)."""
    x = np.asarray(img, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError(f"expected an (H, W, C) picture, got shape {x.shape}")
    if period < 2 or period >= max(x.shape[0], x.shape[1]):
        raise ValueError(f"a period of {period} px draws no boundary inside a {x.shape[1]}x{x.shape[0]} picture")
    on_sum = on_n = off_sum = off_n = 0.0
    for axis in (0, 1):
        a, b, c, e = _axis_means(x, axis, period)
        on_sum, on_n, off_sum, off_n = on_sum + a, on_n + b, off_sum + c, off_n + e
    off = off_sum / off_n
    return float((on_sum / on_n) / off) if off > 0 else 1.0
