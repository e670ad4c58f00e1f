#!/usr/bin/env python3
"""make_text_encoder_fixtures.py: small random CLIP-L-like and T5-XXL-like text encoders saved in
both layouts (diffusers text_encoder/ + text_encoder_2/ folders, and single files with the key
names ComfyUI users have), with input ids and reference outputs from transformers' CLIPTextModel
and T5EncoderModel in f32. Writes tests/data/text_encoders/.

Run from the repository root: python3 tools/reference/make_text_encoder_fixtures.py
"""
import json
import os
import shutil

import torch
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel
from transformers.models.t5.modeling_t5 import T5Attention

OUT = os.path.join("tests", "data", "text_encoders")

CLIP_VOCAB = 1000
CLIP_BOS, CLIP_EOS = 998, 999  # the tokenizer's start/end ids (CLIP-L: 49406, 49407)
CLIP_EOS_NEW = 997             # eos_token_id of the "new style" config test
T5_VOCAB = 1000
T5_EOS, T5_PAD = 1, 0


def randomize(model, gen, round_to):
    """Replaces every parameter with values large enough that a wrong op shows, rounded to
    `round_to` so that the half-precision single file holds exactly the same weights."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name and name.endswith("weight"):
                v = 1.0 + 0.2 * torch.randn(p.shape, generator=gen)
            elif "relative_attention_bias" in name or "embed" in name or name.startswith("shared"):
                v = torch.randn(p.shape, generator=gen)
            elif name.endswith("bias"):
                v = 0.1 * torch.randn(p.shape, generator=gen)
            else:
                v = torch.randn(p.shape, generator=gen) / (p.shape[-1] ** 0.5)
            p.copy_(v.to(round_to).to(torch.float32))


def make_clip(gen, tensors):
    config = CLIPTextConfig(
        vocab_size=CLIP_VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=77, hidden_act="quick_gelu",
        layer_norm_eps=1e-5, projection_dim=32,
        # FLUX.1's text_encoder/config.json carries these stale ids: the legacy pooling path
        # (argmax of the ids) is the one FLUX runs.
        bos_token_id=0, eos_token_id=2, pad_token_id=1)
    model = CLIPTextModel(config).eval()
    randomize(model, gen, torch.float16)

    # The folder as FLUX.1 ships it: text_model.* keys (transformers 5 would save them without
    # the prefix; both load). Reloading it checks transformers reads the same weights.
    folder = os.path.join(OUT, "diffusers", "text_encoder")
    model.save_pretrained(folder, safe_serialization=True)
    sd = {(k if k.startswith("text_model.") else "text_model." + k): v.contiguous()
          for k, v in model.state_dict().items()}
    save_file(sd, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
    reloaded = CLIPTextModel.from_pretrained(folder)
    for k, v in model.state_dict().items():
        assert torch.equal(reloaded.state_dict()[k], v), k

    # Single file (clip_l.safetensors): text_model.* keys in f16, plus the projection and the
    # position_ids buffer some exports carry, which the encoder ignores.
    sd = {k: v.to(torch.float16).contiguous() for k, v in sd.items()}
    sd["text_projection.weight"] = torch.randn(32, 64, generator=gen).to(torch.float16)
    sd["text_model.embeddings.position_ids"] = torch.arange(77, dtype=torch.int64)[None, :]
    save_file(sd, os.path.join(OUT, "clip_l.safetensors"))

    # A new-style config: pooling at the first eos_token_id, not at the largest id.
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    cfg["eos_token_id"] = CLIP_EOS_NEW
    with open(os.path.join(OUT, "clip_config_eos997.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)

    # A prompt padded to 77 as FluxPipeline's tokenizer does (pad = eos), a short sequence, and
    # one for the new-style config whose largest id (the bos) is not the eos.
    words = torch.randint(3, CLIP_EOS_NEW, (20,), generator=gen).tolist()
    ids_a = [CLIP_BOS] + words + [CLIP_EOS] * (77 - 21)
    ids_b = [CLIP_BOS] + words[:10] + [CLIP_EOS]
    ids_c = [CLIP_BOS] + words[:15] + [CLIP_EOS_NEW] + [CLIP_EOS] * (77 - 17)

    with torch.no_grad():
        for tag, ids in (("a", ids_a), ("b", ids_b)):
            out = model(torch.tensor([ids]))
            tensors[f"clip.{tag}.input_ids"] = torch.tensor(ids, dtype=torch.int64)
            tensors[f"clip.{tag}.last_hidden_state"] = out.last_hidden_state[0].contiguous()
            tensors[f"clip.{tag}.pooler_output"] = out.pooler_output[0].contiguous()
        # The single file carries no config: like diffusers' from_single_file, the engine takes
        # heads of 64 channels (here 1 head) and the legacy eos_token_id; same weights.
        single = CLIPTextModel(CLIPTextConfig(**{**config.to_dict(), "num_attention_heads": 1})).eval()
        single.load_state_dict(model.state_dict())
        out = single(torch.tensor([ids_a]))
        tensors["clip_single.a.last_hidden_state"] = out.last_hidden_state[0].contiguous()
        tensors["clip_single.a.pooler_output"] = out.pooler_output[0].contiguous()

        model.config.eos_token_id = CLIP_EOS_NEW
        model.eos_token_id = CLIP_EOS_NEW
        out = model(torch.tensor([ids_c]))
        tensors["clip.c.input_ids"] = torch.tensor(ids_c, dtype=torch.int64)
        tensors["clip.c.last_hidden_state"] = out.last_hidden_state[0].contiguous()
        tensors["clip.c.pooler_output"] = out.pooler_output[0].contiguous()
        assert out.pooler_output[0].allclose(out.last_hidden_state[0, 16])


def make_t5(gen, tensors):
    config = T5Config(
        vocab_size=T5_VOCAB, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4,
        relative_attention_num_buckets=32, relative_attention_max_distance=128,
        feed_forward_proj="gated-gelu", layer_norm_epsilon=1e-6, dropout_rate=0.0,
        is_encoder_decoder=False, use_cache=False, tie_word_embeddings=False,
        pad_token_id=T5_PAD, eos_token_id=T5_EOS, decoder_start_token_id=0)
    model = T5EncoderModel(config).eval()
    randomize(model, gen, torch.bfloat16)

    folder = os.path.join(OUT, "diffusers", "text_encoder_2")
    model.save_pretrained(folder, safe_serialization=True)

    # Single file (t5xxl_*.safetensors): shared.weight + encoder.* keys, here in bf16.
    sd = {k: v.to(torch.bfloat16).contiguous() for k, v in model.state_dict().items()
          if k != "encoder.embed_tokens.weight"}
    save_file(sd, os.path.join(OUT, "t5xxl_tiny.safetensors"))

    # Sequences as FluxPipeline feeds them (eos, then padding, no attention mask), of lengths
    # that cover the exact and the logarithmic buckets.
    for tag, n, n_words in (("a", 1, 0), ("b", 9, 6), ("c", 200, 150)):
        ids = torch.randint(2, T5_VOCAB, (n_words,), generator=gen).tolist()
        ids = (ids + [T5_EOS] + [T5_PAD] * n)[:n]
        with torch.no_grad():
            out = model(input_ids=torch.tensor([ids]))
        tensors[f"t5.{tag}.input_ids"] = torch.tensor(ids, dtype=torch.int64)
        tensors[f"t5.{tag}.last_hidden_state"] = out.last_hidden_state[0].contiguous()

    # run-component's input as an I64 [1, n] tensor (the "b" sequence).
    save_file({"input_ids": tensors["t5.b.input_ids"][None, :].contiguous()},
              os.path.join(OUT, "t5_input_ids_i64.safetensors"))

    # Buckets of every relative position a 512-token prompt has, for FLUX's (32, 128).
    delta = torch.arange(-511, 512, dtype=torch.long)
    tensors["t5.buckets_32_128"] = T5Attention._relative_position_bucket(
        delta, bidirectional=True, num_buckets=32, max_distance=128).to(torch.int64)


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    gen = torch.Generator().manual_seed(20261122)
    torch.manual_seed(0)
    tensors = {}
    make_clip(gen, tensors)
    make_t5(gen, tensors)
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(OUT, "reference.safetensors"),
              metadata={"made_by": "tools/reference/make_text_encoder_fixtures.py",
                        "transformers": __import__("transformers").__version__,
                        "torch": torch.__version__})
    total = 0
    for root, _, files in os.walk(OUT):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    print(f"wrote {OUT} ({total / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
