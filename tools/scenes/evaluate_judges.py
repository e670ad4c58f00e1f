#!/usr/bin/env python3
"""evaluate_judges.py: renders random scenes and prints each judge's accuracy against the
attributes the scenes were drawn from; exits 1 when a judge falls below --min-accuracy and 77
(skipped) when numpy is missing.

    python3 tools/scenes/evaluate_judges.py [--n 200] [--size 256] [--first 100000]
        [--min-accuracy 0.9]"""
import argparse
import os
import sys
import time

try:
    import numpy  # noqa: F401
except ImportError:
    print("SKIP: numpy is not importable")
    sys.exit(77)

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    __package__ = "tools.scenes"

from .attributes import sample_attributes  # noqa: E402
from .judges import judge_image  # noqa: E402
from .scene import render_scene  # noqa: E402

CHECKS = [
    ("time of day", lambda a, j: j["time"] == a.time),
    ("sun / moon / none", lambda a, j: j["celestial"] == a.celestial),
    ("disc count (0 or 1)", lambda a, j: j["suns"] + j["moons"] == (a.celestial != "none")),
    ("water", lambda a, j: j["water"] == (a.water != "none")),
    ("snow", lambda a, j: j["snow"] == a.snow),
    ("trees", lambda a, j: j["trees"] == (a.vegetation != "none")),
]


def evaluate(seeds, width, height):
    """{check name: (correct, total)} and the failures (seed, check, attributes, verdicts)."""
    score = {name: [0, 0] for name, _ in CHECKS}
    failures = []
    for seed in seeds:
        a = sample_attributes(seed)
        verdict = judge_image(render_scene(a, seed, width, height))
        for name, ok in CHECKS:
            good = ok(a, verdict)
            score[name][0] += int(good)
            score[name][1] += 1
            if not good:
                failures.append((seed, name, a, verdict))
    return score, failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="how many scenes")
    ap.add_argument("--size", type=int, default=256, help="square picture size in pixels")
    ap.add_argument("--first", type=int, default=100000, help="first seed")
    ap.add_argument("--min-accuracy", type=float, default=0.0)
    ap.add_argument("--verbose", action="store_true", help="list every failure")
    args = ap.parse_args()
    t0 = time.time()
    score, failures = evaluate(range(args.first, args.first + args.n), args.size, args.size)
    took = time.time() - t0
    print(f"judges on {args.n} rendered scenes at {args.size}x{args.size} "
          f"(seeds {args.first}..{args.first + args.n - 1}, {took:.1f} s)")
    print(f"| {'judge':<22} | {'correct':>9} | {'accuracy':>8} |")
    print(f"|{'-' * 24}|{'-' * 11}|{'-' * 10}|")
    worst = 1.0
    for name, (good, total) in score.items():
        acc = good / total if total else 0.0
        worst = min(worst, acc)
        print(f"| {name:<22} | {good:>4}/{total:<4} | {acc:>8.3f} |")
    if args.verbose:
        for seed, name, a, verdict in failures:
            print(f"seed {seed}: {name} wrong: {a} -> {verdict}")
    if worst < args.min_accuracy:
        print(f"FAIL: the worst judge is {worst:.3f} accurate, below {args.min_accuracy}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
