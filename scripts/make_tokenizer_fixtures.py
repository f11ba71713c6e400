#!/usr/bin/env python3
"""Builds the reference fixtures for the Swift tokenizer tests.

For every real tokenizer in ../shared/data/tokenizers (and the built-in stories260K model) it
encodes a varied corpus with Hugging Face `tokenizers` (pip install tokenizers) and records the
ids with and without special tokens and the decoded text with and without skip_special_tokens.
It also trains a few tiny tokenizers (WordPiece/BERT, Unigram, Llama-3- and Qwen-style
byte-level BPE, added tokens with lstrip/rstrip/single_word) so that model types and options
absent from the real files are covered too. Output: Tests/VLLMTokenizersTests/Fixtures/tokenizers/.

Run from the repository root:  python3 scripts/make_tokenizer_fixtures.py
"""
import json
import os
import random
import sys

import tokenizers
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers, Regex

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
OUT = os.path.join(ROOT, "Tests", "VLLMTokenizersTests", "Fixtures", "tokenizers")

LLAMA3_PATTERN = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2_PATTERN = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"


def corpus():
    with open(os.path.join(SHARED, "corpus", "tinyshakespeare.txt"), encoding="utf-8") as f:
        shakespeare = f.read()
    texts = [
        shakespeare[:700],
        shakespeare[50000:50900],
        shakespeare[300000:300500],
        shakespeare[1000000:1000400],
        "First Citizen:\nBefore we proceed any further, hear me speak.",
        "Hello, world! How are you doing today?",
        "I'm sure you're right; we've said he'll come, she'd go, it's DON'T I'M YOU'RE ''s 'S 'll",
        "def fibonacci(n: int) -> int:\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n",
        "for (int i = 0; i < 10; ++i) {\n\tprintf(\"%d\\n\", i);\n}\n",
        '{"key": [1, 2, 3], "nested": {"a": null, "b": true}}',
        "<div class=\"x\">&amp; &lt;tag&gt;</div> https://example.com/path?q=1&r=2#frag",
        "1234567890 3.14159 -42 1,000,000 2024-11-25 0x1F 1e-10 007 12345678901234567890",
        "Arabic-Indic ١٢٣٤ and fullwidth ５６７ and superscript ² ³ and fractions ½ ¾ Ⅻ",
        "a  b   c    d     e",
        "\n\n\n",
        "   leading spaces",
        "trailing spaces    ",
        "\t\ttabs\tand\ttabs\t",
        "line1\r\nline2\rline3\n\nline5",
        " \n \n  \n   x",
        "                                                                end",
        "mixed \t \n whitespace \u00a0 nbsp \u3000 ideographic \u2003 em",
        "中文分词测试：我爱自然语言处理。北京欢迎你！",
        "日本語のテキストとカタカナ、ひらがな。",
        "한국어 텍스트입니다.",
        "مرحبا بالعالم، هذا نص عربي.",
        "नमस्ते दुनिया, यह हिंदी पाठ है।",
        "Привет, мир! Съешь же ещё этих мягких французских булок.",
        "Σίσυφος ΣΊΣΥΦΟΣ ελληνικά",
        "ภาษาไทย ไม่มีช่องว่าง",
        "Family: 👨‍👩‍👧‍👦 flag: 🏳️‍🌈 thumbs: 👍🏽 keycap: 1️⃣ 😀😃😄",
        "Combining: e\u0301 n\u0303 a\u030a Z\u0351\u0352\u0353alg\u0354o",
        "Precomposed é vs decomposed e\u0301; ﬁ ligature; Ⓐ circled",
        "zero\u200bwidth\u200cjoin\u200dners \ufeffBOM soft\u00adhyphen",
        "controls: \x00\x01\x07\x1b[0m\x7f end",
        "private use \ue000\uf8ff and astral 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛 and replacement \ufffd char",
        "lone surrogate replaced: " + "\ud800x".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
        "line separator\u2028paragraph\u2029next\u0085NEL",
        "<s>Hello</s>",
        "<s> Hello </s> <s>",
        "<|endoftext|>The end.<|endoftext|>",
        "text<|endoftext|>text",
        "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
        "[INST] What is 2+2? [/INST] 4</s>",
        "<|user|>\nhello<|end|>\n<|assistant|>\n  spaced   <|end|>",
        "<unk> < s > <s><s> </s></s> <pad> [CLS] [SEP] [MASK]",
        "snake_case camelCase kebab-case SCREAMING_CASE __dunder__",
        "ünïcödé façade naïve café résumé Ångström",
        "ALL CAPS TEXT AND MiXeD CaSe",
        "",
        " ",
        "a",
        "   ",
        "!!!??? ... --- *** @@@ ### $$$ %%% ^^^ &&& ((( )))",
        "'quoted' \"double\" «guillemets» „low“ ‘single’",
    ]
    return texts


