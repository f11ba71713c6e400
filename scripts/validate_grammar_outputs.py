#!/usr/bin/env python3
"""Checks random outputs of the Swift grammar engine against the real validators.

`grammar-bench walk` generates N random outputs per case of
Tests/VLLMStructuredOutputsTests/Fixtures/structured_output_cases.json on the Llama-3
vocabulary (scripts/make_llama3_tokenizer.py), each token drawn from the engine's own mask.
This script validates them: JSON Schema cases with Python `jsonschema` (pip install jsonschema,
formats checked too), regex cases with `re.fullmatch`, choice cases by membership, json_object
by parsing; grammar cases are reported as generated (no reference parser here).

  python3 scripts/validate_grammar_outputs.py [N] [TOKENIZER_DIR]
"""
import json
import os
import re
import subprocess
import sys
from collections import Counter

import jsonschema

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = os.path.join(ROOT, "Tests", "VLLMStructuredOutputsTests", "Fixtures", "structured_output_cases.json")


def main():
    n = sys.argv[1] if len(sys.argv) > 1 else "20"
    tok = sys.argv[2] if len(sys.argv) > 2 else os.path.expanduser("~/.cache/swift-vllm/llama3-tokenizer")
    cases = {c["name"]: c for c in json.load(open(CASES, encoding="utf-8"))["cases"]}
    out = subprocess.run([os.path.join(ROOT, ".build", "debug", "grammar-bench"), "walk", tok, CASES, n, "7"],
                         check=True, capture_output=True, text=True).stdout
    stats = Counter()
    compiled = set()
    bad = []
    for line in out.splitlines():
        r = json.loads(line)
        case = cases[r["name"]]
        if "error" in r:
            stats["not compiled"] += 1
            print(f"{r['name']}: not compiled: {r['error']}")
            continue
        compiled.add(r["name"])
        if not r["finished"]:
            stats["unfinished"] += 1
            continue
        text = r["output"]
        try:
            kind = case["kind"]
            if kind == "json":
                schema = json.loads(case["spec"])
                jsonschema.validate(json.loads(text), schema, format_checker=jsonschema.FormatChecker())
            elif kind == "json_object":
                assert isinstance(json.loads(text), dict)
            elif kind == "regex":
                assert re.fullmatch(case["spec"], text), "no match"
            elif kind == "choice":
                assert text in case["spec"], "not a choice"
            stats["valid"] += 1
        except Exception as e:
            stats["invalid"] += 1
            bad.append((r["name"], text[:200], str(e)[:200]))
    for b in bad[:20]:
        print("INVALID", b)
    print(f"cases compiled: {len(compiled)}/{len(cases)}; outputs: {dict(stats)}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
