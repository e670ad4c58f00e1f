"""philox_noise.py: the engine's seeded Gaussian noise (engine/noise.c) in numpy: Philox4x32-10
of the counter (i, i >> 32, stream, 0x5ca1ed17) under the key (seed, seed >> 32), then Box-Muller
from two 53-bit uniforms, rounded to float32; and the initial latents the pipeline draws from it
(engine/pipeline.c: stream 0 for the global pass, stream 1 for the detail pass, in CHW order).

    philox4x32(counter, key) -> 4 uint32 words (arrays broadcast)
    noise_normal(seed, stream, n) -> float32 [n]
    global_noise(seed, width, height) -> float32 [16, height/8, width/8]   (global pass size)
    detail_noise(seed, width, height) -> float32 [16, height/8, width/8]   (detail pass size)
"""
import numpy as np

LATENT_CHANNELS = 16
GLOBAL_STREAM, DETAIL_STREAM = 0, 1
_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
_LO = np.uint64(0xFFFFFFFF)
_TAG = 0x5CA1ED17


def philox4x32(counter, key):
    """Philox4x32-10: counter is 4 arrays (or ints) of uint32 words, key 2; returns 4 uint32 arrays."""
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint64) for c in counter)
    k0, k1 = (int(k) & 0xFFFFFFFF for k in key)
    for _ in range(10):
        p0 = _M0 * c0
        p1 = _M1 * c2
        n0 = (p1 >> np.uint64(32)) ^ c1 ^ np.uint64(k0)
        n2 = (p0 >> np.uint64(32)) ^ c3 ^ np.uint64(k1)
        c1 = p1 & _LO
        c3 = p0 & _LO
        c0, c2 = n0, n2
        k0 = (k0 + _W0) & 0xFFFFFFFF
        k1 = (k1 + _W1) & 0xFFFFFFFF
    return tuple(c.astype(np.uint32) for c in (c0, c1, c2, c3))


def noise_normal(seed, stream, n):
    """n standard normal float32 values for (seed, stream); element i depends only on i."""
    seed = int(seed) & 0xFFFFFFFFFFFFFFFF
    i = np.arange(n, dtype=np.uint64)
    ctr = (i & _LO, i >> np.uint64(32), np.full(n, stream, np.uint64), np.full(n, _TAG, np.uint64))
    r0, r1, r2, r3 = (r.astype(np.uint64) for r in philox4x32(ctr, (seed & 0xFFFFFFFF, seed >> 32)))
    a = (r0 << np.uint64(21)) ^ (r1 >> np.uint64(11))
    b = (r2 << np.uint64(21)) ^ (r3 >> np.uint64(11))
    u1 = (a.astype(np.float64) + 1.0) / 9007199254740992.0
    u2 = b.astype(np.float64) / 9007199254740992.0
    return (np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)).astype(np.float32)


def _latent_noise(seed, stream, width, height):
    if width % 16 or height % 16:
        raise ValueError(f"noise for {width}x{height}: the pipeline draws it at multiples of 16")
    shape = (LATENT_CHANNELS, height // 8, width // 8)
    return noise_normal(seed, stream, int(np.prod(shape))).reshape(shape)


def global_noise(seed, width, height):
    """The global pass's initial latent for a global size width x height (multiples of 16)."""
    return _latent_noise(seed, GLOBAL_STREAM, width, height)


def detail_noise(seed, width, height):
    """The noise the detail pass mixes into the handed-over latent at the generated size."""
    return _latent_noise(seed, DETAIL_STREAM, width, height)
