#!/usr/bin/env python3
"""make_tokenizer_fixtures.py: reference token ids for the CLIP and T5 tokenizers (tests/data/tokenizer).

Trains a small CLIP-format byte-level BPE vocabulary (vocab.json with </w> word ends, merges.txt
with a "#version" first line) and a small SentencePiece Unigram model (nmt_nfkc normalization)
on a generated corpus, converts the latter with transformers' T5TokenizerFast (the conversion
writes tokenizer.json with the Precompiled char map), and records the ids that transformers gives
for >= 500 strings, loading the tokenizers the way diffusers' FluxPipeline does.

The slow CLIPTokenizer (the one FluxPipeline uses) only exists in transformers < 5, so run this
with transformers 4.x, e.g.:
    python3 -m venv --system-site-packages /tmp/tokvenv
    /tmp/tokvenv/bin/pip install 'transformers>=4.50,<5' protobuf sentencepiece
    /tmp/tokvenv/bin/python tools/reference/make_tokenizer_fixtures.py
ftfy must NOT be importable: CLIPTokenizer then cleans text with its BasicTokenizer fallback.

Output (tests/data/tokenizer/):
  flux/tokenizer/      vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json
  flux/tokenizer_2/    tokenizer.json in the layout of FLUX.1's own file (normalizer Precompiled +
                       Replace " {2,}" -> " ", pre-tokenizer WhitespaceSplit + Metaspace)
  t5_converted/        tokenizer.json exactly as this transformers' T5 converter writes it
  clip_expected.json   slow CLIPTokenizer ids (and CLIPTokenizerFast's where they differ)
  t5_expected.json     T5TokenizerFast ids for both tokenizer.json layouts
"""
import collections
import importlib.util
import json
import os
import random
import shutil
import sys
import tempfile
import unicodedata

import regex
import sentencepiece as spm
import tokenizers
import transformers
from transformers import CLIPTokenizer, CLIPTokenizerFast, T5TokenizerFast
try:
    from transformers.models.clip.tokenization_clip import bytes_to_unicode
except ImportError:  # transformers 5 keeps it only in the slow-to-fast converter
    from transformers.convert_slow_tokenizer import bytes_to_unicode

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "data", "tokenizer")
CLIP_MERGES = 1200
T5_VOCAB = 1000
CLIP_MAX_LENGTH = 77
T5_LENGTHS = [512, 32]
SEED = 1234

WORDS = """a an the of in on at with and or by from to for photo photograph painting portrait
landscape cat cats dog dogs bird red green blue yellow purple orange black white golden silver
mountain mountains river lake sea ocean forest tree trees flower flowers sky cloud clouds sunset
sunrise night day city street house castle bridge tower robot astronaut knight dragon wizard
girl boy woman man child old young beautiful detailed highly intricate sharp focus cinematic
lighting soft dramatic volumetric fog rain snow winter summer spring autumn masterpiece best
quality ultra realistic render octane unreal engine 4k 8k hdr oil watercolor sketch digital art
concept trending artstation style of by greg vintage retro futuristic cyberpunk steampunk
fantasy science fiction anime manga studio ghibli pixar wide angle close up macro bokeh depth
field standing sitting running flying holding wearing hat dress coat glasses smiling looking
viewer background foreground light dark shadow reflection water fire ice stone wood glass metal
it's don't we're they've I'm you'll he'd can't won't isn't that's what's
""".split()

ACCENTED = """café naïve résumé Zürich São Paulo Ångström façade jalapeño crème brûlée Øresund Łódź
İstanbul straße Straße ÉCOLE élève à la mode Ñandú Dvořák Škoda Kraków Reykjavík Þingvellir
Μύκονος Ἀθῆναι σοφία ΣΟΦΊΑ Москва собака кошка Київ Ελλάδα ελληνικά""".split()

