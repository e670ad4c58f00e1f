#!/usr/bin/env python3
"""bench_attention.py: the PyTorch side of the attention benchmark at the FLUX 4K shape.

gen DIR      writes random bf16 q, k, v ([tokens, heads*dim], row-major) for bench_attention (C).
compare DIR  after bench_attention ran: times PyTorch SDPA dense (cuDNN and flash backends) and
             FlexAttention with the Scale-DiT mask rebuilt from the plan's token positions, on the
             same q, k, v; checks our outputs against them and against an f32 reference; prints the
             table (markdown).

FlexAttention's block mask: torch.compile(create_block_mask) over the whole 70,144² grid gives a
wrong block mask here (more 128x128 blocks than our plan has 128x64 ones, and it misses allowed
blocks: its output was 3.7e-1 off the f32 reference), while the same mask_mod built eagerly in
query chunks is right (9,478 blocks, output within 2e-3 of the reference on the H100). The likely
cause, not traced further: the grid has more than 2^32 elements and that compiled path indexes it
wrongly. So the block mask is built eagerly, 2048 query rows at a time, and the compiled
variant's block count is printed beside it as the check of that diagnosis.
"""
import json
import os
import sys

import numpy as np
import torch
import triton.testing
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.attention.flex_attention import BlockMask, create_block_mask, flex_attention

N_TEXT, HR, LR, HEADS, DIM = 512, 256, 64, 24, 128


def shape():
    return N_TEXT + HR * HR + LR * LR, HEADS, DIM


def gen(d):
    n, h, dim = shape()
    g = torch.Generator(device="cuda").manual_seed(int(os.environ.get("SEED", "1234")))
    os.makedirs(d, exist_ok=True)
    for name in "qkv":
        t = torch.randn(n, h * dim, generator=g, device="cuda", dtype=torch.float32).to(torch.bfloat16)
        t.view(torch.int16).cpu().numpy().tofile(os.path.join(d, name + ".bin"))


def load_bf16(path, n, h, dim):
    a = np.fromfile(path, dtype=np.int16)
    t = torch.from_numpy(a).cuda().view(torch.bfloat16).view(n, h, dim)
    return t.transpose(0, 1).unsqueeze(0).contiguous()  # [1, h, n, dim]


def rel(a, b):
    a, b = a.float(), b.float()
    return ((a - b).norm() / b.norm()).item()


