#!/usr/bin/env python3
"""train_vae.py: stage 1 of scaledit-tiny, the AutoencoderKL (16 latent channels, 8x), trained
with L1 + an edge (image-gradient) L1 + a tiny KL + a penalty on latents far outside their usual
range, on 256^2 crops and on whole pictures shrunk to 256^2; measures shift_factor (latent mean)
and scaling_factor (1 / latent std). --images takes several prefixes of tools/train/data.py, drawn
from in turn: 512^2 and 1024^2 renders, and 1024^2 crops of 4096^2 renders, whose large sun and
moon discs a 4096^2 handover encodes (trained on 512^2 alone, the encoder gave a 4096^2 sun
latents 20 standard deviations out, which neither its decoder nor the transformer could
reproduce). With --decoder-only (and --resume) the encoder stays frozen, so the latent space the
transformer was trained on, and its shift and scale, do not change: only the decoding gets better.

    python3 tools/train/train_vae.py --images /dev/shm/s512[,/dev/shm/c4096] --out /tmp/w/vae
        --minutes 3 [--resume DIR [--decoder-only]] [--batch 32] [--seed 1]
"""
import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from tools.train import architecture, data  # noqa: E402
from tools.train.schedule import lr_at  # noqa: E402

CROP = 256
EDGE_WEIGHT = 0.5
KL_WEIGHT = 1e-6
LATENT_LIMIT = 3.0  # |latent mean| beyond this (about 6 standard deviations) is penalised
LIMIT_WEIGHT = 1.0


def to_float(u8):
    """uint8 NHWC -> float NCHW in [-1, 1]."""
    return u8.permute(0, 3, 1, 2).float() / 127.5 - 1.0


def batch_of(images, n, gen):
    """Half random 256^2 crops at full resolution, half whole pictures shrunk to 256^2; random
    flips."""
    N, S = images.shape[0], images.shape[1]
    idx = torch.randint(0, N, (n,), generator=gen, device="cpu").to(images.device)
    half = n // 2
    oy, ox = (torch.randint(0, S - CROP + 1, (2,), generator=gen).tolist())
    crops = to_float(images[idx[:half], oy:oy + CROP, ox:ox + CROP])
    whole = F.avg_pool2d(to_float(images[idx[half:]]), S // CROP)
    x = torch.cat([crops, whole])
    flip = torch.rand(n, generator=gen).to(x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def edge_l1(a, b):
    return (F.l1_loss(a[..., 1:, :] - a[..., :-1, :], b[..., 1:, :] - b[..., :-1, :])
            + F.l1_loss(a[..., 1:] - a[..., :-1], b[..., 1:] - b[..., :-1]))


@torch.no_grad()
def measure(vae, images, n=512):
    """PSNR of reconstructions and the latent mean / std over n whole pictures at 256^2."""
    lat, psnr = [], []
    for i in range(0, n, 64):
        x = F.avg_pool2d(to_float(images[i:i + 64]), images.shape[1] // CROP)
        with torch.autocast("cuda", torch.bfloat16, enabled=x.is_cuda):
            z = vae.encode(x).latent_dist.mean
            y = vae.decode(z).sample.float().clamp(-1, 1)
        lat.append(z.float())
        mse = ((y - x) ** 2).mean(dim=(1, 2, 3)) / 4  # in [0, 1] units
        psnr.append(-10 * torch.log10(mse))
    lat = torch.cat(lat)
    return torch.cat(psnr).mean().item(), lat.mean().item(), lat.std().item()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", required=True, help="prefix written by tools/train/data.py")
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--max-steps", type=int, default=10 ** 9)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--resume", help="a VAE folder to start from")
    ap.add_argument("--decoder-only", action="store_true", help="train the decoder of --resume only")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    train_sets, eval_sets = [], []
    for prefix in args.images.split(","):
        images, _ = data.load(prefix)
        n_eval = max(1, min(512, images.shape[0] // 8))
        train_sets.append(torch.from_numpy(images[n_eval:].copy()).to(dev))
        eval_sets.append(torch.from_numpy(images[:n_eval].copy()).to(dev))  # first seeds: measured, not trained on
    if args.resume:
        from diffusers import AutoencoderKL
        vae = AutoencoderKL.from_pretrained(args.resume, torch_dtype=torch.float32)
    else:
        vae = architecture.vae()
    if args.decoder_only and not args.resume:
        ap.error("--decoder-only needs --resume")
    vae.to(dev).train()
    trained = [p for n, p in vae.named_parameters() if not args.decoder_only or n.startswith("decoder.")]
    if args.decoder_only:
        vae.encoder.requires_grad_(False)
    opt = torch.optim.AdamW(trained, lr=args.lr, betas=(0.9, 0.99), weight_decay=0.0)
    gen = torch.Generator().manual_seed(args.seed)
    t0, step, budget = time.time(), 0, args.minutes * 60
    while time.time() - t0 < budget and step < args.max_steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(args.lr, step, (time.time() - t0) / budget)
        x = batch_of(train_sets[step % len(train_sets)], args.batch, gen)
        with torch.autocast("cuda", torch.bfloat16, enabled=dev == "cuda"):
            with torch.set_grad_enabled(not args.decoder_only):
                post = vae.encode(x).latent_dist
            y = vae.decode(post.sample()).sample.float()
        l1 = F.l1_loss(y, x)
        loss = l1 + EDGE_WEIGHT * edge_l1(y, x)
        if not args.decoder_only:
            loss = loss + KL_WEIGHT * post.kl().mean()
            loss = loss + LIMIT_WEIGHT * F.relu(post.mean.float().abs() - LATENT_LIMIT).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        opt.step()
        step += 1
        if step % 200 == 0:
            print("vae step %d  %.0f s  loss %.4f  l1 %.4f  |latent| max %.2f"
                  % (step, time.time() - t0, loss.item(), l1.item(), post.mean.abs().max().item()), flush=True)
    vae.eval()
    measured = [measure(vae, imgs, imgs.shape[0]) for imgs in eval_sets]
    for prefix, (psnr, _, _) in zip(args.images.split(","), measured):
        print("vae: held-back PSNR %.2f dB on %s at 256^2" % (psnr, os.path.basename(prefix)), flush=True)
    psnr, mean, std = measured[0]  # the latent statistics come from the first set
    if not args.decoder_only:  # a frozen encoder keeps the latent statistics the model was trained on
        vae.register_to_config(shift_factor=mean, scaling_factor=1.0 / std)
    vae.save_pretrained(args.out)
    print("vae done: %d steps in %.0f s, held-back PSNR %.2f dB at 256^2, latent mean %.4f std %.4f"
          % (step, time.time() - t0, psnr, mean, std), flush=True)


if __name__ == "__main__":
    main()
