#!/usr/bin/env python3
"""CPU decode speed of quantized weights against bfloat16 on the SmolLM2-135M shape (issue 19).

Runs `vllm bench forward --device cpu --load-format dummy` on the config folders of
bench/cpu/smollm2_135m_quantized/ (bf16; GPTQ int4 group 64; GPTQ int8 group 64; SqueezeLLM 4-bit;
GPTQ int4 group 64 with the LM head quantized too, GPTQModel's `lm_head: true`, untied)
and on the bf16 folder with `--quantization fp8` (online FP8), batch 1, in rounds: every round runs
each format once, in turn, so that all of them see the same machine load. Reports the median
decode tokens/s per format over the rounds and each format's ratio to bf16 (the ratio of medians,
and the median of the per-round ratios).

With --int8, the GPTQ formats also run with `--quantized-activations int8` (activations quantized
to 8 bits per 32 values, integer dot products) as gptq-int4-g64-int8 and gptq-int8-g64-int8, each
right after its float-activation run in every round.

Usage: python3 bench/cpu/bench_quantized_decode.py [--binary .build/release/vllm] [--rounds 3]
       [--int8] [--out bench/results/cpu_smollm2_135m_quantized_decode.json]
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import time

from bench_gguf_vs_llamacpp import cpu_model  # the script's folder is on sys.path

ROOT = "bench/cpu/smollm2_135m_quantized"
FORMATS = {
    "bf16": (f"{ROOT}/bf16", []),
    "gptq-int4-g64": (f"{ROOT}/gptq-int4-g64", []),
    "fp8-online": (f"{ROOT}/bf16", ["--quantization", "fp8"]),
    "gptq-int8-g64": (f"{ROOT}/gptq-int8-g64", []),
    "squeezellm-4bit": (f"{ROOT}/squeezellm", []),
    # GPTQModel's lm_head=True: the LM head in int4 as well (untied, the same shapes).
    "gptq-int4-g64-head": (f"{ROOT}/gptq-int4-g64-head", []),
}
INT8 = ["--quantized-activations", "int8"]
INT8_FORMATS = {
    "gptq-int4-g64-int8": (f"{ROOT}/gptq-int4-g64", INT8),
    "gptq-int8-g64-int8": (f"{ROOT}/gptq-int8-g64", INT8),
    "gptq-int4-g64-head-int8": (f"{ROOT}/gptq-int4-g64-head", INT8),
}


def run(binary, folder, extra, args):
    command = [binary, "bench", "forward", "--device", "cpu", "--load-format", "dummy", "--model", folder,
               "--batch-size", "1", "--input-len", str(args.input_len), "--output-len", str(args.output_len),
               "--warmup", "1", "--iterations", str(args.iterations), "--json"] + extra
    start = time.time()
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["wall_s"] = time.time() - start
    result["loadavg_after"] = os.getloadavg()[0]
    return " ".join(command), result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=".build/release/vllm")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=3, help="measured runs inside each bench call (median)")
    parser.add_argument("--input-len", type=int, default=32)
    parser.add_argument("--output-len", type=int, default=64)
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--int8", action="store_true",
                        help="also run the GPTQ formats with --quantized-activations int8 (<name>-int8)")
    parser.add_argument("--out", default="bench/results/cpu_smollm2_135m_quantized_decode.json")
    args = parser.parse_args()
    names = args.formats.split(",")
    if args.int8:
        names = [m for n in names for m in ([n, n + "-int8"] if n + "-int8" in INT8_FORMATS else [n])]
    formats = {**FORMATS, **INT8_FORMATS}
    load_start, started = os.getloadavg(), time.time()
    commands, rounds = {}, []
    for r in range(args.rounds):
        row = {}
        for name in names:
            folder, extra = formats[name]
            commands[name], result = run(args.binary, folder, extra, args)
            row[name] = result
            print(f"round {r + 1} {name}: decode {result['decode_tokens_per_s']:.1f} tok/s, "
                  f"prefill {result['prefill_tokens_per_s']:.1f} tok/s, load {result['loadavg_after']:.1f}", flush=True)
        rounds.append(row)
    decode = {n: statistics.median(r[n]["decode_tokens_per_s"] for r in rounds) for n in names}
    prefill = {n: statistics.median(r[n]["prefill_tokens_per_s"] for r in rounds) for n in names}
    report = {
        "benchmark": "CPU decode tokens/s at batch 1, quantized weights against bfloat16 (issue 19)",
        "model": "random weights (--load-format dummy) in the SmolLM2-135M shape; configs in " + ROOT,
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"cpu_model": cpu_model(), "nproc": os.cpu_count(), "platform": platform.platform()},
        "load": {"loadavg_start": list(load_start), "loadavg_end": list(os.getloadavg()),
                 "note": "shared machine: other sessions build at the same time; every round runs all formats in turn"},
        "method": {"rounds": args.rounds, "iterations_per_call": args.iterations, "warmup_per_call": 1,
                   "batch_size": 1, "input_len": args.input_len, "output_len": args.output_len,
                   "statistic": "median over rounds of each call's median"},
        "commands": commands,
        "decode_tokens_per_s": decode,
        "prefill_tokens_per_s": prefill,
        "decode_ratio_to_bf16": {n: decode[n] / decode["bf16"] for n in names} if "bf16" in names else {},
        "decode_ratio_to_bf16_median_of_rounds": {
            n: statistics.median(r[n]["decode_tokens_per_s"] / r["bf16"]["decode_tokens_per_s"] for r in rounds)
            for n in names} if "bf16" in names else {},
        "rounds": rounds,
        "elapsed_s": time.time() - started,
    }
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps({"decode_tokens_per_s": decode, "ratio": report["decode_ratio_to_bf16"]}, indent=1))


if __name__ == "__main__":
    main()
