#!/usr/bin/env python3
"""Compares our logits / greedy tokens with transformers' for `run_gpu_checks.sh`; prints one JSON line."""
import argparse, json
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--name", required=True)
ap.add_argument("--vocab", type=int, required=True)
ap.add_argument("--ours", required=True)
ap.add_argument("--ref", required=True)
ap.add_argument("--ours-greedy")
ap.add_argument("--ref-greedy")
ap.add_argument("--ours-greedy-json", help="greedy ids as a JSON list of lists (instead of vllm generate output)")
a = ap.parse_args()

out = {"name": a.name}
try:
    x = np.fromfile(a.ours, dtype=np.float32).reshape(-1, a.vocab).astype(np.float64)
    y = np.fromfile(a.ref, dtype=np.float32).reshape(-1, a.vocab).astype(np.float64)
    out["rows"] = int(y.shape[0])
    if x.shape != y.shape:
        out["error"] = f"shape {x.shape} vs {y.shape}"
    else:
        out["rel_error"] = float(np.linalg.norm(x - y) / np.linalg.norm(y))
        out["max_abs_error_over_max_abs"] = float(np.abs(x - y).max() / np.abs(y).max())
        out["argmax_agreement"] = float((x.argmax(1) == y.argmax(1)).mean())
        out["nan"] = bool(np.isnan(x).any())
except Exception as e:  # a missing file is a failed run of ours
    out["error"] = repr(e)
if (a.ours_greedy or a.ours_greedy_json) and a.ref_greedy:
    try:
        if a.ours_greedy_json:
            ours = json.load(open(a.ours_greedy_json))
        else:
            ours = [json.loads(l)["outputs"][0]["token_ids"] for l in open(a.ours_greedy) if l.strip().startswith("{")]
        ref = json.load(open(a.ref_greedy))
        agree = []
        for o, r in zip(ours, ref):
            n = 0
            while n < min(len(o), len(r)) and o[n] == r[n]:
                n += 1
            agree.append(n)
        out["greedy_prefix_agreement"] = agree
        out["greedy_full_32_share"] = float(np.mean([n >= min(32, len(r)) for n, r in zip(agree, ref)])) if agree else 0.0
    except Exception as e:
        out["greedy_error"] = repr(e)
print(json.dumps(out))
