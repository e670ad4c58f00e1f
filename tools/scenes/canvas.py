"""canvas.py: the picture being drawn: its pixel grid in normalised coordinates (u across,
centred, in units of the image height; v down from 0 at the top to 1 at the bottom) and the
float RGB buffer, with antialiased painting helpers."""
import numpy as np


class Canvas:
    def __init__(self, width, height):
        if width < 16 or height < 16:
            raise ValueError(f"scene size {width}x{height} is too small (at least 16x16)")
        self.width = width
        self.height = height
        self.pitch = 1.0 / height
        self.us = (np.arange(width) + 0.5 - width / 2.0) / height
        self.vs = (np.arange(height) + 0.5) / height
        self.us32 = self.us.astype(np.float32)
        self.vs32 = self.vs.astype(np.float32)
        self.u_min = float(self.us[0])
        self.u_max = float(self.us[-1])
        self.img = np.zeros((height, width, 3), np.float32)

    def rows(self, v0, v1):
        """The row range [r0, r1) covering v in [v0, v1], clipped to the picture."""
        r0 = int(np.clip(np.floor(v0 * self.height) - 1, 0, self.height))
        r1 = int(np.clip(np.ceil(v1 * self.height) + 1, 0, self.height))
        return r0, r1

    def below(self, top, r0, r1):
        """Antialiased coverage (r1-r0, W) of the region below the per-column edge `top` (v)."""
        d = self.vs32[r0:r1, None] - top.astype(np.float32)[None, :]
        d *= np.float32(self.height)
        d += np.float32(0.5)
        return np.clip(d, 0.0, 1.0, out=d)

    def paint(self, r0, r1, coverage, colour):
        """Blends `colour` (an RGB triple or an (r1-r0, W, 3) field) over rows r0..r1."""
        band = self.img[r0:r1]
        band += (np.asarray(colour, np.float32) - band) * coverage[..., None]

    def to_uint8(self):
        return (np.clip(self.img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