SCRIPTS = """東京 猫 山 桜の木 日本語 中文 汉字 北京 上海 한국어 서울 고양이 ひらがな カタカナ
مرحبا العالم שלום עולם नमस्ते दुनिया สวัสดี ภาษาไทย Ⅻ ½ ① ² ＦＵＬＬ ｗｉｄｔｈ ﬁne ™ №""".split()

EMOJI = "😀 🐱 🌸 🚀 👍 👍🏽 ❤️ 🔥 ✨ 🎨 🇫🇷 👨‍👩‍👧 ☀ ⭐".split()

PUNCT = ["!", "?", "...", ",", ".", ";", ":", "-", "--", "(", ")", "[", "]", "{", "}", "\"", "'",
         "/", "\\", "|", "&", "@", "#", "$", "%", "^", "*", "+", "=", "~", "`", "<", ">", "_",
         "!!!", "?!", "((", "))", ":)", ":-D", "<3", "->", "=>", "...", "«", "»", "„", "“", "”",
         "‘", "’", "—", "–", "…", "·", "•", "©", "®", "°", "€", "£", "¥", "§", "¶"]

NUMBERS = ["0", "1", "7", "42", "100", "1024", "2048", "3.14", "1,000", "16:9", "4096x4096",
           "2024", "1st", "2nd", "3rd", "v1.5", "x2", "12345678901234567890"]

# Hand-picked strings for the edge cases the tokenizers must agree on.
EDGE_CASES = [
    "", " ", "   ", "\t", "\n", "\r\n", " \t\n\r ", "a", "A", "ab", "abc",
    "a photo of a cat", "A Photo Of A Cat", "A PHOTO OF A CAT", "HELLO World", "hElLo WoRlD",
    "a  b", "a   b    c", "  leading spaces", "trailing spaces   ", "tab\tseparated\twords",
    "new\nline\nwords", "windows\r\nline\r\nends", "mixed \t\n whitespace \r\n here",
    "it's", "IT'S", "It'S", "don't", "DON'T", "we're", "they've", "I'm", "you'll", "he'd", "'s",
    "'t", "'re", "'ve", "'m", "'ll", "'d", "''", "'''s", "rock'n'roll", "o'clock", "the cat's hat",
    "'ſ", "x'ſ", "it’s curly", "quote 'single' and \"double\"",
    "!!!???...", "--->", "<<<>>>", "a,b;c:d", "(((masterpiece)))", "[best quality]", "{x|y}",
    "...", "!?", "a!b", "!a!", "#hashtag", "@user", "e-mail@example.com", "https://example.com/a?b=c",
    "1234567890", "3.14159", "1,000,000", "4096x4096", "16:9", "ABC123def456", "x²+y²=z²",
    "½ ⅓ ¼", "Ⅻ ⅻ", "① ② ③", "٣ ١ ٢", "१२३", "一二三",
    "café", "cafe\u0301", "CAFE\u0301", "naïve", "nai\u0308ve", "e\u0301\u0302", "e\u0301\u0301\u0301",
    "\u0301", "a\u0301", "Ａ\u0301", "ｆｕｌｌｗｉｄｔｈ ＴＥＸＴ", "ﬁne ﬂour", "Ω \u2126", "Å \u212b", "ǅ ǆ Ǆ",
    "İstanbul", "ISTANBUL", "ΣΊΣΥΦΟΣ", "ὈΔΥΣΣΕΎΣ", "ΌΣΟΣ", "Σ", "ΑΣ", "ΑΣ.", "ΑΣ'Β", "straße", "STRASSE",
    "ẞ", "Ǉubljana", "ÅNGSTRÖM", "ŁÓDŹ", "Ἀθῆναι", "ⓟΣ", "ªΣ b", "ʰΣ", "ⅫΣ", "Ⓐ Ⓩ ⓩ",
    "東京タワー", "中文字符", "中文 字符", "한국어 텍스트", "日本語のテキスト", "猫は可愛い", "我爱你",
    "𠀀𠀁", "豈 更", "ｶﾀｶﾅ", "ｶﾞｷﾞ",
    "😀", "😀😀😀", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷🇩🇪", "❤️", "#️⃣", "a🏻", "™‍™", "©‍©", "🏳️‍🌈",
    "\u200b", "a\u200bb", "\ufeffBOM", "soft\u00adhyphen", "\ufffd", "x\ufffdy", "del\x7fete", "a\u2028b",
    "a\u2029b", "no\u00a0break", "ideographic\u3000space", "em\u2003space", "zw\u200dj", "zw\u200cnj",
    "\x01\x02control", "bell\x07", "\x0bvertical\x0ctab", "nel\x85line", "\ue000private",
    "\u0600\u0661\u0662", "\u06dd\u0661", "ab\u0903", "x\U000e0041tag",
    "<|startoftext|>", "<|endoftext|>", "a<|endoftext|>b", "<|startoftext|>hello<|endoftext|>",
    "<|ENDOFTEXT|>", "<|endoftext|", "!<|endoftext|>", "<|endof\u200btext|>",
    "</s>", "<pad>", "<unk>", "<extra_id_0>", "x</s>y", "hello </s> world", "<extra_id_99> end",
    "<s>", "▁", "▁▁", "a▁b", "▁leading", "a ▁ b", "mixed▁ ▁space",
    "Hello, World!", "What's up?", "The quick brown fox jumps over the lazy dog.",
    "THE QUICK BROWN FOX", "Ünïcödé Tëxt wïth äccénts", "Zażółć gęślą jaźń", "Příliš žluťoučký kůň",
    "Съешь же ещё этих мягких французских булок", "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία",
    "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "สวัสดีชาวโลก", "Xin chào thế giới",
    "Tiếng Việt rất đẹp", "Ti\u00ea\u0301ng Vi\u00ea\u0323t", "ñ n\u0303 Ñ N\u0303",
]


