"""data.py: renders training scenes (tools/scenes) in parallel into uint8 arrays in memory, with
their captions. Training seeds start at 0; seeds >= HELD_OUT are kept for evaluation."""
import multiprocessing as mp
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from tools.scenes.attributes import caption, sample_attributes  # noqa: E402
from tools.scenes.scene import render_scene  # noqa: E402

HELD_OUT = 10_000_000


def _render(job):
    seed, sizes = job
    a = sample_attributes(seed)
    return [render_scene(a, seed, s, s) for s in sizes], caption(a, seed)


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
    import json
    with open(prefix + ".json") as f:
        captions = json.load(f)
    return np.load(prefix + ".npy", mmap_mode="r"), captions


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
    args = ap.parse_args()
    t0 = time.time()
    images, captions = render_many(range(args.first, args.first + args.count), [args.size])
    np.save(args.prefix + ".npy", images[args.size])
    with open(args.prefix + ".json", "w") as f:
        json.dump(captions, f)
    print("rendered %d scenes at %d^2 in %.1f s" % (args.count, args.size, time.time() - t0), flush=True)


if __name__ == "__main__":
    main()
