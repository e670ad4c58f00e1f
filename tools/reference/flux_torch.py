#!/usr/bin/env python3
"""flux_torch.py: a compact PyTorch FLUX transformer with Scale-DiT's extras and routed LoRA, the
reference that tests, training (tools/train/) and the dense GPU benchmark share.

It reads and writes diffusers' FluxTransformer2DModel state-dict names, so a model folder's
transformer/ loads directly, and it computes what diffusers computes (tools/reference/
check_flux_torch.py checks that to 1e-5 on small random configs). What it adds:

- one joint sequence [text | image] whose image part may be [HR | LR]; token kinds 0 text, 1 HR,
  2 LR (KIND_TEXT, KIND_HR, KIND_LR) for the whole sequence;
- per-group timesteps as engine/flux.c runs them: the AdaLN modulation of LR tokens (double-block
  image stream, single blocks, the final norm) comes from timestep 0, text and HR tokens use t;
- explicit RoPE position ids per token and a theta argument (scaled anchors, NTK factor);
- an optional boolean attention mask [seq, seq] (True: may attend) through torch SDPA;
- the Scale-DiT token mask and positions in raster order [text | HR raster | LR raster]
  (scale_dit_tokens, scale_dit_ids, scale_dit_mask), the rules of engine/attn_plan.h
  sd_mask_allows;
- routed LoRA on any linear: routing "all" gives every token every LoRA (what diffusers/PEFT do);
  routing "scale-dit" gives LR tokens every LoRA'd module and text/HR tokens only q/k/v
  projections (module names ending to_q, to_k, to_v, add_q_proj, add_k_proj, add_v_proj).
  A modulation or embedding linear that runs on the per-group conditioning vector counts as LR
  for the timestep-0 group (LR) and as HR/text for the t group.

API (stable; everything else is internal):

  FluxTransformer(**config)              # diffusers config.json keys; unknown keys ignored
  FluxTransformer.from_pretrained(folder_or_file, dtype=torch.float32, device="cpu")
      folder: a transformer/ folder (config.json, one or sharded safetensors) or a model folder
      holding transformer/
  model.save_pretrained(folder)          # config.json + diffusion_pytorch_model.safetensors (base weights)
  model.base_state_dict()                # diffusers names, no LoRA tensors
  model.gradient_checkpointing = True    # per block, for training
  model(img, txt, pooled, timestep, ids, guidance=None, kinds=None, mask=None, theta=10000.0,
        routing="all") -> [B, n_img, out_channels]
      img [B, n_img, in_channels]; txt [B, n_text, joint_attention_dim]; pooled [B, pooled_dim];
      timestep [B] sigmas in [0, 1] (times 1000 inside, as diffusers); guidance [B] or None;
      ids [n_text + n_img, 3] position ids of the whole sequence; kinds [n_text + n_img] int
      (None: text then HR); mask bool [n, n] or None (dense); routing "all" or "scale-dit".

  KIND_TEXT, KIND_HR, KIND_LR
  scale_dit_tokens(n_text, hr_rows, hr_cols, lr_rows, lr_cols, window=16)
      -> dict of int64 tensors [n]: kind, row, col, wrow, wcol (raster order)
  scale_dit_ids(n_text, hr_rows, hr_cols, lr_rows, lr_cols, row_scale=None, col_scale=None)
      -> float32 [n, 3]: text (0,0,0), HR (0,r,c), LR (0, r*row_scale, c*col_scale)
      (scales default to hr_rows/lr_rows and hr_cols/lr_cols)
  scale_dit_mask(n_text, hr_rows, hr_cols, lr_rows, lr_cols, window=16, hr_radius=8,
                 lr_radius=2, lr_window_span=1) -> bool [n, n]

  DEFAULT_LORA_TARGETS                   # the block linears diffusers' FLUX LoRA trainer targets
  add_lora(model, rank, alpha, target_modules=DEFAULT_LORA_TARGETS) -> [module names]
      trainable A (r x in, kaiming-uniform as PEFT) and B (out x r, zero); scale alpha / r
  lora_parameters(model) -> [parameters]
  set_lora_scale(model, scale)           # the user scale (1 by default), multiplies alpha / r
  remove_lora(model)
  load_lora(model, path, scale=1.0) -> [module names]
      path: a PEFT folder (adapter_model.safetensors + adapter_config.json), a diffusers folder
      (pytorch_lora_weights.safetensors) or a .safetensors file in either key format:
      PEFT `base_model.model.<module>.lora_A.weight` / `lora_B.weight` (alpha from the config),
      diffusers `transformer.<module>.lora_A.weight` with optional `<module>.alpha` (none: scale 1)
  save_lora(model, folder)               # PEFT format: adapter_model.safetensors + adapter_config.json
"""
import json
import math
import os
import re

