"""land.py: layers of land drawn back to front: fractal ridge profiles (mountains, hills, dunes,
plains, shores) with atmospheric perspective (farther layers hazier and bluer), valley mist,
rock relief, snow caps or snow cover, and sunlit and shaded dune faces."""
from dataclasses import dataclass

import numpy as np

from . import noise
from . import palette as P


@dataclass
class Layer:
    kind: str              # mountain | hill | dune | plain | shore | island
    depth: float           # 0 nearest .. 1 farthest
    base: float            # v of the layer's foot
    amp: float             # height of its ridges (in v units)
    wavelength: float      # size of its main features (in u units)
    seed: int
    material: tuple
    snow: str = "none"     # none | caps | cover
    snowline: float = 0.5  # caps: fraction of amp below the crest that stays white
    tilt: float = 0.0      # slope of the foot across the picture (shores, headlands)
    extent: tuple = None   # islands: (u_centre, half_width)
    trees: object = None   # trees.TreeRow or None

    def profile(self, us, pitch):
        """The crest line v(u) of this layer at positions us, refined down to `pitch`."""
        s = self.seed
        if self.kind == "mountain":
            ridged = noise.fbm1(us, s, self.wavelength, pitch, gain=0.55, ridged=True)
            broad = noise.fbm1(us, s + 1, self.wavelength * 2.5, pitch, gain=0.5)
            shape = _soft_clip(0.5 + 0.75 * ridged + 0.9 * broad)
        elif self.kind == "dune":
            ridged = noise.fbm1(us, s, self.wavelength, pitch, gain=0.28, ridged=True)
            shape = _soft_clip(0.5 + 0.9 * ridged)
        elif self.kind in ("hill", "island", "plain"):
            smooth = noise.fbm1(us, s, self.wavelength, pitch, gain=0.3)
            rough = noise.fbm1(us, s + 2, self.wavelength / 30.0, pitch, gain=0.55)
            shape = _soft_clip(0.5 + 1.3 * smooth) + 0.06 * rough
        else:  # shore
            smooth = noise.fbm1(us, s, self.wavelength, pitch, gain=0.45)
            rough = noise.fbm1(us, s + 2, self.wavelength / 25.0, pitch, gain=0.6)
            shape = _soft_clip(0.5 + 1.2 * smooth) + 0.15 * rough
        top = self.base + self.tilt * us - self.amp * shape
        if self.extent is not None:
            uc, half = self.extent
            env = np.clip(1.0 - ((us - uc) / half) ** 2, 0.0, 1.0) ** 0.6
            top = self.base - (self.base - top) * env + (env <= 0) * 1.0
        return top.astype(np.float64)

    def haze(self):
        """How much of the haze colour this layer takes (atmospheric perspective)."""
        return float(np.clip(0.72 * self.depth ** 1.1, 0.0, 0.9))


def _soft_clip(x):
    """Keeps a shape in about [0, 1.2] without flat tops: a smooth floor and ceiling."""
    x = np.logaddexp(0.0, 8.0 * x) / 8.0
    return 1.2 * np.tanh(x / 1.2)


def _shift_cols(a, k):
    """a shifted left by k columns (edge repeated): a[:, x + k]."""
    if k <= 0:
        return a
    out = np.empty_like(a)
    out[:, :-k] = a[:, k:]
    out[:, -k:] = a[:, -1:]
    return out


