#!/usr/bin/env python3
"""evaluate_model.py: issue 9's acceptance figures for a model (by default the bundled
scaledit-tiny), generated through the `scaledit` command and read by the scene judges
(tools/scenes): (a) the judges' agreement with held-out captions' attributes at a small and a
large size, (b) global coherence (exactly one sun or moon) at the large size beside plain tiling
without global guidance, (c) seams (gradient magnitude on window and VAE tile boundaries against
elsewhere), (d) the contact sheet and one large picture with a 1:1 crop. Prints a markdown table
and writes results.json, results.md, model-contact-sheet.png and model-4096.jpg to --out.

    python3 tools/eval/evaluate_model.py --cli build/cli/scaledit --model models/scaledit-tiny \
        --device cuda --out OUT [--small 1024 --large 4096 --captions 64 --large-captions 64
        --coherence 20 --tiling 20 --jobs 2 --time-limit 480 --parts judge-small,judge-large,...]

Held-out captions are scenes from seed 10_000_000 on (training uses lower seeds); each picture is
generated with its scene's seed. Generated PNGs stay in --work and are reused when present.
--time-limit stops starting new generations after that many seconds, and a failed generation is
reported and left out; the figures say how many pictures they cover."""
import argparse
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from tools.eval.seams import boundary_ratio  # noqa: E402
from tools.scenes.attributes import caption, sample_attributes  # noqa: E402
from tools.scenes.evaluate_judges import CHECKS  # noqa: E402
from tools.scenes.judges import judge_image  # noqa: E402
from tools.scenes.png import read_png  # noqa: E402

HELD_OUT = 10_000_000
PARTS = ("judge-small", "judge-large", "coherence", "tiling", "seams", "sheet")


