#!/usr/bin/env python3
"""test_pipeline_torch.py: the engine's whole pipeline against its PyTorch re-implementation
(tools/eval/pipeline_torch.py) on the tiny random model tests/data/pipeline-model: `scaledit
generate --depth 16` and the reference fed the same Philox noise give the same final pixels
(relative difference at most 1e-4; the acceptance bound of issue 9 is 1e-3, 16-bit output alone
accounts for about 5e-6). First the noise itself: tools/eval/philox_noise.py against Random123's
Philox4x32-10 known answers and bit for bit against the engine's sd_noise_normal (noise_dump).
Then the bundled model models/scaledit-tiny (once exported) at 256x256 with 10/6 steps the same way.
Exits 77 (skipped) when torch, diffusers or transformers are missing.

Usage: test_pipeline_torch.py SCALEDIT_CLI NOISE_DUMP
"""
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "tests", "data", "pipeline-model")
BUNDLED = os.path.join(ROOT, "models", "scaledit-tiny")
TOLERANCE = 1e-4
PROMPT = "a snowy mountain lake at sunset with pine trees"

try:
    import numpy as np
    import torch
    import diffusers  # noqa: F401
    import transformers  # noqa: F401
except ImportError as e:
    print(f"SKIP: the PyTorch reference needs torch, diffusers and transformers ({e})")
    sys.exit(77)

sys.path.insert(0, os.path.join(ROOT, "tools", "eval"))
sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))
import philox_noise  # noqa: E402
from pipeline_torch import Request, TorchPipeline, relative_difference  # noqa: E402
from png16 import read_png_float  # noqa: E402

# counter[4], key[2], expected[4]: Random123 kat_vectors, philox4x32 with 10 rounds
PHILOX_KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]

failures = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def test_noise(noise_dump, tmp):
    for counter, key, expected in PHILOX_KAT:
        got = tuple(int(v) for v in philox_noise.philox4x32(counter, key))
        check(got == expected, f"philox4x32 {counter} {key}: {[hex(v) for v in got]}")
    for seed, stream, n in ((0, 0, 1000), (5, 1, 200003), (2**64 - 1, 0, 5000), (123456789012, 1, 70000)):
        path = os.path.join(tmp, "noise.f32")
        subprocess.run([noise_dump, str(seed), str(stream), str(n), path], check=True)
        eng = np.fromfile(path, dtype="=f4")
        ref = philox_noise.noise_normal(seed, stream, n)
        differ = int(np.count_nonzero(eng.view(np.uint32) != ref.view(np.uint32)))
        check(eng.shape == ref.shape and differ == 0,
              f"noise seed {seed} stream {stream}: {differ} of {n} values differ from the engine's bits")


def engine_picture(cli, model, q, extra, path):
    cmd = [cli, "generate", "--model", model, "--device", "cpu", "--prompt", q.prompt, "--width", str(q.width),
           "--height", str(q.height), "--seed", str(q.seed), "--steps", str(q.global_steps),
           "--detail-steps", str(q.detail_steps), "--guidance", str(q.global_guidance),
           "--detail-guidance", str(q.detail_guidance), "--global-factor", str(q.global_factor),
           "--window", str(q.window), "--hr-radius", str(q.hr_radius), "--lr-radius", str(q.lr_radius),
           "--lr-window-span", str(q.lr_window_span), "--ntk", str(q.ntk_factor), "--sharpen", str(q.sharpen),
           "--depth", "16", "--out", path] + extra
    if q.true_cfg_scale > 1:
        cmd += ["--true-cfg", str(q.true_cfg_scale), "--negative-prompt", q.negative_prompt]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return read_png_float(path)


def compare(cli, model, pipe, q, extra, tmp, what):
    eng = engine_picture(cli, model, q, extra, os.path.join(tmp, "engine.png"))
    ref = pipe.generate(q)
    if eng.shape != ref.shape:
        check(False, f"{what}: engine {eng.shape} vs reference {ref.shape}")
        return
    rel = relative_difference(eng, ref)
    check(rel <= TOLERANCE, f"{what}: relative difference {rel:.3g} (max abs {np.abs(eng - ref).max():.3g}), "
                            f"limit {TOLERANCE:g}")


def lora_model(tmp):
    """pipeline-model with a random rank-4 Scale-DiT LoRA in scale_dit_lora/ (non-zero A and B)."""
    import flux_torch
    folder = os.path.join(tmp, "lora-model")
    os.makedirs(folder)
    for name in os.listdir(MODEL):
        os.symlink(os.path.join(MODEL, name), os.path.join(folder, name))
    torch.manual_seed(11)
    model = flux_torch.FluxTransformer.from_pretrained(MODEL)
    flux_torch.add_lora(model, rank=4, alpha=4)
    with torch.no_grad():
        for p in flux_torch.lora_parameters(model):
            p.copy_(torch.randn_like(p) * 0.2)
    flux_torch.save_lora(model, os.path.join(folder, "scale_dit_lora"))
    return folder


def main():
    cli, noise_dump = sys.argv[1], sys.argv[2]
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    tmp = tempfile.mkdtemp(prefix="test_pipeline_torch-")
    try:
        test_noise(noise_dump, tmp)
        pipe = TorchPipeline(MODEL)
        compare(cli, MODEL, pipe, Request(PROMPT, 256, 192, seed=5), [], tmp, "256x192, the engine's defaults")
        compare(cli, MODEL, pipe, Request(PROMPT, 200, 136, seed=9, global_factor=2, global_steps=8, detail_steps=5,
                                          window=4, hr_radius=3, lr_radius=1, ntk_factor=4.0, sharpen=0.8,
                                          true_cfg_scale=2.5, negative_prompt="a foggy sea at night"),
                ["--order", "window"], tmp,
                "200x136 cropped, f 2, 4-token windows, radii 3/1, true CFG, window order")
        compare(cli, MODEL, pipe, Request(PROMPT, 128, 96, seed=3, global_factor=1, global_steps=6), [], tmp,
                "128x96 as one dense pass")
        help_text = subprocess.run([cli, "generate", "--help"], capture_output=True, text=True).stdout
        model_lora = "--no-model-lora" in help_text
        if model_lora:
            model = lora_model(tmp)
            compare(cli, model, TorchPipeline(model), Request(PROMPT, 256, 192, seed=5, window=8, hr_radius=4),
                    [], tmp, "256x192 with the model's scale_dit_lora/ (scale-dit routing)")
        else:
            print("note  the engine has no --no-model-lora yet: the model-LoRA case is left out")
        if os.path.exists(os.path.join(BUNDLED, "transformer", "config.json")):
            compare(cli, BUNDLED, TorchPipeline(BUNDLED), Request(PROMPT, 256, 256, seed=7, global_steps=10,
                                                                  detail_steps=6, use_model_lora=model_lora),
                    [], tmp, "the bundled model at 256x256, 10/6 steps" + ("" if model_lora else " without its LoRA"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