def ensure_no_ftfy():
    if importlib.util.find_spec("ftfy") is not None:
        sys.exit("ftfy is importable: uninstall it (pip uninstall ftfy) so that CLIPTokenizer "
                 "uses its BasicTokenizer clean-up as FluxPipeline does without ftfy")


def make_corpus(rng, n):
    pools = [WORDS] * 6 + [ACCENTED, SCRIPTS, EMOJI, PUNCT, NUMBERS]
    lines = []
    for _ in range(n):
        words = []
        for _ in range(rng.randint(3, 18)):
            word = rng.choice(rng.choice(pools))
            r = rng.random()
            if r < 0.15:
                word = word.capitalize()
            elif r < 0.2:
                word = word.upper()
            words.append(word)
            if rng.random() < 0.1:
                words.append(rng.choice(PUNCT))
        lines.append(" ".join(words))
    return lines


def random_char(rng):
    blocks = [(0x20, 0x7e), (0xa1, 0x17f), (0x370, 0x3ff), (0x400, 0x45f), (0x300, 0x36f),
              (0x3040, 0x30ff), (0x4e00, 0x4fff), (0xac00, 0xad00), (0xff01, 0xff5e),
              (0x2000, 0x206f), (0x2100, 0x214f), (0x2190, 0x21ff), (0x2460, 0x24ff),
              (0x1f300, 0x1f5ff), (0x1f600, 0x1f64f), (0x5d0, 0x5ea), (0x620, 0x64a), (0xe01, 0xe3a)]
    while True:
        lo, hi = rng.choice(blocks)
        c = chr(rng.randint(lo, hi))
        # the blocks are old ones, so every Unicode version involved agrees on their characters
        if unicodedata.category(c) not in ("Cn", "Cs"):
            return c