import torch
import torch.nn.functional as F
from torch import nn

KIND_TEXT, KIND_HR, KIND_LR = 0, 1, 2

QKV_SUFFIXES = ("to_q", "to_k", "to_v", "add_q_proj", "add_k_proj", "add_v_proj")

DEFAULT_LORA_TARGETS = [
    "attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0",
    "attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj", "attn.to_add_out",
    "ff.net.0.proj", "ff.net.2", "ff_context.net.0.proj", "ff_context.net.2",
    "proj_mlp", "single_transformer_blocks.*.proj_out",
]


# ----------------------------------------------------------------------------- layers

class Linear(nn.Linear):
    """nn.Linear with an optional LoRA (lora_A: in -> r, lora_B: r -> out) and per-row routing."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__(in_features, out_features, bias=bias)
        self.lora_A = None
        self.lora_B = None
        self.lora_alpha_scale = 1.0  # alpha / r
        self.lora_user_scale = 1.0
        self.is_qkv = False

    def forward(self, x, lr=None):
        """lr: None (every row gets the LoRA) or a float tensor broadcastable to x[..., :1] that is
        1 on LR rows and 0 elsewhere (scale-dit routing; q/k/v projections ignore it)."""
        y = F.linear(x, self.weight, self.bias)
        if self.lora_A is None:
            return y
        d = self.lora_B(self.lora_A(x.to(self.lora_A.weight.dtype)))
        d = d * (self.lora_alpha_scale * self.lora_user_scale)
        if lr is not None and not self.is_qkv:
            d = d * lr.to(d.dtype)
        return y + d.to(y.dtype)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        dtype = x.dtype
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return x32.to(dtype) * self.weight.to(dtype)


class MLPIn(nn.Module):
    """diffusers' GELU(approximate="tanh") projection: ff.net.0.proj."""

    def __init__(self, dim, hidden):
        super().__init__()
        self.proj = Linear(dim, hidden)


class FeedForward(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.net = nn.ModuleList([MLPIn(dim, hidden), nn.Identity(), Linear(hidden, dim)])

    def forward(self, x, lr):
        return self.net[2](F.gelu(self.net[0].proj(x, lr), approximate="tanh"), lr)


class ModLinear(nn.Module):
    """norm1.linear / norm.linear / norm_out.linear: SiLU then a linear on the conditioning vector."""

    def __init__(self, dim, n):
        super().__init__()
        self.linear = Linear(dim, n * dim)


class Attention(nn.Module):
    def __init__(self, dim, heads, head_dim, context):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.to_q, self.to_k, self.to_v = Linear(dim, dim), Linear(dim, dim), Linear(dim, dim)
        self.norm_q, self.norm_k = RMSNorm(head_dim), RMSNorm(head_dim)
        if context:
            self.add_q_proj, self.add_k_proj = Linear(dim, dim), Linear(dim, dim)
            self.add_v_proj = Linear(dim, dim)
            self.norm_added_q, self.norm_added_k = RMSNorm(head_dim), RMSNorm(head_dim)
            self.to_out = nn.ModuleList([Linear(dim, dim), nn.Identity()])
            self.to_add_out = Linear(dim, dim)

    def heads_of(self, x):
        b, n, _ = x.shape
        return x.view(b, n, self.heads, self.head_dim)


def rope_tables(ids, axes_dims, theta):
    """cos, sin [n, head_dim] (each frequency repeated for its pair), f64 math as diffusers."""
    cos, sin = [], []
    for a, dim in enumerate(axes_dims):
        freqs = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float64, device=ids.device)[: dim // 2] / dim))
        ang = torch.outer(ids[:, a].to(torch.float64), freqs)
        cos.append(ang.cos().repeat_interleave(2, dim=1))
        sin.append(ang.sin().repeat_interleave(2, dim=1))
    return torch.cat(cos, dim=1).float(), torch.cat(sin, dim=1).float()


def apply_rope(x, cos, sin):
    """x [B, n, H, Dh]; pairs (2i, 2i+1) rotated."""
    xr = x.float().reshape(*x.shape[:-1], -1, 2)
    rot = torch.stack([-xr[..., 1], xr[..., 0]], dim=-1).flatten(-2)
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return (x.float() * c + rot * s).to(x.dtype)


def attend(q, k, v, mask):
    """q, k, v [B, n, H, Dh] -> [B, n, H * Dh]."""
    o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask)
    return o.transpose(1, 2).flatten(2)


