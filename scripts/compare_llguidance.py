#!/usr/bin/env python3
"""Times llguidance (pip install llguidance) on the cases and vocabulary grammar-bench uses.

For every case of Tests/VLLMStructuredOutputsTests/Fixtures/structured_output_cases.json, on the
Llama-3 tokenizer (scripts/make_llama3_tokenizer.py), it builds llguidance's matcher (the compile
time: JSON Schema to grammar plus the matcher's construction, one thread) and walks random paths
through its masks (seeded; the stop token half the time it is allowed, often a short closing
token so that walks end, as scripts/compare_grammar_masks.py drives xgrammar), timing each mask.
JSON schemas get vLLM's guidance-backend reading: an object with `properties` and no
`additionalProperties` is closed (what xgrammar and our engine do by default), and compact
separators ", " and ": " when the case turns whitespace off.

  python3 scripts/compare_llguidance.py [TOKENIZER_DIR]
  python3 scripts/compare_llguidance.py exact /tmp/grammar_compare_full.json [TOKENIZER_DIR]
      replays xgrammar's recorded walks (scripts/compare_grammar_masks.py full writes them; our
      masks equal them but for the two documented differences) and counts the steps where
      llguidance's mask is the same
"""
import json
import os
import random
import re
import statistics
import sys
import time

import llguidance
from llguidance.gbnf_to_lark import any_to_lark
from grammar_walk import allowed_ids, next_token

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = os.path.join(ROOT, "Tests", "VLLMStructuredOutputsTests", "Fixtures", "structured_output_cases.json")
DEFAULT_TOKENIZER = os.path.expanduser("~/.cache/swift-vllm/llama3-tokenizer")


def close_listed_objects(schema):
    """vLLM's disable_additional_properties rewrite, which aligns guidance with xgrammar."""
    if isinstance(schema, dict):
        for value in schema.values():
            close_listed_objects(value)
        if "additionalProperties" not in schema and ("properties" in schema or "patternProperties" in schema):
            schema["additionalProperties"] = False
    elif isinstance(schema, list):
        for item in schema:
            close_listed_objects(item)
    return schema


