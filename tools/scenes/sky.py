"""sky.py: the sky by time of day: the gradient, the sun or moon with its glow, stars, and fBm
clouds, all placed in normalised coordinates."""
import numpy as np

from . import noise
from .rand import Rand


def draw_gradient(cv, pal, horizon):
    """Zenith to horizon gradient over the whole picture (the land covers the lower part)."""
    t = np.clip(cv.vs / horizon, 0.0, 1.0).astype(np.float32)
    zen, mid, hor = pal.sky
    a = np.clip(t / 0.55, 0, 1)[:, None]
    b = np.clip((t - 0.55) / 0.45, 0, 1)[:, None] ** 1.3
    col = np.where(t[:, None] < 0.55, zen + (mid - zen) * a ** 0.9, mid + (hor - mid) * b)
    cv.img[:] = col[:, None, :]


def draw_glow(cv, pal, body, horizon):
    """The halo around the sun or moon, and the warm band along the horizon at sunset."""
    if pal.time == "sunset":
        # A warm band along the horizon, strongest under the sun.
        r0, r1 = cv.rows(0.0, 1.0)
        dv = np.clip((horizon - cv.vs) / 0.25, 0, None)
        band = np.exp(-dv * dv)[:, None].astype(np.float32)
        across = 1.0
        if body is not None:
            across = (0.55 + 0.45 * np.exp(-((cv.us - body.u) / 0.6) ** 2)).astype(np.float32)[None, :]
        cv.img += (band * across)[..., None] * np.array((0.22, 0.12, 0.02), np.float32)
    if body is None:
        return
    dx = cv.us32[None, :] - np.float32(body.u)
    dy = cv.vs32[:, None] - np.float32(body.v)
    d = np.sqrt(dx * dx + dy * dy)
    if body.kind == "sun":
        a_in, s_in, a_wide, s_wide = 0.28, 0.6 * body.r, 0.16, 0.22
        colour = pal.sun
    else:
        a_in, s_in, a_wide, s_wide = 0.10, 0.8 * body.r, 0.05, 0.15
        colour = np.array((0.55, 0.62, 0.80), np.float32)
    glow = np.exp(d * np.float32(-1.0 / s_wide)) * np.float32(a_wide)
    # The inner halo only where it is visible (beyond 12 of its lengths it is below 1e-5).
    r0, r1 = cv.rows(body.v - body.r - 12 * s_in, body.v + body.r + 12 * s_in)
    near = np.maximum(d[r0:r1] - np.float32(body.r), 0)
    glow[r0:r1] += np.exp(near * np.float32(-1.0 / s_in)) * np.float32(a_in)
    cv.img += glow[..., None] * colour


def draw_stars(cv, seed, horizon):
    """Stars at fixed normalised positions; each keeps its light flux at any resolution."""
    cell = 0.05
    i0 = int(np.floor(cv.u_min / cell)) - 1
    i1 = int(np.ceil(cv.u_max / cell)) + 1
    j1 = int(np.ceil(horizon / cell))
    ci, cj, ck = np.meshgrid(np.arange(i0, i1), np.arange(0, j1), np.arange(4), indexing="ij")
    ci, cj, ck = ci.ravel(), cj.ravel(), ck.ravel()
    h = lambda salt: (noise.hash2(ci * 4 + ck, cj, seed + salt) >> np.uint32(8)).astype(np.float64) / (1 << 24)
    keep = h(1) < 0.55
    u = (ci + h(2)) * cell
    v = (cj + h(3)) * cell
    bright = 0.15 + 0.85 * h(4) ** 3
    keep &= (v < horizon - 0.02) & (u > cv.u_min - 0.01) & (u < cv.u_max + 0.01)
    u, v, bright = u[keep], v[keep], bright[keep]
    if u.size == 0:
        return
    radius = 0.0011 * (0.7 + 0.6 * bright)          # normalised radius of each star
    flux = bright * np.pi * (radius * cv.height) ** 2  # in pixel units: fixed relative to the picture
    sigma = np.maximum(radius * cv.height * 0.6, 0.55)
    peak = np.minimum(flux / (2 * np.pi * sigma ** 2), 1.0)
    k = int(np.ceil(3 * sigma.max()))
    off = np.arange(-k, k + 1)
    px = u * cv.height + cv.width / 2.0 - 0.5
    py = v * cv.height - 0.5
    cx = np.round(px).astype(np.int64)
    cy = np.round(py).astype(np.int64)
    xs = cx[:, None, None] + off[None, None, :]
    ys = cy[:, None, None] + off[None, :, None]
    d2 = (xs - px[:, None, None]) ** 2 + (ys - py[:, None, None]) ** 2
    w = peak[:, None, None] * np.exp(-d2 / (2 * sigma[:, None, None] ** 2))
    xs, ys = np.broadcast_arrays(xs, ys)
    ok = (xs >= 0) & (xs < cv.width) & (ys >= 0) & (ys < cv.height) & (w > 1e-3)
    light = np.zeros(cv.height * cv.width, np.float32)
    np.add.at(light, (ys[ok] * cv.width + xs[ok]), w[ok].astype(np.float32))
    light = np.minimum(light, 1.0).reshape(cv.height, cv.width)
    r0, r1 = cv.rows(0, horizon)
    tint = np.array((0.95, 0.95, 1.0), np.float32)
    band = cv.img[r0:r1]
    band += (tint - band) * light[r0:r1, :, None]


