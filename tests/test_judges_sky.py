#!/usr/bin/env python3
"""test_judges_sky.py: the sun/moon judge counts discs in the sky only: on a drawn snowy day scene
(blue sky, one sun, shaded snow with round sunlit patches) the white patches below the lowest
horizon are not suns, while a second disc drawn in the sky is one. Exit 77 without numpy.

Usage: test_judges_sky.py SOURCE_ROOT
"""
import sys


def disc(img, cx, cy, r, colour):
    """Fills the disc of radius r around (cx, cy) (pixels) with colour."""
    import numpy as np
    yy, xx = np.mgrid[:img.shape[0], :img.shape[1]]
    img[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = colour


def snowy_day(size):
    """A blue sky above 0.6 of the height with a sun in it; below, bluish snow in shade with round
    patches of sunlit white and a row of dark trees (the false suns of generated snowy scenes)."""
    import numpy as np
    img = np.zeros((size, size, 3), np.uint8)
    rows = np.linspace(0.0, 1.0, size)[:, None]
    img[...] = np.stack([60 + 60 * rows, 120 + 60 * rows, 230 + 0 * rows], -1).astype(np.uint8)
    img[int(0.6 * size):] = (205, 215, 235)
    for k in range(6):
        disc(img, (k + 0.5) * size / 6, 0.72 * size, 0.04 * size, (20, 60, 30))
    for k in range(5):
        disc(img, (k + 1) * size / 6, 0.88 * size, 0.035 * size, (252, 252, 252))
    disc(img, 0.3 * size, 0.2 * size, 0.035 * size, (255, 255, 250))
    return img


def main():
    sys.path.insert(0, sys.argv[1])
    try:
        import numpy  # noqa: F401
    except ImportError:
        print("numpy is missing: skipped")
        return 77
    from tools.scenes.judges import judge_image
    for size in (256, 1024):
        img = snowy_day(size)
        one = judge_image(img)
        print(size, "one sun:", one)
        if (one["suns"], one["moons"], one["celestial"]) != (1, 0, "sun"):
            print(f"FAIL at {size}: snow patches below the horizon counted", file=sys.stderr)
            return 1
        disc(img, 0.75 * size, 0.3 * size, 0.035 * size, (255, 255, 250))
        two = judge_image(img)
        print(size, "two suns:", two)
        if two["suns"] != 2:
            print(f"FAIL at {size}: a second sun in the sky was not counted", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
