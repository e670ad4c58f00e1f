#!/usr/bin/env python3
"""train_lora.py: stage 3 of scaledit-tiny, the Scale-DiT LoRA (rank 16, alpha 16) on the frozen
base transformer, trained as the engine's detail pass runs: the HR latent (1024^2 renders) noised
to sigma, the clean latent of the same picture at 1/4 size as LR tokens at timestep 0 with RoPE
anchors scaled by 4 and theta x NTK 10, the exact Scale-DiT mask (tools/reference/flux_torch.py,
the engine's rules), routing LoRA to every targeted module for LR tokens and to q/k/v for text and
HR; the loss is on HR tokens. --images takes several prefixes of tools/train/data.py: whole 1024^2 pictures, and
1024^2 crops of pictures rendered at 2048^2 or 4096^2, which show the detail pass a scene at the
scale it meets in a 2048^2 or 4096^2 picture (a sun of 20 tokens across, not 5). Each picture's
sigmas follow the detail pass of the size it was rendered at: that size's global shift (mu), up
to a little above the sigma the detail pass starts from.

    python3 tools/train/train_lora.py --model-dir DIR --images /dev/shm/c4096,/dev/shm/s1024 \
        --out /tmp/w/lora --minutes 3 [--factor 4] [--batch 16] [--resume LORA_DIR] [--seed 3]
DIR is a model folder (tokenizers, vae/, text_encoder/, text_encoder_2/, transformer/).
"""
import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))
import flux_torch as ft  # noqa: E402
from tools.train import architecture, data  # noqa: E402
from tools.train.sample import Encoders, mu_for, pack, sigmas  # noqa: E402
from tools.train.schedule import lr_at  # noqa: E402

RANK, ALPHA = 16, 16
NTK = 10.0
THETA = 10000.0
STEPS, DETAIL_STEPS = 28, 18  # the engine's default schedule: the detail pass runs the last 18 of 28
SIGMA_MARGIN = 0.05
CAPTION_DROPOUT = 0.1
VAL_PER_SET = 32


