"""water.py: lakes and sea: the picture above the waterline mirrored into the water, displaced
by ripples (a lake) or by perspective waves (the sea), darkened and tinted with the water's
colour, more so nearer the viewer."""
import numpy as np

from . import noise


def _reflect(cv, r0, src_v, dist, pal, keep, deep):
    """Fills rows r0.. with the picture sampled at rows src_v (v units, per pixel)."""
    w = cv.width
    src = np.clip(src_v * cv.height - 0.5, 0, max(r0 - 1, 0))
    i0 = np.floor(src).astype(np.int64)
    t = (src - i0).astype(np.float32)[..., None]
    i1 = np.minimum(i0 + 1, max(r0 - 1, 0))
    cols = np.arange(w)[None, :]
    above = cv.img[:r0] if r0 > 0 else cv.img[:1]
    a = above[i0, cols]
    refl = a + (above[i1, cols] - a) * t
    fresnel = noise.smoothstep(0.0, 0.4, dist).astype(np.float32)[:, None, None]
    mix = deep + (0.9 - deep) * fresnel * 0.5
    out = refl * keep + (pal.water - refl * keep) * mix
    cv.img[r0:] = out


def draw_lake(cv, pal, waterline, seed):
    """A lake from `waterline` (v) to the bottom, mirroring what is drawn above it."""
    r0, _ = cv.rows(waterline, waterline)
    r0 = min(max(r0 + 1, int(np.ceil(waterline * cv.height - 0.5))), cv.height)
    if r0 >= cv.height:
        return
    vs = cv.vs[r0:]
    dist = vs - waterline
    ripples = noise.fbm2_grid(cv.us, vs, 0.06, seed, cv.pitch, gain=0.55, stretch_x=9.0)
    amp = (0.002 + 0.05 * dist)[:, None]
    src_v = 2 * waterline - vs[:, None] + amp * ripples
    _reflect(cv, r0, src_v, dist, pal, np.float32(0.6), np.float32(0.3))
    cv.img[r0:] *= (1.0 + 0.10 * ripples * noise.smoothstep(0, 0.1, dist)[:, None])[..., None]
    # A faint bright line where the water meets the far shore.
    line = np.exp(-((vs - waterline) * cv.height / max(1.0, 0.0015 * cv.height)) ** 2)[:, None, None]
    cv.img[r0:] += (0.12 * line * pal.sky[2]).astype(np.float32)


def draw_sea(cv, pal, horizon, seed):
    """The sea from `horizon` down: waves on a ground plane seen in perspective (finer towards
    the horizon, octaves fading where they fall under two pixels) displace the reflection."""
    r0 = min(int(np.ceil(horizon * cv.height - 0.5)), cv.height)
    if r0 >= cv.height:
        return
    vs = cv.vs[r0:]
    dist = np.maximum(vs - horizon, 0.3 * cv.pitch)
    z = 0.02 / dist                     # distance along the ground plane
    scale = dist * dist / 0.02          # screen v per unit of ground distance
    base_wl = 0.006
    waves = np.zeros((len(vs), cv.width), np.float32)
    k = 0
    while k < 12:
        wl = base_wl / 2 ** k
        px = wl * scale * cv.height     # the octave's wavelength in pixels on each row
        fade = noise.smoothstep(1.5, 4.0, px)
        if fade[-1] <= 0:
            break
        rows = np.nonzero(fade > 0)[0]
        a = rows[0]
        zz = z[a:, None]
        xx = cv.us[None, :] * zz
        n = noise.value2_points(xx / (4.0 * wl), np.broadcast_to(zz / wl, xx.shape),
                                noise.octave_seed(seed, k))
        waves[a:] += (0.55 ** k) * fade[a:, None].astype(np.float32) * n
        k += 1
    waves *= np.float32(0.6)
    src_v = horizon - (vs[:, None] - horizon) * 0.9 + waves * (0.004 + 0.25 * (vs[:, None] - horizon))
    _reflect(cv, r0, src_v, dist, pal, np.float32(0.62), np.float32(0.32))
    cv.img[r0:] *= (1.0 + 0.18 * waves * noise.smoothstep(0, 0.05, dist)[:, None])[..., None]