def bench(fn, rep):
    return triton.testing.do_bench(fn, warmup=max(rep // 4, 25), rep=rep, return_mode="median")


def chunked_block_mask(mask_mod, n, chunk=2048):
    """Flex's block mask built eagerly, `chunk` query rows at a time, joined into one BlockMask."""
    parts = []
    for q0 in range(0, n, chunk):
        rows = min(chunk, n - q0)
        parts.append(create_block_mask(lambda b, h, qi, ki, q0=q0: mask_mod(b, h, qi + q0, ki), 1, 1, rows, n,
                                       device="cuda", BLOCK_SIZE=128))
    kv_blocks = (n + 127) // 128

    def cat(name):
        return torch.cat([getattr(m, name)[..., :kv_blocks] if name.endswith("indices") else getattr(m, name)
                          for m in parts], dim=2)

    return BlockMask.from_kv_blocks(cat("kv_num_blocks"), cat("kv_indices"), cat("full_kv_num_blocks"),
                                    cat("full_kv_indices"), BLOCK_SIZE=128, mask_mod=mask_mod, seq_lengths=(n, n))


def compare(d):
    n, h, dim = shape()
    ours = json.load(open(os.path.join(d, "ours.json")))
    assert ours["n_tokens"] == n
    q, k, v = (load_bf16(os.path.join(d, x + ".bin"), n, h, dim) for x in "qkv")
    tok = torch.from_numpy(np.fromfile(os.path.join(d, "tokens.bin"), dtype=np.int32).reshape(n, 5)).cuda()
    kind, row, col, wrow, wcol = (tok[:, i].contiguous() for i in range(5))
    R, LRR, S = ours["hr_radius"], ours["lr_radius"], ours["lr_window_span"]

    def mask_mod(b, hh, qi, ki):
        qk, kk = kind[qi], kind[ki]
        dr, dc = row[qi] - row[ki], col[qi] - col[ki]
        near = (dr <= R) & (-dr <= R) & (dc <= R) & (-dc <= R)
        lr_near = (dr <= LRR) & (-dr <= LRR) & (dc <= LRR) & (-dc <= LRR)
        dw = wcol[qi] - wcol[ki]
        win = (wrow[qi] == wrow[ki]) & (dw <= S) & (-dw <= S)
        text_q = (qk == 0) & (kk != 2)
        hr_q = (qk == 1) & ((kk == 0) | ((kk == 1) & near) | ((kk == 2) & win))
        lr_q = (qk == 2) & (kk == 2) & lr_near
        return text_q | hr_q | lr_q

    def count(bm):
        c = int(bm.kv_num_blocks.sum().item())
        return c + (int(bm.full_kv_num_blocks.sum().item()) if bm.full_kv_num_blocks is not None else 0)

    compiled_blocks = count(torch.compile(create_block_mask)(mask_mod, 1, 1, n, n, device="cuda", BLOCK_SIZE=128))
    torch.cuda.empty_cache()
    block_mask = chunked_block_mask(mask_mod, n)
    flex_blocks = count(block_mask)
    flex = torch.compile(flex_attention)
    out_flex = flex(q, k, v, block_mask=block_mask)
    t_flex = bench(lambda: flex(q, k, v, block_mask=block_mask), 400)

    with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
        out_cudnn = torch.nn.functional.scaled_dot_product_attention(q, k, v)
        t_cudnn = bench(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v), 1000)
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        out_flash = torch.nn.functional.scaled_dot_product_attention(q, k, v)
        t_flash = bench(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v), 1000)

    o_sparse = load_bf16(os.path.join(d, "out_sparse.bin"), n, h, dim)
    o_dense = load_bf16(os.path.join(d, "out_dense.bin"), n, h, dim)
    o_sparse_mma = load_bf16(os.path.join(d, "out_sparse_mma.bin"), n, h, dim)
    o_dense_mma = load_bf16(os.path.join(d, "out_dense_mma.bin"), n, h, dim)
    err_sparse = rel(o_sparse, out_flex)
    err_dense = rel(o_dense, out_cudnn)
    err_dense_mma = rel(o_dense_mma, out_cudnn)
    err_flash = rel(out_flash, out_cudnn)
    # an f32 reference on 256 query rows of 2 heads, for both sparse outputs
    rows = torch.randperm(n, device="cuda")[:256]
    qs, ks, vs = q[0, :2, rows].float(), k[0, :2].float(), v[0, :2].float()
    s = (qs @ ks.transpose(-1, -2)) / dim ** 0.5
    allowed = mask_mod(0, 0, rows[:, None], torch.arange(n, device="cuda")[None, :])
    ref = torch.softmax(s.masked_fill(~allowed, float("-inf")), -1) @ vs
    err_ref_ours = rel(o_sparse[0, :2, rows], ref)
    err_ref_mma = rel(o_sparse_mma[0, :2, rows], ref)
    err_ref_flex = rel(out_flex[0, :2, rows], ref)
    del q, k, v, o_sparse, o_dense, o_sparse_mma, o_dense_mma, out_flex, out_cudnn, out_flash
    torch.cuda.empty_cache()
    vae = vae_check(d, ours)

    dense_flops = 4.0 * n * n * dim * h
    ours_flops = 4.0 * ours["computed_pairs"] * dim * h
    flex_flops = 4.0 * flex_blocks * 128 * 128 * dim * h
    gpu = torch.cuda.get_device_name()
    lines = [
        f"GPU: {gpu}; PyTorch {torch.__version__}; {n} tokens ({N_TEXT} text + {HR}² HR + {LR}² LR), "
        f"{h} heads × {dim}, bf16; mask hr_radius {R}, lr_radius {LRR}, lr_window_span {S}; "
        f"token order {ours['order']}",
        f"our plan: {ours['q_block']}×{ours['k_block']} blocks, {ours['computed_blocks']} of "
        f"{ours['total_blocks']} computed ({100 * ours['density']:.2f}%), {ours['full_blocks']} full; "
        f"allowed pairs {100 * ours['allowed_fraction']:.2f}%; plan built in {ours['plan_build_ms']:.0f} ms on the CPU; "
        f"FlexAttention 128×128 block mask (built eagerly in 2048-row chunks): {flex_blocks} blocks "
        f"({100 * flex_blocks / ((n + 127) // 128) ** 2:.2f}%); torch.compile(create_block_mask) over the "
        f"whole grid gives {compiled_blocks} blocks (wrong, see the module docstring)",
        "",
        "| kernel | mask | ms | TFLOP/s | counted on |",
        "|---|---|---|---|---|",
        f"| scaledit CUDA, sm_90a (wgmma, TMA) | Scale-DiT plan, exact | {ours['ours_sparse_ms']:.2f} | "
        f"{ours_flops / ours['ours_sparse_ms'] / 1e9:.0f} | computed 128×64 blocks |",
        f"| scaledit CUDA, portable (mma.sync) | Scale-DiT plan, exact | {ours['ours_sparse_mma_ms']:.2f} | "
        f"{ours_flops / ours['ours_sparse_mma_ms'] / 1e9:.0f} | computed 128×64 blocks |",
        f"| FlexAttention (torch.compile) | same mask | {t_flex:.2f} | {flex_flops / t_flex / 1e9:.0f} | "
        f"computed 128×128 blocks |",
        f"| scaledit CUDA, sm_90a (wgmma, TMA) | dense | {ours['ours_dense_ms']:.1f} | "
        f"{dense_flops / ours['ours_dense_ms'] / 1e9:.0f} | all pairs |",
        f"| scaledit CUDA, portable (mma.sync) | dense | {ours['ours_dense_mma_ms']:.1f} | "
        f"{dense_flops / ours['ours_dense_mma_ms'] / 1e9:.0f} | all pairs |",
        f"| SDPA cuDNN | dense | {t_cudnn:.1f} | {dense_flops / t_cudnn / 1e9:.0f} | all pairs |",
        f"| SDPA flash | dense | {t_flash:.1f} | {dense_flops / t_flash / 1e9:.0f} | all pairs |",
        "",
        f"Parity (‖a − b‖/‖b‖ over the whole output): ours sparse vs FlexAttention {err_sparse:.2e}; "
        f"ours dense vs cuDNN {err_dense:.2e}, portable {err_dense_mma:.2e} (flash vs cuDNN {err_flash:.2e}); "
        f"against an f32 reference on 256 random query rows × 2 heads: ours {err_ref_ours:.2e}, portable "
        f"{err_ref_mma:.2e}, FlexAttention {err_ref_flex:.2e}.",
        f"Speed-up of the sparse kernel: {t_flex / ours['ours_sparse_ms']:.2f}× FlexAttention, "
        f"{t_cudnn / ours['ours_sparse_ms']:.1f}× dense cuDNN.",
        "",
        f"VAE mid-block shape (1 head × {ours['vae_d']}, {ours['vae_q']} queries against {ours['vae_kv']} keys): "
        f"ours {ours['vae_ms']:.2f} ms = {vae['flops'] / ours['vae_ms'] / 1e9:.0f} TFLOP/s; PyTorch SDPA "
        f"({vae['backend']}) {vae['t_sdpa']:.2f} ms; ours vs an f32 reference on 128 random query rows "
        f"{vae['err']:.2e}.",
    ]
    text = "\n".join(lines)
    print(text)
    out = os.environ.get("OUT")
    if out:
        open(os.path.join(out, "attention_table.md"), "w").write(text + "\n")
    ok = (err_sparse < 2e-2 and err_dense < 2e-2 and err_ref_ours < 2e-2 and err_ref_mma < 2e-2
          and err_dense_mma < 2e-2 and err_ref_flex < 2e-2 and vae["err"] < 2e-2)
    sys.exit(0 if ok else 1)