def make_cases(rng):
    cases = list(EDGE_CASES)
    corpus_like = make_corpus(rng, 220)
    cases += corpus_like
    # random character soup, including combining marks, symbols and emoji
    for _ in range(120):
        cases.append("".join(random_char(rng) for _ in range(rng.randint(1, 24))))
    # random mixes of words, punctuation runs and whitespace of every kind
    seps = [" ", "  ", "\t", "\n", " \n ", "\u3000", "\u00a0", "", "\r\n"]
    for _ in range(100):
        parts = []
        for _ in range(rng.randint(1, 10)):
            pool = rng.choice([WORDS, ACCENTED, SCRIPTS, EMOJI, PUNCT, NUMBERS])
            parts.append(rng.choice(pool))
            parts.append(rng.choice(seps))
        cases.append("".join(parts))
    # long prompts that truncate at 77 CLIP tokens and at 32 / 512 T5 tokens
    for n in (60, 90, 150, 400, 700):
        cases.append(" ".join(rng.choice(WORDS + ACCENTED + PUNCT) for _ in range(n)))
    cases.append("masterpiece, " * 60)
    cases.append("a" * 300)
    cases.append("😀" * 100)
    seen, unique = set(), []
    for c in cases:
        if c not in seen and "\x00" not in c:
            seen.add(c)
            unique.append(c)
    assert len(unique) >= 500, len(unique)
    return unique


