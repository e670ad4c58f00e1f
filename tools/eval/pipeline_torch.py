#!/usr/bin/env python3
"""pipeline_torch.py: our whole two-stage Scale-DiT pipeline (engine/pipeline.c, DESIGN.md section
3) re-implemented in PyTorch from its description, as the reference the engine's pictures are
checked against. Fed the engine's initial noise (philox_noise.py), it gives the same pixels.

Steps: the prompt encoded as diffusers' FluxPipeline does (CLIP pooled output over 77 tokens, T5
hidden states over the padded length); the global pass (dense) at target / f from stream-0 noise
on the model's sigma schedule with FluxPipeline's mu; the VAE decode; the handover (torch
bicubic upsample, a = -0.75, align_corners False; the fixed unsharp mask, Gaussian sigma 1 radius
3 with clamped borders, amount `sharpen`, clamped to [-1, 1]; the encoder's mean); noising to the
start of the last detail_steps steps with stream-1 noise; the detail pass over [text | HR | LR]
(tools/reference/flux_torch.py) with the clean LR latent at timestep 0, scaled RoPE anchors, theta
x ntk, the exact Scale-DiT mask, and the model folder's scale_dit_lora/ with scale-dit routing;
the final decode; the crop to the asked size.

    python3 tools/eval/pipeline_torch.py --model tests/data/pipeline-model --prompt "a lake" \
        --width 256 --height 192 --seed 5 --out ref.npy [--compare engine16.png]

From Python: TorchPipeline(model_dir).generate(Request(...)) -> float32 (H, W, 3) in [0, 1].
"""
import argparse
import dataclasses
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
sys.path.insert(0, HERE)

import flux_torch  # noqa: E402
import philox_noise  # noqa: E402

CLIP_LENGTH = 77
T5_LENGTH_DEV, T5_LENGTH_SCHNELL = 512, 256


@dataclasses.dataclass
class Request:
    """One generation; the defaults are the engine's (engine/engine.c sd_request_init)."""
    prompt: str
    width: int = 1024
    height: int = 1024
    seed: int = 0
    negative_prompt: str = ""
    global_factor: int = 4
    global_steps: int = 28
    detail_steps: int = 18
    global_guidance: float = 3.5
    detail_guidance: float = 4.5
    true_cfg_scale: float = 1.0
    window: int = 16
    hr_radius: int = 8
    lr_radius: int = 2
    lr_window_span: int = 1
    ntk_factor: float = 10.0
    sharpen: float = 0.5
    use_model_lora: bool = True
    lora_scale: float = 1.0
    preview: bool = False


def round16(v):
    return max(int(np.floor(v / 16.0 + 0.5)) * 16, 16)


