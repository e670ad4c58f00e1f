#!/usr/bin/env python3
"""make_tokenizers.py: trains scaledit-tiny's CLIP BPE (tokenizer/) and T5 Unigram (tokenizer_2/)
tokenizers on the scene caption corpus, with the fixture script's trainers, and checks them.

    python3 tools/train/make_tokenizers.py models/scaledit-tiny [--seeds 20000]
"""
import argparse
import json
import os
import random
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))

import make_tokenizer_fixtures as fx  # noqa: E402
from tools.scenes.attributes import caption, sample_attributes  # noqa: E402

CLIP_MERGES = 600
T5_VOCAB = 600
CLIP_LENGTH = 77
T5_LENGTH = 64
GENERAL_LINES = 3000  # general words, capitals, punctuation: coverage for users' own prompts
CORPUS_SEED = 9


def caption_corpus(n_seeds):
    """Captions of training seeds 0..n-1, some capitalised as users write them."""
    rng = random.Random(CORPUS_SEED)
    lines = []
    for seed in range(n_seeds):
        text = caption(sample_attributes(seed), seed)
        lines.append(text[0].upper() + text[1:] if rng.random() < 0.3 else text)
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir")
    ap.add_argument("--seeds", type=int, default=20000)
    args = ap.parse_args()
    corpus = caption_corpus(args.seeds) + fx.make_corpus(random.Random(CORPUS_SEED), GENERAL_LINES)
    clip_dir = os.path.join(args.model_dir, "tokenizer")
    t5_dir = os.path.join(args.model_dir, "tokenizer_2")
    with tempfile.TemporaryDirectory() as tmp:
        merges = fx.write_clip_tokenizer(tmp, corpus, CLIP_MERGES, clip_dir)
        converted = fx.train_t5_unigram(tmp, corpus, T5_VOCAB)
    fx.save_t5_tokenizer(converted, t5_dir)
    fx.use_flux_t5_layout(t5_dir)
    for folder, length in ((clip_dir, CLIP_LENGTH), (t5_dir, T5_LENGTH)):
        path = os.path.join(folder, "tokenizer_config.json")
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
        config["model_max_length"] = length
        with open(path, "w", encoding="utf-8") as f:
            json.dump(config, f, ensure_ascii=False, indent=2)
    with open(os.path.join(t5_dir, "tokenizer.json"), encoding="utf-8") as f:
        n_t5 = len(json.load(f)["model"]["vocab"])
    longest = max(len(converted(c)["input_ids"]) for c in corpus[:args.seeds])
    print("CLIP: %d merges; T5: %d pieces; longest caption %d T5 tokens (length %d)"
          % (len(merges), n_t5, longest, T5_LENGTH))
    if longest > T5_LENGTH:
        sys.exit("captions do not fit T5_LENGTH")


if __name__ == "__main__":
    main()
