"""contact_sheet.py: renders scenes for consecutive seeds and tiles them into one PNG (the
picture in docs/scenes-contact-sheet.png), printing each tile's caption.

    python3 tools/scenes/contact_sheet.py --out docs/scenes-contact-sheet.png [--first 0]
        [--cols 4] [--rows 4] [--size 256]"""
import argparse
import os
import sys

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    __package__ = "tools.scenes"

from .dataset import make_example  # noqa: E402
from .png import write_png  # noqa: E402


def contact_sheet(seeds, cols, size, gap=4):
    """A uint8 picture of the scenes for `seeds`, `cols` across, each size x size."""
    rows = (len(seeds) + cols - 1) // cols
    sheet = np.full((rows * (size + gap) + gap, cols * (size + gap) + gap, 3), 24, np.uint8)
    captions = []
    for n, seed in enumerate(seeds):
        img, text, _ = make_example(seed, size, size)
        y = gap + (n // cols) * (size + gap)
        x = gap + (n % cols) * (size + gap)
        sheet[y:y + size, x:x + size] = img
        captions.append((seed, text))
    return sheet, captions


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--cols", type=int, default=4)
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    seeds = list(range(args.first, args.first + args.cols * args.rows))
    sheet, captions = contact_sheet(seeds, args.cols, args.size)
    write_png(args.out, sheet, level=9)
    for n, (seed, text) in enumerate(captions):
        print(f"row {n // args.cols + 1} col {n % args.cols + 1} seed {seed}: {text}")


if __name__ == "__main__":
    main()
