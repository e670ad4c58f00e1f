"""sample.py: scaledit-tiny in PyTorch, as the engine's single dense pass runs it: text encoding
(CLIP pooled + T5, no attention masks, as FluxPipeline), the rectified-flow Euler sampler on the
engine's shifted sigmas, optional true CFG with a negative prompt, and VAE decoding."""
import math

import numpy as np
import torch

from tools.train.architecture import SCHEDULER


def mu_for(n_tokens):
    """FLUX's resolution shift: a line through (256 tokens, base_shift) and (4096, max_shift)."""
    s = SCHEDULER
    m = (s["max_shift"] - s["base_shift"]) / (s["max_image_seq_len"] - s["base_image_seq_len"])
    return n_tokens * m + s["base_shift"] - m * s["base_image_seq_len"]


def sigmas(steps, n_tokens):
    """np.linspace(1, 1/steps, steps) in float32 shifted with mu, then 0 (as the engine)."""
    t = np.linspace(1.0, 1.0 / steps, steps).astype(np.float32).astype(np.float64)
    mu = mu_for(n_tokens)
    return [math.exp(mu) / (math.exp(mu) + (1.0 / x - 1.0)) for x in t] + [0.0]


def pack(z):
    """[B, 16, H, W] latents -> [B, H/2 * W/2, 64] tokens (FluxPipeline._pack_latents)."""
    B, C, H, W = z.shape
    return z.view(B, C, H // 2, 2, W // 2, 2).permute(0, 2, 4, 1, 3, 5).reshape(B, H // 2 * W // 2, C * 4)


def unpack(x, H, W):
    B, _, D = x.shape
    return x.view(B, H // 2, W // 2, D // 4, 2, 2).permute(0, 3, 1, 4, 2, 5).reshape(B, D // 4, H, W)


def image_ids(h, w, device):
    """(0, row, col) position ids of an h x w token grid."""
    ids = torch.zeros(h, w, 3, device=device)
    ids[..., 1] = torch.arange(h, device=device)[:, None]
    ids[..., 2] = torch.arange(w, device=device)[None, :]
    return ids.reshape(h * w, 3)


class Encoders:
    """The two tokenizers and text encoders; encode(texts) -> (T5 hidden [B, L, D], CLIP pooled)."""

    def __init__(self, model_dir, clip, t5, t5_length):
        from transformers import CLIPTokenizer, T5TokenizerFast
        self.clip_tok = CLIPTokenizer.from_pretrained(model_dir, subfolder="tokenizer")
        self.t5_tok = T5TokenizerFast.from_pretrained(model_dir, subfolder="tokenizer_2")
        self.clip, self.t5, self.t5_length = clip, t5, t5_length

    def ids(self, texts, device):
        c = self.clip_tok(texts, padding="max_length", max_length=77, truncation=True, return_tensors="pt")
        t = self.t5_tok(texts, padding="max_length", max_length=self.t5_length, truncation=True,
                        return_tensors="pt")
        return c["input_ids"].to(device), t["input_ids"].to(device)

    def encode_ids(self, clip_ids, t5_ids):
        return self.t5(t5_ids).last_hidden_state, self.clip(clip_ids).pooler_output

    def encode(self, texts, device):
        return self.encode_ids(*self.ids(texts, device))


@torch.no_grad()
def generate(transformer, encoders, vae, prompts, size, steps=28, seed=0, noise=None, negative=None,
             true_cfg=1.0, device="cpu"):
    """uint8 [B, size, size, 3] pictures; noise: optional [B, 16, size/8, size/8] initial latents."""
    B, h = len(prompts), size // 8
    if noise is None:
        noise = torch.randn(B, 16, h, h, generator=torch.Generator().manual_seed(seed))
    x = pack(noise.to(device).float())
    txt, pooled = encoders.encode(prompts, device)
    if true_cfg > 1:
        ntxt, npooled = encoders.encode([negative or ""] * B, device)
    img_ids = image_ids(h // 2, h // 2, device)
    txt_ids = torch.zeros(txt.shape[1], 3, device=device)
    sig = sigmas(steps, x.shape[1])

    def velocity(e, p, s):
        return transformer(hidden_states=x, encoder_hidden_states=e, pooled_projections=p,
                           timestep=torch.full((B,), s, device=device), img_ids=img_ids,
                           txt_ids=txt_ids, return_dict=False)[0].float()

    for i in range(steps):
        v = velocity(txt, pooled, sig[i])
        if true_cfg > 1:
            vn = velocity(ntxt, npooled, sig[i])
            v = vn + true_cfg * (v - vn)
        x = x + (sig[i + 1] - sig[i]) * v
    z = unpack(x, h, h) / vae.config.scaling_factor + vae.config.shift_factor
    img = vae.decode(z).sample.float()
    return ((img.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def judge_scores(images, attributes):
    """{check: accuracy} of the scene judges on generated pictures against their attributes."""
    from tools.scenes.evaluate_judges import CHECKS
    from tools.scenes.judges import judge_image
    good = {name: 0 for name, _ in CHECKS}
    for img, a in zip(images, attributes):
        verdict = judge_image(np.ascontiguousarray(img))
        for name, ok in CHECKS:
            good[name] += int(ok(a, verdict))
    return {name: g / len(images) for name, g in good.items()}
