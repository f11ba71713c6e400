#!/usr/bin/env python3
"""The host's work per serving step for many constrained rows on the Llama-3 vocabulary, before and
after the device mask (`grammar-bench step`), for 64 and 256 rows with the JSON schema of
scripts/gpu/structured_serve.py; writes bench/results/cpu_structured_step_llama3.json.

    python3 scripts/bench_structured_step.py [GRAMMAR_BENCH] [TOKENIZER_DIR] [STEPS]
"""
import ast, json, os, platform, re, subprocess, sys, tempfile, time

binary = sys.argv[1] if len(sys.argv) > 1 else ".build/debug/grammar-bench"
tokenizer = sys.argv[2] if len(sys.argv) > 2 else os.path.expanduser("~/.cache/swift-vllm/llama3-tokenizer")
steps = sys.argv[3] if len(sys.argv) > 3 else "40"
source = open("scripts/gpu/structured_serve.py").read()
schema = next(ast.literal_eval(n.value) for n in ast.parse(source).body
              if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "SCHEMA")
lscpu = dict(line.split(":", 1) for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines() if ":" in line)
machine = {"platform": platform.platform(), "nproc": os.cpu_count(), "loadavg_start": os.getloadavg()}
machine.update({k: lscpu[k].strip() for k in ["Model name", "CPU(s)"] if k in lscpu})
runs = []
with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
    json.dump(schema, f)
for rows in ["64", "256"]:
    out = subprocess.run([binary, "step", tokenizer, f.name, rows, steps], capture_output=True, text=True, check=True).stdout
    print(out, end="")
    def grab(label):
        m = re.search(label + r".*median ([\d.]+) ms, p99 ([\d.]+) ms", out)
        return {"median_ms": float(m.group(1)), "p99_ms": float(m.group(2))}
    runs.append({"rows": int(rows), "steps": int(steps), "before_host_sampling": grab("before"),
                 "after_parallel_masks": grab("after")})
machine["loadavg_end"] = os.getloadavg()
result = {
    "machine": machine,
    "command": f"python3 scripts/bench_structured_step.py {binary} TOKENIZER_DIR {steps}",
    "what": "grammar-bench step: per serving step, the host's work for ROWS constrained rows on the Llama-3 "
            "vocabulary (128,256 ids), rows walking the order schema of structured_serve.py. before: each row in "
            "turn fills its mask, copies its logits row, masks it and takes the argmax (SamplingMath.sample, the "
            "old engine path for grammar rows; the device-to-host copy of the logits is not included). after: all "
            "masks filled in parallel (GrammarMatcher.fillNextTokenBitmasks) and packed into the one upload buffer.",
    "schema": schema,
    "runs": runs,
    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
}
with open("bench/results/cpu_structured_step_llama3.json", "w") as out:
    json.dump(result, out, indent=1)
