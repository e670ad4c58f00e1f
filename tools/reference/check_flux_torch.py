#!/usr/bin/env python3
"""check_flux_torch.py: flux_torch.FluxTransformer equals diffusers' FluxTransformer2DModel
(<= 1e-5 relative, f32) on small random configs, through a save/load round trip of the diffusers
state dict, and reproduces the stored fixture tests/data/flux/dev. Exits non-zero on a mismatch."""
import math
import os
import sys
import tempfile

import torch
from diffusers import FluxTransformer2DModel
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(__file__))
import flux_torch  # noqa: E402

TOL = 1e-5
DATA = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data")


def randomize(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale = 0.5 if p.ndim == 1 else 1.0 / math.sqrt(p.shape[1])
            p.copy_(torch.randn(p.shape, generator=gen) * scale)
            if "norm" in name and p.ndim == 1:
                p.add_(1.0)


def rel(a, b):
    return ((a - b).norm() / b.norm()).item()


def check_random(guidance, layers, single, rows, cols, n_text, batch, seed):
    gen = torch.Generator().manual_seed(seed)
    cfg = dict(patch_size=1, in_channels=64, out_channels=None, num_layers=layers, num_single_layers=single,
               attention_head_dim=32, num_attention_heads=2, joint_attention_dim=48, pooled_projection_dim=24,
               guidance_embeds=guidance, axes_dims_rope=[4, 14, 14])
    ref = FluxTransformer2DModel(**cfg).eval()
    randomize(ref, gen)
    with tempfile.TemporaryDirectory() as d:
        ref.save_pretrained(d, safe_serialization=True)
        ours = flux_torch.FluxTransformer.from_pretrained(d).eval()
        ours.save_pretrained(os.path.join(d, "again"))
        again = load_file(os.path.join(d, "again", "diffusion_pytorch_model.safetensors"))
        orig = ref.state_dict()
        if set(again) != set(orig) or any(not torch.equal(again[k], orig[k]) for k in orig):
            sys.exit("save_pretrained does not write diffusers' state dict back")
    n_img = rows * cols
    img = torch.randn(batch, n_img, 64, generator=gen)
    txt = torch.randn(batch, n_text, 48, generator=gen)
    pooled = torch.randn(batch, 24, generator=gen)
    t = torch.rand(batch, generator=gen)
    g = torch.full((batch,), 3.5) if guidance else None
    img_ids = torch.zeros(n_img, 3)
    img_ids[:, 1] = torch.arange(rows).repeat_interleave(cols).float()
    img_ids[:, 2] = torch.arange(cols).repeat(rows).float()
    txt_ids = torch.zeros(n_text, 3)
    with torch.no_grad():
        want = ref(hidden_states=img, encoder_hidden_states=txt, pooled_projections=pooled, timestep=t,
                   img_ids=img_ids, txt_ids=txt_ids, guidance=g, return_dict=False)[0]
        got = ours(img, txt, pooled, t, torch.cat([txt_ids, img_ids]), guidance=g)
        # an all-true mask and explicit kinds (no LR) change nothing
        n = n_text + n_img
        kinds = torch.tensor([0] * n_text + [1] * n_img)
        got_masked = ours(img, txt, pooled, t, torch.cat([txt_ids, img_ids]), guidance=g, kinds=kinds,
                          mask=torch.ones(n, n, dtype=torch.bool), routing="scale-dit")
    e1, e2 = rel(got, want), rel(got_masked, want)
    print(f"random config guidance={guidance} layers={layers}/{single} {rows}x{cols} text {n_text} batch {batch}: "
          f"rel {e1:.2e}, masked {e2:.2e}")
    return max(e1, e2)


def check_fixture():
    model = flux_torch.FluxTransformer.from_pretrained(os.path.join(DATA, "flux", "dev")).eval()
    inp = load_file(os.path.join(DATA, "flux", "dev", "inputs.safetensors"))
    want = load_file(os.path.join(DATA, "flux", "dev", "expected.safetensors"))["sample"]
    ids = torch.cat([inp["txt_ids"], inp["img_ids"]])
    with torch.no_grad():
        got = model(inp["hidden_states"][None], inp["encoder_hidden_states"][None], inp["pooled_projections"][None],
                    inp["timestep"], ids, guidance=inp["guidance"])[0]
    e = rel(got, want)
    print(f"tests/data/flux/dev fixture: rel {e:.2e}")
    return e


def main():
    torch.manual_seed(0)
    worst = max(check_random(True, 2, 2, 6, 4, 7, 1, 1),
                check_random(False, 1, 3, 3, 5, 5, 2, 2),
                check_random(True, 2, 1, 5, 5, 1, 3, 3),
                check_fixture())
    if worst > TOL:
        sys.exit(f"flux_torch differs from diffusers: {worst:.2e} > {TOL}")
    print(f"OK: worst {worst:.2e} <= {TOL}")


if __name__ == "__main__":
    main()
