#!/usr/bin/env python3
"""torch_step.py: times one dense step of a FLUX transformer folder in PyTorch (diffusers'
FluxTransformer2DModel, bf16, SDPA through cuDNN, else flash) on the GPU at the token count of a
Scale-DiT detail step (512 text + (size/16)^2 HR + (size/64)^2 LR tokens); prints a table row."""
import argparse
import time

import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("transformer")
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--text", type=int, default=512)
    a = ap.parse_args()
    from diffusers import FluxTransformer2DModel
    from torch.nn.attention import SDPBackend, sdpa_kernel

    t0 = time.time()
    model = FluxTransformer2DModel.from_pretrained(a.transformer, torch_dtype=torch.bfloat16).cuda().eval()
    print(f"torch_step: loaded in {time.time() - t0:.1f} s", flush=True)
    cfg = model.config
    hr, lr = a.size // 16, a.size // 64
    n_img = hr * hr + lr * lr
    g = torch.Generator(device="cuda").manual_seed(7)
    dev = dict(device="cuda", dtype=torch.bfloat16)
    x = torch.randn(1, n_img, cfg.in_channels, generator=g, **dev)
    txt = torch.randn(1, a.text, cfg.joint_attention_dim, generator=g, **dev)
    pooled = torch.randn(1, cfg.pooled_projection_dim, generator=g, **dev)
    rows = torch.arange(hr, device="cuda").repeat_interleave(hr)
    cols = torch.arange(hr, device="cuda").repeat(hr)
    lrr = torch.arange(lr, device="cuda").repeat_interleave(lr) * 4
    lrc = torch.arange(lr, device="cuda").repeat(lr) * 4
    img_ids = torch.stack([torch.zeros(n_img, device="cuda"), torch.cat([rows, lrr]), torch.cat([cols, lrc])], 1)
    txt_ids = torch.zeros(a.text, 3, device="cuda")
    kw = dict(hidden_states=x, encoder_hidden_states=txt, pooled_projections=pooled,
              timestep=torch.tensor([0.9], **dev), img_ids=img_ids.to(torch.bfloat16),
              txt_ids=txt_ids.to(torch.bfloat16), return_dict=False)
    if cfg.guidance_embeds:
        kw["guidance"] = torch.tensor([4.5], **dev)
    for name, backend in (("cuDNN", SDPBackend.CUDNN_ATTENTION), ("flash", SDPBackend.FLASH_ATTENTION)):
        try:
            times = []
            with torch.no_grad(), sdpa_kernel(backends=[backend]):
                for i in range(a.iters + 1):
                    torch.cuda.synchronize()
                    t = time.time()
                    model(**kw)
                    torch.cuda.synchronize()
                    if i > 0:
                        times.append(time.time() - t)
            peak = torch.cuda.max_memory_allocated() / 2**30
            print(f"| PyTorch dense step, SDPA {name} (diffusers) | {a.size}x{a.size} | {a.text + n_img} | "
                  f"{sum(times) / len(times):.3f} | {min(times):.3f} | {peak:.1f} |", flush=True)
            break
        except RuntimeError as e:
            print(f"torch_step: SDPA {name} failed: {str(e).splitlines()[0]}", flush=True)


if __name__ == "__main__":
    main()
