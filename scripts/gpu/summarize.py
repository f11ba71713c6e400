#!/usr/bin/env python3
"""Collects the raw outputs of run_gpu_checks.sh into one JSON object."""
import glob, json, os, sys

r = sys.argv[1]
out = {}
def read(p):
    try:
        return open(p).read()
    except OSError:
        return None
out["date"] = (read(f"{r}/date.txt") or "").strip()
out["nvidia_smi"] = (read(f"{r}/nvidia_smi.csv") or "").strip()
for p in sorted(glob.glob(f"{r}/kernel_check_*.out")):
    try:
        out[os.path.basename(p)[:-4]] = json.loads(read(p).strip().splitlines()[-1])
    except Exception as e:
        out[os.path.basename(p)[:-4]] = {"error": repr(e), "stderr": (read(p[:-4] + ".err") or "")[-800:]}
if os.path.exists(f"{r}/compare.jsonl"):
    out["compare"] = [json.loads(l) for l in open(f"{r}/compare.jsonl") if l.strip()]
# One JSON line per `bench forward` step (latency_*: the 8B and the other shapes; the spec mode).
for p in sorted(glob.glob(f"{r}/latency_*.out")) + sorted(glob.glob(f"{r}/spec_*.out")):
    try:
        out[os.path.basename(p)[:-4]] = json.loads(read(p).strip().splitlines()[-1])
    except Exception as e:
        out[os.path.basename(p)[:-4]] = {"error": repr(e), "stderr": (read(p[:-4] + ".err") or "")[-800:]}
for p in (
    sorted(glob.glob(f"{r}/startup_*.json"))
    + sorted(glob.glob(f"{r}/ours_throughput_*.json"))
    + sorted(glob.glob(f"{r}/throughput_*.json"))
    + sorted(glob.glob(f"{r}/gguf_*.json"))
    + sorted(glob.glob(f"{r}/structured_serve.json"))
):
    try:
        out[os.path.basename(p)[:-5]] = json.load(open(p))
    except Exception as e:
        out[os.path.basename(p)[:-5]] = {"error": repr(e)}
for p in sorted(glob.glob(f"{r}/hf_*.json")):
    if "greedy" in p:
        continue
    try:
        out[os.path.basename(p)[:-5]] = json.load(open(p))
    except Exception as e:
        out[os.path.basename(p)[:-5]] = {"error": repr(e)}
# speed_report.py's files, named as in bench/results/.
for p in sorted(glob.glob(f"{r}/gpu_*.json")):
    try:
        out[os.path.basename(p)[:-5]] = json.load(open(p))
    except Exception as e:
        out[os.path.basename(p)[:-5]] = {"error": repr(e)}
print(json.dumps(out, indent=1))
