"""data.py: renders training scenes (tools/scenes) in parallel into uint8 arrays in memory, with
their captions: whole pictures, or crops of pictures rendered larger (the detail pass of a 4096^2
picture sees its scene at 4096^2 scale through windows of 1024^2-size training crops). Training
seeds start at 0; seeds >= HELD_OUT are kept for evaluation."""
import multiprocessing as mp
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from tools.scenes.attributes import caption, sample_attributes  # noqa: E402
from tools.scenes.scene import make_plan, render_scene  # noqa: E402

HELD_OUT = 10_000_000
CROP_GRID = 256  # crops start on multiples of the detail pass's window (16 tokens of 16 px)


def _render(job):
    seed, sizes = job
    a = sample_attributes(seed)
    return [render_scene(a, seed, s, s) for s in sizes], caption(a, seed)


def crop_origins(seed, attrs, full, size, count):
    """`count` top-left corners (row, col) of size x size crops of the full x full picture, on the
    CROP_GRID: the first holds the sun or moon whole when the scene has one, the others are drawn
    at random; all drawn from the seed."""
    rng = np.random.default_rng([seed, full, size])
    last = (full - size) // CROP_GRID
    origins = []
    body = make_plan(attrs, seed).body
    if body is not None:
        cy, cx, r = body.v * full, body.u * full + full / 2, body.r * full
        ok = [(y, x) for y in range(last + 1) for x in range(last + 1)
              if y * CROP_GRID <= cy - r and cy + r <= y * CROP_GRID + size
              and x * CROP_GRID <= cx - r and cx + r <= x * CROP_GRID + size]
        if ok:
            origins.append(ok[rng.integers(len(ok))])
    while len(origins) < count:
        origins.append(tuple(rng.integers(0, last + 1, 2)))
    return [(y * CROP_GRID, x * CROP_GRID) for y, x in origins[:count]]


def _render_crops(job):
    seed, full, size, count = job
    a = sample_attributes(seed)
    img = render_scene(a, seed, full, full)
    return [img[y:y + size, x:x + size].copy() for y, x in crop_origins(seed, a, full, size, count)], caption(a, seed)


def render_crops(seeds, full, size, count, processes=None):
    """uint8 array [n * count, size, size, 3] of `count` crops of each scene rendered at full^2
    (a scene's crops next to each other), and their captions."""
    seeds = list(seeds)
    if max(seeds) >= HELD_OUT:
        raise ValueError("training seeds must stay below %d (held out)" % HELD_OUT)
    out = np.empty((len(seeds) * count, size, size, 3), np.uint8)
    captions = []
    with mp.Pool(processes or os.cpu_count()) as pool:
        for i, (crops, text) in enumerate(pool.imap(_render_crops, [(s, full, size, count) for s in seeds])):
            out[i * count:(i + 1) * count] = np.stack(crops)
            captions += [text] * count
    return out, captions


def render_many(seeds, sizes, processes=None):
    """{size: uint8 array [n, size, size, 3]} for each size in sizes, and the captions."""
    seeds = list(seeds)
    if max(seeds) >= HELD_OUT:
        raise ValueError("training seeds must stay below %d (held out)" % HELD_OUT)
    out = {s: np.empty((len(seeds), s, s, 3), np.uint8) for s in sizes}
    captions = []
    with mp.Pool(processes or os.cpu_count()) as pool:
        for i, (imgs, text) in enumerate(pool.imap(_render, [(s, tuple(sizes)) for s in seeds], chunksize=8)):
            for s, img in zip(sizes, imgs):
                out[s][i] = img
            captions.append(text)
    return out, captions


def load(prefix):
    """(uint8 images [n, s, s, 3] memory-mapped, captions) written by this module's main()."""
    images = np.load(prefix + ".npy", mmap_mode="r")
    return images, _index(prefix, images)["captions"]


def rendered_size(prefix):
    """The side the pictures of `prefix` were rendered at: larger than theirs for crops."""
    images = np.load(prefix + ".npy", mmap_mode="r")
    return _index(prefix, images)["rendered"]


def _index(prefix, images):
    import json
    with open(prefix + ".json") as f:
        index = json.load(f)
    if isinstance(index, list):  # whole pictures: the captions alone
        index = {"captions": index, "rendered": images.shape[1]}
    return index


def held_out(n, first=HELD_OUT):
    """Held-out (seed, caption, attributes) triples for evaluation."""
    return [(s, caption(sample_attributes(s), s), sample_attributes(s)) for s in range(first, first + n)]


def main():
    import argparse
    import json
    import time
    ap = argparse.ArgumentParser(description="Render training scenes to PREFIX.npy and PREFIX.json.")
    ap.add_argument("prefix")
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--crops-of", type=int, metavar="FULL",
                    help="render each scene at FULL^2 and keep --crops crops of --size^2 (the first around the sun or moon)")
    ap.add_argument("--crops", type=int, default=2)
    args = ap.parse_args()
    t0 = time.time()
    seeds = range(args.first, args.first + args.count)
    if args.crops_of:
        if args.crops_of < args.size or args.crops_of % CROP_GRID or args.size % CROP_GRID:
            ap.error("--crops-of and --size must be multiples of %d, --crops-of at least --size" % CROP_GRID)
        images, captions = render_crops(seeds, args.crops_of, args.size, args.crops)
        index = {"captions": captions, "rendered": args.crops_of}
    else:
        images, captions = render_many(seeds, [args.size])
        images, index = images[args.size], captions
    np.save(args.prefix + ".npy", images)
    with open(args.prefix + ".json", "w") as f:
        json.dump(index, f)
    print("rendered %d scenes at %d^2 in %.1f s, kept %d pictures of %d^2"
          % (args.count, args.crops_of or args.size, time.time() - t0, images.shape[0], args.size), flush=True)


if __name__ == "__main__":
    main()
