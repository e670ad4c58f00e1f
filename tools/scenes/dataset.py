"""dataset.py: (image, caption, attributes) examples for a range of seeds, in memory or written
to a folder as PNGs plus a captions.jsonl index."""
import json
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    __package__ = "tools.scenes"

from .attributes import caption, sample_attributes  # noqa: E402
from .png import write_png  # noqa: E402
from .scene import render_scene  # noqa: E402


def make_example(seed, width=256, height=256):
    """(uint8 image, caption, attribute dict) of scene `seed`."""
    attrs = sample_attributes(seed)
    return render_scene(attrs, seed, width, height), caption(attrs, seed), attrs.as_dict()


def iter_dataset(seeds, width=256, height=256):
    """Yields (seed, image, caption, attribute dict) for each seed."""
    for seed in seeds:
        img, text, attrs = make_example(seed, width, height)
        yield seed, img, text, attrs


def write_dataset(folder, seeds, width=256, height=256):
    """Writes scene_<seed>.png files and captions.jsonl (one JSON object a line) to `folder`."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "captions.jsonl"), "w") as index:
        for seed, img, text, attrs in iter_dataset(seeds, width, height):
            name = f"scene_{seed:06d}.png"
            write_png(os.path.join(folder, name), img)
            index.write(json.dumps({"file": name, "seed": seed, "caption": text,
                                    "attributes": attrs}) + "\n")


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description="Write rendered scenes and their captions to a folder.")
    ap.add_argument("folder")
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--count", type=int, default=16)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--height", type=int, default=256)
    args = ap.parse_args()
    write_dataset(args.folder, range(args.first, args.first + args.count), args.width, args.height)
