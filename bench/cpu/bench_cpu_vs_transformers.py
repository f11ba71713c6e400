#!/usr/bin/env python3
"""CPU speed: swift-vllm against Hugging Face transformers, SmolLM2-135M shape, random weights.

1. Builds a random-weight LlamaForCausalLM in the shape of ../shared/data/configs/smollm2_135m.json
   (seeded; saved with save_pretrained as safetensors, float32 or --weights-dtype bfloat16) into
   --model-dir (default under /tmp; reused when it already holds the same model).
2. Measures transformers on the CPU (float32 compute, all cores, eval, inference_mode), for each
   batch size B:
     prefill tok/s = B*L / time of one forward over B x L tokens (logits of the last position only,
                     as generate and a serving engine compute them)
     decode  tok/s = B*(N-1) / (time of generate(N) - time of generate(1)); greedy, static batch,
                     min_new_tokens = max_new_tokens = N so EOS never stops it.
   One warm-up, then the median of --runs runs.
3. Runs the Swift binary on the same folder and shapes:
     <binary> bench forward --model DIR --batch-size B --input-len L --output-len N --json
   which prints one JSON line {"batch_size","input_len","output_len","prefill_tokens_per_s",
   "decode_tokens_per_s"}. Transformers and Swift alternate per batch size so both see similar
   machine load.
4. Writes bench/results/cpu_smollm2_135m[_bf16].json: both sets of numbers, swift/transformers
   ratios, versions, machine.

Usage:
  python3 bench/cpu/bench_cpu_vs_transformers.py [--binary .build/release/vllm] [--skip-swift]
      [--batch-sizes 1,16] [--input-len 128] [--output-len 64] [--weights-dtype float32|bfloat16]
      [--model-dir DIR] [--runs 3] [--out FILE]
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DEFAULT_CONFIG = os.path.abspath(os.path.join(REPO, "..", "shared", "data", "configs", "smollm2_135m.json"))
SEED = 1234

# Keys of the Hub config that LlamaConfig uses; everything else (mlc/transformers.js extras,
# is_llama_config, rope_interleaved, old version stamps) is dropped.
LLAMA_KEYS = [
    "attention_bias", "attention_dropout", "bos_token_id", "eos_token_id", "pad_token_id", "hidden_act",
    "hidden_size", "initializer_range", "intermediate_size", "max_position_embeddings", "mlp_bias",
    "num_attention_heads", "num_hidden_layers", "num_key_value_heads", "pretraining_tp", "rms_norm_eps",
    "rope_theta", "rope_scaling", "tie_word_embeddings", "vocab_size", "head_dim",
]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def machine_info():
    info = {"cpu_model": None, "lscpu_cpus": None, "os_cpu_count": os.cpu_count(),
            "platform": platform.platform(), "python": platform.python_version()}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            k, _, v = line.partition(":")
            if k.strip() == "Model name" and info["cpu_model"] is None:
                info["cpu_model"] = v.strip()
            elif k.strip() == "CPU(s)":
                info["lscpu_cpus"] = int(v.strip())
    except Exception as e:  # lscpu missing
        info["lscpu_error"] = str(e)
    try:
        info["nproc"] = int(subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip())
    except Exception:
        pass
    return info


def loadavg():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def build_model(config_path, model_dir, weights_dtype):
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    src = json.load(open(config_path))
    kept = {k: src[k] for k in LLAMA_KEYS if k in src}
    stamp = {"config": kept, "seed": SEED, "weights_dtype": weights_dtype}
    stamp_path = os.path.join(model_dir, "bench_model_stamp.json")
    if os.path.exists(stamp_path) and json.load(open(stamp_path)) == stamp and \
            os.path.exists(os.path.join(model_dir, "config.json")):
        log(f"reusing model in {model_dir}")
        return
    if os.path.exists(model_dir):
        shutil.rmtree(model_dir)
    os.makedirs(model_dir)
    log(f"building random-weight model ({weights_dtype}) in {model_dir}")
    cfg = LlamaConfig(**kept)
    torch.manual_seed(SEED)
    model = LlamaForCausalLM(cfg).eval()  # transformers' init with the file's initializer_range
    dt = {"float32": torch.float32, "bfloat16": torch.bfloat16}[weights_dtype]
    model.to(dt).save_pretrained(model_dir, safe_serialization=True)
    GenerationConfig(bos_token_id=cfg.bos_token_id, eos_token_id=cfg.eos_token_id,
                     pad_token_id=cfg.pad_token_id).save_pretrained(model_dir)
    saved = json.load(open(os.path.join(model_dir, "config.json")))
    assert saved["architectures"] == ["LlamaForCausalLM"], saved.get("architectures")
    for f in os.listdir(model_dir):  # save_pretrained may create 0600 files; the Swift binary must read them
        os.chmod(os.path.join(model_dir, f), 0o644)
    json.dump(stamp, open(stamp_path, "w"), indent=1)


def median_time(fn, runs, warmup, label=""):
    for _ in range(warmup):
        fn()
    times = []
    for i in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        log(f"    {label} run {i + 1}/{runs}: {times[-1]:.2f} s (load {loadavg()})")
    return statistics.median(times), times


class HFBench:
    def __init__(self, model_dir, threads):
        import torch
        import transformers
        from transformers import AutoModelForCausalLM
        self.torch = torch
        torch.set_num_threads(threads)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
        assert all(p.dtype == torch.float32 for p in self.model.parameters())
        self.info = {
            "torch_version": torch.__version__, "transformers_version": transformers.__version__,
            "torch_threads": torch.get_num_threads(), "compute_dtype": "float32",
            "attn_implementation": self.model.config._attn_implementation,
            "torch_mkldnn": torch.backends.mkldnn.is_available(),
        }

    def run(self, B, L, N, runs, warmup):
        torch = self.torch
        vocab = self.model.config.vocab_size
        g = torch.Generator().manual_seed(SEED + B)
        ids = torch.randint(3, vocab, (B, L), generator=g)
        mask = torch.ones_like(ids)
        m = self.model

        def prefill():
            with torch.inference_mode():
                m(input_ids=ids, attention_mask=mask, logits_to_keep=1)

        from transformers import LogitsProcessor, LogitsProcessorList

        class StepClock(LogitsProcessor):
            """Records when each step's logits are ready: the first call follows the prefill forward,
            the last follows the last decode forward, so last - first spans the N-1 decode steps."""
            def __init__(self):
                self.stamps = []

            def __call__(self, input_ids, scores):
                self.stamps.append(time.perf_counter())
                return scores

        inrun = []

        def gen(n):
            def f():
                clock = StepClock()
                with torch.inference_mode():
                    out = m.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=n,
                                     min_new_tokens=n, pad_token_id=m.config.pad_token_id or 0,
                                     logits_processor=LogitsProcessorList([clock]))
                assert out.shape == (B, L + n), out.shape
                if n > 1:
                    assert len(clock.stamps) == n, len(clock.stamps)
                    inrun.append(clock.stamps[-1] - clock.stamps[0])
            return f

        t_pre, t_pre_all = median_time(prefill, runs, warmup, "prefill")
        t_g1, t_g1_all = median_time(gen(1), runs, warmup, "generate 1")
        t_gn, t_gn_all = median_time(gen(N), runs, warmup, f"generate {N}")
        decode_t = t_gn - t_g1
        inrun = inrun[warmup:]
        t_inrun = statistics.median(inrun)
        return {
            "batch_size": B, "input_len": L, "output_len": N,
            "prefill_tokens_per_s": B * L / t_pre,
            "decode_tokens_per_s": B * (N - 1) / decode_t if decode_t > 0 else None,
            "prefill_s": t_pre, "generate_1_s": t_g1, "generate_n_s": t_gn, "decode_s": decode_t,
            # Cross-check, less sensitive to load changes between runs: decode time measured inside each
            # generate(N) run, from the first step's logits to the last (N-1 decode forwards).
            "decode_tokens_per_s_inrun": B * (N - 1) / t_inrun,
            "decode_inrun_s": t_inrun,
            "runs_s": {"prefill": t_pre_all, "generate_1": t_g1_all, "generate_n": t_gn_all, "decode_inrun": inrun},
        }


def run_swift(binary, model_dir, B, L, N, timeout):
    cmd = [binary, "bench", "forward", "--model", model_dir, "--batch-size", str(B),
           "--input-len", str(L), "--output-len", str(N), "--json"]
    rec = {"command": " ".join(cmd)}
    if os.sep not in binary and shutil.which(binary):  # a bare name on PATH
        binary = cmd[0] = shutil.which(binary)
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        rec["error"] = f"binary not found or not executable: {binary}"
        return rec
    try:
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        rec["wall_s"] = time.perf_counter() - t0
    except subprocess.TimeoutExpired:
        rec["error"] = f"timed out after {timeout}s"
        return rec
    if p.returncode != 0:
        rec["error"] = f"exit status {p.returncode}"
        rec["stderr_tail"] = p.stderr[-2000:]
        return rec
    parsed = None
    for line in reversed(p.stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                parsed = json.loads(line)
                break
            except json.JSONDecodeError:
                continue
    if parsed is None:
        rec["error"] = "no JSON line in stdout"
        rec["stdout_tail"] = p.stdout[-2000:]
        return rec
    missing = [k for k in ("prefill_tokens_per_s", "decode_tokens_per_s") if not isinstance(parsed.get(k), (int, float))]
    if missing:
        rec["error"] = f"JSON lacks numeric {missing}"
    for k, want in (("batch_size", B), ("input_len", L), ("output_len", N)):
        if k in parsed and parsed[k] != want:
            rec["warning"] = f"{k} is {parsed[k]}, asked {want}"
    rec.update(parsed)
    return rec


def ratio(a, b):
    return a / b if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b > 0 else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(REPO, ".build", "release", "vllm"))
    ap.add_argument("--skip-swift", action="store_true")
    ap.add_argument("--skip-transformers", action="store_true")
    ap.add_argument("--config", default=DEFAULT_CONFIG)
    ap.add_argument("--model-dir", default=None, help="default /tmp/swift-vllm-bench/smollm2_135m_random_<dtype>")
    ap.add_argument("--weights-dtype", choices=["float32", "bfloat16"], default="float32")
    ap.add_argument("--batch-sizes", default="1,16")
    ap.add_argument("--input-len", type=int, default=128)
    ap.add_argument("--output-len", type=int, default=64)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--swift-timeout", type=int, default=1800)
    ap.add_argument("--out", default=None, help="default bench/results/cpu_smollm2_135m[_bf16].json")
    args = ap.parse_args()
    if args.output_len < 2:
        ap.error("--output-len must be at least 2")

    batch_sizes = [int(x) for x in args.batch_sizes.split(",") if x.strip()]
    model_dir = os.path.abspath(args.model_dir or f"/tmp/swift-vllm-bench/smollm2_135m_random_{args.weights_dtype}")
    out_path = args.out or os.path.join(
        REPO, "bench", "results", "cpu_smollm2_135m" + ("_bf16" if args.weights_dtype == "bfloat16" else "") + ".json")

    build_model(args.config, model_dir, args.weights_dtype)
    hf = None if args.skip_transformers else HFBench(model_dir, args.threads)

    started = datetime.datetime.now(datetime.timezone.utc)
    result = {
        "benchmark": "cpu prefill/decode tokens per second, swift-vllm vs Hugging Face transformers",
        "model": "random weights, SmolLM2-135M shape (" + os.path.relpath(args.config, REPO) + ")",
        "model_dir": model_dir,
        "weights_dtype": args.weights_dtype,
        "compute_dtype": "float32",
        "seed": SEED,
        "date_utc": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine_info(),
        "loadavg_start": loadavg(),
        "method": {
            "prefill": "one forward over batch_size x input_len tokens (transformers: logits_to_keep=1); "
                       "tokens/s = B*L/time",
            "decode": "greedy generate of a static batch, min_new_tokens = max_new_tokens = output_len (EOS ignored); "
                      "decode time = time(generate output_len) - time(generate 1); tokens/s = B*(output_len-1)/decode time",
            "decode_inrun": "transformers only, cross-check: time from the first to the last step's logits inside "
                            "each generate(output_len) run (a LogitsProcessor stamps the time); same token count",
            "runs": args.runs, "warmup": args.warmup, "statistic": "median",
            "swift_command": "<binary> bench forward --model DIR --batch-size B --input-len L --output-len N --json",
        },
        "transformers": {"info": hf.info if hf else None, "results": []},
        "swift": {"binary": args.binary, "results": [], "skipped": args.skip_swift},
        "ratios_swift_over_transformers": [],
    }
    for B in batch_sizes:
        hf_r = None
        if hf:
            log(f"transformers B={B} L={args.input_len} N={args.output_len} ...")
            hf_r = hf.run(B, args.input_len, args.output_len, args.runs, args.warmup)
            log(f"  prefill {hf_r['prefill_tokens_per_s']:.1f} tok/s, decode {hf_r['decode_tokens_per_s'] or 0:.1f} tok/s "
                f"(in-run {hf_r['decode_tokens_per_s_inrun']:.1f})")
            result["transformers"]["results"].append(hf_r)
        sw_r = None
        if not args.skip_swift:
            log(f"swift B={B} ...")
            sw_r = run_swift(args.binary, model_dir, B, args.input_len, args.output_len, args.swift_timeout)
            log("  " + json.dumps({k: v for k, v in sw_r.items() if k != "stderr_tail"}))
            result["swift"]["results"].append(sw_r)
        if hf_r and sw_r:
            result["ratios_swift_over_transformers"].append({
                "batch_size": B,
                "prefill": ratio(sw_r.get("prefill_tokens_per_s"), hf_r["prefill_tokens_per_s"]),
                "decode": ratio(sw_r.get("decode_tokens_per_s"), hf_r["decode_tokens_per_s"]),
            "decode_vs_inrun": ratio(sw_r.get("decode_tokens_per_s"), hf_r["decode_tokens_per_s_inrun"]),
            })
    result["loadavg_end"] = loadavg()
    result["elapsed_s"] = (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds()

    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    log(f"wrote {out_path}")

    # Short table on stdout.
    print(f"{'B':>3} {'HF prefill':>11} {'HF decode':>10} {'Swift prefill':>14} {'Swift decode':>13} {'ratio pre':>9} {'ratio dec':>9}")
    hf_by = {r["batch_size"]: r for r in result["transformers"]["results"]}
    sw_by = {r.get("batch_size", bs): r for r, bs in zip(result["swift"]["results"], batch_sizes)}
    fmt = lambda x: f"{x:.1f}" if isinstance(x, (int, float)) else "-"
    for B in batch_sizes:
        h, s = hf_by.get(B, {}), sw_by.get(B, {})
        print(f"{B:>3} {fmt(h.get('prefill_tokens_per_s')):>11} {fmt(h.get('decode_tokens_per_s')):>10} "
              f"{fmt(s.get('prefill_tokens_per_s')):>14} {fmt(s.get('decode_tokens_per_s')):>13} "
              f"{fmt(ratio(s.get('prefill_tokens_per_s'), h.get('prefill_tokens_per_s'))):>9} "
              f"{fmt(ratio(s.get('decode_tokens_per_s'), h.get('decode_tokens_per_s'))):>9}")


if __name__ == "__main__":
    main()
