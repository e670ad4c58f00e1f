#!/usr/bin/env python3
"""check_tokenizers.py: the engine's tokenizers (`scaledit tokenize`) against transformers on
held-out captions (seeds >= 10,000,000) and a few free-form prompts, for a model folder.

    python3 tools/train/check_tokenizers.py build/cli/scaledit models/scaledit-tiny [--n 200]
"""
import argparse
import json
import os
import subprocess
import sys

from transformers import CLIPTokenizer, T5TokenizerFast

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from tools.scenes.attributes import caption, sample_attributes  # noqa: E402

HELD_OUT = 10_000_000
FREE_FORM = ["A Snowy Mountain Lake at SUNSET, with pine trees!", "a cat", "", "dunes  under   the moon",
             "Château de Versailles, 4096x4096 — café", "a sea with an island 🌅 at dawn"]


def engine_ids(exe, model, which, text, length):
    out = subprocess.run([exe, "tokenize", which, "--model", model, "--text", text, "--max-length", str(length)],
                         check=True, capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scaledit")
    ap.add_argument("model")
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args()
    clip = CLIPTokenizer.from_pretrained(args.model, subfolder="tokenizer")
    t5 = T5TokenizerFast.from_pretrained(args.model, subfolder="tokenizer_2")
    with open(os.path.join(args.model, "tokenizer_2", "tokenizer_config.json")) as f:
        t5_length = json.load(f)["model_max_length"]
    texts = [caption(sample_attributes(s), s) for s in range(HELD_OUT, HELD_OUT + args.n)] + FREE_FORM
    bad = 0
    for text in texts:
        for which, tok, length in (("clip", clip, 77), ("t5", t5, t5_length)):
            want = tok(text, padding="max_length", max_length=length, truncation=True)["input_ids"]
            got = engine_ids(args.scaledit, args.model, which, text, length)
            if got != want:
                bad += 1
                print("MISMATCH %s %r\n  engine       %s\n  transformers %s" % (which, text, got, want))
    print("%d texts x 2 tokenizers: %d mismatches" % (len(texts), bad))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