def modulate(x, shift, scale):
    return F.layer_norm(x, (x.shape[-1],), eps=1e-6) * (1 + scale) + shift


class DoubleBlock(nn.Module):
    def __init__(self, dim, heads, head_dim, mlp):
        super().__init__()
        self.norm1 = ModLinear(dim, 6)
        self.norm1_context = ModLinear(dim, 6)
        self.attn = Attention(dim, heads, head_dim, context=True)
        self.ff = FeedForward(dim, mlp)
        self.ff_context = FeedForward(dim, mlp)

    def forward(self, img, txt, cond, rope, mask, route):
        a = self.attn
        T = txt.shape[1]
        m_img = cond.per_token(self.norm1.linear, 6)          # [B, n_img or 1, 6D]
        m_txt = cond.per_text(self.norm1_context.linear, 6)   # [B, 1, 6D]
        sh, sc, g, sh2, sc2, g2 = m_img.chunk(6, dim=-1)
        csh, csc, cg, csh2, csc2, cg2 = m_txt.chunk(6, dim=-1)
        ni = modulate(img, sh, sc)
        nt = modulate(txt, csh, csc)
        lr_i, lr_t = route.img, route.txt
        q = torch.cat([a.norm_added_q(a.heads_of(a.add_q_proj(nt, lr_t))), a.norm_q(a.heads_of(a.to_q(ni, lr_i)))], 1)
        k = torch.cat([a.norm_added_k(a.heads_of(a.add_k_proj(nt, lr_t))), a.norm_k(a.heads_of(a.to_k(ni, lr_i)))], 1)
        v = torch.cat([a.heads_of(a.add_v_proj(nt, lr_t)), a.heads_of(a.to_v(ni, lr_i))], 1)
        o = attend(apply_rope(q, *rope), apply_rope(k, *rope), v, mask)
        img = img + g * a.to_out[0](o[:, T:], lr_i)
        txt = txt + cg * a.to_add_out(o[:, :T], lr_t)
        img = img + g2 * self.ff(modulate(img, sh2, sc2), lr_i)
        txt = txt + cg2 * self.ff_context(modulate(txt, csh2, csc2), lr_t)
        return img, txt


class SingleBlock(nn.Module):
    def __init__(self, dim, heads, head_dim, mlp):
        super().__init__()
        self.norm = ModLinear(dim, 3)
        self.proj_mlp = Linear(dim, mlp)
        self.proj_out = Linear(dim + mlp, dim)
        self.attn = Attention(dim, heads, head_dim, context=False)

    def forward(self, x, cond, rope, mask, route):
        a = self.attn
        m = cond.per_sequence(self.norm.linear, 3)
        sh, sc, g = m.chunk(3, dim=-1)
        n = modulate(x, sh, sc)
        lr = route.all
        q = a.norm_q(a.heads_of(a.to_q(n, lr)))
        k = a.norm_k(a.heads_of(a.to_k(n, lr)))
        v = a.heads_of(a.to_v(n, lr))
        o = attend(apply_rope(q, *rope), apply_rope(k, *rope), v, mask)
        h = torch.cat([o, F.gelu(self.proj_mlp(n, lr), approximate="tanh")], dim=-1)
        return x + g * self.proj_out(h, lr)