def draw_body(cv, pal, body, seed):
    """The sun or moon disc (antialiased); the moon with darker maria."""
    if body is None:
        return
    r0, r1 = cv.rows(body.v - body.r, body.v + body.r)
    vs = cv.vs[r0:r1, None]
    d = np.hypot(cv.us[None, :] - body.u, vs - body.v)
    cov = np.clip((body.r - d) * cv.height + 0.5, 0, 1).astype(np.float32)
    if body.kind == "sun":
        colour = np.broadcast_to(pal.sun, cov.shape + (3,))
    else:
        x = (cv.us - body.u) / body.r
        y = (cv.vs[r0:r1] - body.v) / body.r
        maria = noise.fbm2_grid(x, y, 0.9, seed, cv.pitch / body.r, gain=0.55)
        dark = np.clip(0.5 + 1.4 * maria, 0, 1)
        limb = np.clip(1 - (d / body.r) ** 4, 0, 1) * 0.06
        shade = (0.90 - 0.12 * dark + limb).astype(np.float32)
        colour = pal.moon * shade[..., None]
    cv.paint(r0, r1, cov, colour)


def draw_clouds(cv, pal, plan, seed, body, horizon):
    """fBm clouds: lit tops, shaded bottoms, cleared around the sun or moon, flatter near the
    horizon."""
    if plan.clouds == "none":
        return
    r0, r1 = cv.rows(0.0, horizon)
    vs = cv.vs[r0:r1]
    field = noise.fbm2_grid(cv.us, vs, 0.32, seed, cv.pitch, gain=0.52, stretch_x=2.4)
    r = Rand(seed, "clouds")
    thresh = {"few": r.uniform(0.22, 0.30), "many": r.uniform(-0.02, 0.08)}[plan.clouds]
    band_centre = r.uniform(0.15, 0.35) * horizon
    height = 1.0 - 0.35 * np.abs(vs - band_centre) / horizon
    lift = np.float32(0.12) * (height[:, None] - 1.0).astype(np.float32)
    dens = noise.smoothstep(thresh, thresh + 0.22, field + lift)
    # Shading: compare with the field a little higher up (light comes from above).
    shift = max(1, int(round(0.012 * cv.height)))
    above = np.empty_like(field)
    above[shift:] = field[:-shift]
    above[:shift] = field[:1]
    lit = np.clip(0.5 + 4.0 * (field - above), 0, 1)
    colour = pal.cloud_shade + (pal.cloud_lit - pal.cloud_shade) * lit[..., None]
    fade = noise.smoothstep(horizon, horizon - 0.12, vs)[:, None].astype(np.float32)
    alpha = (dens * 0.92 * fade).astype(np.float32)
    if body is not None:
        dx = cv.us32[None, :] - np.float32(body.u)
        dy = vs[:, None].astype(np.float32) - np.float32(body.v)
        d = np.sqrt(dx * dx + dy * dy)
        alpha *= noise.smoothstep(np.float32(1.5 * body.r), np.float32(3.5 * body.r), d)
        if pal.time != "day":
            glow = np.exp(d * np.float32(-4.0))[..., None]
            colour = colour + glow * (0.35 if pal.time == "sunset" else 0.25) * (pal.cloud_lit - colour * 0.5)
    cv.paint(r0, r1, alpha, colour)
