"""palette.py: the colours of a scene by time of day (sky stops, light on the land, haze, water,
clouds, sun and moon), jittered a little per seed."""
import numpy as np

from .rand import Rand

_SKY = {
    "day": ((0.13, 0.33, 0.70), (0.36, 0.57, 0.86), (0.70, 0.82, 0.93)),
    "sunset": ((0.14, 0.13, 0.36), (0.60, 0.33, 0.46), (0.99, 0.60, 0.28)),
    "night": ((0.01, 0.016, 0.06), (0.035, 0.055, 0.14), (0.09, 0.12, 0.24)),
}
_LIGHT = {"day": (1.0, 1.0, 1.0), "sunset": (0.62, 0.42, 0.42), "night": (0.24, 0.28, 0.44)}
_CLOUD = {  # lit side, shadow side
    "day": ((0.93, 0.93, 0.95), (0.64, 0.68, 0.77)),
    "sunset": ((0.98, 0.64, 0.50), (0.36, 0.26, 0.40)),
    "night": ((0.22, 0.24, 0.32), (0.05, 0.06, 0.10)),
}
_WATER = {"day": (0.10, 0.24, 0.34), "sunset": (0.16, 0.10, 0.16), "night": (0.02, 0.03, 0.07)}

# Base colours of materials in white light.
ROCK_FAR = (0.42, 0.46, 0.56)
ROCK = (0.36, 0.36, 0.34)
ROCK_NEAR = (0.27, 0.30, 0.22)
HILL = (0.26, 0.42, 0.18)
GRASS = (0.36, 0.50, 0.22)
FOREST_FLOOR = (0.22, 0.30, 0.14)
SAND_LIT = (0.90, 0.70, 0.44)
SAND_SHADE = (0.62, 0.40, 0.26)
SNOW = (0.91, 0.93, 0.96)
SNOW_SHADE = (0.70, 0.77, 0.90)
PINE = (0.07, 0.17, 0.11)
ROUND_TREE = (0.17, 0.33, 0.10)
TRUNK = (0.20, 0.13, 0.08)
SHORE = (0.30, 0.28, 0.22)


class Palette:
    """Per-scene colours: `sky` stops (zenith, middle, horizon), `light`, `haze`, `water`,
    `cloud_lit`, `cloud_shade`, all float32 RGB in [0, 1]."""

    def __init__(self, time, seed):
        r = Rand(seed, "palette")
        jitter = lambda c, s: np.clip(np.array(c, np.float32) *
                                      np.array([1 + r.uniform(-s, s) for _ in range(3)], np.float32), 0, 1)
        self.time = time
        self.sky = [jitter(c, 0.06) for c in _SKY[time]]
        self.light = np.array(_LIGHT[time], np.float32)
        horizon = self.sky[2]
        grey = horizon.mean()
        self.haze = (horizon * 0.8 + grey * 0.2).astype(np.float32)
        if time == "sunset":
            self.haze = (0.35 * horizon + 0.65 * self.sky[1]).astype(np.float32)
        self.water = jitter(_WATER[time], 0.08)
        self.cloud_lit = np.array(_CLOUD[time][0], np.float32)
        self.cloud_shade = np.array(_CLOUD[time][1], np.float32)
        self.sun = np.array((1.0, 0.99, 0.93) if time == "day" else (1.0, 0.90, 0.62), np.float32)
        self.moon = np.array((0.96, 0.95, 0.90), np.float32)

    def lit(self, colour):
        """A material colour under this scene's light."""
        return np.asarray(colour, np.float32) * self.light
