"""trees.py: rows of tree silhouettes planted along a layer's crest line: layered pines with
ragged branch tiers and round broadleaf trees with lumpy crowns, placed in normalised
coordinates (the same trees at any resolution) and hazed with their layer."""
from dataclasses import dataclass

import numpy as np

from . import noise
from . import palette as P


@dataclass
class TreeRow:
    kind: str          # pines | round
    size: float        # typical height (v units)
    spacing: float     # slot width as a fraction of size
    cover: float       # fraction of the crest that is forested (0..1)
    seed: int
    sink: float = 0.15 # how far below the crest the trees stand (fraction of size)
    snow: bool = False

    def plant(self, layer, cv):
        """Tree positions (u, base v, height) along `layer`, far (higher) ones first."""
        slot = self.size * self.spacing
        i0 = int(np.floor((cv.u_min - self.size) / slot))
        i1 = int(np.ceil((cv.u_max + self.size) / slot))
        idx = np.arange(i0, i1 + 1)
        hv = lambda salt: (noise.hash2(idx, salt, self.seed) >> np.uint32(8)).astype(np.float64) / (1 << 24)
        u = (idx + 0.15 + 0.7 * hv(1)) * slot
        clump = noise.fbm1(u, self.seed + 3, 0.35, 1e-3, gain=0.5)
        keep = (clump + 0.55 * (hv(2) - 0.5)) < (self.cover * 2.0 - 1.0) * 0.45
        u = u[keep]
        height = self.size * (0.7 + 0.6 * hv(3)[keep])
        v = layer.profile(u, cv.pitch) + self.sink * height
        order = np.argsort(v, kind="stable")
        return u[order], v[order], height[order], idx[keep][order]


def draw_trees(cv, pal, layer, row, sun_u):
    """Draws every tree of `row` standing on `layer`."""
    haze = np.float32(layer.haze())
    def finish(colour):
        colour = colour * pal.light
        if pal.time == "sunset":
            colour = colour * np.float32(0.8)
        return colour + (pal.haze - colour) * haze
    side = 1.0 if sun_u >= 0 else -1.0
    for u, v, h, ident in zip(*row.plant(layer, cv)):
        half = 0.34 * h if row.kind == "pines" else 0.5 * h
        r0, r1 = cv.rows(v - h, v + 0.02 * h)
        c0 = int(np.clip(np.floor((u - half) * cv.height + cv.width / 2) - 1, 0, cv.width))
        c1 = int(np.clip(np.ceil((u + half) * cv.height + cv.width / 2) + 1, 0, cv.width))
        if r1 <= r0 or c1 <= c0:
            continue
        x = (cv.us[c0:c1] - u)[None, :]
        y = ((v - cv.vs[r0:r1]) / h)[:, None]
        seed = (row.seed * 7919 + int(ident) * 104729) & 0xFFFFFFFF
        if row.kind == "pines":
            cov, colour = _pine(cv, x, y, h, seed, r0, r1, row.snow, side, pal)
        else:
            cov, colour = _round(cv, x, y, h, seed, r0, r1, c0, c1, row.snow, side, pal)
        band = cv.img[r0:r1, c0:c1]
        band += (finish(colour) - band) * cov[..., None]


def _pine(cv, x, y, h, seed, r0, r1, snow, side, pal):
    tiers = 5 + seed % 4
    phase = (seed >> 8) % 100 / 100.0
    t = y * tiers + phase
    saw = 1.0 - (t - np.floor(t))
    vs = cv.vs[r0:r1]
    ragged_l = noise.fbm1(vs, seed + 1, h / 10.0, cv.pitch, gain=0.6)[:, None]
    ragged_r = noise.fbm1(vs, seed + 2, h / 10.0, cv.pitch, gain=0.6)[:, None]
    ragged = np.where(x < 0, ragged_l, ragged_r)
    taper = np.clip(1.0 - y, 0, 1) ** 0.95
    width = 0.30 * h * taper * (0.58 + 0.42 * saw) * (1.0 + 0.35 * ragged)
    width = np.where(y < 0.1, 0.0, width)
    trunk = np.where(y < 0.14, 0.035 * h, 0.0)
    edge = np.maximum(width - np.abs(x), trunk - np.abs(x))
    cov = np.clip(edge * cv.height + 0.5, 0, 1).astype(np.float32)
    shade = 0.85 + 0.3 * np.clip(side * x / (0.3 * h), -1, 1) * saw
    colour = np.asarray(P.PINE, np.float32) * shade[..., None].astype(np.float32)
    colour = np.where((np.abs(x) < trunk)[..., None] & (y < 0.1)[..., None], np.asarray(P.TRUNK, np.float32), colour)
    if snow:
        # Snow on the upper faces of the tiers: inside here, outside a little higher.
        t2 = (y + 0.05) * tiers + phase
        saw2 = 1.0 - (t2 - np.floor(t2))
        width2 = 0.30 * h * np.clip(1.0 - y - 0.05, 0, 1) * (0.58 + 0.42 * saw2) * (1.0 + 0.35 * ragged)
        on_top = np.clip((np.abs(x) - width2) * cv.height / 2.0 + 0.5, 0, 1) * (y > 0.1)
        white = np.asarray(P.SNOW, np.float32) * 0.92
        colour = colour + (white - colour) * on_top[..., None].astype(np.float32)
    return cov, colour


def _round(cv, x, y, h, seed, r0, r1, c0, c1, snow, side, pal):
    crown_y = 0.62
    radius = 0.34
    lumps = [(0.0, crown_y, radius)]
    for j in range(3):
        a = (seed >> (4 * j)) % 16 / 16.0 * np.pi + 0.2 * j
        lumps.append((0.22 * np.cos(a) * (1 if j % 2 else -1), crown_y + 0.16 * np.sin(a), 0.22))
    xn = x / h
    best = None
    for lx, ly, lr in lumps:
        f = lr - np.hypot(xn - lx, y - ly)
        best = f if best is None else np.maximum(best, f)
    leaves = noise.fbm2_grid(cv.us[c0:c1], cv.vs[r0:r1], 0.12 * h, seed, cv.pitch, gain=0.55)
    crown = best + 0.07 * leaves
    trunk = np.where((y < crown_y) & (y > -0.02), 0.045 - np.abs(xn), -1.0)
    edge = np.maximum(crown, trunk) * h
    cov = np.clip(edge * cv.height + 0.5, 0, 1).astype(np.float32)
    light = 0.8 + 0.35 * (side * xn + (y - crown_y)) / radius * 0.5 + 0.35 * leaves
    colour = np.asarray(P.ROUND_TREE, np.float32) * np.clip(light, 0.4, 1.4)[..., None].astype(np.float32)
    colour = np.where((crown < 0)[..., None], np.asarray(P.TRUNK, np.float32), colour)
    if snow:
        top = np.clip((y - crown_y - 0.05) / 0.25 + 0.6 * leaves, 0, 1) * (crown > 0)
        colour = colour + (np.asarray(P.SNOW, np.float32) * 0.92 - colour) * top[..., None].astype(np.float32)
    return cov, colour
