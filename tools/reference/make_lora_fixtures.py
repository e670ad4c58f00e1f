#!/usr/bin/env python3
"""make_lora_fixtures.py: writes LoRA fixtures to tests/data/lora/ for tests/test_lora.c.

- LoRAs made with PEFT on diffusers' FluxTransformer2DModel (the tests/data/flux/dev model) with
  non-trivial random A and B, saved as a PEFT folder (PeftModel.save_pretrained) and in diffusers'
  format (pytorch_lora_weights.safetensors, `transformer.` keys) without and with `.alpha` tensors;
  their reference outputs (routing "all") are what diffusers/PEFT compute with the LoRA loaded,
  on tests/data/flux/dev/inputs.safetensors.
- A Scale-DiT detail-pass case: [text | HR | LR] in raster order, LR at timestep 0, the Scale-DiT
  mask, scaled anchors and NTK theta, the PEFT LoRA with routing "scale-dit" (and "all"), computed
  by tools/reference/flux_torch.py (itself checked against diffusers by check_flux_torch.py; here
  its routing "all" output on plain inputs is also checked against PEFT).
- The PEFT LoRA rewritten with BFL key names (diffusion_model.double_blocks.N.img_attn.qkv, ...):
  q, k, v (and single blocks' MLP input) fused exactly by stacking A and block-diagonal B, so it
  must give the PEFT LoRA's outputs.
- Broken LoRA files for the error tests, and a LoRA for tests/data/pipeline-model.
"""
import json
import math
import os
import shutil
import sys

import torch
from diffusers import FluxPipeline, FluxTransformer2DModel
from diffusers.loaders.lora_pipeline import FluxLoraLoaderMixin
from peft import LoraConfig, PeftModel, get_peft_model
from peft.utils import get_peft_model_state_dict
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(__file__))
import flux_torch  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
DATA = os.path.join(ROOT, "tests", "data")
OUT = os.path.join(DATA, "lora")
MODEL = os.path.join(DATA, "flux", "dev", "transformer")
TARGETS = ["to_q", "to_k", "to_v", "add_q_proj", "add_k_proj", "add_v_proj", "to_out.0", "to_add_out",
           "ff.net.0.proj", "ff.net.2", "ff_context.net.0.proj", "ff_context.net.2", "proj_mlp", "proj_out",
           "x_embedder", "context_embedder"]


def rel(a, b):
    return ((a - b).norm() / b.norm()).item()


def base_model():
    return FluxTransformer2DModel.from_pretrained(MODEL).eval()


def save_peft(model, folder):
    """PeftModel.save_pretrained without the model card it writes beside the adapter."""
    model.save_pretrained(folder)
    os.remove(os.path.join(folder, "README.md"))


