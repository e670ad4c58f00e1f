#!/usr/bin/env python3
"""make_safetensors_fixture.py: writes the safetensors reader's fixtures with the Python
`safetensors` package and huggingface_hub (the reference writers), into tests/data/safetensors/.

- reference.safetensors: tensors of every float dtype (F32, F16, BF16, F64, F8_E4M3, F8_E5M2) and
  one integer tensor, each float tensor `x` beside `ref.x`, torch's own f32 conversion of it, and
  __metadata__ {"format": "pt"} (one key: the Rust writer orders several keys at random, and
  the fixture should come out byte-identical on every run).
- fuzz-seeds/: tiny valid files (no tensors; integer dtypes; 8-bit floats and a scalar) that,
  with the files above, seed the libFuzzer target tests/fuzz_safetensors.c.
- sharded/: a small state dict split by huggingface_hub.save_torch_state_dict into two shards and
  model.safetensors.index.json, plus `ref.json` holding every tensor's shape and f32 values.

Run from the repository root: python3 tools/reference/make_safetensors_fixture.py
"""
import json
import os
import shutil

import torch
from huggingface_hub import save_torch_state_dict
from safetensors.torch import save, save_file

OUT = os.path.join("tests", "data", "safetensors")


def bit_patterns(n, bits, gen, specials):
    """n random bit patterns of a `bits`-bit type (as int64) followed by the special ones."""
    rand = torch.randint(0, 1 << bits, (n,), generator=gen, dtype=torch.int64)
    return torch.cat([rand, torch.tensor(specials, dtype=torch.int64)])


def as_dtype(patterns, int_dtype, dtype):
    """Reinterprets integer bit patterns as `dtype` (the torch view, no arithmetic)."""
    if int_dtype == torch.int16:
        patterns = torch.where(patterns >= 1 << 15, patterns - (1 << 16), patterns)
    return patterns.to(int_dtype).view(dtype)


def main():
    gen = torch.Generator().manual_seed(1234)
    os.makedirs(OUT, exist_ok=True)

    tensors = {
        "f32.matrix": torch.randn(3, 4, generator=gen, dtype=torch.float32),
        "f32.scalar": torch.tensor(2.5, dtype=torch.float32),
        "f16.patterns": as_dtype(
            bit_patterns(250, 16, gen, [0x0000, 0x8000, 0x0001, 0x03FF, 0x0400, 0x3C00, 0x7BFF,
                                        0x7C00, 0xFC00, 0x7E00]),
            torch.int16, torch.float16).reshape(2, 5, 26),
        "bf16.patterns": as_dtype(
            bit_patterns(250, 16, gen, [0x0000, 0x8000, 0x0001, 0x007F, 0x0080, 0x3F80, 0x7F7F,
                                        0x7F80, 0xFF80, 0x7FC0]),
            torch.int16, torch.bfloat16).reshape(260),
        "f64.values": torch.tensor([[1.0, -2.5, 1e-40, 3.4e38], [1e300, -1e-300, 0.1, 7.0]],
                                   dtype=torch.float64),
        # every bit pattern of the two 8-bit float formats
        "f8_e4m3.all": torch.arange(256, dtype=torch.int64).to(torch.uint8)
                       .view(torch.float8_e4m3fn).reshape(16, 16),
        "f8_e5m2.all": torch.arange(256, dtype=torch.int64).to(torch.uint8)
                       .view(torch.float8_e5m2).reshape(256),
        "i64.ids": torch.tensor([1, -2, 3], dtype=torch.int64),
        "f32.empty": torch.zeros(0, 3, dtype=torch.float32),
    }
    refs = {"ref." + name: t.to(torch.float32) for name, t in tensors.items()
            if t.is_floating_point() and t.dtype != torch.float32}
    save_file({**tensors, **refs}, os.path.join(OUT, "reference.safetensors"),
              metadata={"format": "pt"})

    seeds = os.path.join(OUT, "fuzz-seeds")
    os.makedirs(seeds, exist_ok=True)
    seed_dicts = {
        "empty.safetensors": ({}, {"note": "no tensors"}),
        "ints.safetensors": ({"b": torch.tensor([True, False]), "u8": torch.arange(3, dtype=torch.uint8),
                              "i8": torch.tensor([-1], dtype=torch.int8),
                              "i16": torch.tensor([[7]], dtype=torch.int16),
                              "i32": torch.tensor([1, 2], dtype=torch.int32)}, None),
        "floats.safetensors": ({"e4": torch.ones(2, 2).to(torch.float8_e4m3fn),
                                "e5": torch.full((3,), -2.0).to(torch.float8_e5m2),
                                "s": torch.tensor(1.5, dtype=torch.float64),
                                "h": torch.ones(1, 1, 1, 2, dtype=torch.float16)}, {"k": "v"}),
    }
    for name, (tensors_, meta) in seed_dicts.items():
        with open(os.path.join(seeds, name), "wb") as f:
            f.write(save(tensors_, metadata=meta))

    sharded = os.path.join(OUT, "sharded")
    shutil.rmtree(sharded, ignore_errors=True)
    os.makedirs(sharded)
    state = {
        "blocks.0.weight": torch.randn(8, 8, generator=gen, dtype=torch.float32),
        "blocks.0.bias": torch.randn(8, generator=gen).to(torch.bfloat16),
        "blocks.1.weight": torch.randn(8, 8, generator=gen).to(torch.float16),
        "blocks.1.bias": torch.randn(8, generator=gen, dtype=torch.float32),
    }
    save_torch_state_dict(state, sharded, max_shard_size=400)
    ref = {name: {"shape": list(t.shape), "values": t.to(torch.float32).flatten().tolist()}
           for name, t in state.items()}
    with open(os.path.join(sharded, "ref.json"), "w") as f:
        json.dump(ref, f, indent=1)
    with open(os.path.join(sharded, "model.safetensors.index.json")) as f:
        index = json.load(f)
    assert len(set(index["weight_map"].values())) >= 2, "expected at least two shards"


if __name__ == "__main__":
    main()