class Generator:
    """Runs `scaledit generate` for (prompt, seed, size), at most `jobs` at a time, until the
    deadline; remembers each picture's reported seconds."""

    def __init__(self, args):
        self.args = args
        self.deadline = time.monotonic() + args.time_limit if args.time_limit > 0 else None
        self.seconds = {}
        self.pool = ThreadPoolExecutor(max_workers=max(1, args.jobs))
        self.skipped = 0
        self.failures = []
        self.scaledit_args = shlex.split(args.generate_args)

    def out_of_time(self):
        return self.deadline is not None and time.monotonic() > self.deadline

    def path(self, kind, seed, size, extra):
        """Where the picture goes; options beyond the defaults give it a tag of their own, so
        pictures made with other options are not reused for it."""
        tag = "-" + hashlib.sha1(shlex.join(extra).encode()).hexdigest()[:8] if extra else ""
        return os.path.join(self.args.work, f"{kind}-{size}-{seed}{tag}.png")

    def _run(self, prompt, seed, size, path, extra):
        if os.path.exists(path):
            return path
        if self.out_of_time():
            self.skipped += 1
            return None
        a = self.args
        cmd = [a.cli, "generate", "--prompt", prompt, "--width", str(size), "--height", str(size),
               "--seed", str(seed), "--out", path + ".part.png"]
        for flag, value in (("--model", a.model), ("--device", a.device), ("--steps", a.steps),
                            ("--detail-steps", a.detail_steps)):
            if value is not None:
                cmd += [flag, str(value)]
        cmd += extra
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            self.failures.append(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
            print(self.failures[-1], file=sys.stderr)
            return None
        m = re.search(r", ([0-9.]+) s$", done.stdout.strip())
        if m:
            self.seconds[path] = float(m.group(1))
        os.replace(path + ".part.png", path)
        return path

    def submit(self, kind, prompt, seed, size, extra=()):
        """A future of the picture's path (None when it failed or ran out of time); Scale-DiT
        pictures get --generate-args too."""
        extra = (self.scaledit_args if kind == "scaledit" else []) + list(extra)
        path = self.path(kind, seed, size, extra)
        return self.pool.submit(self._run, prompt, seed, size, path, extra)


def held_out(first, count, celestial_only=False):
    """(scene seed, caption, attributes) of the first `count` held-out scenes (with a sun or moon)."""
    out, seed = [], first
    while len(out) < count:
        a = sample_attributes(seed)
        if not celestial_only or a.celestial != "none":
            out.append((seed, caption(a, seed), a))
        seed += 1
    return out


def judge_set(gen, scenes, size, kind="scaledit"):
    """Generates and judges `scenes` at size²: per-check (correct, total), per-picture records."""
    futures = [(s, gen.submit(kind, text, s, size)) for s, text, _ in scenes]
    score = {name: [0, 0] for name, _ in CHECKS}
    records = []
    for (seed, text, attrs), (_, fut) in zip(scenes, futures):
        path = fut.result()
        if path is None:
            continue
        verdict = judge_image(read_png(path))
        checks = {}
        for name, ok in CHECKS:
            good = bool(ok(attrs, verdict))
            score[name][0] += int(good)
            score[name][1] += 1
            checks[name] = good
        records.append({"seed": seed, "caption": text, "attributes": attrs.as_dict(), "path": path,
                        "seconds": gen.seconds.get(path), "verdict": verdict, "checks": checks})
    return score, records


def tiled_picture(gen, seed, text, size, tile):
    """size² stitched from independent tile² dense generations (no global guidance)."""
    n = size // tile
    futures = [gen.submit("tile", text, seed * 1000 + t, tile, ["--global-factor", "1"]) for t in range(n * n)]
    paths = [f.result() for f in futures]
    if any(p is None for p in paths):
        return None, paths
    img = np.zeros((size, size, 3), np.uint8)
    for t, p in enumerate(paths):
        r, c = divmod(t, n)
        img[r * tile:(r + 1) * tile, c * tile:(c + 1) * tile] = read_png(p)
    return img, paths


def coherence(gen, scenes, size, reuse):
    """Fraction of pictures with exactly one disc, and the records."""
    futures = [gen.submit("scaledit", text, s, size) for s, text, _ in scenes]
    records = []
    for (seed, text, _), fut in zip(scenes, futures):
        path = fut.result()
        if path is None:
            continue
        verdict = reuse.get(path) or judge_image(read_png(path))
        records.append({"seed": seed, "caption": text, "path": path, "discs": verdict["suns"] + verdict["moons"]})
    return records


def tiling(gen, scenes, size, tile, seam_period):
    records = []
    for seed, text, _ in scenes:
        img, paths = tiled_picture(gen, seed, text, size, tile)
        if img is None:
            break
        verdict = judge_image(img)
        records.append({"seed": seed, "caption": text, "discs": verdict["suns"] + verdict["moons"],
                        "tile_seam_ratio": boundary_ratio(img, seam_period),
                        "tile_seconds": sum(gen.seconds.get(p) or 0.0 for p in paths)})
    return records


def _picture_ratios(job):
    """boundary_ratio of one picture for each period (read once)."""
    path, periods = job
    img = read_png(path)
    return [boundary_ratio(img, period) for period in periods]


def seams(paths, periods, size):
    """Per period: the mean over pictures of (boundary gradient / elsewhere gradient); none for a
    period that draws no boundary inside a size² picture. Pictures are read and measured in
    parallel processes (a 4096² picture takes seconds)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    measured = [period for period in periods.values() if period < size]
    per_picture = []
    if measured and paths:
        workers = max(1, min(len(paths), os.cpu_count() or 1, 16))
        # spawned, not forked: the generation threads of this process may still be alive
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            per_picture = list(pool.map(_picture_ratios, [(p, measured) for p in paths]))
    out = {}
    for name, period in periods.items():
        ratios = [r[measured.index(period)] for r in per_picture] if period < size else []
        out[name] = {"period_px": period, "pictures": len(ratios),
                     "ratio_mean": float(np.mean(ratios)) if ratios else None,
                     "ratio_max": float(np.max(ratios)) if ratios else None}
    return out


def contact_sheet(records, tile, cols=4, gap=4):
    from PIL import Image
    rows = (len(records) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * (tile + gap) + gap, rows * (tile + gap) + gap), (24, 24, 24))
    for n, rec in enumerate(records):
        with Image.open(rec["path"]) as im:
            small = im.convert("RGB").resize((tile, tile), Image.LANCZOS)
        sheet.paste(small, (gap + (n % cols) * (tile + gap), gap + (n // cols) * (tile + gap)))
    return sheet


def showcase(path, side, crop):
    """The picture scaled to side² beside a crop² 1:1 crop of its centre (marked on the left)."""
    from PIL import Image, ImageDraw
    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        x0, y0 = (w - crop) // 2, (h - crop) // 2
        cut = im.crop((x0, y0, x0 + crop, y0 + crop))
        small = im.resize((side, side * h // w), Image.LANCZOS)
    f = side / w
    ImageDraw.Draw(small).rectangle([x0 * f, y0 * f, (x0 + crop) * f - 1, (y0 + crop) * f - 1],
                                    outline=(255, 64, 64), width=max(1, side // 256))
    out = Image.new("RGB", (side + 8 + crop, max(small.size[1], crop)), (24, 24, 24))
    out.paste(small, (0, 0))
    out.paste(cut, (side + 8, 0))
    return out


def fraction(good, total):
    return good / total if total else None


def fmt(x, good=None, total=None):
    if x is None:
        return "—"
    return f"{x:.3f}" + (f" ({good}/{total})" if total is not None else "")


def markdown(res, a):
    lines = []
    judged = [k for k in ("judge-small", "judge-large") if k in res]
    if judged:
        sizes = [res[k]["size"] for k in judged]
        lines += ["| judge check | " + " | ".join(f"{s}²" for s in sizes) + " |",
                  "|---|" + "---|" * len(judged)]
        for name, _ in CHECKS:
            cells = [fmt(fraction(*res[k]["checks"][name]), *res[k]["checks"][name]) for k in judged]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        cells = [fmt(res[k]["overall"], res[k]["correct"], res[k]["total"]) for k in judged]
        lines.append("| **overall** (target ≥ 0.80) | " + " | ".join(cells) + " |")
        cells = [f"{res[k]['seconds_mean']:.2f}" if res[k]["seconds_mean"] else "—" for k in judged]
        lines.append("| seconds per picture | " + " | ".join(cells) + " |")
        lines.append("")
    if "coherence" in res or "tiling" in res:
        lines += ["| exactly one sun or moon at " + f"{a.large}²" + " | fraction | mean discs |", "|---|---|---|"]
        for key, label in (("coherence", "Scale-DiT (target ≥ 0.90)"),
                           ("tiling", f"plain tiling, {a.tile}² tiles, no global guidance")):
            if key in res:
                r = res[key]
                lines.append(f"| {label} | {fmt(r['fraction'], r['exactly_one'], r['pictures'])} | "
                             f"{fmt(r['mean_discs'])} |")
        lines.append("")
    if "seams" in res:
        lines += ["| seams: boundary / elsewhere gradient | period | pictures | mean | max |", "|---|---|---|---|---|"]
        for name, r in res["seams"].items():
            lines.append(f"| {name} | {r['period_px']} px | {r['pictures']} | {fmt(r['ratio_mean'])} | "
                         f"{fmt(r['ratio_max'])} |")
        lines.append("")
        lines.append("Target: within 10% of elsewhere (0.90–1.10) on window and VAE tile boundaries.")
        lines.append("")
    return "\n".join(lines)


def summarize_judges(score, records, size):
    correct = sum(g for g, _ in score.values())
    total = sum(t for _, t in score.values())
    secs = [r["seconds"] for r in records if r["seconds"] is not None]
    return {"size": size, "pictures": len(records), "checks": score, "correct": correct, "total": total,
            "overall": fraction(correct, total), "seconds_mean": float(np.mean(secs)) if secs else None,
            "records": records}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cli", default="build/cli/scaledit", help="the scaledit command")
    ap.add_argument("--model", default=None, help="model folder (default: the CLI's bundled model)")
    ap.add_argument("--device", default=None, help="auto, cpu or cuda")
    ap.add_argument("--out", default=os.environ.get("OUT", "eval-out"), help="where the results go")
    ap.add_argument("--work", default="/tmp/scaledit-eval", help="where generated pictures go")
    ap.add_argument("--parts", default=",".join(PARTS), help="comma-separated: " + ", ".join(PARTS))
    ap.add_argument("--first-seed", type=int, default=HELD_OUT)
    ap.add_argument("--small", type=int, default=1024, help="small size (judges, contact sheet)")
    ap.add_argument("--large", type=int, default=4096, help="large size (judges, coherence, seams)")
    ap.add_argument("--captions", type=int, default=64, help="held-out captions judged at the small size")
    ap.add_argument("--large-captions", type=int, default=64, help="held-out captions judged at the large size")
    ap.add_argument("--coherence", type=int, default=20, help="sun/moon captions for the coherence check")
    ap.add_argument("--tiling", type=int, default=20, help="of those, how many also by plain tiling")
    ap.add_argument("--tile", type=int, default=1024, help="plain tiling's tile side")
    ap.add_argument("--window", type=int, default=16, help="detail-pass window side in tokens (16 px each)")
    ap.add_argument("--vae-tile", type=int, default=512, help="VAE decode tile side to check for seams, px")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--detail-steps", type=int, default=None)
    ap.add_argument("--generate-args", default="",
                    help="more `scaledit generate` options for every Scale-DiT picture, e.g. \"--true-cfg 2\"")
    ap.add_argument("--jobs", type=int, default=2, help="generations at a time")
    ap.add_argument("--time-limit", type=float, default=0, help="seconds after which no generation starts")
    ap.add_argument("--sheet-tile", type=int, default=256, help="contact sheet cell side, px")
    ap.add_argument("--showcase", type=int, default=1024, help="side of the scaled large picture and of its crop")
    args = ap.parse_args()
    parts = [p for p in args.parts.split(",") if p]
    bad = [p for p in parts if p not in PARTS]
    if bad:
        ap.error(f"unknown parts {bad}; known: {', '.join(PARTS)}")
    if args.large % args.tile:
        ap.error(f"--large {args.large} is not a multiple of --tile {args.tile}")
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.work, exist_ok=True)
    gen = Generator(args)
    t0 = time.monotonic()
    res = {"model": args.model or "bundled", "device": args.device or "auto", "steps": args.steps,
           "detail_steps": args.detail_steps, "first_seed": args.first_seed, "generate_args": args.generate_args}
    verdicts = {}
    res["part_seconds"] = {}
    clock = [time.monotonic()]

    def lap(part):
        now = time.monotonic()
        if part in parts or (part == "judge-small" and "sheet" in parts):
            res["part_seconds"][part] = round(now - clock[0], 1)
        clock[0] = now

    if "judge-small" in parts or "sheet" in parts:
        count = args.captions if "judge-small" in parts else min(16, args.captions)
        score, records = judge_set(gen, held_out(args.first_seed, count), args.small)
        res["judge-small"] = summarize_judges(score, records, args.small)
    lap("judge-small")
    if "judge-large" in parts:
        score, records = judge_set(gen, held_out(args.first_seed, args.large_captions), args.large)
        res["judge-large"] = summarize_judges(score, records, args.large)
        verdicts = {r["path"]: r["verdict"] for r in records}
    sun_moon = held_out(args.first_seed, max(args.coherence, args.tiling), celestial_only=True)
    lap("judge-large")
    if "coherence" in parts:
        recs = coherence(gen, sun_moon[:args.coherence], args.large, verdicts)
        one = sum(r["discs"] == 1 for r in recs)
        res["coherence"] = {"pictures": len(recs), "exactly_one": one, "fraction": fraction(one, len(recs)),
                            "mean_discs": float(np.mean([r["discs"] for r in recs])) if recs else None,
                            "records": recs}
    lap("coherence")
    if "tiling" in parts:
        recs = tiling(gen, sun_moon[:args.tiling], args.large, args.tile, args.tile)
        one = sum(r["discs"] == 1 for r in recs)
        res["tiling"] = {"pictures": len(recs), "exactly_one": one, "fraction": fraction(one, len(recs)),
                         "mean_discs": float(np.mean([r["discs"] for r in recs])) if recs else None,
                         "tile": args.tile, "records": recs}
    lap("tiling")
    if "seams" in parts:
        paths = sorted({p for p in (list(verdicts) + [r["path"] for r in res.get("coherence", {}).get("records", [])])})
        res["seams"] = seams(paths, {"Scale-DiT, window boundaries": args.window * 16,
                                     "Scale-DiT, VAE tile boundaries": args.vae_tile}, args.large)
        if res.get("tiling", {}).get("records"):
            ratios = [r["tile_seam_ratio"] for r in res["tiling"]["records"]]
            res["seams"]["plain tiling, tile boundaries (control)"] = {
                "period_px": args.tile, "pictures": len(ratios), "ratio_mean": float(np.mean(ratios)),
                "ratio_max": float(np.max(ratios))}
    lap("seams")
    if "sheet" in parts:
        recs = res["judge-small"]["records"][:16]
        if recs:
            contact_sheet(recs, args.sheet_tile).save(os.path.join(args.out, "model-contact-sheet.png"), optimize=True)
            res["sheet"] = [{"seed": r["seed"], "caption": r["caption"]} for r in recs]
        large = [r["path"] for r in res.get("coherence", {}).get("records", [])] or sorted(verdicts)
        if not large and not gen.out_of_time():
            s, text, _ = sun_moon[0]
            large = [gen.submit("scaledit", text, s, args.large).result()]
        if large and large[0]:
            crop = min(args.showcase, args.large)
            showcase(large[0], min(args.showcase, args.large), crop).save(
                os.path.join(args.out, "model-4096.jpg"), quality=88, optimize=True)
            res["showcase"] = large[0]
    lap("sheet")
    res["skipped_generations"] = gen.skipped
    res["failed_generations"] = gen.failures
    res["wall_seconds"] = time.monotonic() - t0
    table = markdown(res, args)
    note = (f"Model {res['model']}, device {res['device']}, held-out scenes from seed {args.first_seed}; "
            f"{res['wall_seconds']:.0f} s wall ({res['part_seconds']})" + (f"; {gen.skipped} generations skipped at the time limit"
                                                   if gen.skipped else "")
            + (f"; {len(gen.failures)} generations failed: {gen.failures[0]}" if gen.failures else "") + ".\n")
    print(note)
    print(table)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(note + "\n" + table)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(res, f, indent=1, default=str)
    gen.pool.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