class Route:
    """Per-row LR flags ([B or 1, rows, 1] floats) handed to the linears; None for routing "all"."""

    def __init__(self, lr_all, T):
        self.all = lr_all
        self.txt = None if lr_all is None else lr_all[:, :T]
        self.img = None if lr_all is None else lr_all[:, T:]


class Conditioning:
    """The conditioning vector of the t group and (with LR tokens) of the timestep-0 group, and how
    each token picks its group."""

    def __init__(self, stemb_t, stemb_0, lr_seq, T, scale_dit):
        self.t, self.z = stemb_t, stemb_0          # silu(temb) [B, D]
        self.lr_seq = lr_seq                       # bool [n] or None
        self.T = T
        self.scale_dit = scale_dit

    def _mods(self, lin, n):
        ones = torch.ones(1, 1, device=self.t.device)
        gate_t = ones * 0 if self.scale_dit else None
        gate_z = ones if self.scale_dit else None
        mt = lin(self.t, gate_t)
        mz = lin(self.z, gate_z) if self.z is not None else None
        return mt, mz

    def _pick(self, lin, n, lr):
        mt, mz = self._mods(lin, n)
        if mz is None or lr is None or not bool(lr.any()):
            return mt[:, None, :]
        return torch.where(lr[None, :, None], mz[:, None, :], mt[:, None, :])

    def per_token(self, lin, n):
        return self._pick(lin, n, None if self.lr_seq is None else self.lr_seq[self.T:])

    def per_text(self, lin, n):
        return self._mods(lin, n)[0][:, None, :]

    def per_sequence(self, lin, n):
        return self._pick(lin, n, self.lr_seq)


class TimestepEmbedder(nn.Module):
    def __init__(self, in_dim, dim):
        super().__init__()
        self.linear_1 = Linear(in_dim, dim)
        self.linear_2 = Linear(dim, dim)

    def forward(self, x, lr):
        return self.linear_2(F.silu(self.linear_1(x, lr)), lr)


class TimeTextEmbed(nn.Module):
    def __init__(self, dim, pooled_dim, guidance):
        super().__init__()
        self.timestep_embedder = TimestepEmbedder(256, dim)
        if guidance:
            self.guidance_embedder = TimestepEmbedder(256, dim)
        self.text_embedder = TimestepEmbedder(pooled_dim, dim)


def timestep_embedding(t, dim=256):
    """diffusers get_timestep_embedding(flip_sin_to_cos=True, downscale_freq_shift=0)."""
    half = dim // 2
    exponent = -math.log(10000) * torch.arange(0, half, dtype=torch.float32, device=t.device) / half
    emb = t[:, None].float() * torch.exp(exponent)[None, :]
    return torch.cat([torch.cos(emb), torch.sin(emb)], dim=-1)


# ----------------------------------------------------------------------------- the model

