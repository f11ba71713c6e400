"""Greedy token ids of `vllm generate --json` runs against a reference run: usage `same_tokens.py
WORKDIR REFERENCE NAME...` reads WORKDIR/NAME.jsonl (first output of each prompt) and prints, per
run, how many prompts give the reference's ids and the first differing position of each.
"""
import json
import sys

w, ref, names = sys.argv[1], sys.argv[2], sys.argv[3:]


def ids(name):
    return [json.loads(l)["outputs"][0]["token_ids"] for l in open(f"{w}/{name}.jsonl")]


plain = ids(ref)
for name in names:
    try:
        got = ids(name)
    except Exception as e:
        print(name, "unreadable", e)
        continue
    same = sum(a == b for a, b in zip(got, plain))
    first = [next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None) for a, b in zip(got, plain)]
    print(f"{name}: {same}/{len(plain)} prompts token-identical to {ref}; first differing position per prompt: {first}")
