"""noise.py: hashed lattice noise in numpy (1D gradient noise, 2D value noise on pixel grids and
at arbitrary points) and fractal sums of it whose octaves stop at the pixel size, so the same
field drawn at a higher resolution gains detail without changing its shape."""
import numpy as np

_GOLDEN = 0x9E3779B1


def hash2(ix, iy, seed):
    """A uint32 hash of integer lattice coordinates (any integer arrays, broadcast) and a seed."""
    with np.errstate(over="ignore"):
        h = (np.asarray(ix).astype(np.uint32) * np.uint32(0x8DA6B343)) ^ \
            (np.asarray(iy).astype(np.uint32) * np.uint32(0xD8163841))
        h ^= np.uint32(seed & 0xFFFFFFFF) * np.uint32(0xCB1AB31F)
        h ^= h >> np.uint32(16)
        h *= np.uint32(0x7FEB352D)
        h ^= h >> np.uint32(15)
        h *= np.uint32(0x846CA68B)
        h ^= h >> np.uint32(16)
    return h


def signed_unit(h):
    """Maps uint32 hashes to float32 in [-1, 1)."""
    return (h >> np.uint32(8)).astype(np.float32) * np.float32(2.0 / (1 << 24)) - np.float32(1.0)


def octave_seed(seed, k):
    return (seed * 0x2545F491 + (k + 1) * _GOLDEN) & 0xFFFFFFFF


def octave_offset(seed, k):
    """A per-octave lattice offset in [0, 1000) so octaves never share lattice points."""
    return float(hash2(k + 17, 91, seed) % np.uint32(1000000)) * 1e-3


def perlin1(x, seed):
    """1D gradient noise at float64 positions x, roughly in [-1, 1], zero at lattice points."""
    i = np.floor(x)
    t = (x - i).astype(np.float32)
    i = i.astype(np.int64)
    g0 = signed_unit(hash2(i, 0, seed))
    g1 = signed_unit(hash2(i + 1, 0, seed))
    fade = t * t * t * (t * (t * 6 - 15) + 10)
    a = g0 * t
    b = g1 * (t - 1)
    return 2.0 * (a + fade * (b - a))


def octave_count(wavelength, pitch, min_px=2.0, max_octaves=24):
    """How many octaves (halving the wavelength each) stay above min_px pixels of size pitch."""
    n = 0
    while n < max_octaves and wavelength / (2 ** n) >= min_px * pitch:
        n += 1
    return max(n, 1)