class FluxTransformer(nn.Module):
    def __init__(self, in_channels=64, out_channels=None, num_layers=19, num_single_layers=38,
                 attention_head_dim=128, num_attention_heads=24, joint_attention_dim=4096,
                 pooled_projection_dim=768, guidance_embeds=False, axes_dims_rope=(16, 56, 56),
                 patch_size=1, **_ignored):
        super().__init__()
        if patch_size != 1:
            raise ValueError(f"patch_size {patch_size}: only 1 (FLUX) is supported")
        self.config = dict(in_channels=in_channels, out_channels=out_channels, num_layers=num_layers,
                           num_single_layers=num_single_layers, attention_head_dim=attention_head_dim,
                           num_attention_heads=num_attention_heads, joint_attention_dim=joint_attention_dim,
                           pooled_projection_dim=pooled_projection_dim, guidance_embeds=guidance_embeds,
                           axes_dims_rope=list(axes_dims_rope), patch_size=1)
        dim = attention_head_dim * num_attention_heads
        self.out_channels = out_channels or in_channels
        self.axes_dims = list(axes_dims_rope)
        self.guidance_embeds = guidance_embeds
        self.gradient_checkpointing = False
        self.time_text_embed = TimeTextEmbed(dim, pooled_projection_dim, guidance_embeds)
        self.context_embedder = Linear(joint_attention_dim, dim)
        self.x_embedder = Linear(in_channels, dim)
        self.transformer_blocks = nn.ModuleList(
            [DoubleBlock(dim, num_attention_heads, attention_head_dim, 4 * dim) for _ in range(num_layers)])
        self.single_transformer_blocks = nn.ModuleList(
            [SingleBlock(dim, num_attention_heads, attention_head_dim, 4 * dim) for _ in range(num_single_layers)])
        self.norm_out = ModLinear(dim, 2)
        self.proj_out = Linear(dim, self.out_channels)
        for name, m in self.named_modules():
            if isinstance(m, Linear):
                m.is_qkv = name.rsplit(".", 1)[-1] in QKV_SUFFIXES

    # ---- weights

    @classmethod
    def from_pretrained(cls, path, dtype=torch.float32, device="cpu"):
        from safetensors.torch import load_file
        if os.path.isdir(os.path.join(path, "transformer")):
            path = os.path.join(path, "transformer")
        with open(os.path.join(path, "config.json")) as f:
            cfg = json.load(f)
        index = os.path.join(path, "diffusion_pytorch_model.safetensors.index.json")
        if os.path.exists(index):
            with open(index) as f:
                files = sorted(set(json.load(f)["weight_map"].values()))
        else:
            files = ["diffusion_pytorch_model.safetensors"]
        sd = {}
        for name in files:
            sd.update(load_file(os.path.join(path, name)))
        model = cls(**cfg)
        model.load_base_state_dict(sd)
        return model.to(device=device, dtype=dtype)

    def base_state_dict(self):
        return {k: v for k, v in self.state_dict().items() if ".lora_" not in k}

    def load_base_state_dict(self, sd):
        missing, unexpected = self.load_state_dict(sd, strict=False)
        missing = [k for k in missing if ".lora_" not in k]
        if missing or unexpected:
            raise ValueError(f"state dict does not fit: missing {missing[:8]}, unexpected {unexpected[:8]}")

    def save_pretrained(self, folder):
        from safetensors.torch import save_file
        os.makedirs(folder, exist_ok=True)
        cfg = dict(self.config, _class_name="FluxTransformer2DModel")
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        save_file({k: v.detach().contiguous().cpu() for k, v in self.base_state_dict().items()},
                  os.path.join(folder, "diffusion_pytorch_model.safetensors"))

    # ---- forward

    def forward(self, img, txt, pooled, timestep, ids, guidance=None, kinds=None, mask=None, theta=10000.0,
                routing="all"):
        if routing not in ("all", "scale-dit"):
            raise ValueError(f"routing {routing!r}: use 'all' or 'scale-dit'")
        B, T = img.shape[0], txt.shape[1]
        n = T + img.shape[1]
        dtype = img.dtype
        if ids.shape != (n, 3):
            raise ValueError(f"ids must be [{n}, 3], got {tuple(ids.shape)}")
        lr_seq = None
        if kinds is not None:
            if kinds.shape != (n,):
                raise ValueError(f"kinds must be [{n}], got {tuple(kinds.shape)}")
            lr_seq = kinds.to(img.device) == KIND_LR
            if bool(lr_seq[:T].any()):
                raise ValueError("kinds: the first n_text tokens must be text")
        scale_dit = routing == "scale-dit"
        lr_f = None
        if scale_dit:
            lr_f = (lr_seq if lr_seq is not None else torch.zeros(n, dtype=torch.bool, device=img.device))
            lr_f = lr_f.to(dtype)[None, :, None]
        route = Route(lr_f, T)

        tte = self.time_text_embed
        has_lr = lr_seq is not None and bool(lr_seq.any())

        def temb(t, lr):
            e = tte.timestep_embedder(timestep_embedding(t.to(dtype) * 1000).to(dtype), lr)
            if self.guidance_embeds:
                if guidance is None:
                    raise ValueError("this model has a guidance embedding: pass guidance")
                e = e + tte.guidance_embedder(timestep_embedding(guidance.to(dtype) * 1000).to(dtype), lr)
            return F.silu(e + tte.text_embedder(pooled, lr))

        one = torch.ones(1, 1, device=img.device, dtype=dtype)
        st = temb(timestep, one * 0 if scale_dit else None)
        s0 = temb(torch.zeros_like(timestep), one if scale_dit else None) if has_lr else None
        cond = Conditioning(st, s0, lr_seq, T, scale_dit)

        rope = rope_tables(ids.to(img.device), self.axes_dims, theta)
        if mask is not None:
            mask = mask.to(img.device)
        x_txt = self.context_embedder(txt, route.txt)
        x_img = self.x_embedder(img, route.img)
        for blk in self.transformer_blocks:
            if self.gradient_checkpointing and torch.is_grad_enabled():
                x_img, x_txt = torch.utils.checkpoint.checkpoint(blk, x_img, x_txt, cond, rope, mask, route,
                                                                 use_reentrant=False)
            else:
                x_img, x_txt = blk(x_img, x_txt, cond, rope, mask, route)
        x = torch.cat([x_txt, x_img], dim=1)
        for blk in self.single_transformer_blocks:
            if self.gradient_checkpointing and torch.is_grad_enabled():
                x = torch.utils.checkpoint.checkpoint(blk, x, cond, rope, mask, route, use_reentrant=False)
            else:
                x = blk(x, cond, rope, mask, route)
        x = x[:, T:]
        scale, shift = cond.per_token(self.norm_out.linear, 2).chunk(2, dim=-1)
        x = modulate(x, shift, scale)
        return self.proj_out(x, route.img)


