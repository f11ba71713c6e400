#!/usr/bin/env python3
"""Compares our logits / greedy tokens with transformers' for `run_gpu_checks.sh`; prints one JSON line."""
import argparse, json
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--name", required=True)
ap.add_argument("--vocab", type=int, required=True)
ap.add_argument("--ours", help="our logits (raw float32); without it only greedy tokens are compared")
ap.add_argument("--ref")
ap.add_argument("--ours-greedy")
ap.add_argument("--ref-greedy")
ap.add_argument("--ours-greedy-json", help="greedy ids as a JSON list of lists (instead of vllm generate output)")
a = ap.parse_args()

out = {"name": a.name}


def greedy_ids(path):
    """Token ids of a JSON list of lists, or of `vllm generate --json` output (one object a line)."""
    text = open(path).read()
    try:
        ids = json.loads(text)
        if isinstance(ids, list):
            return ids
    except ValueError:
        pass
    # One object a line (a single request's output is one line that also parses as a whole).
    return [json.loads(l)["outputs"][0]["token_ids"] for l in text.splitlines() if l.strip().startswith("{")]


try:
    if not a.ours:
        raise LookupError("no logits")
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
except LookupError:
    pass
except Exception as e:  # a missing file is a failed run of ours
    out["error"] = repr(e)
if (a.ours_greedy or a.ours_greedy_json) and a.ref_greedy:
    try:
        ours = greedy_ids(a.ours_greedy_json or a.ours_greedy)
        ref = greedy_ids(a.ref_greedy)
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