def clip_words(lines):
    """Byte-encoded words of the corpus as the slow CLIPTokenizer splits them."""
    pat = regex.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|"""
                        r"""[^\s\p{L}\p{N}]+""", regex.IGNORECASE)
    enc = bytes_to_unicode()
    counts = collections.Counter()
    for line in lines:
        for tok in pat.findall(" ".join(line.lower().split())):
            counts["".join(enc[b] for b in tok.encode("utf-8"))] += 1
    return counts


def train_clip_bpe(lines, n_merges):
    """A plain BPE trainer: repeatedly merges the most frequent adjacent pair (ties: smallest pair)."""
    words = {}
    for word, count in clip_words(lines).items():
        words[tuple(word[:-1]) + (word[-1] + "</w>",)] = count
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for word, count in words.items():
            for a, b in zip(word, word[1:]):
                pairs[(a, b)] += count
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], tuple(-ord(ch) for ch in kv[0][0] + " " + kv[0][1])))[0]
        merges.append(best)
        new_words = {}
        for word, count in words.items():
            out, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            new_words[tuple(out)] = new_words.get(tuple(out), 0) + count
        words = new_words
    symbols = list(bytes_to_unicode().values())
    vocab_list = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    vocab_list += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {}
    for tok in vocab_list:
        vocab.setdefault(tok, len(vocab))
    return vocab, merges


def real_ids(enc, pad_id, length):
    """The ids where attention_mask is 1, after checking the rest is right-padding with pad_id."""
    ids, mask = enc["input_ids"], enc["attention_mask"]
    n = sum(mask)
    assert len(ids) == length and mask == [1] * n + [0] * (length - n), (ids, mask)
    assert all(i == pad_id for i in ids[n:])
    return ids[:n]


def write_clip_tokenizer(tmp, corpus, n_merges, folder):
    """Trains the CLIP BPE on corpus and saves it as a CLIPTokenizer in folder; returns the merges."""
    vocab, merges = train_clip_bpe(corpus, n_merges)
    src = os.path.join(tmp, "clip")
    os.makedirs(src)
    with open(os.path.join(src, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(src, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    CLIPTokenizer(os.path.join(src, "vocab.json"), os.path.join(src, "merges.txt")).save_pretrained(folder)
    for name in ("vocab.json", "merges.txt"):  # transformers 5 saves only tokenizer.json
        if not os.path.exists(os.path.join(folder, name)):
            shutil.copy(os.path.join(src, name), folder)
    return merges


def make_clip(tmp, cases, corpus):
    merges = write_clip_tokenizer(tmp, corpus, CLIP_MERGES, os.path.join(OUT, "flux", "tokenizer"))
    # loaded as FluxPipeline loads them
    slow = CLIPTokenizer.from_pretrained(os.path.join(OUT, "flux"), subfolder="tokenizer")
    fast = CLIPTokenizerFast.from_pretrained(os.path.join(OUT, "flux"), subfolder="tokenizer")
    assert slow.fix_text is None
    records, n_diff = [], 0
    for text in cases:
        kw = dict(padding="max_length", max_length=CLIP_MAX_LENGTH, truncation=True)
        ids = real_ids(slow(text, **kw), slow.pad_token_id, CLIP_MAX_LENGTH)
        full = slow(text)["input_ids"]
        rec = {"text": text, "ids": ids, "n_full": len(full)}
        fast_ids = real_ids(fast(text, **kw), fast.pad_token_id, CLIP_MAX_LENGTH)
        if fast_ids != ids:
            rec["fast_ids"] = fast_ids
            n_diff += 1
        records.append(rec)
    meta = {
        "made_by": "tools/reference/make_tokenizer_fixtures.py",
        "reference": "transformers %s CLIPTokenizer (slow), from_pretrained(flux, subfolder='tokenizer'), "
                     "called as FluxPipeline does: padding='max_length', max_length=77, truncation=True"
                     % transformers.__version__,
        "ftfy": "not installed: CLIPTokenizer used its BasicTokenizer clean-up",
        "fast": "tokenizers %s CLIPTokenizerFast; fast_ids only where it differs (%d strings)"
                % (tokenizers.__version__, n_diff),
        "ids": "the ids where attention_mask is 1; the rest up to max_length is pad_id",
        "n_full": "token count without truncation, start and end tokens included",
        "vocab": "byte-level BPE, %d merges trained on a generated corpus" % len(merges),
    }
    return {"meta": meta, "max_length": CLIP_MAX_LENGTH, "pad_id": slow.pad_token_id, "cases": records}


def train_t5_unigram(tmp, corpus, vocab_size):
    """Trains the SentencePiece Unigram model on corpus; returns it converted as a T5TokenizerFast."""
    corpus_path = os.path.join(tmp, "corpus.txt")
    with open(corpus_path, "w", encoding="utf-8") as f:
        f.write("\n".join(corpus) + "\n")
    prefix = os.path.join(tmp, "spiece")
    spm.SentencePieceTrainer.train(
        input=corpus_path, model_prefix=prefix, model_type="unigram", vocab_size=vocab_size,
        normalization_rule_name="nmt_nfkc", character_coverage=0.9995, hard_vocab_limit=False,
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, num_threads=1, minloglevel=2)
    # add_prefix_space=True: this transformers' T5TokenizerFast otherwise converts with
    # prepend_scheme "never", unlike the T5 tokenizer.json files FLUX ships
    converted = T5TokenizerFast(vocab_file=prefix + ".model", add_prefix_space=True)
    if converted.backend_tokenizer.normalizer is None:
        # transformers 5 builds no Precompiled char map from a vocab_file: convert explicitly
        from types import SimpleNamespace
        from transformers.convert_slow_tokenizer import T5Converter
        spm_model = SimpleNamespace(vocab_file=prefix + ".model", _extra_ids=100, add_prefix_space=True,
                                    legacy=True, convert_tokens_to_ids=lambda token: 1)  # </s> is id 1
        converted = T5TokenizerFast(tokenizer_object=T5Converter(spm_model).converted(),
                                    eos_token="</s>", unk_token="<unk>", pad_token="<pad>", extra_ids=100)
    return converted


def save_t5_tokenizer(converted, folder):
    """Saves a converted T5TokenizerFast to folder as tokenizer.json and its config, no spiece.model."""
    converted.save_pretrained(folder)
    if os.path.exists(os.path.join(folder, "spiece.model")):  # transformers 4 writes it, 5 does not
        os.remove(os.path.join(folder, "spiece.model"))
    # with add_prefix_space in its config, from_pretrained would convert from spiece.model again
    config_path = os.path.join(folder, "tokenizer_config.json")
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    config.pop("add_prefix_space", None)
    with open(config_path, "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=2)


def use_flux_t5_layout(folder):
    """Rewrites folder/tokenizer.json in FLUX.1's tokenizer_2 layout (an older converter's): same
    char map and vocab."""
    path = os.path.join(folder, "tokenizer.json")
    with open(path, encoding="utf-8") as f:
        tj = json.load(f)
    precompiled = [n for n in tj["normalizer"]["normalizers"] if n["type"] == "Precompiled"][0]
    tj["normalizer"] = {"type": "Sequence", "normalizers": [
        precompiled, {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]}
    tj["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "WhitespaceSplit"},
        {"type": "Metaspace", "replacement": "▁", "add_prefix_space": True, "prepend_scheme": "always"}]}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False, separators=(",", ":"))


def make_t5(tmp, cases, corpus):
    converted = train_t5_unigram(tmp, corpus, T5_VOCAB)
    conv_dir = os.path.join(OUT, "t5_converted")
    flux_dir = os.path.join(OUT, "flux", "tokenizer_2")
    save_t5_tokenizer(converted, conv_dir)
    save_t5_tokenizer(converted, flux_dir)
    use_flux_t5_layout(flux_dir)
    refs = {
        "flux": T5TokenizerFast.from_pretrained(os.path.join(OUT, "flux"), subfolder="tokenizer_2"),
        "converted": T5TokenizerFast.from_pretrained(conv_dir),
    }
    for name, tok in refs.items():
        assert tok.backend_tokenizer.normalizer is not None, name
    records = []
    for text in cases:
        rec = {"text": text}
        for name, tok in refs.items():
            full = tok(text)["input_ids"]
            r = {"n_full": len(full)}
            for length in T5_LENGTHS:
                enc = tok(text, padding="max_length", max_length=length, truncation=True,
                          add_special_tokens=True)
                r[str(length)] = real_ids(enc, tok.pad_token_id, length)
            rec[name] = r
        records.append(rec)
    meta = {
        "made_by": "tools/reference/make_tokenizer_fixtures.py",
        "reference": "transformers %s T5TokenizerFast (tokenizers %s), from_pretrained as FluxPipeline "
                     "does, called with padding='max_length', truncation=True, add_special_tokens=True"
                     % (transformers.__version__, tokenizers.__version__),
        "model": "sentencepiece %s Unigram, vocab %d (+100 extra ids), normalization_rule_name nmt_nfkc, "
                 "converted by T5TokenizerFast(vocab_file=..., add_prefix_space=True)"
                 % (spm.__version__, T5_VOCAB),
        "flux": "tests/data/tokenizer/flux/tokenizer_2: FLUX.1's tokenizer.json layout",
        "converted": "tests/data/tokenizer/t5_converted: the converter's own layout",
        "ids": "per max_length, the ids where attention_mask is 1; the rest is pad_id",
        "n_full": "token count without truncation, </s> included",
    }
    return {"meta": meta, "lengths": T5_LENGTHS, "pad_id": refs["flux"].pad_token_id, "cases": records}


def main():
    ensure_no_ftfy()
    if int(transformers.__version__.split(".")[0]) >= 5:
        sys.exit("transformers %s has no slow CLIPTokenizer; run with transformers 4.x"
                 % transformers.__version__)
    rng = random.Random(SEED)
    corpus = make_corpus(rng, 20000)
    cases = make_cases(rng)
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(tmp, cases, corpus)
        t5 = make_t5(tmp, cases, corpus)
    for name, data in (("clip_expected.json", clip), ("t5_expected.json", t5)):
        with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, separators=(",", ":"))
            f.write("\n")
    print("%d strings; CLIP slow/fast differ on %s" % (len(cases), clip["meta"]["fast"]))


if __name__ == "__main__":
    main()
