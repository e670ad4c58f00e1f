#!/usr/bin/env python3
"""make_vae_fixtures.py: small random AutoencoderKL fixtures (diffusers folder and ae.safetensors
with the original latent-diffusion key names) with decode / encode references for tests/test_vae.c.

Writes tests/data/vae/<name>/vae/{config.json,diffusion_pytorch_model.safetensors},
tests/data/vae/<name>/ae.safetensors and tests/data/vae/<name>/reference.safetensors holding
  latents  [16, h, w]   scaled latents fed to decode
  decoded  [3, 2^k h, 2^k w]   diffusers' decoder output for them (raw, nominally [-1, 1])
  image    [3, H, W]    an image in [-1, 1] fed to encode
  encoded  [16, h', w'] (mean - shift_factor) * scaling_factor of diffusers' encoder.
The ae.safetensors key mapping is written here (diffusers -> original) and checked by loading the
file back with diffusers' AutoencoderKL.from_single_file, which must reproduce the outputs.
"""
import json
import os
import sys

import torch
from diffusers import AutoencoderKL
from safetensors.torch import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "vae")

FIXTURES = {
    # FLUX-like: no quant convs, mid-block attention, non-square latents.
    "attn": dict(config=dict(block_out_channels=[16, 32], layers_per_block=1, norm_num_groups=8,
                             mid_block_add_attention=True, use_quant_conv=False,
                             use_post_quant_conv=False),
                 latent_hw=(7, 11), image_hw=(18, 26), seed=1, diffusers_dtype=torch.bfloat16,
                 ae_dtype=torch.float16),
    # No mid-block attention, quant convs present, odd image size, three blocks (4x).
    "noattn": dict(config=dict(block_out_channels=[16, 16, 32], layers_per_block=1, norm_num_groups=8,
                               mid_block_add_attention=False, use_quant_conv=True,
                               use_post_quant_conv=True),
                   latent_hw=(5, 9), image_hw=(17, 30), seed=2, diffusers_dtype=torch.float16,
                   ae_dtype=torch.bfloat16),
}

SCALING, SHIFT = 0.3611, 0.1159


def make_config(c):
    n = len(c["block_out_channels"])
    cfg = dict(in_channels=3, out_channels=3, latent_channels=16, act_fn="silu",
               down_block_types=["DownEncoderBlock2D"] * n, up_block_types=["UpDecoderBlock2D"] * n,
               scaling_factor=SCALING, shift_factor=SHIFT, sample_size=64, force_upcast=True)
    cfg.update(c)
    return cfg


def diffusers_to_ldm(sd, n_blocks):
    """Maps diffusers AutoencoderKL state-dict keys to the original latent-diffusion names."""
    out = {}
    for key, t in sd.items():
        k = key
        for part in ("encoder", "decoder"):
            if not k.startswith(part + "."):
                continue
            rest = k[len(part) + 1:]
            if rest.startswith("conv_norm_out."):
                rest = "norm_out." + rest[len("conv_norm_out."):]
            elif rest.startswith("down_blocks."):
                f = rest.split(".")
                i = f[1]
                if f[2] == "resnets":
                    rest = ".".join(["down", i, "block", f[3]] + f[4:])
                else:  # downsamplers.0.conv.*
                    rest = ".".join(["down", i, "downsample"] + f[4:])
            elif rest.startswith("up_blocks."):
                f = rest.split(".")
                i = str(n_blocks - 1 - int(f[1]))
                if f[2] == "resnets":
                    rest = ".".join(["up", i, "block", f[3]] + f[4:])
                else:
                    rest = ".".join(["up", i, "upsample"] + f[4:])
            elif rest.startswith("mid_block.resnets."):
                f = rest.split(".")
                rest = ".".join(["mid", "block_%d" % (int(f[2]) + 1)] + f[3:])
            elif rest.startswith("mid_block.attentions.0."):
                f = rest.split(".")[3:]
                name = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v"}.get(f[0])
                if f[0] == "to_out":
                    f = ["proj_out"] + f[2:]
                else:
                    f = [name] + f[1:]
                rest = ".".join(["mid", "attn_1"] + f)
                if f[0] in ("q", "k", "v", "proj_out") and f[-1] == "weight":
                    t = t[:, :, None, None]  # 1x1 conv weights in the original layout
            rest = rest.replace("conv_shortcut", "nin_shortcut")
            k = part + "." + rest
        out[k] = t.contiguous()
    return out


