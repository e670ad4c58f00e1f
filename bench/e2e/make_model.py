#!/usr/bin/env python3
"""make_model.py: writes a diffusers model folder with FLUX.1-dev-size random bf16 weights for the
end-to-end benchmarks: the transformer with FLUX.1-dev's config.json numbers, FLUX's VAE config,
T5 and CLIP text encoders of the real widths (4096 and 768) but one layer each (the text encoders
run once per image; documented in bench/README.md), the tokenizers and scheduler of the test
fixture model (T5 read length 512 as FLUX.1-dev). Weights are made on the GPU with the libraries'
own initialisation. --small keeps every width but 2 double + 2 single blocks (a quick try)."""
import argparse
import json
import os
import shutil
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE = os.path.join(ROOT, "tests", "data", "pipeline-model")

# FLUX.1-dev transformer/config.json (black-forest-labs/FLUX.1-dev)
FLUX_DEV = dict(patch_size=1, in_channels=64, out_channels=None, num_layers=19, num_single_layers=38,
                attention_head_dim=128, num_attention_heads=24, joint_attention_dim=4096,
                pooled_projection_dim=768, guidance_embeds=True, axes_dims_rope=(16, 56, 56))
# FLUX.1-dev vae/config.json
FLUX_VAE = dict(in_channels=3, out_channels=3, latent_channels=16, block_out_channels=(128, 256, 512, 512),
                down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                layers_per_block=2, norm_num_groups=32, act_fn="silu", sample_size=1024,
                scaling_factor=0.3611, shift_factor=0.1159, use_quant_conv=False, use_post_quant_conv=False,
                mid_block_add_attention=True, force_upcast=True)


def build(make, out_dir):
    t0 = time.time()
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = make()
    model.save_pretrained(out_dir, safe_serialization=True, max_shard_size="5GB")
    n = sum(p.numel() for p in model.parameters())
    del model
    torch.cuda.empty_cache()
    print(f"make_model: {os.path.basename(out_dir)}: {n / 1e9:.2f} B parameters in {time.time() - t0:.1f} s",
          flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out")
    ap.add_argument("--small", action="store_true")
    a = ap.parse_args()
    from diffusers import AutoencoderKL, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    torch.set_default_dtype(torch.bfloat16)
    os.makedirs(a.out, exist_ok=True)
    flux = dict(FLUX_DEV)
    if a.small:
        flux.update(num_layers=2, num_single_layers=2)
    build(lambda: FluxTransformer2DModel(**flux), os.path.join(a.out, "transformer"))
    build(lambda: AutoencoderKL(**FLUX_VAE), os.path.join(a.out, "vae"))
    with open(os.path.join(FIXTURE, "text_encoder_2", "config.json")) as f:
        t5 = json.load(f)
    t5.update(d_model=4096, d_kv=64, num_heads=64, d_ff=10240, num_layers=1, dtype="bfloat16")
    build(lambda: T5EncoderModel(T5Config(**t5)), os.path.join(a.out, "text_encoder_2"))
    with open(os.path.join(FIXTURE, "text_encoder", "config.json")) as f:
        clip = json.load(f)
    clip.update(hidden_size=768, num_attention_heads=12, intermediate_size=3072, num_hidden_layers=1,
                projection_dim=768, dtype="bfloat16")
    build(lambda: CLIPTextModel(CLIPTextConfig(**clip)), os.path.join(a.out, "text_encoder"))
    for d in ("tokenizer", "tokenizer_2", "scheduler"):
        shutil.copytree(os.path.join(FIXTURE, d), os.path.join(a.out, d), dirs_exist_ok=True)
    shutil.copy(os.path.join(FIXTURE, "model_index.json"), a.out)
    cfg_path = os.path.join(a.out, "tokenizer_2", "tokenizer_config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    cfg["model_max_length"] = 512
    with open(cfg_path, "w") as f:
        json.dump(cfg, f, indent=2)


if __name__ == "__main__":
    main()
