#!/usr/bin/env python3
"""One benchmark result file in the form of bench/results/ (gpu_<machine>_<kind>_<workload>.json),
from the raw outputs of a run_gpu_checks.sh mode, against the limits measured in the same run.

latency: batch-1 decode (`vllm bench forward --json`) against the bandwidth floor: the 16-bit bytes
  of the parameters one token reads (active_params.py) over the measured copy bandwidth; with
  transformers' batch-1 `generate` (hf_bench.py) beside it.
throughput: offline throughput (`vllm bench throughput --output-json`) as FLOP/s on the active
  parameters over the measured bf16 matmul rate: 2 x the parameters in matrix products for every
  prompt and output token, plus 2 x the LM head for every output token (one logits row each);
  attention's own products (QK^T, PV) are left out. Transformers' run (hf_continuous.py) the same way.

Prints the file's JSON and writes it to --out-dir under the bench/results name.
"""
import argparse, json, os, re, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from active_params import count, load_config

WEIGHT_BYTES = 2  # bf16


def last_json_line(path):
    """The last line of a file that parses as a JSON object (`bench forward --json` prints one)."""
    for line in reversed(open(path).read().splitlines()):
        if line.strip().startswith("{"):
            return json.loads(line)
    raise ValueError(f"{path}: no JSON line")


def machine(smi_csv):
    """(short name for file names, the nvidia-smi line) from run_gpu_checks.sh's nvidia_smi.csv."""
    lines = [l for l in open(smi_csv).read().splitlines() if l.strip()]
    line = lines[1] if len(lines) > 1 else lines[0]
    found = re.search(r"\b([A-Z]\d{2,4})\b", line.split(",")[0])
    return (found.group(1).lower() if found else "gpu"), line


def safe(fn, *args):
    """A part of the report that may be missing (a step that failed or was skipped): its error instead."""
    try:
        return fn(*args)
    except Exception as e:
        return {"error": repr(e)}


def ours_latency(path, counts, bandwidth, target):
    r = last_json_line(path)
    ms = 1000 / r["decode_tokens_per_s"]
    floor_ms = counts["active_params"] * WEIGHT_BYTES / bandwidth * 1000
    # KV-cache reads at the mean context of the decode steps, for scale (not in the floor).
    context = r["input_len"] + r["output_len"] / 2
    return {
        "decode_tokens_per_s": r["decode_tokens_per_s"],
        "ms_per_token": ms,
        "prefill_tokens_per_s": r["prefill_tokens_per_s"],
        "floor_ms": floor_ms,
        "over_floor": ms / floor_ms,
        "target_over_floor": target,
        "target_met": ms / floor_ms <= target,
        "kv_cache_bytes_per_step_at_mean_context": context * counts["kv_bytes_per_context_token"],
        "raw": r,
    }


def hf_latency(path):
    run = next(g for g in json.load(open(path))["generate"] if g["batch_size"] == 1)
    return {"decode_tokens_per_s": run["decode_tokens_per_s"], "ms_per_token": 1000 / run["decode_tokens_per_s"], "raw": run}


def flops(counts, prompt_tokens, output_tokens):
    return 2 * counts["matmul_params_per_token"] * (prompt_tokens + output_tokens) + 2 * counts["lm_head_params"] * output_tokens


def ours_throughput(path, counts, matmul):
    r = json.load(open(path))
    output = round(r["output_tokens_per_second"] * r["elapsed_time"])
    prompt = r["total_num_tokens"] - output
    rate = flops(counts, prompt, output) / r["elapsed_time"]
    return {"requests": r["num_requests"], "prompt_tokens": prompt, "output_tokens": output, "elapsed_s": r["elapsed_time"],
            "total_tokens_per_s": r["tokens_per_second"], "output_tokens_per_s": r["output_tokens_per_second"],
            "active_flops_per_s": rate, "share_of_matmul_rate": rate / matmul, "raw": r}


def hf_throughput(path, counts, matmul):
    r = json.load(open(path))
    if not r.get("elapsed_seconds") or not r.get("requests_finished"):
        return {"error": r.get("failure") or "no request finished", "raw": r}
    rate = flops(counts, r["prompt_tokens"], r["output_tokens"]) / r["elapsed_seconds"]
    # status "failed" with figures: stopped from outside part-way (the unfinished batch's time counted).
    return {"status": r["status"], "requests_finished": r["requests_finished"], "requests_in_file": r["requests"], "api": r.get("api"),
            "elapsed_s": r["elapsed_seconds"], "total_tokens_per_s": r["total_tokens_per_s"],
            "output_tokens_per_s": r["output_tokens_per_s"], "active_flops_per_s": rate, "share_of_matmul_rate": rate / matmul,
            "raw": {k: v for k, v in r.items() if k != "traceback"}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["latency", "throughput"])
    ap.add_argument("--config", required=True, help="the model shape's folder")
    ap.add_argument("--workload", required=True, help="file name part, e.g. qwen3_30b_a3b")
    ap.add_argument("--note", required=True, help="what was run, in words")
    ap.add_argument("--run", required=True, help="the command that made the raw files")
    ap.add_argument("--limits", required=True, help="hf_bench.py --limits output")
    ap.add_argument("--smi", required=True, help="run_gpu_checks.sh's nvidia_smi.csv")
    ap.add_argument("--date", required=True, help="run_gpu_checks.sh's date.txt")
    ap.add_argument("--ours", required=True)
    ap.add_argument("--hf", help="transformers' figures: hf_bench.py output (latency) or hf_continuous.py output (throughput)")
    ap.add_argument("--target", type=float, help="latency: the target ratio to the floor")
    ap.add_argument("--out-dir", required=True)
    a = ap.parse_args()

    counts = count(load_config(a.config))
    limits = json.load(open(a.limits))
    short, smi = machine(a.smi)
    report = {"date": open(a.date).read().strip(), "machine": smi, "run": a.run, "note": a.note,
              "config": a.config, "active_params": counts["active_params"], "total_params": counts["total_params"],
              "active_params_by_part": counts["active"]}
    if a.kind == "latency":
        bw = limits["bandwidth_bytes_per_s"]
        report["copy_bandwidth_bytes_per_s"] = bw
        report["active_bytes_per_token"] = counts["active_params"] * WEIGHT_BYTES
        report["ours"] = ours = safe(ours_latency, a.ours, counts, bw, a.target)
        if a.hf:
            report["transformers"] = hf = safe(hf_latency, a.hf)
            if "error" not in hf and "error" not in ours:
                report["ours_over_transformers"] = ours["decode_tokens_per_s"] / hf["decode_tokens_per_s"]
    else:
        mm = limits["matmul_flops_per_s"]
        report["matmul_flops_per_s"] = mm
        report["flops_per_token"] = {"matmul_params": counts["matmul_params_per_token"], "lm_head_params_per_output_token": counts["lm_head_params"]}
        report["ours"] = ours = safe(ours_throughput, a.ours, counts, mm)
        if a.hf:
            report["transformers"] = hf = safe(hf_throughput, a.hf, counts, mm)
            if "error" not in hf and "error" not in ours:
                report["ours_over_transformers"] = ours["total_tokens_per_s"] / hf["total_tokens_per_s"]
    name = f"gpu_{short}_{a.kind}_{a.workload}.json"
    json.dump(report, open(os.path.join(a.out_dir, name), "w"), indent=1)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
