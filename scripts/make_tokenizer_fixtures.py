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
        shakespeare[:600],
        shakespeare[300000:300300],
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
    return texts + fuzz_texts()


def fuzz_texts(count=30, seed=1234):
    """Random strings over a pool chosen to stress pre-tokenizer regexes and byte handling:
    every kind of whitespace, digits of several scripts, apostrophes and contractions,
    punctuation runs, letters with combining marks, CJK, emoji with joiners and pieces of
    special tokens."""
    rng = random.Random(seed)
    pool = (list(" \t\n\r\x0b\x0c\x85\xa0\u2000\u2028\u3000") + list("aAzZéßĳǅ") + list("0123456789٣५") +
            ["'s", "'T", "'re", "'LL", "'d", "'", "''", "’s"] + list(".,;:!?-_()[]{}<>|/\\\"#@$%^&*+=~`") +
            ["e\u0301", "\u0915\u094d", "中", "文", "の", "한", "😀", "👨\u200d👩", "🏳️\u200d🌈", "\u200b", "\ufeff"] +
            ["<s>", "</s>", "<|endoftext|>", "<|im_start|>", "[INST]", "<unk>", "<", "|", ">", "▁", "Ġ", "<0x0A>"] +
            ["hello", "World", "THE", "token", "naïve", "Straße", "x" * 30, " " * 7, "\n" * 3])
    out = []
    for _ in range(count):
        n = rng.randint(1, 40)
        out.append("".join(rng.choice(pool) for _ in range(n)))
    return out


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
        decoded = dec.decode(with_sp, skip_special_tokens=False)
        decoded_skip = dec.decode(with_sp, skip_special_tokens=True)
        # To keep the files small: ids_no_special, decoded and decoded_skip are left out
        # (null) when they equal ids, text and decoded respectively.
        cases.append({
            "text": t,
            "ids": with_sp,
            "ids_no_special": None if no_sp == with_sp else no_sp,
            "decoded": None if decoded == t else decoded,
            "decoded_skip": None if decoded_skip == decoded else decoded_skip,
        })
    # Arbitrary id sequences (not produced by encode) exercise the decoders on byte tokens that
    # split characters, special tokens mid-text and so on.
    rng = random.Random(seed)
    size = tok.get_vocab_size(with_added_tokens=True)
    added = sorted(tok.get_added_tokens_decoder().keys())
    decode_only = []
    for k in range(6):
        ids = [rng.randrange(size) for _ in range(20)]
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

    # RoBERTa: byte-level BPE with the prefix space added by the pre-tokenizer.
    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    t.train_from_iterator(data, trainers.BpeTrainer(vocab_size=500, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                    special_tokens=["<s>", "<pad>", "</s>", "<unk>"]))
    t.post_processor = processors.RobertaProcessing(("</s>", t.token_to_id("</s>")), ("<s>", t.token_to_id("<s>")))
    t.decoder = decoders.ByteLevel()
    out["tiny-roberta-bpe"] = t

    # Split behaviours, string and regex patterns, WordLevel, TemplateProcessing with two
    # special tokens, and regex Replace in normalizer and decoder.
    t = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    t.normalizer = normalizers.Sequence([normalizers.Strip(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.NFKC(), normalizers.Lowercase()])
    t.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split("-", behavior="merged_with_previous"),
        pre_tokenizers.Split(Regex(r"\d"), behavior="merged_with_next"),
        pre_tokenizers.Split(Regex(r"[aeiou]{2}"), behavior="contiguous"),
        pre_tokenizers.Split(Regex(r"[^a-z0-9 ]+"), behavior="removed", invert=True),
        pre_tokenizers.CharDelimiterSplit("|"),
        pre_tokenizers.Punctuation(behavior="contiguous"),
        pre_tokenizers.WhitespaceSplit(),
    ])
    t.train_from_iterator(data, trainers.WordLevelTrainer(vocab_size=800, special_tokens=["[UNK]", "[CLS]", "[SEP]"]))
    t.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)])
    t.decoder = decoders.Sequence([decoders.Replace(Regex("e+"), "E"), decoders.Strip(content="x", left=0, right=1)])
    out["tiny-wordlevel-splits"] = t

    # BPE with an end-of-word suffix (and its decoder), Metaspace with prepend_scheme first.
    t = Tokenizer(models.BPE(unk_token="<unk>", end_of_word_suffix="</w>"))
    t.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(prepend_scheme="first", split=True), pre_tokenizers.Digits(individual_digits=True)])
    t.train_from_iterator(data, trainers.BpeTrainer(vocab_size=500, special_tokens=["<unk>", "<sep>"], end_of_word_suffix="</w>", limit_alphabet=80))
    t.add_special_tokens(["<sep>"])
    t.decoder = decoders.BPEDecoder(suffix="</w>")
    out["tiny-bpe-suffix"] = t

    # BPE with a continuing-subword prefix, decoded by the WordPiece decoder.
    t = Tokenizer(models.BPE(unk_token="[UNK]", continuing_subword_prefix="##"))
    t.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=True)
    t.pre_tokenizer = pre_tokenizers.Whitespace()
    t.train_from_iterator(data, trainers.BpeTrainer(vocab_size=500, special_tokens=["[UNK]"], continuing_subword_prefix="##", limit_alphabet=80))
    t.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    out["tiny-bpe-prefix"] = t

    spm = sentencepiece_unigram()
    if spm is not None:
        out["tiny-spm-unigram"] = spm
    return out