def detail_sigmas(rendered, factor):
    """(mu, highest training sigma) of the detail pass of a rendered^2 picture: the global pass's
    shift for its (rendered / factor)^2 picture, and the sigma where the detail pass starts plus a
    margin."""
    n_lr = (rendered // factor // 16) ** 2
    start = sigmas(STEPS, n_lr)[STEPS - DETAIL_STEPS]
    return mu_for(n_lr), min(1.0, float(start) + SIGMA_MARGIN)


@torch.no_grad()
def encode(vae, images, factor, dev, batch=16):
    """Scaled latents of the pictures (HR) and of their 1/factor versions (LR), mirrors included,
    and for each latent the index of its picture."""
    hr, lr, picture = [], [], []
    sc, sh = vae.config.scaling_factor, vae.config.shift_factor
    for i in range(0, images.shape[0], batch):
        picture += list(range(i, min(i + batch, images.shape[0]))) * 2  # the originals, then their mirrors
        x = torch.from_numpy(images[i:i + batch].copy()).to(dev).permute(0, 3, 1, 2).float() / 127.5 - 1
        x = torch.cat([x, x.flip(3)])
        with torch.autocast("cuda", torch.bfloat16, enabled=dev == "cuda"):
            zh = vae.encode(x).latent_dist.mean.float()
            zl = vae.encode(F.avg_pool2d(x, factor)).latent_dist.mean.float()
        hr.append(((zh - sh) * sc).to(torch.bfloat16))
        lr.append(((zl - sh) * sc).to(torch.bfloat16))
    return torch.cat(hr), torch.cat(lr), picture


def main():
    from diffusers import AutoencoderKL
    from transformers import CLIPTextModel, T5EncoderModel
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--images", required=True, help="prefix written by tools/train/data.py (HR size)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--factor", type=int, default=4)
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--max-steps", type=int, default=10 ** 9)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--resume", help="a PEFT LoRA folder to start from")
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.enable_cudnn_sdp(False)  # its backward fails at large batch x heads (H100, torch 2.11)
    md = args.model_dir
    t_start = time.time()
    vae = AutoencoderKL.from_pretrained(os.path.join(md, "vae"), torch_dtype=torch.float32).to(dev).eval()
    clip = CLIPTextModel.from_pretrained(os.path.join(md, "text_encoder"), torch_dtype=torch.float32).to(dev).eval()
    t5 = T5EncoderModel.from_pretrained(os.path.join(md, "text_encoder_2"), torch_dtype=torch.float32).to(dev).eval()
    tr = ft.FluxTransformer.from_pretrained(md, dtype=torch.float32, device=dev).eval()
    for m in (vae, clip, t5, tr):
        m.requires_grad_(False)
    if args.resume:
        ft.load_lora(tr, args.resume)
    else:
        ft.add_lora(tr, RANK, ALPHA)
    params = ft.lora_parameters(tr)
    for p in params:
        p.requires_grad_(True)
    hr, lr, caps, mus, tops, val, names = [], [], [], [], [], [], []
    for prefix in args.images.split(","):
        images, captions = data.load(prefix)
        h, lo, picture = encode(vae, images, args.factor, dev)
        mu, top = detail_sigmas(data.rendered_size(prefix), args.factor)
        first = sum(x.shape[0] for x in hr)
        n_val = max(1, min(VAL_PER_SET, images.shape[0] // 16))
        val.append(torch.tensor([first + j for j, p in enumerate(picture) if p < n_val], device=dev))
        names.append("%s (mu %.2f, sigma <= %.2f)" % (os.path.basename(prefix), mu, top))
        hr.append(h)
        lr.append(lo)
        caps += [captions[i] for i in picture]
        mus += [mu] * h.shape[0]
        tops += [top] * h.shape[0]
    hr, lr = torch.cat(hr), torch.cat(lr)
    mus = torch.tensor(mus, dtype=torch.float32, device=dev)
    tops = torch.tensor(tops, dtype=torch.float32, device=dev)
    held = torch.zeros(hr.shape[0], dtype=torch.bool, device=dev)
    held[torch.cat(val)] = True
    train_idx = torch.nonzero(~held)[:, 0]
    enc = Encoders(md, clip, t5, architecture.t5_length(md))
    with torch.no_grad():
        txt_all, pooled_all = [], []
        for i in range(0, len(caps), 256):
            t, p = enc.encode(caps[i:i + 256], dev)
            txt_all.append(t)
            pooled_all.append(p)
        txt_all, pooled_all = torch.cat(txt_all), torch.cat(pooled_all)
        empty_txt, empty_pooled = enc.encode([""], dev)
    H, L = hr.shape[-1] // 2, lr.shape[-1] // 2  # token grid sides
    T = txt_all.shape[1]
    ids = ft.scale_dit_ids(T, H, H, L, L).to(dev)
    kinds = ft.scale_dit_tokens(T, H, H, L, L)["kind"].to(dev)
    mask = ft.scale_dit_mask(T, H, H, L, L).to(dev)
    print("stage lora: %d HR latents %s, LR %s, %d tokens (%.1f%% of pairs allowed), ready in %.0f s; from %s"
          % (hr.shape[0], tuple(hr.shape[1:]), tuple(lr.shape[1:]), mask.shape[0],
             100 * mask.float().mean().item(), time.time() - t_start, ", ".join(names)), flush=True)

    def loss_on(idx, gen, drop_p):
        B = idx.shape[0]
        x0, xl = pack(hr[idx].float()), pack(lr[idx].float())
        txt, pooled = txt_all[idx], pooled_all[idx]
        drop = torch.rand(B, device=dev, generator=gen) < drop_p
        txt = torch.where(drop[:, None, None], empty_txt, txt)
        pooled = torch.where(drop[:, None], empty_pooled, pooled)
        u = torch.sigmoid(torch.randn(B, device=dev, generator=gen))
        shift = torch.exp(mus[idx])
        sigma = tops[idx] * shift / (shift + (1 / u - 1))
        noise = torch.randn(x0.shape, device=dev, generator=gen)
        xt = (1 - sigma[:, None, None]) * x0 + sigma[:, None, None] * noise
        with torch.autocast("cuda", torch.bfloat16, enabled=dev == "cuda"):
            out = tr(torch.cat([xt, xl], 1), txt, pooled, sigma, ids, kinds=kinds, mask=mask,
                     theta=THETA * NTK, routing="scale-dit")
        return F.mse_loss(out[:, :x0.shape[1]].float(), noise - x0)

    def validate():
        """The held-back HR loss of each set of pictures."""
        gen = torch.Generator(device=dev).manual_seed(1234)
        with torch.no_grad():
            losses = []
            for v in val:
                parts = torch.split(v, args.batch)
                losses.append(sum(loss_on(p, gen, 0.0).item() for p in parts) / len(parts))
            return losses

    ft.set_lora_scale(tr, 0.0)
    before = validate()
    ft.set_lora_scale(tr, 1.0)
    resumed = validate() if args.resume else None
    opt = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.99), weight_decay=0.0)
    gen = torch.Generator(device=dev).manual_seed(args.seed)
    t0, step, budget, avg = time.time(), 0, args.minutes * 60, None
    while time.time() - t0 < budget and step < args.max_steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(args.lr, step, (time.time() - t0) / budget)
        idx = train_idx[torch.randint(0, train_idx.shape[0], (args.batch,), device=dev, generator=gen)]
        loss = loss_on(idx, gen, CAPTION_DROPOUT)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        avg = loss.item() if avg is None else 0.98 * avg + 0.02 * loss.item()
        if step % 100 == 0:
            print("lora step %d  %.0f s  loss %.4f" % (step, time.time() - t0, avg), flush=True)
    after = validate()
    ft.save_lora(tr, args.out)
    print("lora done: %d steps, batch %d, %.0f s" % (step, args.batch, time.time() - t0), flush=True)
    for i, name in enumerate(names):
        print("  held-back HR loss of %s: without LoRA %.4f,%s now %.4f"
              % (name, before[i], " resumed LoRA %.4f," % resumed[i] if resumed else "", after[i]), flush=True)


if __name__ == "__main__":
    main()