def fbm1(x, seed, wavelength, pitch, gain=0.5, ridged=False, first_octave=0, max_octaves=24):
    """1D fractal noise at positions x: octaves from `wavelength` down to two pixels of `pitch`.

    The sum is normalised by the infinite series' weight, not by the octaves drawn, so a coarser
    pitch only drops the finest terms. `ridged` uses 1 - |n| per octave (sharp crests)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros(x.shape, dtype=np.float32)
    n = octave_count(wavelength, pitch, max_octaves=max_octaves)
    amp = 1.0
    for k in range(first_octave, n):
        f = (2.0 ** k) / wavelength
        v = perlin1(x * f + octave_offset(seed, k), octave_seed(seed, k))
        if ridged:
            v = 1.0 - np.abs(v)
            v = v * v * 2.0 - 1.0
        out += np.float32(amp * gain ** (k - first_octave)) * v
    return out * np.float32(1.0 - gain)


def _axis_weights(coords, freq, offset):
    """Lattice index (int64) and smoothstep weight (float32) along one axis."""
    p = np.asarray(coords, dtype=np.float64) * freq + offset
    i = np.floor(p)
    t = (p - i).astype(np.float32)
    return i.astype(np.int64), t * t * (3 - 2 * t)


def value2_grid(us, vs, fx, fy, seed, offset=(0.0, 0.0)):
    """2D value noise in [-1, 1] on the grid us (columns) x vs (rows), frequencies fx, fy.

    Separable: the lattice is interpolated along x for every lattice row, then rows are blended,
    so it costs a few passes over the output whatever the frequency."""
    ix, wx = _axis_weights(us, fx, offset[0])
    iy, wy = _axis_weights(vs, fy, offset[1])
    x0, y0 = ix.min(), iy.min()
    lat_x = np.arange(x0, ix.max() + 2)
    lat_y = np.arange(y0, iy.max() + 2)
    lattice = signed_unit(hash2(lat_x[None, :], lat_y[:, None], seed))
    cx = ix - x0
    rows = lattice[:, cx] * (1 - wx) + lattice[:, cx + 1] * wx
    cy = iy - y0
    top = rows[cy]
    return top + (rows[cy + 1] - top) * wy[:, None]


def _upsample(field, us_c, vs_c, us, vs):
    """Bilinear resampling of a field on the uniform grid (us_c, vs_c) at the grid (us, vs)."""
    def axis(c, dst):
        step = c[1] - c[0]
        p = (np.asarray(dst) - c[0]) / step
        i = np.clip(np.floor(p).astype(np.int64), 0, len(c) - 2)
        t = np.clip(p - i, 0.0, 1.0).astype(np.float32)
        return i, t
    ix, tx = axis(us_c, us)
    iy, ty = axis(vs_c, vs)
    rows = field[:, ix] * (1 - tx) + field[:, ix + 1] * tx
    top = rows[iy]
    return top + (rows[iy + 1] - top) * ty[:, None]


def _octave_sum(us, vs, octaves, pitch, seed):
    """Sums value-noise octaves (k, amp, wavelength_x, wavelength_y) on a grid, drawing the coarse
    ones on a half-resolution grid and resampling it (a pyramid), the fine ones directly."""
    smallest = lambda o: min(o[2], o[3])
    coarse = [o for o in octaves if smallest(o) >= 8 * pitch]
    fine = [o for o in octaves if smallest(o) < 8 * pitch]
    if coarse and (len(us) < 16 or len(vs) < 16):
        fine, coarse = octaves, []
    out = None
    if coarse:
        us_c = us[0] - 0.5 * pitch + 2 * pitch * np.arange((len(us) + 1) // 2 + 2)
        vs_c = vs[0] - 0.5 * pitch + 2 * pitch * np.arange((len(vs) + 1) // 2 + 2)
        out = _upsample(_octave_sum(us_c, vs_c, coarse, 2 * pitch, seed), us_c, vs_c, us, vs)
    for k, amp, wlx, wly in fine:
        term = value2_grid(us, vs, 1.0 / wlx, 1.0 / wly, octave_seed(seed, k),
                           (octave_offset(seed, k), octave_offset(seed, k + 101)))
        if out is None:
            out = np.float32(amp) * term
        else:
            out += np.float32(amp) * term
    return out


def fbm2_grid(us, vs, wavelength, seed, pitch, gain=0.5, stretch_x=1.0, min_px=2.0,
              max_octaves=16):
    """2D fractal value noise on the grid us x vs (normalised coordinates, pixel size `pitch`),
    roughly in [-1, 1]. stretch_x > 1 stretches features horizontally. Octaves stop at min_px
    pixels; normalised by the infinite series so resolution only adds the finest terms."""
    us = np.asarray(us, dtype=np.float64)
    vs = np.asarray(vs, dtype=np.float64)
    n = octave_count(wavelength, pitch, min_px, max_octaves)
    octaves = [(k, gain ** k, wavelength * stretch_x / 2 ** k, wavelength / 2 ** k)
               for k in range(n)]
    return _octave_sum(us, vs, octaves, pitch, seed) * np.float32((1.0 - gain) * 1.6)


_TABLE_SIZE = 1024
_tables = {}


def _table(seed):
    """A (1025, 1025) float32 table of lattice values, wrapping at 1024 (padded by one)."""
    t = _tables.get(seed)
    if t is None:
        idx = np.arange(_TABLE_SIZE + 1) % _TABLE_SIZE
        t = signed_unit(hash2(idx[None, :], idx[:, None], seed)).ravel()
        if len(_tables) > 16:
            _tables.clear()
        _tables[seed] = t
    return t


def value2_points(x, y, seed):
    """2D value noise in [-1, 1] at arbitrary float arrays x, y (same shape), lattice spacing 1,
    periodic over 1024 lattice cells."""
    table = _table(seed)
    fx = np.floor(x)
    fy = np.floor(y)
    tx = (x - fx).astype(np.float32)
    ty = (y - fy).astype(np.float32)
    tx = tx * tx * (3 - 2 * tx)
    ty = ty * ty * (3 - 2 * ty)
    i = (fx.astype(np.int64) & (_TABLE_SIZE - 1)) + (fy.astype(np.int64) & (_TABLE_SIZE - 1)) * (_TABLE_SIZE + 1)
    a = table[i]
    b = table[i + 1]
    c = table[i + _TABLE_SIZE + 1]
    d = table[i + _TABLE_SIZE + 2]
    top = a + (b - a) * tx
    bot = c + (d - c) * tx
    return top + (bot - top) * ty


def smoothstep(e0, e1, x):
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)