def randomize_lora(model, gen):
    """Non-trivial A and B (PEFT starts B at zero)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_A" in name or "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * (0.6 / math.sqrt(p.shape[1])))


def inputs():
    return load_file(os.path.join(DATA, "flux", "dev", "inputs.safetensors"))


def run_diffusers(model, inp):
    with torch.no_grad():
        return model(hidden_states=inp["hidden_states"][None], encoder_hidden_states=inp["encoder_hidden_states"][None],
                     pooled_projections=inp["pooled_projections"][None], timestep=inp["timestep"],
                     img_ids=inp["img_ids"], txt_ids=inp["txt_ids"], guidance=inp["guidance"], return_dict=False)[0][0]


def run_ours(model, inp, **kw):
    ids = torch.cat([inp["txt_ids"], inp["img_ids"]])
    with torch.no_grad():
        return model(inp["hidden_states"][None], inp["encoder_hidden_states"][None], inp["pooled_projections"][None],
                     inp["timestep"], ids, guidance=inp["guidance"], **kw)[0]


def save_expected(name, out):
    save_file({"sample": out.contiguous()}, os.path.join(OUT, name))


def make_peft(gen, inp):
    """A PEFT folder (r 4, alpha 6) and diffusers/PEFT outputs with user scale 1 and 0.6."""
    folder = os.path.join(OUT, "peft")
    model = get_peft_model(base_model(), LoraConfig(r=4, lora_alpha=6, target_modules=TARGETS))
    randomize_lora(model, gen)
    save_peft(model, folder)
    ref = PeftModel.from_pretrained(base_model(), folder).eval()
    out1 = run_diffusers(ref.base_model.model, inp)
    save_expected("expected-peft.safetensors", out1)
    for m in ref.modules():
        if hasattr(m, "scale_layer") and hasattr(m, "lora_A"):
            m.scale_layer(0.6)
    out06 = run_diffusers(ref.base_model.model, inp)
    save_expected("expected-peft-scale0.6.safetensors", out06)
    ours = flux_torch.FluxTransformer.from_pretrained(MODEL).eval()
    flux_torch.load_lora(ours, folder)
    e1 = rel(run_ours(ours, inp), out1)
    flux_torch.set_lora_scale(ours, 0.6)
    e2 = rel(run_ours(ours, inp), out06)
    base = run_diffusers(base_model(), inp)
    print(f"peft: LoRA changes the output by {rel(out1, base):.3f}; flux_torch vs PEFT {e1:.2e}, scale 0.6 {e2:.2e}")
    if max(e1, e2) > 1e-5:
        sys.exit("flux_torch's LoRA differs from PEFT's")
    return folder


def diffusers_lora(gen, rank, alphas):
    """A LoRA state dict in diffusers' names (transformer.<module>.lora_A.weight) with optional alphas."""
    model = base_model()
    model.add_adapter(LoraConfig(r=rank, lora_alpha=rank, target_modules=TARGETS))
    randomize_lora(model, gen)
    sd = get_peft_model_state_dict(model)
    out = {f"transformer.{k}": v.contiguous() for k, v in sd.items()}
    if alphas:
        # alphas differ per module, chosen by the module's last name (diffusers matches its
        # alpha_pattern by name suffix, so the top-level proj_out and the single blocks' proj_out
        # must agree)
        modules = sorted({k[: k.index(".lora_A")] for k in sd if ".lora_A" in k})
        names = sorted({m.rsplit(".", 1)[-1] for m in modules})
        for m in modules:
            a = alphas[names.index(m.rsplit(".", 1)[-1]) % len(alphas)]
            out[f"transformer.{m}.alpha"] = torch.tensor(float(a))
    return out


def diffusers_reference(path, inp, scale):
    """What diffusers computes with the file loaded through FluxLoraLoaderMixin."""
    sd, alphas = FluxLoraLoaderMixin.lora_state_dict(path, return_alphas=True)
    model = base_model()
    model.load_lora_adapter(sd, network_alphas=alphas, prefix="transformer", adapter_name="x")
    model.set_adapters(["x"], weights=[scale])
    return run_diffusers(model, inp)


def make_diffusers(gen, inp):
    folder = os.path.join(OUT, "diffusers-noalpha")
    os.makedirs(folder)
    FluxPipeline.save_lora_weights(folder, transformer_lora_layers={k[len("transformer."):]: v for k, v in
                                                                   diffusers_lora(gen, 3, None).items()})
    out = diffusers_reference(folder, inp, 1.0)
    save_expected("expected-noalpha.safetensors", out)
    path = os.path.join(OUT, "diffusers-alpha.safetensors")
    save_file(diffusers_lora(gen, 3, [1.5, 6.0, 3.0, 4.5]), path)
    out_a = diffusers_reference(path, inp, 0.75)
    save_expected("expected-alpha-scale0.75.safetensors", out_a)
    ours = flux_torch.FluxTransformer.from_pretrained(MODEL).eval()
    flux_torch.load_lora(ours, folder)
    e1 = rel(run_ours(ours, inp), out)
    flux_torch.remove_lora(ours)
    flux_torch.load_lora(ours, path, scale=0.75)
    e2 = rel(run_ours(ours, inp), out_a)
    print(f"diffusers format: flux_torch vs diffusers no alpha {e1:.2e}, alpha + scale 0.75 {e2:.2e}")
    if max(e1, e2) > 1e-5:
        sys.exit("flux_torch's LoRA differs from diffusers'")


