#!/usr/bin/env python3
"""train_vae.py: stage 1 of scaledit-tiny, the AutoencoderKL (16 latent channels, 8x), trained
with L1 + an edge (image-gradient) L1 + a tiny KL + a penalty on latents far outside their usual
range; measures shift_factor (latent mean) and scaling_factor (1 / latent std). --images takes
several prefixes of tools/train/data.py (512^2 and 1024^2 renders, 1024^2 crops of 4096^2 renders).
The steps take four views in turn, because the VAE's GroupNorm normalises over the whole picture,
so what the encoder makes of a sun depends on the picture's size: trained on 256^2 views alone, it
put latents 15 standard deviations out on the sun of a whole 1024^2 picture and 19 on the engine's
4096^2 handover picture, which the decoder drew as a rainbow speck and the transformer learnt to
draw. The views: 256^2 crops (each picture its own place) and whole pictures shrunk to 256^2; whole
pictures at their own size; a 1024^2 picture upsampled to 2048^2 and sharpened as the engine's
handover does; the same at 4096^2 (encoder only: the penalty). The penalty is summed over each
picture's latents, so a single spike counts. With --decoder-only (and --resume) the encoder stays
frozen, so the latent space the transformer was trained on, and its shift and scale, do not change:
only the decoding gets better (the three views that decode).

    python3 tools/train/train_vae.py --images /dev/shm/s512[,/dev/shm/s1024,...] --out /tmp/w/vae
        --minutes 3 [--resume DIR [--decoder-only]] [--batch 32] [--lr 5e-4] [--limit-weight 0.1] [--seed 1]
"""
import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from tools.eval.pipeline_torch import unsharp_mask  # noqa: E402
from tools.train import architecture, data  # noqa: E402
from tools.train.schedule import lr_at  # noqa: E402

CROP = 256
EDGE_WEIGHT = 0.5
KL_WEIGHT = 1e-6
LATENT_LIMIT = 5.0  # latent means this many standard deviations out (see latent_penalty) are penalised
WHOLE_PIXELS = 2 * 1024 * 1024  # pixels per step of whole pictures
SHARPEN = 0.5  # the engine's default handover unsharp mask (sigma 1, radius 3)


def to_float(u8):
    """uint8 NHWC -> float NCHW in [-1, 1]."""
    return u8.permute(0, 3, 1, 2).float() / 127.5 - 1.0