# ----------------------------------------------------------------------------- Scale-DiT layout

def _lr_window(r, lr_side, hr_side, window):
    """engine/layout.c sd_layout_lr_window: the HR window holding LR row (or column) r."""
    return ((2 * r + 1) * hr_side) // (2 * lr_side * window)


def scale_dit_tokens(n_text, hr_rows, hr_cols, lr_rows, lr_cols, window=16):
    """Per token of [text | HR raster | LR raster]: kind, row, col and HR window (wrow, wcol)."""
    hr = torch.arange(hr_rows * hr_cols)
    lr = torch.arange(lr_rows * lr_cols)
    hr_r, hr_c = hr // hr_cols, hr % hr_cols
    lr_r, lr_c = (lr // lr_cols, lr % lr_cols) if lr_cols else (lr, lr)
    z = torch.zeros(n_text, dtype=torch.int64)
    return dict(
        kind=torch.cat([z, torch.full_like(hr, KIND_HR), torch.full_like(lr, KIND_LR)]),
        row=torch.cat([z, hr_r, lr_r]),
        col=torch.cat([z, hr_c, lr_c]),
        wrow=torch.cat([z, hr_r // window, _lr_window(lr_r, max(lr_rows, 1), hr_rows, window)]),
        wcol=torch.cat([z, hr_c // window, _lr_window(lr_c, max(lr_cols, 1), hr_cols, window)]),
    )


def scale_dit_ids(n_text, hr_rows, hr_cols, lr_rows, lr_cols, row_scale=None, col_scale=None):
    """RoPE position ids [n, 3]: LR tokens at the scaled anchors (engine/layout.c)."""
    row_scale = hr_rows / lr_rows if row_scale is None and lr_rows else (row_scale or 0.0)
    col_scale = hr_cols / lr_cols if col_scale is None and lr_cols else (col_scale or 0.0)
    t = scale_dit_tokens(n_text, hr_rows, hr_cols, lr_rows, lr_cols)
    ids = torch.zeros(t["kind"].shape[0], 3, dtype=torch.float64)
    hr = t["kind"] == KIND_HR
    lr = t["kind"] == KIND_LR
    ids[hr, 1] = t["row"][hr].double()
    ids[hr, 2] = t["col"][hr].double()
    ids[lr, 1] = t["row"][lr].double() * row_scale
    ids[lr, 2] = t["col"][lr].double() * col_scale
    return ids.float()


def scale_dit_mask(n_text, hr_rows, hr_cols, lr_rows, lr_cols, window=16, hr_radius=8, lr_radius=2,
                   lr_window_span=1):
    """bool [n, n] (query, key), True where sd_mask_allows: text -> text + HR; HR -> all text, HR
    within hr_radius, LR of windows in the same window row within lr_window_span (no wrap);
    LR -> LR within lr_radius."""
    t = scale_dit_tokens(n_text, hr_rows, hr_cols, lr_rows, lr_cols, window)
    kind = t["kind"]
    qk, kk = kind[:, None], kind[None, :]
    dr = (t["row"][:, None] - t["row"][None, :]).abs()
    dc = (t["col"][:, None] - t["col"][None, :]).abs()
    same_wrow = t["wrow"][:, None] == t["wrow"][None, :]
    dwc = (t["wcol"][:, None] - t["wcol"][None, :]).abs()
    text_q = (qk == KIND_TEXT) & (kk != KIND_LR)
    hr_q = (qk == KIND_HR) & ((kk == KIND_TEXT)
                              | ((kk == KIND_HR) & (dr <= hr_radius) & (dc <= hr_radius))
                              | ((kk == KIND_LR) & same_wrow & (dwc <= lr_window_span)))
    lr_q = (qk == KIND_LR) & (kk == KIND_LR) & (dr <= lr_radius) & (dc <= lr_radius)
    return text_q | hr_q | lr_q


# ----------------------------------------------------------------------------- LoRA

def _matches(name, target):
    """PEFT's rule for a target string: the module name equals it or ends with '.' + it; a '*'
    matches one dotted component."""
    if "*" in target:
        pat = re.escape(target).replace(r"\*", r"[^.]+")
        return re.fullmatch(rf"(.*\.)?{pat}", name) is not None
    return name == target or name.endswith("." + target)


def _linears(model):
    return {n: m for n, m in model.named_modules() if isinstance(m, Linear)}


def _attach(m, rank, alpha_scale, device, dtype):
    m.lora_A = nn.Linear(m.in_features, rank, bias=False).to(device=device, dtype=dtype)
    m.lora_B = nn.Linear(rank, m.out_features, bias=False).to(device=device, dtype=dtype)
    m.lora_alpha_scale = alpha_scale
    m.lora_user_scale = 1.0


def add_lora(model, rank, alpha, target_modules=None):
    """Trainable LoRA on every linear matching a target; B starts at zero so the model is unchanged."""
    targets = DEFAULT_LORA_TARGETS if target_modules is None else list(target_modules)
    names = []
    for name, m in _linears(model).items():
        if any(_matches(name, t) for t in targets):
            _attach(m, rank, alpha / rank, m.weight.device, m.weight.dtype)
            nn.init.kaiming_uniform_(m.lora_A.weight, a=math.sqrt(5))
            nn.init.zeros_(m.lora_B.weight)
            m.lora_rank, m.lora_alpha = rank, alpha
            names.append(name)
    if not names:
        raise ValueError(f"no module matches the LoRA targets {targets}")
    return names


def lora_parameters(model):
    return [p for m in _linears(model).values() if m.lora_A is not None
            for p in (m.lora_A.weight, m.lora_B.weight)]


def set_lora_scale(model, scale):
    for m in _linears(model).values():
        m.lora_user_scale = float(scale)


def remove_lora(model):
    for m in _linears(model).values():
        m.lora_A = m.lora_B = None
        m.lora_alpha_scale, m.lora_user_scale = 1.0, 1.0


def _lora_file(path):
    """(safetensors file, adapter_config dict or None) for a folder or a file."""
    if os.path.isdir(path):
        peft = os.path.join(path, "adapter_model.safetensors")
        if os.path.exists(peft):
            cfg_path = os.path.join(path, "adapter_config.json")
            if not os.path.exists(cfg_path):
                raise ValueError(f"{path}: adapter_model.safetensors without adapter_config.json")
            with open(cfg_path) as f:
                return peft, json.load(f)
        dif = os.path.join(path, "pytorch_lora_weights.safetensors")
        if os.path.exists(dif):
            return dif, None
        raise ValueError(f"{path}: neither adapter_model.safetensors nor pytorch_lora_weights.safetensors")
    cfg_path = os.path.join(os.path.dirname(path), "adapter_config.json")
    cfg = None
    if os.path.basename(path) == "adapter_model.safetensors" and os.path.exists(cfg_path):
        with open(cfg_path) as f:
            cfg = json.load(f)
    return path, cfg


def _peft_alpha(cfg, module, rank):
    alpha = cfg.get("lora_alpha", rank)
    for pattern, value in (cfg.get("alpha_pattern") or {}).items():
        if _matches(module, pattern):
            alpha = value
    if cfg.get("use_rslora"):
        return alpha / math.sqrt(rank)
    return alpha / rank


def load_lora(model, path, scale=1.0):
    """Loads a PEFT or diffusers LoRA onto the model's linears; returns the module names."""
    from safetensors.torch import load_file
    file, cfg = _lora_file(path)
    sd = load_file(file)
    mods = {}
    alphas = {}
    for key, t in sd.items():
        k = key
        for prefix in ("base_model.model.", "transformer."):
            if k.startswith(prefix):
                k = k[len(prefix):]
                break
        m = re.fullmatch(r"(.+)\.(lora_A|lora_B)(?:\.default)?\.weight", k)
        if m:
            mods.setdefault(m.group(1), {})[m.group(2)] = t
        elif k.endswith(".alpha"):
            alphas[k[: -len(".alpha")]] = float(t.item())
        else:
            raise ValueError(f"{file}: unknown LoRA key {key}")
    lin = _linears(model)
    unknown = [n for n in mods if n not in lin]
    if unknown:
        raise ValueError(f"{file}: LoRA for modules the model lacks: {unknown}")
    for name, ab in mods.items():
        if set(ab) != {"lora_A", "lora_B"}:
            raise ValueError(f"{file}: {name} lacks lora_A or lora_B")
        m = lin[name]
        A, B = ab["lora_A"], ab["lora_B"]
        rank = A.shape[0]
        if A.shape != (rank, m.in_features) or B.shape != (m.out_features, rank):
            raise ValueError(f"{file}: {name}: A {tuple(A.shape)} B {tuple(B.shape)} do not fit "
                             f"{m.out_features}x{m.in_features}")
        if cfg is not None:
            alpha_scale = _peft_alpha(cfg, name, rank)
        else:
            alpha_scale = alphas[name] / rank if name in alphas else 1.0
        _attach(m, rank, alpha_scale, m.weight.device, m.weight.dtype)
        with torch.no_grad():
            m.lora_A.weight.copy_(A)
            m.lora_B.weight.copy_(B)
        m.lora_user_scale = float(scale)
        m.lora_rank, m.lora_alpha = rank, alpha_scale * rank
    return sorted(mods)


def save_lora(model, folder):
    """PEFT format: adapter_model.safetensors (base_model.model.<module>.lora_A/B.weight) and
    adapter_config.json (r, lora_alpha, target_modules)."""
    from safetensors.torch import save_file
    os.makedirs(folder, exist_ok=True)
    tensors, names, ranks, alphas = {}, [], set(), set()
    for name, m in _linears(model).items():
        if m.lora_A is None:
            continue
        tensors[f"base_model.model.{name}.lora_A.weight"] = m.lora_A.weight.detach().float().contiguous().cpu()
        tensors[f"base_model.model.{name}.lora_B.weight"] = m.lora_B.weight.detach().float().contiguous().cpu()
        names.append(name)
        ranks.add(m.lora_A.out_features)
        alphas.add(m.lora_alpha_scale * m.lora_A.out_features)
    if not names:
        raise ValueError("the model has no LoRA to save")
    if len(ranks) != 1 or len(alphas) != 1:
        raise ValueError("save_lora writes one rank and alpha for all modules")
    rank, alpha = ranks.pop(), alphas.pop()
    save_file(tensors, os.path.join(folder, "adapter_model.safetensors"))
    cfg = dict(peft_type="LORA", r=rank, lora_alpha=alpha, target_modules=sorted(names), lora_dropout=0.0,
               bias="none", use_rslora=False, use_dora=False, fan_in_fan_out=False, init_lora_weights=True,
               rank_pattern={}, alpha_pattern={}, modules_to_save=None, task_type=None,
               base_model_name_or_path=None)
    with open(os.path.join(folder, "adapter_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
