#!/usr/bin/env python3
"""Writes small random FLUX transformer fixtures (diffusers folder and BFL single file), inputs,
reference outputs and scheduler sigmas to tests/data/flux/, using diffusers on the CPU in f32.

The BFL single file is converted from the diffusers weights here; its reference output is what
diffusers' from_single_file computes from that very file, so the engine's key mapping is checked
against an independent implementation.
"""
import json
import math
import os
import sys

import numpy as np
import torch
from diffusers import FlowMatchEulerDiscreteScheduler, FluxTransformer2DModel
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "flux")

CONFIGS = {
    # dev-like: guidance embedding, non-square image, odd text length
    "dev": dict(guidance_embeds=True, rows=6, cols=4, n_text=7, layers=2),
    # schnell-like: no guidance embedding
    "schnell": dict(guidance_embeds=False, rows=3, cols=5, n_text=5, layers=1),
}


def model_config(guidance_embeds, layers):
    return dict(
        patch_size=1,
        in_channels=64,
        out_channels=None,
        num_layers=layers,
        num_single_layers=layers,
        attention_head_dim=32,
        num_attention_heads=2,
        joint_attention_dim=48,
        pooled_projection_dim=24,
        guidance_embeds=guidance_embeds,
        axes_dims_rope=[4, 14, 14],
    )


def to_bfl(sd, n_double, n_single):
    """diffusers FluxTransformer2DModel state dict -> BFL (original FLUX) key names."""
    out = {}

    def cat(*names):
        return torch.cat([sd[n] for n in names], dim=0)

    def swap_halves(t):
        a, b = t.chunk(2, dim=0)
        return torch.cat([b, a], dim=0)

    pairs = {
        "img_in": "x_embedder",
        "txt_in": "context_embedder",
        "time_in.in_layer": "time_text_embed.timestep_embedder.linear_1",
        "time_in.out_layer": "time_text_embed.timestep_embedder.linear_2",
        "vector_in.in_layer": "time_text_embed.text_embedder.linear_1",
        "vector_in.out_layer": "time_text_embed.text_embedder.linear_2",
        "guidance_in.in_layer": "time_text_embed.guidance_embedder.linear_1",
        "guidance_in.out_layer": "time_text_embed.guidance_embedder.linear_2",
        "final_layer.linear": "proj_out",
    }
    for bfl, dif in pairs.items():
        for p in ("weight", "bias"):
            if f"{dif}.{p}" in sd:
                out[f"{bfl}.{p}"] = sd[f"{dif}.{p}"]
    for p in ("weight", "bias"):
        out[f"final_layer.adaLN_modulation.1.{p}"] = swap_halves(sd[f"norm_out.linear.{p}"])
    for i in range(n_double):
        d, b = f"transformer_blocks.{i}.", f"double_blocks.{i}."
        for p in ("weight", "bias"):
            out[b + f"img_mod.lin.{p}"] = sd[d + f"norm1.linear.{p}"]
            out[b + f"txt_mod.lin.{p}"] = sd[d + f"norm1_context.linear.{p}"]
            out[b + f"img_attn.qkv.{p}"] = cat(*(d + f"attn.to_{x}.{p}" for x in "qkv"))
            out[b + f"txt_attn.qkv.{p}"] = cat(*(d + f"attn.add_{x}_proj.{p}" for x in "qkv"))
            out[b + f"img_attn.proj.{p}"] = sd[d + f"attn.to_out.0.{p}"]
            out[b + f"txt_attn.proj.{p}"] = sd[d + f"attn.to_add_out.{p}"]
            out[b + f"img_mlp.0.{p}"] = sd[d + f"ff.net.0.proj.{p}"]
            out[b + f"img_mlp.2.{p}"] = sd[d + f"ff.net.2.{p}"]
            out[b + f"txt_mlp.0.{p}"] = sd[d + f"ff_context.net.0.proj.{p}"]
            out[b + f"txt_mlp.2.{p}"] = sd[d + f"ff_context.net.2.{p}"]
        out[b + "img_attn.norm.query_norm.scale"] = sd[d + "attn.norm_q.weight"]
        out[b + "img_attn.norm.key_norm.scale"] = sd[d + "attn.norm_k.weight"]
        out[b + "txt_attn.norm.query_norm.scale"] = sd[d + "attn.norm_added_q.weight"]
        out[b + "txt_attn.norm.key_norm.scale"] = sd[d + "attn.norm_added_k.weight"]
    for i in range(n_single):
        s, b = f"single_transformer_blocks.{i}.", f"single_blocks.{i}."
        for p in ("weight", "bias"):
            out[b + f"modulation.lin.{p}"] = sd[s + f"norm.linear.{p}"]
            out[b + f"linear1.{p}"] = cat(*(s + f"attn.to_{x}.{p}" for x in "qkv"), s + f"proj_mlp.{p}")
            out[b + f"linear2.{p}"] = sd[s + f"proj_out.{p}"]
        out[b + "norm.query_norm.scale"] = sd[s + "attn.norm_q.weight"]
        out[b + "norm.key_norm.scale"] = sd[s + "attn.norm_k.weight"]
    return {k: v.contiguous() for k, v in out.items()}


