#!/usr/bin/env python3
"""Encode throughput of the Swift tokenizer against Hugging Face `tokenizers`, one thread each,
on the same text in the same run.

Two workloads per tokenizer:
  whole   - the file as one string (tinyshakespeare, 1.1 MB)
  chunks  - the file split at blank lines into ~7k paragraphs, each encoded on its own
            (closer to a server's prompts)
Swift runs `vllm tokenize --bench-file` (release build); Python times `Tokenizer.encode` with
RAYON_NUM_THREADS=1. Wall time and thread CPU time are both recorded (CPU time is the fairer
figure on a loaded machine). Rounds alternate between the two so that load on a shared machine hits
both alike; the best and the median per-encode time are reported.

Usage (from the repository root, after `swift build -c release`):
  python3 bench/tokenizer/bench_tokenizers.py [--vllm PATH] [--rounds 3] [--iterations 5]
Writes bench/results/cpu_tokenizer_encode.json.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import tokenizers  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")

TOKENIZERS = [
    ("gpt2", "byte-level BPE"),
    ("llama2", "SentencePiece-style BPE (byte fallback)"),
    ("smollm2-135m", "byte-level BPE + Digits"),
    ("mistral-7b-v0.3", "SentencePiece-style BPE (Metaspace)"),
]


def machine():
    info = {"platform": platform.platform(), "python": platform.python_version(), "tokenizers": tokenizers.__version__}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("Model name", "CPU(s)", "Thread(s) per core", "Core(s) per socket", "Socket(s)"):
                info[key.strip()] = value.strip()
    except OSError:
        pass
    info["nproc"] = os.cpu_count()
    info["loadavg_start"] = os.getloadavg()
    return info


def python_times(tok, pieces, iterations):
    total = sum(len(tok.encode(p).ids) for p in pieces)  # warm-up, and the token count
    times, cpu = [], []
    for _ in range(iterations):
        t0 = time.perf_counter()
        c0 = time.thread_time()
        for p in pieces:
            tok.encode(p)
        cpu.append(time.thread_time() - c0)
        times.append(time.perf_counter() - t0)
    return times, cpu, total


def swift_times(vllm, folder, text_path, chunks, iterations):
    cmd = [vllm, "tokenize", "--model", folder, "--bench-file", text_path, "--bench-iterations", str(iterations)]
    if chunks:
        cmd.append("--bench-chunks")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vllm", default=None, help="path to the release vllm binary")
    ap.add_argument("--text", default=os.path.join(SHARED, "corpus", "tinyshakespeare.txt"))
    ap.add_argument("--tokenizers-dir", default=os.path.join(SHARED, "tokenizers"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "cpu_tokenizer_encode.json"))
    args = ap.parse_args()
    vllm = args.vllm
    if vllm is None:
        for cand in (".build-tok/release/vllm", ".build/release/vllm"):
            if os.path.exists(os.path.join(ROOT, cand)):
                vllm = os.path.join(ROOT, cand)
                break
    if vllm is None:
        sys.exit("no release vllm binary found; run `swift build -c release` or pass --vllm")

    with open(args.text, encoding="utf-8") as f:
        text = f.read()
    nbytes = len(text.encode("utf-8"))
    parts = text.split("\n\n")
    chunks = [p + "\n\n" for p in parts[:-1]] + [parts[-1]]

    results = {"machine": machine(), "text": os.path.basename(args.text), "bytes": nbytes,
               "chunks": len(chunks), "single_thread": True, "results": []}
    for name, kind in TOKENIZERS:
        if args.only and name not in args.only:
            continue
        folder = os.path.join(args.tokenizers_dir, name)
        tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        for mode, pieces in (("whole", [text]), ("chunks", chunks)):
            py_all, sw_all, py_cpu, sw_cpu = [], [], [], []
            py_tokens = sw_tokens = None
            for _ in range(args.rounds):
                t, c, py_tokens = python_times(tok, pieces, args.iterations)
                py_all += t
                py_cpu += c
                r = swift_times(vllm, folder, args.text, mode == "chunks", args.iterations)
                sw_all.append(r["best_seconds"])
                sw_all.append(r["seconds"])
                sw_cpu.append(r["best_cpu_seconds"])
                sw_tokens = r["tokens"]
            entry = {
                "tokenizer": name, "kind": kind, "mode": mode,
                "python_best_s": min(py_all), "python_median_s": statistics.median(py_all),
                "swift_best_s": min(sw_all), "swift_median_s": statistics.median(sw_all),
                "python_mb_per_s": nbytes / min(py_all) / 1e6,
                "swift_mb_per_s": nbytes / min(sw_all) / 1e6,
                "python_best_cpu_s": min(py_cpu), "swift_best_cpu_s": min(sw_cpu),
                "python_cpu_mb_per_s": nbytes / min(py_cpu) / 1e6,
                "swift_cpu_mb_per_s": nbytes / min(sw_cpu) / 1e6,
                "python_tokens": py_tokens, "swift_tokens": sw_tokens,
            }
            entry["speedup"] = entry["python_best_s"] / entry["swift_best_s"]
            results["results"].append(entry)
            print(f"{name:16s} {mode:6s} python {entry['python_mb_per_s']:7.2f} MB/s  swift {entry['swift_mb_per_s']:7.2f} MB/s"
                  f"  x{entry['speedup']:.2f}  (CPU time: python {entry['python_cpu_mb_per_s']:.2f}, swift {entry['swift_cpu_mb_per_s']:.2f} MB/s)"
                  f"  tokens {py_tokens} / {sw_tokens}", flush=True)
    results["machine"]["loadavg_end"] = os.getloadavg()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
