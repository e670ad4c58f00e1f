#!/usr/bin/env python3
"""Writes a tiny random FLUX-architecture model in the diffusers folder layout (transformer, VAE,
CLIP, T5, tokenizers, scheduler) to tests/data/pipeline-model/, for end-to-end pipeline tests.

Its widths agree with each other (T5 width = the transformer's text width, CLIP width = its pooled
width); the tokenizers are the tokenizer fixtures' (tools/reference/make_tokenizer_fixtures.py).
"""
import json
import os
import shutil

import torch
from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxTransformer2DModel
from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
OUT = os.path.join(ROOT, "tests", "data", "pipeline-model")
TOKENIZERS = os.path.join(ROOT, "tests", "data", "tokenizer", "flux")
T5_WIDTH, CLIP_WIDTH = 32, 32
T5_LENGTH = 64  # the padded prompt length this model reads (tokenizer_2/tokenizer_config.json)


def main():
    torch.manual_seed(7)
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    FluxTransformer2DModel(
        patch_size=1, in_channels=64, num_layers=1, num_single_layers=1, attention_head_dim=32,
        num_attention_heads=2, joint_attention_dim=T5_WIDTH, pooled_projection_dim=CLIP_WIDTH,
        guidance_embeds=True, axes_dims_rope=[4, 14, 14],
    ).save_pretrained(os.path.join(OUT, "transformer"))
    AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=16, block_out_channels=(8, 16, 16, 16),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1, norm_num_groups=4, scaling_factor=0.3611, shift_factor=0.1159,
        use_quant_conv=False, use_post_quant_conv=False,
    ).save_pretrained(os.path.join(OUT, "vae"))
    clip_vocab = len(json.load(open(os.path.join(TOKENIZERS, "tokenizer", "vocab.json"))))
    CLIPTextModel(CLIPTextConfig(
        vocab_size=clip_vocab, hidden_size=CLIP_WIDTH, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, max_position_embeddings=77, eos_token_id=2, hidden_act="quick_gelu",
    )).save_pretrained(os.path.join(OUT, "text_encoder"))
    t5_vocab = len(json.load(open(os.path.join(TOKENIZERS, "tokenizer_2", "tokenizer.json")))["model"]["vocab"])
    T5EncoderModel(T5Config(
        vocab_size=t5_vocab, d_model=T5_WIDTH, d_kv=16, d_ff=64, num_layers=1, num_heads=2,
        relative_attention_num_buckets=32, relative_attention_max_distance=128,
        feed_forward_proj="gated-gelu", is_encoder_decoder=False,
    )).save_pretrained(os.path.join(OUT, "text_encoder_2"))
    for sub in ("tokenizer", "tokenizer_2"):
        shutil.copytree(os.path.join(TOKENIZERS, sub), os.path.join(OUT, sub))
    cfg_path = os.path.join(OUT, "tokenizer_2", "tokenizer_config.json")
    cfg = json.load(open(cfg_path))
    cfg["model_max_length"] = T5_LENGTH
    json.dump(cfg, open(cfg_path, "w"), indent=2)
    FlowMatchEulerDiscreteScheduler(
        base_image_seq_len=256, base_shift=0.5, max_image_seq_len=4096, max_shift=1.15,
        num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True,
    ).save_pretrained(os.path.join(OUT, "scheduler"))
    json.dump({"_class_name": "FluxPipeline", "_diffusers_version": "0.42.1"},
              open(os.path.join(OUT, "model_index.json"), "w"))
    print("wrote", OUT)


if __name__ == "__main__":
    main()