def tok_strings(tok, ids):
    return [tok.id_to_token(i) for i in ids]


def decoding_copy(tok):
    """The same tokenizer with every added token marked normalized=False, used for decode
    references only. tokenizers 0.23 decodes a normalized added token as its *normalized* form
    (Llama-2's <s> becomes "▁<s>", giving "<s> <s> Hello") and then no longer recognises it as
    special for skip_special_tokens; tokenizers 0.21 and transformers 5.24 (what vLLM users get)
    decode the plain content and skip it. Decoding never normalizes, so this flag is the only
    difference."""
    j = json.loads(tok.to_str())
    for t in j.get("added_tokens", []):
        t["normalized"] = False
    return Tokenizer.from_str(json.dumps(j))


def make_cases(tok, texts, seed):
    dec = decoding_copy(tok)
    cases = []
    for t in texts:
        with_sp = tok.encode(t, add_special_tokens=True).ids
        no_sp = tok.encode(t, add_special_tokens=False).ids
        cases.append({
            "text": t,
            "ids": with_sp,
            "ids_no_special": no_sp,
            "decoded": dec.decode(with_sp, skip_special_tokens=False),
            "decoded_skip": dec.decode(with_sp, skip_special_tokens=True),
        })
    # Arbitrary id sequences (not produced by encode) exercise the decoders on byte tokens that
    # split characters, special tokens mid-text and so on.
    rng = random.Random(seed)
    size = tok.get_vocab_size(with_added_tokens=True)
    added = sorted(tok.get_added_tokens_decoder().keys())
    decode_only = []
    for k in range(8):
        ids = [rng.randrange(size) for _ in range(24)]
        if added:
            ids.insert(rng.randrange(len(ids)), rng.choice(added))
            ids.insert(0, rng.choice(added))
        if k % 2 == 0:
            ids += [rng.randrange(min(size, 300)) for _ in range(8)]  # byte / short tokens
        decode_only.append({
            "ids": ids,
            "decoded": dec.decode(ids, skip_special_tokens=False),
            "decoded_skip": dec.decode(ids, skip_special_tokens=True),
        })
    return cases, decode_only


