#!/usr/bin/env python3
"""render.py: the command line for one scene: renders seed N at any size to a PNG and prints its
caption (and, with --attributes, the attributes as JSON).

    python3 -m tools.scenes.render --seed 3 --width 1024 --height 768 --out x.png
    python3 tools/scenes/render.py --seed 3 --out x.png --time night --terrain sea"""
import argparse
import dataclasses
import json
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    __package__ = "tools.scenes"

from .attributes import caption, check, sample_attributes  # noqa: E402
from .png import write_png  # noqa: E402
from .scene import render_scene  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description="Render one procedural landscape to a PNG.")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--height", type=int, default=1024)
    ap.add_argument("--out", required=True, help="PNG file to write")
    ap.add_argument("--attributes", action="store_true", help="also print the attributes as JSON")
    for name in ("time", "celestial", "terrain", "water", "vegetation", "clouds"):
        ap.add_argument(f"--{name}", help=f"override the sampled {name}")
    ap.add_argument("--snow", choices=("yes", "no"), help="override the sampled snow")
    args = ap.parse_args(argv)
    attrs = sample_attributes(args.seed)
    changes = {k: getattr(args, k) for k in ("time", "celestial", "terrain", "water", "vegetation",
                                              "clouds") if getattr(args, k) is not None}
    if args.snow is not None:
        changes["snow"] = args.snow == "yes"
    if changes:
        try:
            attrs = check(dataclasses.replace(attrs, **changes))
        except ValueError as e:
            ap.error(str(e))
    write_png(args.out, render_scene(attrs, args.seed, args.width, args.height))
    print(caption(attrs, args.seed))
    if args.attributes:
        print(json.dumps(attrs.as_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
