#!/usr/bin/env python3
"""CPU prompt and decode speed of GGUF models at batch 1: swift-vllm against llama.cpp (issue 14).

Both run the same files (scripts/fetch_gguf_models.sh caches them: SmolLM2-135M Q4_1 and
Qwen2.5-Coder-0.5B Q4_K_M) on the same threads, in rounds: each round runs ours, then theirs, on
each model, so that both see the same machine load (the load average is recorded around every
run). Ours is `vllm bench forward` (one prefill step of the prompt, then decode steps one token at
a time, through the engine); theirs is `llama-bench` (pp and tg tests, `-r` repetitions each, mean
of its samples). Reported: medians over the rounds, and ours / theirs.

llama.cpp comes from the `llama-cpp-python` source package on PyPI (it vendors llama.cpp): the
sdist is downloaded once through PyPI's JSON API, its sha256 checked against the pinned one, and
only `llama-bench` is built (Release, CPU only, -march=native, no curl), at the lowest priority
(`nice -n 19`, `-j2`). Everything is cached under ~/.cache/swift-vllm/llamacpp.

Our decode steps run after the prompt (context 129..256 for 128/128); llama-bench's tg test starts
from an empty context. At these sizes attention is a small part of a step.

"ours" runs with the default `--quantized-activations auto`, which for GGUF blocks quantizes the
activations to 8 bits per 32 values, as llama.cpp's CPU kernels do. With --float32, ours also runs
with `--quantized-activations float32` (the exact product) in the same rounds, as "ours_float32".
(Results before 2026-12-05 10:00 UTC name the float run "ours" and the 8-bit one "ours_int8".)

Usage: python3 bench/cpu/bench_gguf_vs_llamacpp.py [--binary .build/release/vllm] [--rounds 3] [--float32]
       [--baseline OTHER_VLLM] [--llama-bench PATH|none] [--iterations 1]
       [--prompt 128] [--decode 128] [--threads 2] [--out bench/results/cpu_gguf_vs_llamacpp.json]
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import statistics
import subprocess
import tarfile
import time
import urllib.request

PACKAGE, VERSION = "llama-cpp-python", "0.3.36"
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
CACHE = os.path.expanduser("~/.cache/swift-vllm/llamacpp")
GGUF_DIR = os.environ.get("SWIFT_VLLM_GGUF_DIR", os.path.expanduser("~/.cache/swift-vllm/gguf"))
MODELS = {
    "smollm2-135m-q4_1": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "qwen2.5-coder-0.5b-q4_k_m": "Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf",
}


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_sdist():
    """The pinned sdist, found on PyPI's simple index (PEP 503; the JSON API is not served behind
    every mirror or proxy) by the name and sha256 pinned above, downloaded once and checked."""
    os.makedirs(CACHE, exist_ok=True)
    filename = f"{PACKAGE.replace('-', '_')}-{VERSION}.tar.gz"
    path = os.path.join(CACHE, filename)
    if not os.path.exists(path) or sha256(path) != SDIST_SHA256:
        with urllib.request.urlopen(f"https://pypi.org/simple/{PACKAGE}/") as response:
            index = response.read().decode()
        match = re.search(r'href="([^"#]*/' + re.escape(filename) + r')#sha256=([0-9a-f]{64})"', index)
        if not match:
            raise SystemExit(f"{filename} is not on PyPI's simple index for {PACKAGE}")
        if match.group(2) != SDIST_SHA256:
            raise SystemExit(f"PyPI lists sha256 {match.group(2)} for {filename}, pinned {SDIST_SHA256}")
        urllib.request.urlretrieve(match.group(1), path)
        if sha256(path) != SDIST_SHA256:
            raise SystemExit(f"{path}: sha256 {sha256(path)}, expected {SDIST_SHA256}")
    return path


def build_llama_bench(sdist=None):
    """llama-bench built from the sdist's vendored llama.cpp (skipped when already built)."""
    source = os.path.join(CACHE, f"llama_cpp_python-{VERSION}", "vendor", "llama.cpp")
    binary = os.path.join(source, "build", "bin", "llama-bench")
    if os.path.exists(binary):
        return binary, source
    if not os.path.isdir(source):
        with tarfile.open(sdist or fetch_sdist()) as archive:
            archive.extractall(CACHE, filter="data")
    configure = ["cmake", "-S", source, "-B", os.path.join(source, "build"), "-DCMAKE_BUILD_TYPE=Release",
                 "-DGGML_NATIVE=ON", "-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF", "-DLLAMA_BUILD_TESTS=OFF",
                 "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=OFF"]
    subprocess.run(["nice", "-n", "19"] + configure, check=True)
    subprocess.run(["nice", "-n", "19", "cmake", "--build", os.path.join(source, "build"), "--target", "llama-bench",
                    "-j2"], check=True)
    return binary, source


def ours(binary, model, args, extra=()):
    command = [binary, "bench", "forward", "--device", "cpu", "--model", model, "--batch-size", "1",
               "--input-len", str(args.prompt), "--output-len", str(args.decode + 1), "--warmup", str(args.warmup),
               "--iterations", str(args.iterations), "--json", *extra]
    before = os.getloadavg()[0]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return {"prompt_tokens_per_s": result["prefill_tokens_per_s"], "decode_tokens_per_s": result["decode_tokens_per_s"],
            "loadavg_before": before, "loadavg_after": os.getloadavg()[0], "command": " ".join(command)}


