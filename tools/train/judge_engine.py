#!/usr/bin/env python3
"""judge_engine.py: generates held-out captions (seeds >= 10,000,000) with `scaledit generate` and
prints the scene judges' accuracy against each caption's attributes.

    python3 tools/train/judge_engine.py build/cli/scaledit [--model DIR] [--n 16] [--size 512]
        [--global-factor F] [--out-dir DIR] [-- extra generate arguments]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from tools.scenes.png import read_png  # noqa: E402
from tools.train.data import held_out  # noqa: E402
from tools.train.sample import judge_scores  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scaledit")
    ap.add_argument("--model")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--global-factor", type=int)
    ap.add_argument("--out-dir")
    ap.add_argument("extra", nargs="*")
    args = ap.parse_args()
    out_dir = args.out_dir or tempfile.mkdtemp(prefix="judge-")
    os.makedirs(out_dir, exist_ok=True)
    images, attrs = [], []
    t0 = time.time()
    for seed, text, a in held_out(args.n):
        path = os.path.join(out_dir, "held_%d.png" % seed)
        cmd = [args.scaledit, "generate", "--prompt", text, "--width", str(args.size), "--height", str(args.size),
               "--seed", str(seed), "--out", path] + args.extra
        if args.model:
            cmd += ["--model", args.model]
        if args.global_factor:
            cmd += ["--global-factor", str(args.global_factor)]
        subprocess.run(cmd, check=True, capture_output=True)
        images.append(read_png(path))
        attrs.append(a)
    scores = judge_scores(images, attrs)
    print("%d held-out captions at %d^2 (%s) in %.0f s, pictures in %s" % (
        args.n, args.size, "global factor %s" % (args.global_factor or "default"), time.time() - t0, out_dir))
    for name, acc in scores.items():
        print("  %-22s %.3f" % (name, acc))
    print("  %-22s %.3f" % ("mean", sum(scores.values()) / len(scores)))


if __name__ == "__main__":
    main()