def make_scale_dit(gen, peft_folder):
    """[text | HR | LR] raster, HR 6x7 with window 4 (partial windows), LR 2x3 (non-integer ratio)."""
    n_text, hr_rows, hr_cols, lr_rows, lr_cols, window = 5, 6, 7, 2, 3, 4
    hr_radius, lr_radius, span = 2, 1, 1
    ntk = 10.0
    model = flux_torch.FluxTransformer.from_pretrained(MODEL).eval()
    cfg = model.config
    n_img = hr_rows * hr_cols + lr_rows * lr_cols
    n = n_text + n_img
    tok = flux_torch.scale_dit_tokens(n_text, hr_rows, hr_cols, lr_rows, lr_cols, window)
    ids = flux_torch.scale_dit_ids(n_text, hr_rows, hr_cols, lr_rows, lr_cols)
    mask = flux_torch.scale_dit_mask(n_text, hr_rows, hr_cols, lr_rows, lr_cols, window, hr_radius, lr_radius, span)
    inp = {
        "hidden_states": torch.randn(n_img, cfg["in_channels"], generator=gen),
        "encoder_hidden_states": torch.randn(n_text, cfg["joint_attention_dim"], generator=gen),
        "pooled_projections": torch.randn(cfg["pooled_projection_dim"], generator=gen),
        "timestep": torch.tensor([0.62]),
        "guidance": torch.tensor([4.5]),
        "txt_ids": ids[:n_text].contiguous(),
        "img_ids": ids[n_text:].contiguous(),
        "token_kinds": tok["kind"][n_text:].float().contiguous(),
        "rope_theta": torch.tensor([10000.0 * ntk]),
        "scale_dit_mask": torch.tensor([hr_rows, hr_cols, lr_rows, lr_cols, window, hr_radius, lr_radius, span],
                                       dtype=torch.float32),
    }
    save_file(inp, os.path.join(OUT, "scale-dit-inputs.safetensors"))
    save_file({"mask": mask.float().contiguous()}, os.path.join(OUT, "scale-dit-mask.safetensors"))

    def run(routing):
        with torch.no_grad():
            return model(inp["hidden_states"][None], inp["encoder_hidden_states"][None],
                         inp["pooled_projections"][None], inp["timestep"], ids, guidance=inp["guidance"],
                         kinds=tok["kind"], mask=mask, theta=10000.0 * ntk, routing=routing)[0]

    base = run("all")
    flux_torch.load_lora(model, peft_folder, scale=0.8)
    routed, every = run("scale-dit"), run("all")
    save_expected("expected-scale-dit-base.safetensors", base)
    save_expected("expected-scale-dit-routed.safetensors", routed)
    save_expected("expected-scale-dit-all.safetensors", every)
    print(f"scale-dit: {n} tokens, mask density {mask.float().mean():.3f}; routed vs base {rel(routed, base):.3f}, "
          f"routed vs all {rel(routed, every):.3f}")