def theirs(binary, model, args, extra=()):
    command = [binary, "-m", model, "-p", str(args.prompt), "-n", str(args.decode), "-t", str(args.threads),
               "-r", str(args.iterations), "-o", "json"]
    before = os.getloadavg()[0]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    tests = json.loads(out)
    prompt = next(t for t in tests if t["n_prompt"] > 0 and t["n_gen"] == 0)
    decode = next(t for t in tests if t["n_gen"] > 0 and t["n_prompt"] == 0)
    return {"prompt_tokens_per_s": prompt["avg_ts"], "decode_tokens_per_s": decode["avg_ts"],
            "prompt_samples": prompt["samples_ts"], "decode_samples": decode["samples_ts"],
            "loadavg_before": before, "loadavg_after": os.getloadavg()[0], "command": " ".join(command),
            "build": {k: prompt.get(k) for k in ("build_commit", "build_number", "cpu_info", "backends", "n_threads")}}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=".build/release/vllm")
    parser.add_argument("--llama-bench", help="a built llama-bench (default: build it from the PyPI sdist); 'none' skips it")
    parser.add_argument("--baseline", help="a second vllm binary (e.g. main's) run in the same rounds, as 'baseline'")
    parser.add_argument("--float32", action="store_true",
                        help="also run ours with --quantized-activations float32 (the exact product), as 'ours_float32'")
    parser.add_argument("--sdist", help="a local copy of the sdist (its sha256 is still checked)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=1, help="measured runs per call (ours: median; theirs: mean)")
    parser.add_argument("--warmup", type=int, default=1, help="our untimed runs per call (llama-bench warms up itself)")
    parser.add_argument("--prompt", type=int, default=128)
    parser.add_argument("--decode", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--label", default="", help="a note on what build of ours this is")
    parser.add_argument("--out", default="bench/results/cpu_gguf_vs_llamacpp.json")
    args = parser.parse_args()

    if args.sdist and sha256(args.sdist) != SDIST_SHA256:
        raise SystemExit(f"{args.sdist}: sha256 differs from the pinned {SDIST_SHA256}")
    llama_bench = args.llama_bench or build_llama_bench(args.sdist)[0]
    tools = [("ours", ours, args.binary, ())]
    if args.float32:
        tools.append(("ours_float32", ours, args.binary, ("--quantized-activations", "float32")))
    if args.baseline:
        tools.append(("baseline", ours, args.baseline, ()))
    if llama_bench != "none":
        tools.append(("llama.cpp", theirs, llama_bench, ()))
    if args.threads != os.cpu_count():
        print(f"note: our CPU backend uses every core ({os.cpu_count()}); llama-bench gets -t {args.threads}")
    names = args.models.split(",")
    runs = {name: {tool: [] for tool, _, _, _ in tools} for name in names}
    for round_index in range(args.rounds):
        for name in names:
            model = os.path.join(GGUF_DIR, MODELS[name])
            for tool, run, binary, extra in tools:
                start = time.time()
                result = run(binary, model, args, extra)
                result["wall_s"] = round(time.time() - start, 1)
                runs[name][tool].append(result)
                print(f"round {round_index + 1} {name} {tool}: prompt {result['prompt_tokens_per_s']:.1f} tok/s, "
                      f"decode {result['decode_tokens_per_s']:.1f} tok/s, load {result['loadavg_before']:.1f}"
                      f"→{result['loadavg_after']:.1f}", flush=True)

    summary = {}
    for name in names:
        row = {}
        keys = ("prompt_tokens_per_s", "decode_tokens_per_s")
        for tool in runs[name]:
            row[tool] = {key: statistics.median(r[key] for r in runs[name][tool]) for key in keys}
            row[tool]["loadavg_median"] = statistics.median(r["loadavg_before"] for r in runs[name][tool])
        for mine in ("ours", "ours_float32"):
            for other, label in (("llama.cpp", "llamacpp"), ("baseline", "baseline")):
                if mine in runs[name] and other in runs[name]:
                    row[f"ratio_{mine}_to_{label}"] = {key: row[mine][key] / row[other][key] for key in keys}
                    row[f"per_round_ratios_{mine}_to_{label}"] = {
                        key: [o[key] / t[key] for o, t in zip(runs[name][mine], runs[name][other])] for key in keys}
        summary[name] = row
        print(name, json.dumps(row))

    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    result = {
        "workload": f"batch 1, prompt {args.prompt} tokens, decode {args.decode} tokens, {args.threads} threads",
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform()},
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "ours": {"commit": commit, "binary": args.binary, "label": args.label},
        "baseline": {"binary": args.baseline} if args.baseline else None,
        "llama.cpp": {"package": f"{PACKAGE} {VERSION} (sdist, vendor/llama.cpp)", "sdist_sha256": SDIST_SHA256},
        "targets": "decode ≥ 1.0× llama.cpp, prompt ≥ 0.8× (issue 14)",
        "summary": summary,
        "runs": runs,
    }
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print("wrote", args.out)


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