def round_weights(model):
    """Weights that f16 and bf16 both hold exactly, so every stored dtype computes the same."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).float())
            p[p.abs() < 2.0 ** -14] = 0


def main():
    torch.manual_seed(0)
    total = 0
    for name, fx in FIXTURES.items():
        d = os.path.join(ROOT, name)
        os.makedirs(os.path.join(d, "vae"), exist_ok=True)
        torch.manual_seed(fx["seed"])
        cfg = make_config(fx["config"])
        vae = AutoencoderKL(**cfg).eval()
        # Random non-trivial norms and biases (they start at 1/0 otherwise).
        with torch.no_grad():
            for n_, p in vae.named_parameters():
                if "norm" in n_ and n_.endswith("weight"):
                    p.copy_(1 + 0.2 * torch.randn_like(p))
                elif n_.endswith("bias"):
                    p.copy_(0.1 * torch.randn_like(p))
        round_weights(vae)
        vae.save_pretrained(os.path.join(d, "vae"), safe_serialization=True)
        # Re-save the weights in the half dtype (exact: the values were rounded above).
        sd = {k: v.to(fx["diffusers_dtype"]).contiguous() for k, v in vae.state_dict().items()}
        save_file(sd, os.path.join(d, "vae", "diffusion_pytorch_model.safetensors"))
        ldm = {k: v.to(fx["ae_dtype"]) for k, v in diffusers_to_ldm(vae.state_dict(), len(cfg["block_out_channels"])).items()}
        save_file(ldm, os.path.join(d, "ae.safetensors"))

        factor = 2 ** (len(cfg["block_out_channels"]) - 1)
        h, w = fx["latent_hw"]
        latents = torch.randn(1, 16, h, w)
        image = torch.rand(1, 3, *fx["image_hw"]) * 2 - 1
        with torch.no_grad():
            decoded = vae.decode(latents / SCALING + SHIFT).sample
            mean = vae.encode(image).latent_dist.mean
            encoded = (mean - SHIFT) * SCALING
            # The single file must reproduce through diffusers' own conversion.
            single = AutoencoderKL.from_single_file(os.path.join(d, "ae.safetensors"),
                                                    config=d, subfolder="vae",
                                                    torch_dtype=torch.float32).eval()
            d2 = single.decode(latents / SCALING + SHIFT).sample
            e2 = (single.encode(image).latent_dist.mean - SHIFT) * SCALING
        err_d = ((d2 - decoded).norm() / decoded.norm()).item()
        err_e = ((e2 - encoded).norm() / encoded.norm()).item()
        print(f"{name}: decoded {tuple(decoded.shape)} encoded {tuple(encoded.shape)}; "
              f"from_single_file rel err decode {err_d:.2e} encode {err_e:.2e}")
        if err_d > 1e-6 or err_e > 1e-6:
            sys.exit(f"{name}: ae.safetensors does not reproduce through from_single_file")
        assert decoded.shape[-2:] == (h * factor, w * factor)
        save_file({"latents": latents[0].contiguous(), "decoded": decoded[0].contiguous(),
                   "image": image[0].contiguous(), "encoded": encoded[0].contiguous()},
                  os.path.join(d, "reference.safetensors"))
        for root, _, files in os.walk(d):
            total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    print(f"fixtures: {total / 1e6:.2f} MB in {ROOT}")


if __name__ == "__main__":
    main()
