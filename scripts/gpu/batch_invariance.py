#!/usr/bin/env python3
"""Batch invariance on one model (issue 16): the same prompts through `vllm generate` run alone (one
sequence a step), all together, four at a time, with a token budget of 7 (chunked prefills) and with
few KV blocks (preemption and recomputation), greedy and seeded; every run's token ids against the
run alone. With `--mode invariant` the runs take `--batch-invariant` and must agree bitwise; with
`--mode default` the differences are only reported. Prints one JSON line and writes it to --out."""
import argparse, json, random, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--vllm", required=True, help="the vllm binary")
ap.add_argument("--model", required=True)
ap.add_argument("--mode", choices=["invariant", "default"], required=True)
ap.add_argument("--out", required=True)
ap.add_argument("--prompts", type=int, default=64)
ap.add_argument("--max-len", type=int, default=80, help="longest prompt (tokens)")
ap.add_argument("--max-tokens", type=int, default=32)
ap.add_argument("--blocks", type=int, default=12, help="KV blocks of the preemption run (16 tokens each)")
ap.add_argument("--dtype", default="bfloat16")
ap.add_argument("--device", default="cuda", help="cuda, or cpu to try the script here")
a = ap.parse_args()

vocab = json.load(open(f"{a.model}/config.json"))["vocab_size"]
rng = random.Random(16)
prompts_file = f"{a.out}.prompts.jsonl"
with open(prompts_file, "w") as f:
    for _ in range(a.prompts):
        n = rng.randint(1, a.max_len)
        f.write(json.dumps({"prompt_token_ids": [rng.randrange(3, vocab) for _ in range(n)]}) + "\n")
# The preemption run needs one whole sequence to fit.
assert a.blocks * 16 >= a.max_len + a.max_tokens

RUNS = {
    "alone": ["--max-num-seqs", "1"],
    "together": [],
    "four_at_a_time": ["--max-num-seqs", "4"],
    "budget_7": ["--max-num-batched-tokens", "7"],
    "preemption": ["--num-gpu-blocks-override", str(a.blocks)],
}
SAMPLING = {"greedy": ["--temperature", "0"], "seeded": ["--temperature", "1.0", "--seed", "1234"]}


def generate(run, sampling):
    """Token ids per prompt, and the engine's step and preemption counts (from stderr)."""
    cmd = [a.vllm, "generate", "--device", a.device, "--dtype", a.dtype, "--model", a.model, "--prompts-file", prompts_file,
           "--max-tokens", str(a.max_tokens), "--ignore-eos", "--json", "--max-model-len", str(a.max_len + a.max_tokens)]
    cmd += RUNS[run] + SAMPLING[sampling] + (["--batch-invariant"] if a.mode == "invariant" else [])
    start = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    if p.returncode != 0:
        return {"error": f"exit {p.returncode}: {p.stderr[-800:]}"}
    ids = [json.loads(line)["outputs"][0]["token_ids"] for line in p.stdout.splitlines() if line.startswith("{")]
    # "Engine steps: S, preemptions: P" (vllm generate's last line on stderr).
    engine = [line for line in p.stderr.splitlines() if line.startswith("Engine steps:")]
    steps, preemptions = (int(part.split(":")[1]) for part in engine[-1].split(",")) if engine else (None, None)
    return {"ids": ids, "steps": steps, "preemptions": preemptions, "seconds": round(time.time() - start, 1)}


def first_difference(x, y):
    """Index of the first token where two outputs differ (the shorter length when one extends the other)."""
    return next((t for t, (u, v) in enumerate(zip(x, y)) if u != v), min(len(x), len(y)))


result = {"model": a.model, "mode": a.mode, "prompts": a.prompts, "max_tokens": a.max_tokens, "runs": {}}
identical = True
for sampling in SAMPLING:
    outputs = {run: generate(run, sampling) for run in RUNS}
    reference = outputs["alone"].get("ids")
    for run, out in outputs.items():
        entry = {k: v for k, v in out.items() if k != "ids"}
        if "ids" in out and reference is not None:
            differing = [i for i, (x, y) in enumerate(zip(out["ids"], reference)) if x != y]
            entry["prompts_returned"] = len(out["ids"])
            entry["prompts_differing"] = len(differing)
            if differing:
                i = differing[0]
                entry["first_difference"] = {"prompt": i, "token": first_difference(out["ids"][i], reference[i])}
            same = not differing and len(out["ids"]) == len(reference) == a.prompts
        else:
            same = False
        entry["identical_to_alone"] = same
        identical &= same
        result["runs"][f"{sampling}/{run}"] = entry
result["all_identical"] = identical
# The preemption runs must have preempted, else they checked nothing more than "together".
result["preempted"] = all((result["runs"][f"{s}/preemption"].get("preemptions") or 0) > 0 for s in SAMPLING)
line = json.dumps(result)
open(a.out, "w").write(line + "\n")
print(line)
sys.exit(0)
