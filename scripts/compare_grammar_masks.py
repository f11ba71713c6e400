#!/usr/bin/env python3
"""Compares the Swift grammar engine's token masks with xgrammar's (pip install xgrammar).

For every case of Tests/VLLMStructuredOutputsTests/Fixtures/structured_output_cases.json it
compiles the case with xgrammar, walks a random path through xgrammar's masks (seeded; the stop
token half the time it is allowed, often a short closing token so that walks end) and records
the mask before each step. The Swift side (`grammar-bench compare`) follows the same path and
must produce the same mask at every step.

  python3 scripts/compare_grammar_masks.py full [TOKENIZER_DIR]
      the Llama-3 vocabulary (scripts/make_llama3_tokenizer.py makes it); writes the cases to
      /tmp/grammar_compare_full.json and runs .build/debug/grammar-bench compare on them
  python3 scripts/compare_grammar_masks.py fixture
      a 1,200-token slice of GPT-2's byte-level vocabulary (MIT; ../shared/data/tokenizers/gpt2,
      from huggingface/swift-transformers); writes the small fixture that
      VLLMStructuredOutputsTests checks (Tests/VLLMStructuredOutputsTests/Fixtures/xgrammar_masks.json)
"""
import json
import os
import random
import statistics
import subprocess
import sys
import time

import xgrammar as xgr
from grammar_walk import allowed_ids, next_token

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "Tests", "VLLMStructuredOutputsTests", "Fixtures")
DEFAULT_TOKENIZER = os.path.expanduser("~/.cache/swift-vllm/llama3-tokenizer")
GPT2_TOKENIZER = os.path.join(os.path.dirname(ROOT), "shared", "data", "tokenizers", "gpt2")


def byte_level_decoder():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def byte_level_vocab(tokenizer_dir):
    """Each id's bytes (b"" for special tokens, which are never allowed) and the EOS id."""
    with open(os.path.join(tokenizer_dir, "tokenizer.json"), encoding="utf-8") as f:
        tj = json.load(f)
    dec = byte_level_decoder()
    size = max([max(tj["model"]["vocab"].values())] + [t["id"] for t in tj["added_tokens"]]) + 1
    vocab = [b""] * size
    for tok, i in tj["model"]["vocab"].items():
        vocab[i] = bytes(dec[c] for c in tok)
    eos = next(t["id"] for t in tj["added_tokens"] if t["content"] in ("<|end_of_text|>", "<|endoftext|>"))
    vocab[eos] = b""
    return vocab, eos


def small_vocab(vocab, eos):
    """A slice that keeps every single byte, the common tokens and the JSON punctuation ones."""
    keep = [i for i, b in enumerate(vocab) if len(b) == 1]
    keep += [i for i in range(256, 900)]
    punct = [i for i, b in enumerate(vocab) if 1 < len(b) <= 4 and any(c in b for c in b'"{}[],:') and i >= 900]
    keep += punct[:250]
    multibyte = [i for i, b in enumerate(vocab) if len(b) >= 2 and b[0] >= 0xC0 and i >= 900]
    keep += multibyte[:60]
    keep = sorted(set(keep))
    small = [vocab[i] for i in keep] + [b""]
    return small, len(small) - 1  # the stop token, empty like every special token


def compile_case(compiler, case):
    kind, spec = case["kind"], case["spec"]
    if kind == "json":
        return compiler.compile_json_schema(spec, any_whitespace=case.get("any_whitespace", True))
    if kind == "json_object":  # as vLLM asks xgrammar for response_format json_object
        return compiler.compile_json_schema('{"type": "object"}')
    if kind == "regex":
        return compiler.compile_regex(spec)
    if kind == "choice":
        return compiler.compile_regex("|".join(__import__("re").escape(s) for s in spec))
    return compiler.compile_grammar(spec)


def walk(compiled, vocab, stop, closers, steps, rng, timings):
    matcher = xgr.GrammarMatcher(compiled)
    bitmask = xgr.allocate_token_bitmask(1, len(vocab))
    path, masks = [], []
    for _ in range(steps):
        t = time.perf_counter()
        matcher.fill_next_token_bitmask(bitmask)
        timings.append((time.perf_counter() - t) * 1e6)
        row = bitmask[0].numpy().astype("<i4")
        masks.append(row.tobytes().hex())
        allowed = allowed_ids([(int(w) & 0xFFFFFFFF) for w in row], len(vocab))
        if not allowed:
            break
        tok = next_token(allowed, stop, closers, rng)
        path.append(tok)
        assert matcher.accept_token(tok)
        if matcher.is_terminated():
            break
    return path, masks


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "fixture"
    default = GPT2_TOKENIZER if mode == "fixture" else DEFAULT_TOKENIZER
    vocab, eos = byte_level_vocab(sys.argv[2] if len(sys.argv) > 2 else default)
    if mode == "fixture":
        vocab, eos = small_vocab(vocab, eos)
    info = xgr.TokenizerInfo(vocab, xgr.VocabType.RAW, vocab_size=len(vocab), stop_token_ids=[eos])
    compiler = xgr.GrammarCompiler(info, max_threads=1, cache_enabled=False)
    closers = {i for i, b in enumerate(vocab) if 0 < len(b) <= 3 and any(c in b for c in b'"}]')}
    with open(os.path.join(FIXTURES, "structured_output_cases.json"), encoding="utf-8") as f:
        cases = json.load(f)["cases"]
    rng = random.Random(15)
    out = []
    walks = 2 if mode == "fixture" else 3
    timings, compile_ms = [], []
    for case in cases:
        try:
            t = time.perf_counter()
            compiled = compile_case(compiler, case)
            compile_ms.append((time.perf_counter() - t) * 1e3)
        except Exception as e:  # xgrammar refuses a few features; those cases are left out
            print(f"xgrammar cannot compile {case['name']}: {e}", file=sys.stderr)
            continue
        for k in range(walks):
            path, masks = walk(compiled, vocab, eos, closers, 24 if mode == "fixture" else 40, rng, timings)
            out.append(dict(case, name=f"{case['name']}#{k}", path=path, masks=masks))
    timings.sort()
    print("xgrammar, one thread: compile median %.1f ms, max %.1f ms; mask per step median %.1f us, p99 %.1f us over %d steps" % (
        statistics.median(compile_ms), max(compile_ms), statistics.median(timings), timings[int(0.99 * (len(timings) - 1))], len(timings)))
    doc = {"origin": "xgrammar %s masks on random paths (scripts/compare_grammar_masks.py %s)" % (getattr(xgr, "__version__", "0.2.9"), mode),
           "stop_token_ids": [eos], "cases": out}
    if mode == "fixture":
        doc["vocab_hex"] = [b.hex() for b in vocab]
        doc["vocab_origin"] = "a slice of GPT-2's tokenizer (MIT), the stop token as an empty entry"
        path = os.path.join(FIXTURES, "xgrammar_masks.json")
        with open(path, "w") as f:
            json.dump(doc, f, separators=(",", ":"))
        print(path, os.path.getsize(path), "bytes,", len(out), "walks")
        return
    path = "/tmp/grammar_compare_full.json"
    with open(path, "w") as f:
        json.dump(doc, f)
    print(path, len(out), "walks")
    sys.exit(subprocess.call([os.path.join(ROOT, ".build", "debug", "grammar-bench"), "compare", path, sys.argv[2] if len(sys.argv) > 2 else DEFAULT_TOKENIZER]))


if __name__ == "__main__":
    main()