def pack(latent):
    """[1, C, 2R, 2C'] -> [1, R*C', C*4] as FluxPipeline._pack_latents."""
    b, c, h, w = latent.shape
    x = latent.view(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b, (h // 2) * (w // 2), c * 4)


def unpack(tokens, rows, cols):
    b, _, f = tokens.shape
    c = f // 4
    x = tokens.view(b, rows, cols, c, 2, 2).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(b, c, rows * 2, cols * 2)


def unsharp_mask(img, amount):
    """The handover's fixed unsharp mask: img + amount (img - blur), blur a normalized Gaussian of
    sigma 1 and radius 3 (horizontal then vertical, borders clamped), clamped to [-1, 1]."""
    i = torch.arange(-3, 4, dtype=img.dtype, device=img.device)
    k = torch.exp(-0.5 * i * i)
    k = k / k.sum()
    c = img.shape[1]
    x = F.pad(img, (3, 3, 0, 0), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, 7).repeat(c, 1, 1, 1), groups=c)
    x = F.pad(x, (0, 0, 3, 3), mode="replicate")
    blur = F.conv2d(x, k.view(1, 1, 7, 1).repeat(c, 1, 1, 1), groups=c)
    return (img + amount * (img - blur)).clamp(-1.0, 1.0)


class TorchPipeline:
    """The model folder's components (diffusers layout) loaded for the reference pipeline."""

    def __init__(self, model_dir, dtype=torch.float32):
        from diffusers import AutoencoderKL
        from transformers import CLIPTextModel, CLIPTokenizer, T5EncoderModel, T5TokenizerFast
        self.model_dir = model_dir
        self.dtype = dtype
        self.tok_clip = CLIPTokenizer.from_pretrained(model_dir, subfolder="tokenizer")
        self.tok_t5 = T5TokenizerFast.from_pretrained(model_dir, subfolder="tokenizer_2")
        # f32 as the engine computes (transformers 5 would otherwise keep bf16 checkpoints in bf16)
        self.clip = CLIPTextModel.from_pretrained(model_dir, subfolder="text_encoder", dtype=torch.float32).eval()
        self.t5 = T5EncoderModel.from_pretrained(model_dir, subfolder="text_encoder_2", dtype=torch.float32).eval()
        self.vae = AutoencoderKL.from_pretrained(model_dir, subfolder="vae", torch_dtype=torch.float32).eval()
        self.flux = flux_torch.FluxTransformer.from_pretrained(model_dir, dtype=dtype).eval()
        self.guidance_embeds = bool(self.flux.config["guidance_embeds"])
        self.lora_dir = os.path.join(model_dir, "scale_dit_lora")
        self.lora_loaded = False
        self.t5_length = self._t5_length()

    def _t5_length(self):
        """tokenizer_2's model_max_length when at most 512, else FLUX's (engine/engine.c t5_length)."""
        length = T5_LENGTH_DEV if self.guidance_embeds else T5_LENGTH_SCHNELL
        path = os.path.join(self.model_dir, "tokenizer_2", "tokenizer_config.json")
        if os.path.exists(path):
            with open(path) as f:
                m = json.load(f).get("model_max_length")
            if isinstance(m, int) and 0 < m <= 512:
                length = m
        return length

    @torch.no_grad()
    def encode_prompt(self, text):
        """(T5 hidden states [1, L, D], CLIP pooled [1, P]) as FluxPipeline.encode_prompt."""
        ids = self.tok_clip(text, padding="max_length", max_length=CLIP_LENGTH, truncation=True,
                            return_tensors="pt").input_ids
        pooled = self.clip(ids, output_hidden_states=False).pooler_output
        ids = self.tok_t5(text, padding="max_length", max_length=self.t5_length, truncation=True,
                          return_tensors="pt").input_ids
        t5 = self.t5(ids, output_hidden_states=False)[0]
        return t5.to(self.dtype), pooled.to(self.dtype)

    def sigmas(self, steps, image_tokens):
        """The model's sigma schedule (steps + 1 values ending in 0) as FluxPipeline sets it."""
        from diffusers import FlowMatchEulerDiscreteScheduler
        from diffusers.pipelines.flux.pipeline_flux import calculate_shift
        sched = FlowMatchEulerDiscreteScheduler.from_pretrained(self.model_dir, subfolder="scheduler")
        c = sched.config
        mu = calculate_shift(image_tokens, c.get("base_image_seq_len", 256), c.get("max_image_seq_len", 4096),
                             c.get("base_shift", 0.5), c.get("max_shift", 1.15))
        sched.set_timesteps(sigmas=np.linspace(1.0, 1 / steps, steps), mu=mu)
        return sched.sigmas.to(torch.float32)

    @torch.no_grad()
    def decode(self, latent):
        c = self.vae.config
        return self.vae.decode(latent / c.scaling_factor + c.shift_factor).sample

    @torch.no_grad()
    def encode(self, image):
        c = self.vae.config
        return (self.vae.encode(image).latent_dist.mean - c.shift_factor) * c.scaling_factor

    def _velocity(self, x, cond, neg, t, guidance, q, **kw):
        """v = model(x); with true CFG neg + s (pos - neg)."""
        ts = torch.tensor([t], dtype=self.dtype)
        g = torch.tensor([guidance], dtype=self.dtype) if self.guidance_embeds else None
        v = self.flux(x, cond[0], cond[1], ts, guidance=g, **kw)
        if neg is not None:
            vn = self.flux(x, neg[0], neg[1], ts, guidance=g, **kw)
            v = q.true_cfg_scale * v + (1.0 - q.true_cfg_scale) * vn
        return v

    @torch.no_grad()
    def global_pass(self, q, cond, neg, gw, gh, sigmas):
        rows, cols = gh // 16, gw // 16
        self._set_lora(False)
        noise = torch.from_numpy(philox_noise.global_noise(q.seed, gw, gh))[None]
        x = pack(noise).to(self.dtype)
        n_text = cond[0].shape[1]
        ids = flux_torch.scale_dit_ids(n_text, rows, cols, 0, 0)
        for i in range(q.global_steps):
            v = self._velocity(x, cond, neg, float(sigmas[i]), q.global_guidance, q, ids=ids, theta=10000.0)
            x = x + (sigmas[i + 1] - sigmas[i]) * v
        return unpack(x.float(), rows, cols)

    @torch.no_grad()
    def handover(self, image, w16, h16, sharpen):
        up = F.interpolate(image, size=(h16, w16), mode="bicubic", align_corners=False)
        if sharpen > 0:
            up = unsharp_mask(up, sharpen)
        return self.encode(up)

    def _set_lora(self, on, scale=1.0):
        """The model folder's scale_dit_lora/ on (detail pass) or off (global pass, base model);
        returns whether it is on."""
        on = on and os.path.isdir(self.lora_dir)
        if on and not self.lora_loaded:
            flux_torch.load_lora(self.flux, self.lora_dir)
        elif not on and self.lora_loaded:
            flux_torch.remove_lora(self.flux)
        self.lora_loaded = on
        if on:
            flux_torch.set_lora_scale(self.flux, scale)
        return on

    @torch.no_grad()
    def detail_pass(self, q, cond, neg, x0, lr_latent, sigmas):
        hr_rows, hr_cols = x0.shape[2] // 2, x0.shape[3] // 2
        lr_rows, lr_cols = lr_latent.shape[2] // 2, lr_latent.shape[3] // 2
        start = q.global_steps - q.detail_steps
        s0 = sigmas[start]
        noise = torch.from_numpy(philox_noise.detail_noise(q.seed, hr_cols * 16, hr_rows * 16))[None]
        hr = (1.0 - s0) * pack(x0) + s0 * pack(noise)
        x = torch.cat([hr, pack(lr_latent)], dim=1).to(self.dtype)
        n_hr = hr.shape[1]
        n_text = cond[0].shape[1]
        ids = flux_torch.scale_dit_ids(n_text, hr_rows, hr_cols, lr_rows, lr_cols)
        kinds = flux_torch.scale_dit_tokens(n_text, hr_rows, hr_cols, lr_rows, lr_cols, q.window)["kind"]
        mask = flux_torch.scale_dit_mask(n_text, hr_rows, hr_cols, lr_rows, lr_cols, q.window, q.hr_radius,
                                         q.lr_radius, q.lr_window_span)
        routing = "scale-dit" if self._set_lora(q.use_model_lora, q.lora_scale) else "all"
        for i in range(start, q.global_steps):
            v = self._velocity(x, cond, neg, float(sigmas[i]), q.detail_guidance, q, ids=ids, kinds=kinds,
                               mask=mask, theta=10000.0 * q.ntk_factor, routing=routing)
            x[:, :n_hr] = x[:, :n_hr] + (sigmas[i + 1] - sigmas[i]) * v[:, :n_hr]
        return unpack(x[:, :n_hr].float(), hr_rows, hr_cols)

    @torch.no_grad()
    def generate(self, q):
        """The picture of request q: float32 (H, W, 3) in [0, 1] (the global one with q.preview)."""
        if q.width < 64 or q.height < 64:
            raise ValueError(f"{q.width}x{q.height}: width and height must be at least 64")
        w16, h16 = (q.width + 15) // 16 * 16, (q.height + 15) // 16 * 16
        f = q.global_factor
        gw, gh = (round16(w16 / f), round16(h16 / f)) if f > 1 else (w16, h16)
        sigmas = self.sigmas(q.global_steps, (gw // 16) * (gh // 16))
        cond = self.encode_prompt(q.prompt)
        neg = self.encode_prompt(q.negative_prompt or "") if q.true_cfg_scale > 1.0 else None
        glatent = self.global_pass(q, cond, neg, gw, gh, sigmas)
        gimage = self.decode(glatent)
        if q.preview or f == 1:
            final, w, h = gimage, (gw if q.preview else q.width), (gh if q.preview else q.height)
        else:
            x0 = self.handover(gimage, w16, h16, q.sharpen)
            final = self.decode(self.detail_pass(q, cond, neg, x0, glatent, sigmas))
            w, h = q.width, q.height
        rgb = (final[0, :, :h, :w] * 0.5 + 0.5).clamp(0.0, 1.0)
        return rgb.permute(1, 2, 0).contiguous().numpy().astype(np.float32)


def relative_difference(a, b):
    """||a - b|| / ||b||."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="a diffusers model folder")
    ap.add_argument("--prompt", required=True)
    ap.add_argument("--negative-prompt", default="")
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--height", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=28)
    ap.add_argument("--detail-steps", type=int, default=18)
    ap.add_argument("--guidance", type=float, default=3.5)
    ap.add_argument("--detail-guidance", type=float, default=4.5)
    ap.add_argument("--true-cfg", type=float, default=1.0)
    ap.add_argument("--global-factor", type=int, default=4)
    ap.add_argument("--window", type=int, default=16)
    ap.add_argument("--hr-radius", type=int, default=8)
    ap.add_argument("--lr-radius", type=int, default=2)
    ap.add_argument("--lr-window-span", type=int, default=1)
    ap.add_argument("--ntk", type=float, default=10.0)
    ap.add_argument("--sharpen", type=float, default=0.5)
    ap.add_argument("--no-model-lora", action="store_true", help="leave the model's scale_dit_lora/ out")
    ap.add_argument("--lora-scale", type=float, default=1.0)
    ap.add_argument("--preview", action="store_true", help="the global pass's picture only")
    ap.add_argument("--out", help="write the float picture here (.npy)")
    ap.add_argument("--compare", help="an engine PNG (best --depth 16) to compare with")
    ap.add_argument("--tolerance", type=float, default=1e-3, help="largest relative difference accepted")
    a = ap.parse_args()
    q = Request(prompt=a.prompt, negative_prompt=a.negative_prompt, width=a.width, height=a.height, seed=a.seed,
                global_steps=a.steps, detail_steps=a.detail_steps, global_guidance=a.guidance,
                detail_guidance=a.detail_guidance, true_cfg_scale=a.true_cfg, global_factor=a.global_factor,
                window=a.window, hr_radius=a.hr_radius, lr_radius=a.lr_radius, lr_window_span=a.lr_window_span,
                ntk_factor=a.ntk, sharpen=a.sharpen, use_model_lora=not a.no_model_lora, lora_scale=a.lora_scale,
                preview=a.preview)
    img = TorchPipeline(a.model).generate(q)
    if a.out:
        np.save(a.out, img)
    if a.compare:
        from png16 import read_png_float
        eng = read_png_float(a.compare)
        if eng.shape != img.shape:
            print(f"FAIL: {a.compare} is {eng.shape[1]}x{eng.shape[0]}, the reference {img.shape[1]}x{img.shape[0]}")
            return 1
        rel = relative_difference(eng, img)
        print(f"engine vs PyTorch: relative difference {rel:.3g} (max abs {np.abs(eng - img).max():.3g}), "
              f"tolerance {a.tolerance:g}")
        return 0 if rel <= a.tolerance else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
