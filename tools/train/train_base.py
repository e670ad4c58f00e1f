#!/usr/bin/env python3
"""train_base.py: stage 2 of scaledit-tiny, the CLIP and T5 text encoders and the FLUX transformer
trained together with the rectified-flow objective (FLUX's resolution-shifted logit-normal sigmas)
on latents of the stage-1 VAE, with 10% caption dropout (empty prompt) for true CFG; EMA weights
are saved. Several sizes train together (--sizes 256,512,1024: each step draws one, with a batch
of about the same token count), so the model serves every global-pass size the engine uses
(256^2 for 1024^2 pictures, 1024^2 for 4096^2); each size takes its latents from the smallest
render set (--images, comma-separated prefixes) at least that large, shrunk.

    python3 tools/train/train_base.py --model-dir DIR --images /dev/shm/s512,/dev/shm/s1024 \
        --sizes 256,512,1024 --out /tmp/w/base --minutes 6 [--size-weights 1,1,2] [--resume DIR]
        [--batch 256] [--seed 2]
DIR holds tokenizer/, tokenizer_2/ and vae/; --resume a folder with text_encoder/,
text_encoder_2/ and transformer/ (this script's output or an exported model).
"""
import argparse
import copy
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from tools.train import architecture, data  # noqa: E402
from tools.train.sample import Encoders, generate, image_ids, judge_scores, mu_for, pack  # noqa: E402
from tools.train.schedule import lr_at  # noqa: E402

CAPTION_DROPOUT = 0.1
EMA_DECAY = 0.999


def load_models(model_dir, resume):
    from diffusers import AutoencoderKL, FluxTransformer2DModel
    from transformers import CLIPTextModel, T5EncoderModel
    vae = AutoencoderKL.from_pretrained(os.path.join(model_dir, "vae"), torch_dtype=torch.float32)
    if resume:
        f32 = dict(torch_dtype=torch.float32)
        clip = CLIPTextModel.from_pretrained(os.path.join(resume, "text_encoder"), **f32)
        t5 = T5EncoderModel.from_pretrained(os.path.join(resume, "text_encoder_2"), **f32)
        tr = FluxTransformer2DModel.from_pretrained(os.path.join(resume, "transformer"), **f32)
    else:
        clip_vocab, eos, t5_vocab = architecture.tokenizer_sizes(model_dir)
        clip, t5, tr = architecture.clip(clip_vocab, eos), architecture.t5(t5_vocab), architecture.transformer()
    return vae, clip, t5, tr