def make_bfl():
    """The PEFT fixture with BFL names; alpha = rank and the PEFT scale folded into B."""
    sd = load_file(os.path.join(OUT, "peft", "adapter_model.safetensors"))
    with open(os.path.join(OUT, "peft", "adapter_config.json")) as f:
        cfg = json.load(f)
    scale = cfg["lora_alpha"] / cfg["r"]
    out = {}

    def get(m, w):
        return sd[f"base_model.model.{m}.lora_{w}.weight"]

    def put(name, mods):
        a = torch.cat([get(m, "A") for m in mods])
        b = torch.block_diag(*[get(m, "B") for m in mods]) * scale
        out[f"diffusion_model.{name}.lora_A.weight"] = a.contiguous()
        out[f"diffusion_model.{name}.lora_B.weight"] = b.contiguous()
        out[f"diffusion_model.{name}.alpha"] = torch.tensor(float(a.shape[0]))

    for i in range(2):
        d, s = f"transformer_blocks.{i}.", f"single_transformer_blocks.{i}."
        put(f"double_blocks.{i}.img_attn.qkv", [d + "attn.to_q", d + "attn.to_k", d + "attn.to_v"])
        put(f"double_blocks.{i}.txt_attn.qkv", [d + "attn.add_q_proj", d + "attn.add_k_proj", d + "attn.add_v_proj"])
        put(f"double_blocks.{i}.img_attn.proj", [d + "attn.to_out.0"])
        put(f"double_blocks.{i}.txt_attn.proj", [d + "attn.to_add_out"])
        put(f"double_blocks.{i}.img_mlp.0", [d + "ff.net.0.proj"])
        put(f"double_blocks.{i}.img_mlp.2", [d + "ff.net.2"])
        put(f"double_blocks.{i}.txt_mlp.0", [d + "ff_context.net.0.proj"])
        put(f"double_blocks.{i}.txt_mlp.2", [d + "ff_context.net.2"])
        put(f"single_blocks.{i}.linear1", [s + "attn.to_q", s + "attn.to_k", s + "attn.to_v", s + "proj_mlp"])
        put(f"single_blocks.{i}.linear2", [s + "proj_out"])
    put("img_in", ["x_embedder"])
    put("txt_in", ["context_embedder"])
    put("final_layer.linear", ["proj_out"])
    save_file(out, os.path.join(OUT, "bfl.safetensors"))


def make_broken():
    """Files for the error tests, derived from the PEFT fixture."""
    bad = os.path.join(OUT, "bad")
    os.makedirs(bad)
    good = load_file(os.path.join(OUT, "peft", "adapter_model.safetensors"))
    a_key = "base_model.model.transformer_blocks.0.attn.to_q.lora_A.weight"

    def peft_folder(name, tensors):
        d = os.path.join(bad, name)
        os.makedirs(d)
        save_file(tensors, os.path.join(d, "adapter_model.safetensors"))
        shutil.copy(os.path.join(OUT, "peft", "adapter_config.json"), d)

    unknown = dict(good)
    unknown["base_model.model.transformer_blocks.7.attn.to_q.lora_A.weight"] = good[a_key].clone()
    unknown["base_model.model.transformer_blocks.7.attn.to_q.lora_B.weight"] = torch.zeros(64, 4)
    peft_folder("unknown-key", unknown)
    shape = dict(good)
    shape["base_model.model.single_transformer_blocks.1.proj_mlp.lora_B.weight"] = torch.zeros(200, 4)
    peft_folder("wrong-shape", shape)
    modulation = dict(good)
    modulation["base_model.model.transformer_blocks.1.norm1.linear.lora_A.weight"] = torch.zeros(4, 64)
    modulation["base_model.model.transformer_blocks.1.norm1.linear.lora_B.weight"] = torch.zeros(384, 4)
    peft_folder("modulation", modulation)
    d = os.path.join(bad, "no-config")
    os.makedirs(d)
    save_file(good, os.path.join(d, "adapter_model.safetensors"))


def make_pipeline_lora(gen):
    """A PEFT LoRA (r 4) on tests/data/pipeline-model's transformer for the pipeline tests."""
    model = FluxTransformer2DModel.from_pretrained(os.path.join(DATA, "pipeline-model", "transformer"))
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=4, target_modules=TARGETS[:14]))
    randomize_lora(model, gen)
    save_peft(model, os.path.join(OUT, "pipeline"))


def main():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(606)
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    inp = inputs()
    peft_folder = make_peft(gen, inp)
    make_diffusers(gen, inp)
    make_scale_dit(gen, peft_folder)
    make_bfl()
    make_broken()
    make_pipeline_lora(gen)


if __name__ == "__main__":
    main()