def load_single_file(path, cfg):
    """diffusers' from_single_file mapping for FLUX, applied to a small model: its conversion
    function hard-codes FLUX's width (inner_dim = 3072), so it is re-bound with this width."""
    import inspect

    import diffusers.loaders.single_file_utils as sfu
    from safetensors.torch import load_file

    width = cfg["attention_head_dim"] * cfg["num_attention_heads"]
    src = inspect.getsource(sfu.convert_flux_transformer_checkpoint_to_diffusers)
    if "inner_dim = 3072" not in src:
        sys.exit("diffusers' FLUX conversion changed: check load_single_file")
    namespace = dict(vars(sfu))
    exec(src.replace("inner_dim = 3072", f"inner_dim = {width}"), namespace)
    converted = namespace["convert_flux_transformer_checkpoint_to_diffusers"](load_file(path))
    model = FluxTransformer2DModel(**cfg).eval()
    model.load_state_dict(converted, strict=True)
    return model


def randomize(model, gen):
    """Random weights large enough that every path matters (defaults zero some, e.g. norms = 1)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale = 0.5 if p.ndim == 1 else 1.0 / math.sqrt(p.shape[1])
            p.copy_(torch.randn(p.shape, generator=gen) * scale)
            if "norm" in name and p.ndim == 1:
                p.add_(1.0)


def make(name, spec):
    gen = torch.Generator().manual_seed(1234 + len(name))
    cfg = model_config(spec["guidance_embeds"], spec["layers"])
    model = FluxTransformer2DModel(**cfg).eval()
    randomize(model, gen)
    folder = os.path.join(OUT, name)
    model.save_pretrained(os.path.join(folder, "transformer"), safe_serialization=True)

    rows, cols, n_text = spec["rows"], spec["cols"], spec["n_text"]
    n_img = rows * cols
    img = torch.randn(1, n_img, cfg["in_channels"], generator=gen)
    txt = torch.randn(1, n_text, cfg["joint_attention_dim"], generator=gen)
    pooled = torch.randn(1, cfg["pooled_projection_dim"], generator=gen)
    timestep = torch.tensor([0.73])
    guidance = torch.tensor([3.5]) if spec["guidance_embeds"] else None
    img_ids = torch.zeros(n_img, 3)
    img_ids[:, 1] = torch.arange(rows).repeat_interleave(cols).float()
    img_ids[:, 2] = torch.arange(cols).repeat(rows).float()
    txt_ids = torch.zeros(n_text, 3)

    def run(m):
        with torch.no_grad():
            return m(hidden_states=img, encoder_hidden_states=txt, pooled_projections=pooled,
                     timestep=timestep, img_ids=img_ids, txt_ids=txt_ids, guidance=guidance,
                     return_dict=False)[0]

    out = run(model)
    inputs = {
        "hidden_states": img[0].contiguous(),
        "encoder_hidden_states": txt[0].contiguous(),
        "pooled_projections": pooled[0].contiguous(),
        "timestep": timestep,
        "img_ids": img_ids,
        "txt_ids": txt_ids,
    }
    if guidance is not None:
        inputs["guidance"] = guidance
    save_file(inputs, os.path.join(folder, "inputs.safetensors"))
    save_file({"sample": out[0].contiguous()}, os.path.join(folder, "expected.safetensors"))

    # BFL single file, and diffusers' own reading of it as that layout's reference
    bfl_path = os.path.join(folder, f"flux-{name}-bfl.safetensors")
    save_file(to_bfl(model.state_dict(), cfg["num_layers"], cfg["num_single_layers"]), bfl_path)
    single = load_single_file(bfl_path, cfg)
    out_single = run(single)
    save_file({"sample": out_single[0].contiguous()}, os.path.join(folder, "expected-bfl.safetensors"))
    diff = (out_single - out).norm() / out.norm()
    print(f"{name}: out {tuple(out.shape)}, from_single_file vs diffusers rel diff {diff:.2e}")
    if diff > 1e-5:
        sys.exit(f"{name}: the BFL conversion does not round-trip through from_single_file")


def make_scheduler_fixture():
    """Sigmas and timesteps of FLUX's shifted schedule (dev) and schnell's unshifted one."""
    cases = []
    dev = FlowMatchEulerDiscreteScheduler(
        base_image_seq_len=256, base_shift=0.5, max_image_seq_len=4096, max_shift=1.15,
        num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True)
    schnell = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0, use_dynamic_shifting=False)
    for kind, sched in (("dev", dev), ("schnell", schnell)):
        for width, height in ((256, 256), (1024, 1024), (1024, 768), (4096, 4096), (512, 1536)):
            for steps in (1, 4, 18, 28, 50):
                seq = (width // 16) * (height // 16)
                sigmas = np.linspace(1.0, 1 / steps, steps)
                mu = None
                if kind == "dev":
                    c = sched.config
                    m = (c.max_shift - c.base_shift) / (c.max_image_seq_len - c.base_image_seq_len)
                    mu = seq * m + (c.base_shift - m * c.base_image_seq_len)
                sched.set_timesteps(sigmas=sigmas, mu=mu)
                cases.append(dict(kind=kind, width=width, height=height, steps=steps, mu=mu,
                                  sigmas=sched.sigmas.tolist(), timesteps=sched.timesteps.tolist()))
    with open(os.path.join(OUT, "scheduler.json"), "w") as f:
        json.dump({"made_by": "diffusers FlowMatchEulerDiscreteScheduler", "cases": cases}, f)
    for kind, sched in (("dev", dev), ("schnell", schnell)):
        d = os.path.join(OUT, kind, "scheduler")
        sched.save_config(d)


def main():
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    for name, spec in CONFIGS.items():
        make(name, spec)
    make_scheduler_fixture()


if __name__ == "__main__":
    main()
