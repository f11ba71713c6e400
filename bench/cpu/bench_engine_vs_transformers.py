#!/usr/bin/env python3
"""Engine throughput on the CPU: swift-vllm serving 64 concurrent requests through its scheduler
against Hugging Face transformers generating the same 64 prompts as one static batch (issue 4).

Same random-weight SmolLM2-135M-shaped model as bench_cpu_vs_transformers.py (built by it), same
prompt and output lengths, sampling at temperature 1 (vLLM's `bench throughput` setting; for
transformers do_sample with top_k and top_p off), EOS ignored. The two alternate over --runs so
that both see similar machine load; the median run of each is reported.

  swift:        <binary> bench throughput --model DIR --num-prompts P --input-len L --output-len N
  transformers: generate(input_ids [P, L], max_new_tokens = min_new_tokens = N)
  total tokens/s = P * (L + N) / seconds

Writes bench/results/cpu_engine_throughput_smollm2_135m.json.
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_cpu_vs_transformers import DEFAULT_CONFIG, REPO, SEED, build_model, loadavg, log, machine_info  # noqa: E402


def swift_run(binary, model_dir, P, L, N):
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [binary, "bench", "throughput", "--model", model_dir, "--num-prompts", str(P), "--input-len", str(L),
               "--output-len", str(N), "--max-model-len", str(L + N + 16), "--output-json", out.name]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f"swift failed: {p.stderr[-2000:]}")
        result = json.load(open(out.name))
    result["command"] = " ".join(cmd)
    result["stdout"] = p.stdout.strip()
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(REPO, ".build", "release", "vllm"))
    ap.add_argument("--model-dir", default="/tmp/swift-vllm-bench/smollm2_135m_random_float32")
    ap.add_argument("--weights-dtype", choices=["float32", "bfloat16"], default="float32")
    ap.add_argument("--num-prompts", type=int, default=64)
    ap.add_argument("--input-len", type=int, default=128)
    ap.add_argument("--output-len", type=int, default=64)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(REPO, "bench", "results", "cpu_engine_throughput_smollm2_135m.json"))
    args = ap.parse_args()

    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    build_model(DEFAULT_CONFIG, args.model_dir, args.weights_dtype)
    torch.set_num_threads(os.cpu_count())
    model = AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=torch.float32).eval()
    P, L, N = args.num_prompts, args.input_len, args.output_len
    ids = torch.randint(3, model.config.vocab_size, (P, L), generator=torch.Generator().manual_seed(SEED))

    def hf_once():
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True, temperature=1.0,
                                 top_k=0, top_p=1.0, max_new_tokens=N, min_new_tokens=N, pad_token_id=0)
        assert out.shape == (P, L + N)
        return time.perf_counter() - t0

    runs = {"swift": [], "transformers": []}
    log("warm-up")
    hf_once()
    for i in range(args.runs):
        s = swift_run(args.binary, args.model_dir, P, L, N)
        runs["swift"].append(s)
        log(f"run {i + 1}: swift {s['tokens_per_second']:.1f} total tokens/s (load {loadavg()})")
        t = hf_once()
        runs["transformers"].append({"elapsed_time": t, "tokens_per_second": P * (L + N) / t})
        log(f"run {i + 1}: transformers {P * (L + N) / t:.1f} total tokens/s (load {loadavg()})")

    swift_tps = statistics.median(r["tokens_per_second"] for r in runs["swift"])
    hf_tps = statistics.median(r["tokens_per_second"] for r in runs["transformers"])
    result = {
        "benchmark": "CPU engine throughput: 64 concurrent requests through swift-vllm vs one static batch in transformers",
        "model": f"random weights, SmolLM2-135M shape ({args.weights_dtype} file, float32 compute)",
        "workload": {"num_prompts": P, "input_len": L, "output_len": N, "sampling": "temperature 1, EOS ignored"},
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine_info(),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "swift_total_tokens_per_s": swift_tps,
        "transformers_total_tokens_per_s": hf_tps,
        "ratio_swift_over_transformers": swift_tps / hf_tps,
        "runs": runs,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    json.dump(result, open(args.out, "w"), indent=1)
    log(f"swift {swift_tps:.1f} vs transformers {hf_tps:.1f} total tokens/s: ratio {swift_tps / hf_tps:.2f}; wrote {args.out}")


if __name__ == "__main__":
    main()
