#!/usr/bin/env python3
"""Markdown table of a GPU bench summary (run_gpu_checks.sh bench): ours next to transformers and
the limits measured in the same run. Usage: table.py SUMMARY.json [LIMITS.json]"""
import json, sys

s = json.load(open(sys.argv[1]))
lim = json.load(open(sys.argv[2])) if len(sys.argv) > 2 else s
hf8 = s.get("hf_llama8b") or lim.get("hf_llama8b") or {}
bw = (lim.get("hf_llama8b") or {}).get("bandwidth_bytes_per_s")
mm = (lim.get("hf_llama8b") or {}).get("matmul_flops_per_s")
params = {"llama8b": 8.03e9, "qwen06": 0.596e9}
print(f"Limits measured: copy bandwidth {bw/1e12:.2f} TB/s, bf16 matmul {mm/1e12:.0f} TFLOP/s\n")
print("| model | batch x in x out | ours prefill tok/s | HF prefill tok/s | ours decode tok/s | HF decode tok/s | decode vs HF | note |")
print("|---|---|---|---|---|---|---|---|")
for key, v in s.items():
    if not key.startswith("ours_bench_") or "error" in v:
        continue
    model = "llama8b" if "llama8b" in key else "qwen06"
    hf = s.get("hf_" + ("llama8b" if model == "llama8b" else "qwen06"), {}).get("generate", [])
    ref = next((g for g in hf if g["batch_size"] == v["batch_size"] and g["input_len"] == v["input_len"]), None)
    note = ""
    n = params[model]
    if v["batch_size"] == 1 and bw:
        ms = 1000 / v["decode_tokens_per_s"]
        limit = 2 * n / bw * 1000
        note = f"{ms:.2f} ms/token = {ms/limit:.2f}x the bandwidth limit {limit:.2f} ms"
    elif mm:
        pf = 2 * n * v["prefill_tokens_per_s"] / mm
        note = f"prefill at {100*pf:.0f}% of the matmul rate"
    if "cublaslt" in key:
        note += " (cuBLASLt for the decode products)"
    print(f"| {model} | {v['batch_size']}x{v['input_len']}x{v['output_len']} | {v['prefill_tokens_per_s']:.0f} | "
          f"{ref['prefill_tokens_per_s']:.0f} | {v['decode_tokens_per_s']:.1f} | {ref['decode_tokens_per_s']:.1f} | "
          f"{v['decode_tokens_per_s']/ref['decode_tokens_per_s']:.2f}x | {note} |" if ref else
          f"| {model} | {v['batch_size']}x{v['input_len']}x{v['output_len']} | {v['prefill_tokens_per_s']:.0f} | - | "
          f"{v['decode_tokens_per_s']:.1f} | - | - | {note} |")
