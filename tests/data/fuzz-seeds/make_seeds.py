#!/usr/bin/env python3
"""make_seeds.py: writes the libFuzzer seed inputs of tests/fuzz_*.c from the real fixtures under
tests/data, small enough to mutate quickly (standard library only; run from anywhere):

  configs/          one byte choosing the reader (fuzz_configs.c), then a fixture config.json
  tokenizer_clip/   vocab.json NUL merges.txt NUL prompt [NUL special tokens, one a line]
  tokenizer_t5/     tokenizer.json NUL prompt, with a cut-down vocabulary and char map
  lora/             LoRA safetensors files cut down to a few modules (F32, F16, BF16)

Files named regress-*.bin are inputs the long fuzz runs found, kept by hand (this script leaves
them alone): each unit-suite fuzz run executes them again.
"""
import base64
import json
import pathlib
import struct

DATA = pathlib.Path(__file__).resolve().parent.parent
OUT = pathlib.Path(__file__).resolve().parent

# fuzz_configs.c's readers, in the order of its selector byte
CONFIGS = [
    ("flux", ["flux/dev/transformer/config.json", "flux/schnell/transformer/config.json"]),
    ("vae", ["vae/attn/vae/config.json", "vae/noattn/vae/config.json"]),
    ("clip", ["text_encoders/diffusers/text_encoder/config.json", "text_encoders/clip_config_eos997.json"]),
    ("t5", ["text_encoders/diffusers/text_encoder_2/config.json"]),
    ("scheduler", ["flux/dev/scheduler/scheduler_config.json", "flux/schnell/scheduler/scheduler_config.json"]),
    ("lora", ["lora/peft/adapter_config.json"]),
    ("tokens", ["tokenizer/flux/tokenizer/special_tokens_map.json", "tokenizer/flux/tokenizer_2/special_tokens_map.json"]),
]
PROMPTS = ["A cat holding a sign that says hello world", "Crème brûlée, Ελληνικά, 日本語 and 🔥 <|endoftext|>!",
           "  two  spaces, a tab\there </s> <extra_id_0>"]


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def configs():
    for selector, (name, files) in enumerate(CONFIGS):
        for i, rel in enumerate(files):
            write(OUT / "configs" / f"{name}-{i}.bin", bytes([selector]) + (DATA / rel).read_bytes())


def tokenizer_clip():
    src = DATA / "tokenizer/flux/tokenizer"
    vocab = (src / "vocab.json").read_bytes()
    merges = (src / "merges.txt").read_bytes()
    write(OUT / "tokenizer_clip/full.bin", vocab + b"\0" + merges + b"\0" + PROMPTS[0].encode())
    # the 400 most frequent tokens, the specials and the first 300 merges
    entries = json.loads(vocab)
    small = {k: v for k, v in entries.items() if v < 400 or k.startswith("<|")}
    lines = merges.decode().split("\n")[:301]
    specials = "<|startoftext|>\n<|endoftext|>\n<|endoftext|>\n<|endoftext|>"
    for i, prompt in enumerate(PROMPTS):
        parts = [json.dumps(small, ensure_ascii=False), "\n".join(lines), prompt] + ([specials] if i == 2 else [])
        write(OUT / f"tokenizer_clip/small-{i}.bin", "\0".join(parts).encode())


def cut_charsmap(b64, units):
    """The first `units` units of the char map's double array and the start of its strings."""
    blob = base64.b64decode(b64)
    trie_bytes = struct.unpack("<I", blob[:4])[0]
    trie = blob[4:4 + min(trie_bytes, 4 * units)]
    strings = blob[4 + trie_bytes:][:2048]
    return base64.b64encode(struct.pack("<I", len(trie)) + trie + strings).decode()


def tokenizer_t5():
    for name, rel in (("flux", "tokenizer/flux/tokenizer_2/tokenizer.json"),
                      ("converted", "tokenizer/t5_converted/tokenizer.json")):
        tok = json.loads((DATA / rel).read_text())
        tok["model"]["vocab"] = tok["model"]["vocab"][:300]
        tok["model"]["unk_id"] = min(tok["model"]["unk_id"], 299)
        tok["added_tokens"] = [a for a in tok["added_tokens"] if a["id"] < 300]
        stack = [tok["normalizer"]]
        while stack:
            n = stack.pop()
            if n and n.get("type") == "Sequence":
                stack += n["normalizers"]
            elif n and n.get("type") == "Precompiled":
                n["precompiled_charsmap"] = cut_charsmap(n["precompiled_charsmap"], 1024)
        text = json.dumps(tok, ensure_ascii=False, separators=(",", ":"))
        for i, prompt in enumerate(PROMPTS):
            write(OUT / f"tokenizer_t5/{name}-{i}.bin", (text + "\0" + prompt).encode())


def read_safetensors(path):
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    return header, raw[8 + n:]


def f32_to(dtype, data):
    values = struct.unpack(f"<{len(data) // 4}f", data)
    if dtype == "F16":
        return struct.pack(f"<{len(values)}e", *values)
    return b"".join(struct.pack("<I", struct.unpack("<I", struct.pack("<f", v))[0] >> 16)[:2] for v in values)


def write_safetensors(path, tensors):
    header, blob = {}, b""
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    write(path, struct.pack("<Q", len(text)) + text + blob)


def lora():
    sources = [("peft", "lora/peft/adapter_model.safetensors"), ("diffusers-alpha", "lora/diffusers-alpha.safetensors"),
               ("bfl", "lora/bfl.safetensors"), ("unknown-key", "lora/bad/unknown-key/adapter_model.safetensors"),
               ("wrong-shape", "lora/bad/wrong-shape/adapter_model.safetensors"),
               ("modulation", "lora/bad/modulation/adapter_model.safetensors")]
    good = read_safetensors(DATA / sources[0][1])[0]
    for name, rel in sources:
        header, blob = read_safetensors(DATA / rel)
        # what a bad file changes first, then the smallest modules, up to about 12 KB of data
        changed = {k for k, t in header.items() if good.get(k, {}).get("shape") != t["shape"]}
        keep, size = {}, 0
        for key, t in sorted(header.items(), key=lambda kv: (kv[0] not in changed or name == "peft",
                                                             kv[1]["data_offsets"][1] - kv[1]["data_offsets"][0], kv[0])):
            begin, end = t["data_offsets"]
            if size + end - begin > 12288 and keep:
                continue
            keep[key] = (t["dtype"], t["shape"], blob[begin:end])
            size += end - begin
        # keep A, B and alpha of a module together: drop modules that lost a part
        modules = {}
        for key in keep:
            modules.setdefault(key.rsplit(".lora_", 1)[0].rsplit(".alpha", 1)[0], []).append(key)
        for key, t in header.items():
            module = key.rsplit(".lora_", 1)[0].rsplit(".alpha", 1)[0]
            if module in modules and key not in keep:
                for k in modules.pop(module):
                    del keep[k]
        write_safetensors(OUT / f"lora/{name}.safetensors", keep)
        if name in ("peft", "bfl"):
            for dtype in ("F16", "BF16"):
                converted = {k: (dtype if d == "F32" else d, s, f32_to(dtype, data) if d == "F32" else data)
                             for k, (d, s, data) in keep.items()}
                write_safetensors(OUT / f"lora/{name}-{dtype.lower()}.safetensors", converted)


if __name__ == "__main__":
    configs()
    tokenizer_clip()
    tokenizer_t5()
    lora()