def vae_check(d, ours):
    """Our head-dim-512 output (the first rows of q, k, v read 512 wide) against an f32 reference
    on 128 random query rows, and PyTorch SDPA's time on the same inputs."""
    nq, nkv, dv = ours["vae_q"], ours["vae_kv"], ours["vae_d"]
    def rows(name, count):
        a = np.fromfile(os.path.join(d, name), dtype=np.int16, count=count * dv)
        return torch.from_numpy(a).cuda().view(torch.bfloat16).view(count, dv)
    q, k, v = rows("q.bin", nq), rows("k.bin", nkv), rows("v.bin", nkv)
    o = rows("out_vae.bin", nq)
    sel = torch.randperm(nq, device="cuda")[:128]
    ref = torch.softmax((q[sel].float() @ k.float().T) / dv ** 0.5, -1) @ v.float()
    err = rel(o[sel], ref)
    qs, ks, vs = (x[None, None] for x in (q, k, v))
    backend = "efficient"
    try:
        with sdpa_kernel(SDPBackend.EFFICIENT_ATTENTION):
            torch.nn.functional.scaled_dot_product_attention(qs, ks, vs)
            t = bench(lambda: torch.nn.functional.scaled_dot_product_attention(qs, ks, vs), 500)
    except RuntimeError:
        backend = "math"
        with sdpa_kernel(SDPBackend.MATH):
            t = bench(lambda: torch.nn.functional.scaled_dot_product_attention(qs, ks, vs), 500)
    return {"err": err, "t_sdpa": t, "backend": backend, "flops": 4.0 * nq * nkv * dv}


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("gen", "compare"):
        sys.exit(__doc__)
    (gen if sys.argv[1] == "gen" else compare)(sys.argv[2])
