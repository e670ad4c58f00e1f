#!/usr/bin/env python3
"""export.py: writes scaledit-tiny in the diffusers folder layout the engine reads: bf16 weights of
the stage outputs, tokenizers, scheduler config, model_index.json, and the Scale-DiT LoRA.

    python3 tools/train/export.py --tokenizers DIR --vae DIR --base DIR [--lora DIR] --out models/scaledit-tiny
"""
import argparse
import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from tools.train.architecture import SCHEDULER  # noqa: E402

MAX_FILE = 16 * 1000 * 1000
MAX_TOTAL = 24 * 1000 * 1000


def main():
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxTransformer2DModel
    from transformers import CLIPTextModel, T5EncoderModel
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokenizers", required=True, help="folder holding tokenizer/ and tokenizer_2/")
    ap.add_argument("--vae", required=True)
    ap.add_argument("--base", required=True, help="folder holding text_encoder/, text_encoder_2/, transformer/")
    ap.add_argument("--lora", help="folder holding adapter_model.safetensors and adapter_config.json")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    bf16 = dict(torch_dtype=torch.bfloat16)
    parts = [(AutoencoderKL, args.vae, "vae"),
             (CLIPTextModel, os.path.join(args.base, "text_encoder"), "text_encoder"),
             (T5EncoderModel, os.path.join(args.base, "text_encoder_2"), "text_encoder_2"),
             (FluxTransformer2DModel, os.path.join(args.base, "transformer"), "transformer")]
    for cls, src, name in parts:
        dst = os.path.join(args.out, name)
        if os.path.isdir(dst):
            shutil.rmtree(dst)
        cls.from_pretrained(src, **bf16).save_pretrained(dst)
    for name in ("tokenizer", "tokenizer_2"):
        dst = os.path.join(args.out, name)
        if os.path.abspath(dst) != os.path.abspath(os.path.join(args.tokenizers, name)):
            if os.path.isdir(dst):
                shutil.rmtree(dst)
            shutil.copytree(os.path.join(args.tokenizers, name), dst)
    FlowMatchEulerDiscreteScheduler(**SCHEDULER).save_pretrained(os.path.join(args.out, "scheduler"))
    if args.lora:
        dst = os.path.join(args.out, "scale_dit_lora")
        os.makedirs(dst, exist_ok=True)
        from safetensors.torch import load_file, save_file
        tensors = load_file(os.path.join(args.lora, "adapter_model.safetensors"))
        save_file({k: v.to(torch.bfloat16).contiguous() for k, v in tensors.items()},
                  os.path.join(dst, "adapter_model.safetensors"))
        shutil.copy(os.path.join(args.lora, "adapter_config.json"), dst)
    with open(os.path.join(args.out, "model_index.json"), "w") as f:
        json.dump({"_class_name": "FluxPipeline", "_diffusers_version": "0.42.1",
                   "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
                   "text_encoder": ["transformers", "CLIPTextModel"],
                   "text_encoder_2": ["transformers", "T5EncoderModel"],
                   "tokenizer": ["transformers", "CLIPTokenizer"],
                   "tokenizer_2": ["transformers", "T5TokenizerFast"],
                   "transformer": ["diffusers", "FluxTransformer2DModel"],
                   "vae": ["diffusers", "AutoencoderKL"]}, f, indent=2)
        f.write("\n")
    total = 0
    for root, _, files in os.walk(args.out):
        for name in files:
            size = os.path.getsize(os.path.join(root, name))
            total += size
            if size >= MAX_FILE:
                sys.exit("%s is %d bytes, over the 16 MB limit per file" % (os.path.join(root, name), size))
    print("exported %s: %.2f MB in all" % (args.out, total / 1e6))
    if total > MAX_TOTAL:
        sys.exit("the model is over the 24 MB limit")


if __name__ == "__main__":
    main()
