"""rand.py: a tiny deterministic random source (splitmix64 in pure Python) for scene parameters,
so a scene depends only on its seed, never on the numpy or Python version."""
import math

_MASK = (1 << 64) - 1


def mix64(x):
    """The splitmix64 finaliser: a well-mixed 64-bit value from any 64-bit value."""
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9 & _MASK
    x = (x ^ (x >> 27)) * 0x94D049BB133111EB & _MASK
    return x ^ (x >> 31)


def derive(seed, *keys):
    """A 64-bit seed derived from `seed` and a path of string or integer keys."""
    h = mix64((seed & _MASK) ^ 0x5851F42D4C957F2D)
    for key in keys:
        if isinstance(key, str):
            for ch in key.encode("utf-8"):
                h = mix64(h ^ ch)
            h = mix64(h ^ 0xFF)
        else:
            h = mix64(h ^ (int(key) & _MASK))
    return h


class Rand:
    """Sequential random numbers from a seed and an optional key path (splitmix64 stream)."""

    def __init__(self, seed, *keys):
        self.state = derive(seed, *keys)

    def bits(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & _MASK
        return mix64(self.state)

    def random(self):
        """A float in [0, 1)."""
        return (self.bits() >> 11) * (1.0 / (1 << 53))

    def uniform(self, lo, hi):
        return lo + (hi - lo) * self.random()

    def randint(self, lo, hi):
        """An integer in [lo, hi] inclusive."""
        return lo + self.bits() % (hi - lo + 1)

    def chance(self, p):
        return self.random() < p

    def choice(self, items):
        return items[self.bits() % len(items)]

    def weighted(self, pairs):
        """One item from (item, weight) pairs, chosen with probability proportional to weight."""
        total = sum(w for _, w in pairs)
        r = self.random() * total
        for item, w in pairs:
            r -= w
            if r < 0:
                return item
        return pairs[-1][0]

    def normal(self, mean=0.0, std=1.0):
        u1 = max(self.random(), 1e-300)
        u2 = self.random()
        return mean + std * math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)

    def seed32(self):
        """A 32-bit seed for the numpy noise functions."""
        return self.bits() & 0xFFFFFFFF
