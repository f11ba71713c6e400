#!/usr/bin/env python3
"""A request list for `vllm bench throughput --dataset-path` and hf_continuous.py, so that both engines
run exactly the same requests: JSON Lines, one `{"prompt_token_ids": [...], "output_len": N}` a line,
lengths uniform in the given ranges (both ends included), token ids uniform in [0, vocab)."""
import argparse, json, random

ap = argparse.ArgumentParser()
ap.add_argument("--num-prompts", type=int, required=True)
ap.add_argument("--input-min", type=int, required=True)
ap.add_argument("--input-max", type=int, required=True)
ap.add_argument("--output-min", type=int, required=True)
ap.add_argument("--output-max", type=int, required=True)
ap.add_argument("--vocab", type=int, required=True)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--out", required=True)
a = ap.parse_args()
if not (1 <= a.input_min <= a.input_max and 1 <= a.output_min <= a.output_max and a.vocab > 0):
    ap.error("need 1 <= min <= max for both lengths and vocab > 0")
rng = random.Random(a.seed)
with open(a.out, "w") as f:
    for _ in range(a.num_prompts):
        n = rng.randint(a.input_min, a.input_max)
        out = rng.randint(a.output_min, a.output_max)
        f.write(json.dumps({"prompt_token_ids": [rng.randrange(a.vocab) for _ in range(n)], "output_len": out}) + "\n")
