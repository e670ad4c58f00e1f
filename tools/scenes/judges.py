"""judges.py: read scene attributes back from an RGB picture (uint8 (H, W, 3), any size) with
simple image statistics: the time of day from the sky's colours, the sun or moon as bright
disc-like blobs (counted, for the "exactly one" check), water from mirror symmetry and a
straight horizon over reflected sky, snow from bright bluish-white ground, trees from dark,
spiky silhouettes.

    python3 tools/scenes/judges.py picture.png [...]   prints each picture's verdicts"""
import os
import sys

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    __package__ = "tools.scenes"

WORK = 256  # the judges look at pictures block-averaged to about this many rows
# The world's lowest horizon (scene.py draws it at 0.5-0.7 of the height and keeps the sun or moon
# clear of the land): below it a bright disc is ground or water (a white snow patch between
# trees, a reflection), not a sun or moon.
LOWEST_HORIZON = 0.7


def to_work(img):
    """Block-averages an image to about WORK pixels on its short side, as float32 in [0, 1]."""
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] < 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {img.shape}")
    img = img[..., :3].astype(np.float32) / 255.0
    f = max(1, min(img.shape[0], img.shape[1]) // WORK)
    h, w = img.shape[0] // f * f, img.shape[1] // f * f
    return img[:h, :w].reshape(h // f, f, w // f, f, 3).mean(axis=(1, 3))


def _lum(x):
    return x @ np.array([0.299, 0.587, 0.114], np.float32)


def time_of_day(x):
    """'day', 'sunset' or 'night' from the upper sky: its brightness and its warmth."""
    h = x.shape[0]
    sky = x[: int(0.42 * h)]
    lum = float(np.median(_lum(sky)))
    warm = float(np.mean(sky[..., 0] - sky[..., 2]))
    if lum < 0.16:
        return "night"
    return "sunset" if warm > -0.02 else "day"


def label_components(mask):
    """4-connected component labels of a boolean mask (-1 off the mask), by propagating the
    smallest pixel index with pointer jumping."""
    h, w = mask.shape
    idx = np.arange(h * w).reshape(h, w)
    big = h * w
    lab = np.where(mask, idx, big)
    while True:
        m = lab.copy()
        m[1:] = np.minimum(m[1:], lab[:-1])
        m[:-1] = np.minimum(m[:-1], lab[1:])
        m[:, 1:] = np.minimum(m[:, 1:], lab[:, :-1])
        m[:, :-1] = np.minimum(m[:, :-1], lab[:, 1:])
        m = np.where(mask, m, big)
        flat = m.ravel()
        on = flat < big
        flat[on] = flat[flat[on]]  # jump: a label is a pixel of the same component
        m = flat.reshape(h, w)
        if np.array_equal(m, lab):
            break
        lab = m
    return np.where(mask, lab, -1)


def _ring_median(lum, cx, cy, r):
    """Median brightness of the ring 1.6 r .. 2.2 r around (cx, cy), or None off the picture."""
    y0, y1 = int(max(cy - 2.2 * r, 0)), int(min(cy + 2.2 * r + 1, lum.shape[0]))
    x0, x1 = int(max(cx - 2.2 * r, 0)), int(min(cx + 2.2 * r + 1, lum.shape[1]))
    yy, xx = np.mgrid[y0:y1, x0:x1]
    d = np.hypot(yy - cy, xx - cx)
    ring = lum[y0:y1, x0:x1][(d > 1.6 * r) & (d < 2.2 * r)]
    return float(np.median(ring)) if ring.size else None


def _discs(mask, lum, min_r, max_r, ring_max=None, ring_min=None, taken=None):
    """Components of `mask` shaped like discs of radius min_r..max_r (pixels); with ring_max, only
    those whose surroundings are darker than it, with ring_min only those whose surroundings are
    at least that bright. With `taken` (a boolean array), the pixels of the discs found are set."""
    lab = label_components(mask)
    ids, counts = np.unique(lab[lab >= 0], return_counts=True)
    found = []
    for i, n in zip(ids, counts):
        if n < np.pi * min_r ** 2 * 0.6:
            continue
        ys, xs = np.nonzero(lab == i)
        hh = ys.max() - ys.min() + 1
        ww = xs.max() - xs.min() + 1
        r = 0.25 * (hh + ww)
        if r > max_r or not (0.65 <= hh / ww <= 1.5):
            continue
        if n / (np.pi * r * r) < 0.6:
            continue
        cy, cx = ys.mean(), xs.mean()
        if ring_max is not None or ring_min is not None:
            ring = _ring_median(lum, cx, cy, r)
            if ring is None or (ring_max is not None and ring > ring_max) or \
                    (ring_min is not None and ring < ring_min):
                continue
        if taken is not None:
            taken[ys, xs] = True
        found.append((float(cx), float(cy), float(r)))
    return found


def celestial_bodies(x):
    """(suns, moons): lists of (x, y, radius) in working pixels of the disc-like bright blobs
    centred above the lowest horizon. A sun is a saturated warm-white disc, or a near-white one
    (a generated day sun comes out a little bluish, red below 0.965), in a lit sky; a moon a
    bright disc on a dark ring."""
    h = x.shape[0]
    lum = _lum(x)
    warm = (x[..., 0] >= 0.965) & (x[..., 1] >= 0.85) & (x[..., 2] >= 0.5)
    white = (x[..., 0] >= 0.93) & (x[..., 1] >= 0.93) & (x[..., 2] >= 0.9)
    taken = np.zeros(lum.shape, bool)
    suns = _discs(warm | white, lum, 0.015 * h, 0.09 * h, ring_min=0.3, taken=taken)
    moon_mask = (lum >= 0.66) & ~taken
    moons = _discs(moon_mask, lum, 0.015 * h, 0.07 * h, ring_max=0.3)
    sky_bottom = LOWEST_HORIZON * h
    return [d for d in suns if d[1] <= sky_bottom], [d for d in moons if d[1] <= sky_bottom]


def _horizon_line(x):
    """The straightest full-width horizontal edge: its row, and the fraction of columns where the
    brightness steps the same way there."""
    h = x.shape[0]
    g = _lum(x)
    d = g[2:] - g[:-2]
    best, best_y = 0.0, 0
    for y in range(int(0.3 * h), int(0.85 * h)):
        row = d[y - 1]
        frac = max(float(np.mean(row < -0.02)), float(np.mean(row > 0.02)))
        if frac > best:
            best, best_y = frac, y
    return best, best_y


def water_features(x):
    """line: how straight the strongest full-width horizontal edge is (1 = every column);
    chroma: how much the colours just below it differ from the mirrored colours just above;
    ratio: the brightness below over the brightness above (water reflects darker)."""
    h = x.shape[0]
    line, ly = _horizon_line(x)
    kk = max(1, min(int(0.1 * h), ly, h - ly - 1))
    above = x[ly - kk:ly][::-1].mean(axis=1)
    below = x[ly + 1:ly + 1 + kk].mean(axis=1)
    ca = above / (above.sum(axis=1, keepdims=True) + 1e-3)
    cb = below / (below.sum(axis=1, keepdims=True) + 1e-3)
    chroma = float(np.abs(ca - cb).sum(axis=1).mean())
    ratio = float(_lum(below).mean() / (_lum(above).mean() + 1e-3))
    # Mirror symmetry of the shapes about the line (row means removed: gradients do not count).
    g = _lum(x)
    g = g - g.mean(axis=1, keepdims=True)
    mirror = -1.0
    for y in range(max(kk, ly - 2), min(h - kk, ly + 3)):
        a = g[y - kk:y][::-1].ravel()
        b = g[y:y + kk].ravel()
        if a.std() > 1e-3 and b.std() > 1e-3:
            mirror = max(mirror, float(np.corrcoef(a, b)[0, 1]))
    return {"line": line, "line_row": ly / h, "chroma": chroma, "ratio": ratio, "mirror": mirror}


def has_water(x):
    """Water: a straight horizon or shore line over a darker mirror of the colours or the shapes
    above it."""
    f = water_features(x)
    if f["line"] < 0.95:
        return False
    return (f["chroma"] < 0.09 and f["ratio"] < 0.7) or f["mirror"] > 0.5


def snow_features(x, time):
    h = x.shape[0]
    ground = x[int(0.965 * h):]
    blue = float(np.median(ground[..., 2]))
    sat = float(np.median(ground.max(axis=2) - ground.min(axis=2)))
    return {"ground_blue": blue, "ground_sat": sat}


def has_snow(x, time):
    f = snow_features(x, time)
    limit = {"day": 0.65, "sunset": 0.3, "night": 0.28}[time]
    return f["ground_blue"] > limit


def tree_features(x, time):
    """green_dark: the fraction of the lower picture in the dark green of foliage (darker than
    grass under the scene's light)."""
    h = x.shape[0]
    land = x[int(0.45 * h):]
    r, g, b = land[..., 0], land[..., 1], land[..., 2]
    dark = {"day": 0.22, "sunset": 0.08, "night": 0.06}[time]
    blue = 0.95 if time == "night" else 1.15
    foliage = (g >= 1.25 * r) & (g >= blue * b) & (_lum(land) < dark)
    return {"green_dark": float(np.mean(foliage))}


def has_trees(x, time):
    return tree_features(x, time)["green_dark"] > 0.005


def judge_image(img):
    """All verdicts for one picture: a dict with time, suns, moons (counts), celestial
    ('sun' | 'moon' | 'none' | 'several'), water, snow and trees (booleans)."""
    x = to_work(img)
    time = time_of_day(x)
    suns, moons = celestial_bodies(x)
    n = len(suns) + len(moons)
    celestial = "none" if n == 0 else ("several" if n > 1 else ("sun" if suns else "moon"))
    return {"time": time, "suns": len(suns), "moons": len(moons), "celestial": celestial,
            "water": has_water(x), "snow": has_snow(x, time), "trees": has_trees(x, time)}


def main(argv=None):
    import argparse
    import json
    from .png import read_png
    ap = argparse.ArgumentParser(description="Print the judges' verdicts on PNG pictures.")
    ap.add_argument("pictures", nargs="+")
    args = ap.parse_args(argv)
    for path in args.pictures:
        print(path, json.dumps(judge_image(read_png(path))))


if __name__ == "__main__":
    main()