@torch.no_grad()
def encode_latents(vae, images, size, dev, batch=64):
    """Scaled, shifted VAE means of every picture at size^2 and of its mirror image, and for each
    latent the index of its picture."""
    out, picture = [], []
    for i in range(0, images.shape[0], batch):
        n = min(batch, images.shape[0] - i)
        picture += list(range(i, i + n)) * 2  # the originals, then their mirrors
        x = torch.from_numpy(images[i:i + batch].copy()).to(dev).permute(0, 3, 1, 2).float() / 127.5 - 1
        if x.shape[-1] != size:
            x = F.avg_pool2d(x, x.shape[-1] // size)
        with torch.autocast("cuda", torch.bfloat16, enabled=dev == "cuda"):
            z = vae.encode(torch.cat([x, x.flip(3)])).latent_dist.mean.float()
        out.append(((z - vae.config.shift_factor) * vae.config.scaling_factor).to(torch.bfloat16))
    return torch.cat(out), picture


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--images", required=True, help="prefixes written by tools/train/data.py, comma-separated")
    ap.add_argument("--sizes", default="256", help="training sizes, comma-separated")
    ap.add_argument("--size-weights", help="how often each size is drawn, comma-separated (default: equally)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--resume")
    ap.add_argument("--minutes", type=float, default=6.0)
    ap.add_argument("--max-steps", type=int, default=10 ** 9)
    ap.add_argument("--batch", type=int, default=256, help="batch at the smallest size")
    ap.add_argument("--lr", type=float, default=4e-4)
    ap.add_argument("--eval", type=int, default=32, help="held-out captions judged at the end")
    ap.add_argument("--seed", type=int, default=2)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.enable_cudnn_sdp(False)  # its backward fails at large batch x heads (H100, torch 2.11)
    t_start = time.time()
    vae, clip, t5, tr = load_models(args.model_dir, args.resume)
    vae.to(dev).eval().requires_grad_(False)
    sizes = [int(x) for x in args.sizes.split(",")]
    weights = [float(x) for x in args.size_weights.split(",")] if args.size_weights else [1.0] * len(sizes)
    if len(weights) != len(sizes) or min(weights) < 0 or sum(weights) <= 0:
        ap.error("--size-weights needs one weight >= 0 per size, not all 0")
    weights = [w for _, w in sorted(zip(sizes, weights))]
    sizes = sorted(sizes)
    sets = sorted((data.load(p) for p in args.images.split(",")), key=lambda ic: ic[0].shape[1])
    enc = Encoders(args.model_dir, clip, t5, architecture.t5_length(args.model_dir))
    empty_clip, empty_t5 = enc.ids([""], dev)
    per_size = {}
    for size in sizes:
        images, captions = next(((i, c) for i, c in sets if i.shape[1] >= size), sets[-1])
        if images.shape[1] < size:
            ap.error("no render set at %d^2 or larger" % size)
        lat, picture = encode_latents(vae, images, size, dev, batch=max(4, 16 * 512 // images.shape[1]))
        caps = [captions[i] for i in picture]
        h = size // 16
        per_size[size] = dict(lat=lat, ids=enc.ids(caps, dev), img_ids=image_ids(h, h, dev), mu=mu_for(h * h),
                              batch=max(4, round(args.batch * (sizes[0] / size) ** 2)))
        print("stage base %d^2: %d latents %s, batch %d, ready in %.0f s" % (
            size, lat.shape[0], tuple(lat.shape[1:]), per_size[size]["batch"], time.time() - t_start), flush=True)
    models = torch.nn.ModuleList([clip, t5, tr]).to(dev).train()
    ema = copy.deepcopy(models).eval().requires_grad_(False)
    opt = torch.optim.AdamW(models.parameters(), lr=args.lr, betas=(0.9, 0.99), weight_decay=0.01)
    txt_ids = torch.zeros(enc.t5_length, 3, device=dev)
    gen = torch.Generator(device=dev).manual_seed(args.seed)
    draw = torch.tensor(weights, device=dev)
    t0, step, budget, avg = time.time(), 0, args.minutes * 60, None
    while time.time() - t0 < budget and step < args.max_steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(args.lr, step, (time.time() - t0) / budget)
        size = sizes[int(torch.multinomial(draw, 1, generator=gen))]
        S = per_size[size]
        B, mu, img_ids = S["batch"], S["mu"], S["img_ids"]
        idx = torch.randint(0, S["lat"].shape[0], (B,), device=dev, generator=gen)
        x0 = pack(S["lat"][idx].float())
        c_ids, t_ids = S["ids"][0][idx], S["ids"][1][idx]
        drop = torch.rand(B, device=dev, generator=gen) < CAPTION_DROPOUT
        c_ids = torch.where(drop[:, None], empty_clip, c_ids)
        t_ids = torch.where(drop[:, None], empty_t5, t_ids)
        u = torch.sigmoid(torch.randn(B, device=dev, generator=gen))
        sigma = torch.exp(torch.tensor(mu)) / (torch.exp(torch.tensor(mu)) + (1 / u - 1))
        noise = torch.randn(x0.shape, device=dev, generator=gen)
        xt = (1 - sigma[:, None, None]) * x0 + sigma[:, None, None] * noise
        with torch.autocast("cuda", torch.bfloat16, enabled=dev == "cuda"):
            txt, pooled = enc.encode_ids(c_ids, t_ids)
            pred = tr(hidden_states=xt, encoder_hidden_states=txt, pooled_projections=pooled, timestep=sigma,
                      img_ids=img_ids, txt_ids=txt_ids, return_dict=False)[0]
        loss = F.mse_loss(pred.float(), noise - x0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(models.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            d = min(EMA_DECAY, (1 + step) / (10 + step))
            torch._foreach_lerp_(list(ema.parameters()), list(models.parameters()), 1 - d)
        step += 1
        avg = loss.item() if avg is None else 0.98 * avg + 0.02 * loss.item()
        if step % 250 == 0:
            print("base %s step %d  %.0f s  loss %.4f" % (args.sizes, step, time.time() - t0, avg), flush=True)
    clip, t5, tr = ema
    for name, m in (("text_encoder", clip), ("text_encoder_2", t5), ("transformer", tr)):
        m.save_pretrained(os.path.join(args.out, name))
    print("base %s done: %d steps, %.0f s" % (args.sizes, step, time.time() - t0), flush=True)
    if args.eval:
        enc.clip, enc.t5 = clip, t5
        held = data.held_out(args.eval)
        for size in sizes:
            imgs = []
            for i in range(0, len(held), 16):
                with torch.autocast("cuda", torch.bfloat16, enabled=dev == "cuda"):
                    imgs.append(generate(tr, enc, vae, [c for _, c, _ in held[i:i + 16]], size, seed=i,
                                         device=dev))
            imgs = np.concatenate(imgs)
            scores = judge_scores(imgs, [a for _, _, a in held])
            print("judges on %d held-out captions at %d^2: %s" % (args.eval, size,
                  ", ".join("%s %.2f" % kv for kv in scores.items())), flush=True)
            np.save(os.path.join(args.out, "samples-%d.npy" % size), imgs[:8])


if __name__ == "__main__":
    main()