def draw_layer(cv, pal, layer, texture, band_end, sun_u):
    """Draws one layer (and returns its crest line) over rows down to band_end (v)."""
    top = layer.profile(cv.us, cv.pitch)
    if layer.extent is not None and not np.any(top < 1.0):
        return top
    r0, r1 = cv.rows(float(top.min()), band_end)
    if r1 <= r0:
        return top
    cov = cv.below(top, r0, r1)
    vs = cv.vs32[r0:r1, None]
    top = top.astype(np.float32)
    tex = texture[r0:r1]
    k = max(1, int(round(0.004 * cv.height)))
    relief = (_shift_cols(tex, k) - tex) * (1.0 if sun_u >= 0 else -1.0)
    near = 1.0 - layer.depth
    # Mist towards the layer's foot (per row) and atmospheric perspective: the haze share k.
    keep = np.full((r1 - r0, 1), 1.0 - layer.haze(), np.float32)
    if layer.kind in ("mountain", "hill", "island", "dune") and layer.depth > 0.05:
        mist = noise.smoothstep(layer.base - 0.7 * layer.amp, layer.base + 0.02, cv.vs[r0:r1, None])
        keep *= (1.0 - 0.45 * mist * (0.3 + 0.7 * layer.depth)).astype(np.float32)
    haze = (1.0 - keep)[..., None] * pal.haze
    if layer.kind == "dune":
        colour = _dune_colour(cv, layer, top, r0, r1, tex, sun_u) * (pal.light * keep[..., None])
    else:
        light = np.float32(0.15 + 0.15 * near) * tex
        light += np.float32(1.5 + 1.0 * near) * relief
        light += np.float32(1.0)
        if layer.kind == "mountain":
            # Darker rock under the crest fading to the valley.
            below = np.clip((vs - top[None, :]) * np.float32(1.0 / max(layer.amp, 1e-3)), 0, 1)
            light *= 1.0 - np.float32(0.12) * below
        light *= keep
        colour = light[..., None] * (np.asarray(layer.material, np.float32) * pal.light)
    if layer.snow == "caps":
        colour = _snow_caps(cv, pal, layer, top, colour, vs, tex, relief, keep)
    elif layer.snow == "cover":
        shade = np.clip(0.7 + 0.8 * tex + 4.0 * relief, 0, 1) * keep
        colour = P.SNOW_SHADE * pal.light * keep[..., None] + \
            ((np.asarray(P.SNOW, np.float32) - P.SNOW_SHADE) * pal.light) * shade[..., None]
    colour += haze
    cv.paint(r0, r1, cov, colour)
    return top


def _dune_colour(cv, layer, top, r0, r1, tex, sun_u):
    """Sand with sunlit and shaded faces split along lines running down from each crest."""
    slope = np.gradient(top) / cv.pitch
    width = max(3, int(round(0.01 * cv.height)))
    kernel = np.ones(width) / width
    slope = np.convolve(np.pad(slope, width, mode="edge"), kernel, mode="same")[width:-width]
    vs = cv.vs32[r0:r1, None]
    skew = 0.8 if sun_u >= 0 else -0.8
    below = vs - top[None, :]
    src = cv.us32[None, :] + below * np.float32(skew)
    face = np.interp(src.ravel(), cv.us32, slope.astype(np.float32)).reshape(src.shape).astype(np.float32)
    lit = noise.smoothstep(-0.08, 0.08, face * (1.0 if sun_u >= 0 else -1.0))
    fade = np.exp(-np.maximum(below, 0) * np.float32(2.0 / layer.amp))
    lit = 0.62 + (lit - 0.62) * fade
    lit = np.clip(lit + 0.15 * tex, 0, 1).astype(np.float32)[..., None]
    ripples = 1.0 + 0.05 * tex[..., None]
    return (P.SAND_SHADE + (np.asarray(P.SAND_LIT, np.float32) - P.SAND_SHADE) * lit) * ripples


def _snow_caps(cv, pal, layer, top, colour, vs, tex, relief, keep):
    """White above a ragged snow line below the crest, blue-grey on the shaded side."""
    amp = np.float32(layer.amp)
    line = np.float32(layer.base - layer.amp * layer.snowline)
    ragged = noise.fbm1(cv.us, layer.seed + 5, 0.05, cv.pitch, gain=0.6)
    limit = (line + np.float32(0.25) * amp * ragged)[None, :] + (np.float32(0.35) * amp) * tex
    snow = np.clip((limit - vs) * np.float32(cv.height) + np.float32(0.5), 0, 1)
    snow *= np.sqrt(np.sqrt(np.clip(1.0 - (vs - top[None, :]) / amp, 0, 1)))
    snow = snow.astype(np.float32)[..., None]
    shade = np.clip(0.55 + 10.0 * relief + 0.5 * tex, 0, 1)[..., None]
    white = (P.SNOW_SHADE + (np.asarray(P.SNOW, np.float32) - P.SNOW_SHADE) * shade) * (pal.light * keep[..., None])
    if pal.time == "sunset":
        white = white * np.array((1.05, 0.86, 0.82), np.float32)
    return colour + (white - colour) * snow