def write_fixture(name, tok, texts, seed, folder=None):
    cases, decode_only = make_cases(tok, texts, seed)
    out = {
        "tokenizer": name,
        "tokenizers_version": tokenizers.__version__,
        "folder": folder,
        "vocab_size": tok.get_vocab_size(with_added_tokens=True),
        "cases": cases,
        "decode_only": decode_only,
    }
    path = os.path.join(OUT, f"{name}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
    print(f"{path}: {os.path.getsize(path)} bytes")


def train_corpus():
    with open(os.path.join(SHARED, "corpus", "tinyshakespeare.txt"), encoding="utf-8") as f:
        text = f.read()[:200000]
    lines = text.split("\n")
    extra = corpus()
    return lines + extra * 20


def trained_tokenizers():
    """Small tokenizers whose tokenizer.json files are committed next to the fixtures."""
    out = {}
    data = train_corpus()

    # BERT: WordPiece with BertNormalizer, BertPreTokenizer, BertProcessing, WordPiece decoder.
    t = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=30))
    t.normalizer = normalizers.BertNormalizer(lowercase=True)
    t.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    t.train_from_iterator(data, trainers.WordPieceTrainer(vocab_size=600, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    t.post_processor = processors.BertProcessing(("[SEP]", t.token_to_id("[SEP]")), ("[CLS]", t.token_to_id("[CLS]")))
    t.decoder = decoders.WordPiece()
    out["tiny-bert-wordpiece"] = t

    # Unigram with NFKC + Metaspace, byte fallback off, Metaspace decoder.
    t = Tokenizer(models.Unigram())
    t.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    t.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    t.train_from_iterator(data, trainers.UnigramTrainer(vocab_size=500, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>"))
    t.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", t.token_to_id("</s>"))])
    t.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    out["tiny-unigram"] = t

    # Llama-3 style: Split with the Llama-3 regex, ByteLevel without regex, ignore_merges.
    for name, pattern in [("tiny-llama3-bpe", LLAMA3_PATTERN), ("tiny-qwen2-bpe", QWEN2_PATTERN)]:
        t = Tokenizer(models.BPE(ignore_merges=True))
        t.normalizer = normalizers.NFC() if "qwen" in name else None
        t.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
        t.train_from_iterator(data, trainers.BpeTrainer(vocab_size=700, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                        special_tokens=["<|begin_of_text|>", "<|end_of_text|>", "<|im_start|>", "<|im_end|>"]))
        t.post_processor = processors.Sequence([
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", t.token_to_id("<|begin_of_text|>"))]),
        ])
        t.decoder = decoders.ByteLevel()
        out[name] = t

    # Added-token options: lstrip / rstrip / single_word / normalized, on a lowercasing BPE
    # with Whitespace pre-tokenizer, unk and continuing-subword prefix handled by BPE.
    t = Tokenizer(models.BPE(unk_token="[UNK]", fuse_unk=False))
    t.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents(), normalizers.Lowercase(), normalizers.Strip()])
    t.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=False), pre_tokenizers.Punctuation()])
    t.train_from_iterator(data, trainers.BpeTrainer(vocab_size=400, special_tokens=["[UNK]"], limit_alphabet=60))
    t.add_special_tokens([AddedToken("<mask>", lstrip=True, rstrip=False), AddedToken("<eot>", rstrip=True, special=True)])
    t.add_tokens([AddedToken("hello", single_word=True, normalized=True), AddedToken("WORLD", normalized=True),
                  AddedToken("RaW", normalized=False), AddedToken("<s>", normalized=False)])
    # (Strip with left+right larger than a token panics inside `tokenizers`, so strip after Fuse.)
    t.decoder = decoders.Sequence([decoders.Replace("a", "A"), decoders.Fuse(), decoders.Strip(content="e", left=1, right=0)])
    out["tiny-added-tokens"] = t
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    texts = corpus()
    extra_added = [
        "hello world hello, ahello hellox <mask> a   <mask>b <eot>   next HELLO",
        "Héllo WORLD world RaW raw <s> x<eot>y",
    ]
    for i, name in enumerate(sorted(os.listdir(os.path.join(SHARED, "tokenizers")))):
        folder = os.path.join(SHARED, "tokenizers", name)
        tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        write_fixture(name, tok, texts, seed=i, folder=f"tokenizers/{name}")
    tok = Tokenizer.from_file(os.path.join(ROOT, "Models", "stories260K", "tokenizer.json"))
    write_fixture("stories260K", tok, texts, seed=99, folder="Models/stories260K")
    for i, (name, tok) in enumerate(trained_tokenizers().items()):
        folder = os.path.join(OUT, name)
        os.makedirs(folder, exist_ok=True)
        tok.save(os.path.join(folder, "tokenizer.json"))
        write_fixture(name, tok, texts + extra_added, seed=200 + i, folder=f"fixture:{name}")
    total = 0
    for dirpath, _, files in os.walk(OUT):
        total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
    print(f"total fixture size: {total} bytes")


if __name__ == "__main__":
    sys.exit(main())
