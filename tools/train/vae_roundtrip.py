#!/usr/bin/env python3
"""vae_roundtrip.py: how well a VAE carries the scenes' suns and moons: renders held-out scenes
with a sun or moon, encodes and decodes each through the VAE (PyTorch, the latent mean), and
prints per picture the PSNR, the largest scaled latent (|z - shift| * scale; a diffusion model
cannot reproduce a spike many standard deviations out), how many discs the scene judge finds in
the render and in the round trip, and the strongest colour (max - min channel) near the disc in
both (a fringe the render lacks shows there); with --crops DIR, writes each disc's
neighbourhood, render beside round trip, as PNG.

    python3 tools/train/vae_roundtrip.py models/scaledit-tiny/vae --n 8 --size 1024 [--crops /tmp/rt]
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from tools.scenes.judges import celestial_bodies, to_work  # noqa: E402
from tools.scenes.png import write_png  # noqa: E402
from tools.train.data import HELD_OUT, held_out  # noqa: E402


def round_trip(vae, img):
    """(decoded uint8 picture, scaled latent) of an (H, W, 3) uint8 picture."""
    x = torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 127.5 - 1
    with torch.no_grad():
        z = vae.encode(x).latent_dist.mean
        y = vae.decode(z).sample
    out = ((y[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    return out, (z - vae.config.shift_factor) * vae.config.scaling_factor


def main():
    from diffusers import AutoencoderKL
    from tools.scenes.scene import render_scene
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("vae", help="a diffusers AutoencoderKL folder")
    ap.add_argument("--n", type=int, default=8, help="scenes with a sun or moon")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--first", type=int, default=HELD_OUT)
    ap.add_argument("--crops", help="folder for render | round-trip crops around each disc")
    args = ap.parse_args()
    vae = AutoencoderKL.from_pretrained(args.vae, torch_dtype=torch.float32).eval()
    scenes = [s for s in held_out(4 * args.n + 8, args.first) if s[2].celestial != "none"][:args.n]
    print("| seed | time | PSNR dB | largest latent | discs render / round trip | colour near the disc, render / round trip |")
    print("|---|---|---|---|---|---|")
    for seed, _, attrs in scenes:
        img = render_scene(attrs, seed, args.size, args.size)[..., :3]
        out, z = round_trip(vae, img)
        psnr = 10 * np.log10(255.0 ** 2 / max(np.mean((out.astype(np.float64) - img) ** 2), 1e-12))
        work = to_work(img)
        suns, moons = celestial_bodies(work)
        after = sum(len(b) for b in celestial_bodies(to_work(out)))
        fringe = "-"
        if suns or moons:
            cx, cy, r = (suns or moons)[0]
            f = args.size / work.shape[0]
            x0, x1 = int(max((cx - 2 * r) * f, 0)), int(min((cx + 2 * r) * f, args.size))
            y0, y1 = int(max((cy - 2 * r) * f, 0)), int(min((cy + 2 * r) * f, args.size))
            chroma = [int((p.max(-1) - p.min(-1)).max()) for p in
                      (img[y0:y1, x0:x1].astype(np.int16), out[y0:y1, x0:x1].astype(np.int16))]
            fringe = "%d / %d" % tuple(chroma)
            if args.crops:
                os.makedirs(args.crops, exist_ok=True)
                write_png(os.path.join(args.crops, f"roundtrip-{seed}.png"),
                          np.concatenate([img[y0:y1, x0:x1], out[y0:y1, x0:x1]], 1))
        print(f"| {seed} | {attrs.time} | {psnr:.1f} | {float(z.abs().max()):.1f} | "
              f"{len(suns) + len(moons)} / {after} | {fringe} |", flush=True)


if __name__ == "__main__":
    main()