def grammar_of(case):
    kind, spec = case["kind"], case["spec"]
    if kind == "json":
        schema = close_listed_objects(json.loads(spec))
        options = {} if case.get("any_whitespace", True) else {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
        return llguidance.LLMatcher.grammar_from_json_schema(schema, defaults=options)
    if kind == "json_object":
        return llguidance.LLMatcher.grammar_from_json_schema({"type": "object"})
    if kind == "regex":
        return llguidance.LLMatcher.grammar_from_regex(spec)
    if kind == "choice":
        return llguidance.LLMatcher.grammar_from_regex("|".join(re.escape(s) for s in spec))
    return llguidance.LLMatcher.grammar_from_lark(any_to_lark(spec))


def walk(tokenizer, grammar, stop, closers, steps, rng, timings, later, cpu):
    """Appends each mask's wall time to `timings` (and, after a walk's first mask, to `later`)
    and its thread CPU time to `cpu` (which a preemption on a loaded machine does not add to)."""
    matcher = llguidance.LLMatcher(tokenizer, grammar, log_level=0)
    for step in range(steps):
        c = time.thread_time_ns()
        t = time.perf_counter()
        mask = matcher.compute_bitmask()
        timings.append((time.perf_counter() - t) * 1e6)
        cpu.append((time.thread_time_ns() - c) / 1e3)
        if step > 0:
            later.append(timings[-1])
        if matcher.is_error():
            raise RuntimeError(matcher.get_error())
        allowed = allowed_ids(memoryview(mask).cast("I"), tokenizer.vocab_size)
        if not allowed:
            break
        tok = next_token(allowed, stop, closers, rng)
        if not matcher.consume_token(tok):
            raise RuntimeError("llguidance refused a token its own mask allowed: %s" % matcher.get_error())
        if matcher.is_stopped():
            break


def load_tokenizer(tokenizer_dir):
    with open(os.path.join(tokenizer_dir, "tokenizer.json"), encoding="utf-8") as f:
        tj = json.load(f)
    eos = next(t["id"] for t in tj["added_tokens"] if t["content"] in ("<|end_of_text|>", "<|endoftext|>"))
    t = time.perf_counter()
    tokenizer = llguidance.LLTokenizer(os.path.join(tokenizer_dir, "tokenizer.json"), eos_token=eos)
    print("llguidance %s: tokenizer (%d ids) loaded in %.0f ms" % (
        getattr(llguidance, "__version__", "?"), tokenizer.vocab_size, (time.perf_counter() - t) * 1e3))
    return tokenizer, eos


def exact(walks_path, tokenizer_dir):
    tokenizer, _ = load_tokenizer(tokenizer_dir)
    with open(walks_path, encoding="utf-8") as f:
        walks = json.load(f)["cases"]
    same, steps, differ = 0, 0, {}
    for w in walks:
        matcher = llguidance.LLMatcher(tokenizer, grammar_of(w), log_level=0)
        for tok, expected in zip(w["path"], w["masks"]):
            words = len(expected) // 8
            got = matcher.compute_bitmask()[: words * 4].hex()
            steps += 1
            if got == expected:
                same += 1
            else:
                name = w["name"].split("#")[0]
                a, b = memoryview(bytes.fromhex(got)).cast("I"), memoryview(bytes.fromhex(expected)).cast("I")
                extra = sum(bin(x & ~y & 0xFFFFFFFF).count("1") for x, y in zip(a, b))
                missing = sum(bin(y & ~x & 0xFFFFFFFF).count("1") for x, y in zip(a, b))
                d = differ.setdefault(name, [0, 0, 0])
                d[0] += 1; d[1] += extra; d[2] += missing
            if not matcher.consume_token(tok):
                break
    print("llguidance masks equal to xgrammar's on %d of %d steps" % (same, steps))
    for name, (n, extra, missing) in sorted(differ.items()):
        print("  %s: %d steps differ (%d ids only llguidance allows, %d only xgrammar)" % (name, n, extra, missing))


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "exact":
        return exact(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else DEFAULT_TOKENIZER)
    tokenizer, eos = load_tokenizer(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_TOKENIZER)
    closers = {i for i in range(tokenizer.vocab_size) if 0 < len(b := tokenizer.decode_bytes([i])) <= 3 and any(c in b for c in b'"}]')}
    with open(CASES, encoding="utf-8") as f:
        cases = json.load(f)["cases"]
    rng = random.Random(15)
    timings, later, cpu, compile_ms, failed, slow = [], [], [], [], [], {}
    for case in cases:
        try:
            t = time.perf_counter()
            grammar = grammar_of(case)
            matcher = llguidance.LLMatcher(tokenizer, grammar, log_level=0)
            matcher.compute_bitmask()  # the first mask builds the lexer's start state
            compile_ms.append((time.perf_counter() - t) * 1e3)
            if matcher.is_error():
                raise RuntimeError(matcher.get_error())
            mine = []
            for _ in range(3):
                walk(tokenizer, grammar, eos, closers, 40, rng, mine, later, cpu)
            timings += mine
            slow[case["name"]] = (statistics.median(mine), max(mine))
        except Exception as e:  # a feature llguidance lacks: reported, left out
            failed.append(case["name"])
            print("llguidance cannot run %s: %s" % (case["name"], str(e)[:200]), file=sys.stderr)
    timings.sort()
    later.sort()
    cpu.sort()
    compile_ms.sort()
    print("llguidance, one thread, %d of %d cases: compile (+ first mask) median %.2f ms, max %.2f ms; "
          "mask per step median %.1f us, p99 %.1f us, max %.1f us over %d steps; failed: %s" % (
              len(compile_ms), len(cases), statistics.median(compile_ms), compile_ms[-1], statistics.median(timings),
              timings[int(0.99 * (len(timings) - 1))], timings[-1], len(timings), ", ".join(failed) or "none"))
    print("without each walk's first mask: median %.1f us, p99 %.1f us over %d steps" % (
        statistics.median(later), later[int(0.99 * (len(later) - 1))], len(later)))
    print("thread CPU time per mask: median %.1f us, p99 %.1f us, max %.1f us" % (
        statistics.median(cpu), cpu[int(0.99 * (len(cpu) - 1))], cpu[-1]))
    worst = sorted(slow.items(), key=lambda kv: -kv[1][0])[:5]
    print("slowest cases (median / max us):", ", ".join("%s %.0f / %.0f" % (k, m, x) for k, (m, x) in worst))
    print("load average:", " ".join("%.2f" % x for x in os.getloadavg()))


if __name__ == "__main__":
    main()