def sentencepiece_unigram():
    """A T5/ALBERT-style tokenizer.json: a SentencePiece Unigram model converted by transformers,
    with a Precompiled (charsmap) normalizer, Metaspace and byte fallback. A small custom
    normalization rule table keeps the charsmap (and the committed file) small. Needs
    `pip install sentencepiece protobuf transformers`; skipped when they are missing."""
    try:
        import sentencepiece as sp
        from transformers.convert_slow_tokenizer import SpmConverter
    except ImportError:
        print("sentencepiece/protobuf/transformers missing: tiny-spm-unigram not rebuilt")
        return None
    import tempfile
    work = tempfile.mkdtemp()
    rules = {  # source code points -> replacement code points
        "FB01": "66 69", "2460": "31", "FF26": "46", "FF55": "75", "FF4C": "6C", "3000": "20", "9": "20",
        "65 301": "E9", "41 30A": "C5", "2126": "3A9", "FF8A": "30CF", "FF9D": "30F3",
    }
    with open(os.path.join(work, "rules.tsv"), "w") as f:
        for k, v in rules.items():
            f.write(f"{k}\t{v}\n")
    with open(os.path.join(work, "train.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(train_corpus()[:3000]))
    sp.SentencePieceTrainer.train(
        input=os.path.join(work, "train.txt"), model_prefix=os.path.join(work, "tiny"), vocab_size=700,
        model_type="unigram", normalization_rule_tsv=os.path.join(work, "rules.tsv"), byte_fallback=True,
        character_coverage=0.995, minloglevel=2)

    class Original:  # what SpmConverter reads from a slow tokenizer
        vocab_file = os.path.join(work, "tiny.model")
        legacy = True
        add_prefix_space = True

    t = SpmConverter(Original()).converted()
    j = json.loads(t.to_str())
    j["model"]["byte_fallback"] = True
    j["decoder"] = {"type": "Sequence", "decoders": [j["decoder"], {"type": "ByteFallback"}, {"type": "Fuse"}]}
    return Tokenizer.from_str(json.dumps(j))


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
        # The tiny tokenizers skip the two long Shakespeare excerpts and half the random texts
        # (they cover model types and options; the real tokenizers cover the long inputs).
        small = texts[2:len(texts) - 15] + extra_added
        write_fixture(name, tok, small, seed=200 + i, folder=f"fixture:{name}")
    total = 0
    for dirpath, _, files in os.walk(OUT):
        total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
    print(f"total fixture size: {total} bytes")


if __name__ == "__main__":
    sys.exit(main())