def flipped(x, gen):
    flip = torch.rand(x.shape[0], generator=gen).to(x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def pick(images, n, gen):
    idx = torch.randint(0, images.shape[0], (n,), generator=gen)
    return images[idx.to(images.device)]


def small_views(images, n, gen):
    """Half 256^2 crops at full resolution, each picture at its own place; half whole pictures
    shrunk to 256^2."""
    S, half = images.shape[1], n // 2
    corners = torch.randint(0, S - CROP + 1, (half, 2), generator=gen).tolist()
    crops = torch.stack([to_float(p[None, y:y + CROP, x:x + CROP])[0]
                         for p, (y, x) in zip(pick(images, half, gen), corners)])
    whole = F.avg_pool2d(to_float(pick(images, n - half, gen)), S // CROP)
    return flipped(torch.cat([crops, whole]), gen)


def handover(x, factor):
    """x upsampled (bicubic) by factor and sharpened, as the engine's handover encodes the global
    picture at the target size."""
    return unsharp_mask(F.interpolate(x, scale_factor=factor, mode="bicubic"), SHARPEN)


def view_of(step, sets, batch, gen, decoder_only):
    """(pictures, whether to decode them) of a step: the views described at the top, in turn."""
    kind = step % (3 if decoder_only else 4)  # the decoder alone: the views it decodes
    images = sets[(step // 4) % len(sets)]
    if kind == 0:
        return small_views(images, batch, gen), True
    if kind == 1:
        n = max(1, WHOLE_PIXELS // (images.shape[1] * images.shape[2]))
        return flipped(to_float(pick(images, n, gen)), gen), True
    large = max(sets, key=lambda s: s.shape[1])  # the largest pictures stand for a global pass
    return flipped(handover(to_float(pick(large, 1, gen)), 2 if kind == 2 else 4), gen), kind == 2


def latent_penalty(mean):
    """Squared excess of the latent means beyond LATENT_LIMIT standard deviations, summed per
    picture, averaged. The spread is the batch's own: its channel's, or all channels' where that
    is wider (a near-constant channel would make every change an outlier); so shrinking every
    latent alike (which the decoder would undo) does not lower it: only outliers do."""
    m = mean.float()
    spread = torch.maximum(m.std((0, 2, 3), keepdim=True), m.std())
    z = (m - m.mean((0, 2, 3), keepdim=True)) / spread
    return F.relu(z.abs() - LATENT_LIMIT).square().flatten(1).sum(1).mean()


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


@torch.no_grad()
def largest_latent(vae, images, n, factor, shift):
    """The largest |latent mean - shift| over the first n pictures, whole, upsampled by factor as a
    handover."""
    top = 0.0
    for i in range(n):
        x = to_float(images[i:i + 1])
        if factor > 1:
            x = handover(x, factor)
        with torch.autocast("cuda", torch.bfloat16, enabled=x.is_cuda):
            top = max(top, (vae.encode(x).latent_dist.mean.float() - shift).abs().max().item())
    return top


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", required=True, help="prefix written by tools/train/data.py")
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--max-steps", type=int, default=10 ** 9)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--limit-weight", type=float, default=0.1, help="weight of the latent penalty")
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
        x, decode = view_of(step, train_sets, args.batch, gen, args.decoder_only)
        with torch.autocast("cuda", torch.bfloat16, enabled=dev == "cuda"):
            with torch.set_grad_enabled(not args.decoder_only):
                post = vae.encode(x).latent_dist
            y = vae.decode(post.sample()).sample.float() if decode else None
        loss = 0.0
        if decode:
            l1 = F.l1_loss(y, x)
            loss = l1 + EDGE_WEIGHT * edge_l1(y, x)
        if not args.decoder_only:
            loss = loss + KL_WEIGHT * post.kl().mean() + args.limit_weight * latent_penalty(post.mean)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        opt.step()
        step += 1
        if step % 200 < 4:  # each view once
            print("vae step %d  %.0f s  %s  loss %.4f  |latent| max %.2f"
                  % (step, time.time() - t0, "x".join(map(str, x.shape[2:])), loss.item(),
                     post.mean.abs().max().item()), flush=True)
    vae.eval()
    measured = [measure(vae, imgs, imgs.shape[0]) for imgs in eval_sets]
    for prefix, (psnr, _, _) in zip(args.images.split(","), measured):
        print("vae: held-back PSNR %.2f dB on %s at 256^2" % (psnr, os.path.basename(prefix)), flush=True)
    psnr, mean, std = measured[0]  # the latent statistics come from the first set
    large = max(eval_sets, key=lambda s: s.shape[1])
    for factor, n in ((1, 32), (2, 8), (4, 4)):
        n = min(n, large.shape[0])
        print("vae: largest latent %.1f standard deviations on %d held-back %d^2 pictures"
              % (largest_latent(vae, large, n, factor, mean) / std, n, large.shape[1] * factor), flush=True)
    if not args.decoder_only:  # a frozen encoder keeps the latent statistics the model was trained on
        vae.register_to_config(shift_factor=mean, scaling_factor=1.0 / std)
    vae.save_pretrained(args.out)
    print("vae done: %d steps in %.0f s, held-back PSNR %.2f dB at 256^2, latent mean %.4f std %.4f"
          % (step, time.time() - t0, psnr, mean, std), flush=True)


if __name__ == "__main__":
    main()
