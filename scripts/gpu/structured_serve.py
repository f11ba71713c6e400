#!/usr/bin/env python3
"""The structured-output serving benchmark of issue 15: one `vllm serve`, driven by our `vllm bench
serve`, with the same random prompts sent once plain and once with a JSON schema
(`response_format: json_schema`), alternating plain / schema for `--rounds` rounds so that both see
the same machine. Standard library only.

Method. Every request asks for exactly `--output-len` tokens: `ignore_eos` for the plain ones; for
the constrained ones the schema needs far more tokens than that (an order of 40 to 60 line items),
so the grammar cannot end the JSON (and so allow EOS) before `max_tokens` cuts it, whatever the
random weights prefer. Both runs therefore produce the same number of tokens from the same prompts
(`same_output_tokens` checks it), and output tokens/s and time to first token compare like with
like. Targets: throughput ratio (schema / plain, output tokens/s) >= 0.95, TTFT ratio <= 1.1.
A warm-up of each kind first compiles the kernels and the grammar (grammar compile time is
reported by `grammar-bench`, not here).

    structured_serve.py --binary B --model DIR --out F [--device cuda] [--num-prompts 256]
        [--input-len 256] [--output-len 256] [--rounds 2] [--extra-args ARGS...]
"""
import argparse, json, os, subprocess, sys, tempfile, time, urllib.error, urllib.request
from serve_process import stop_server

# A realistic order record: nested object, enums, bounded integers and numbers, bounded strings,
# booleans, and an array of records long enough that no output of --output-len tokens ends it.
SCHEMA = {
    "type": "object",
    "properties": {
        "order_id": {"type": "integer", "minimum": 1, "maximum": 999999},
        "status": {"enum": ["pending", "shipped", "delivered", "cancelled"]},
        "customer": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "maxLength": 24},
                "email": {"type": "string", "maxLength": 32},
                "vip": {"type": "boolean"},
            },
            "required": ["name", "email", "vip"],
            "additionalProperties": False,
        },
        "items": {
            "type": "array",
            "minItems": 40,
            "maxItems": 60,
            "items": {
                "type": "object",
                "properties": {
                    "sku": {"type": "string", "maxLength": 12},
                    "quantity": {"type": "integer", "minimum": 1, "maximum": 100},
                    "price": {"type": "number"},
                    "category": {"enum": ["book", "food", "tool", "toy"]},
                },
                "required": ["sku", "quantity", "price", "category"],
                "additionalProperties": False,
            },
        },
        "total": {"type": "number"},
    },
    "required": ["order_id", "status", "customer", "items", "total"],
    "additionalProperties": False,
}
RESPONSE_FORMAT = {"response_format": {"type": "json_schema", "json_schema": {"name": "order", "schema": SCHEMA}}}

ap = argparse.ArgumentParser()
ap.add_argument("--binary", required=True)
ap.add_argument("--model", required=True, help="a folder with config.json and tokenizer.json")
ap.add_argument("--device", default="cuda")
ap.add_argument("--port", type=int, default=8124)
ap.add_argument("--num-prompts", type=int, default=256)
ap.add_argument("--input-len", type=int, default=256)
ap.add_argument("--output-len", type=int, default=256)
ap.add_argument("--warmup-prompts", type=int, default=16)
ap.add_argument("--rounds", type=int, default=2)
ap.add_argument("--start-timeout", type=float, default=240)
ap.add_argument("--deadline", type=float, default=540, help="seconds for the whole run; rounds that would not fit are skipped")
ap.add_argument("--result-dir", default=".")
ap.add_argument("--out", required=True)
ap.add_argument("--extra-args", nargs=argparse.REMAINDER, default=[], help="the rest of the line goes to `serve`")
a = ap.parse_args()

serve = [a.binary, "serve", a.model, "--host", "127.0.0.1", "--port", str(a.port), "--device", a.device,
         "--load-format", "dummy", "--max-num-seqs", str(a.num_prompts),
         "--max-model-len", str(a.input_len + a.output_len + 64), "--disable-log-requests"] + a.extra_args
result = {"serve_command": serve, "method": __doc__.split("Method. ")[1].split("\n\n")[0].replace("\n", " "),
          "schema": SCHEMA, "runs": [], "error": None}


def wait_ready(proc):
    """Polls one one-token completion until it answers 200."""
    body = json.dumps({"prompt": [1, 2, 3], "max_tokens": 1}).encode()
    start = time.monotonic()
    while time.monotonic() - start < a.start_timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before answering")
        req = urllib.request.Request(f"http://127.0.0.1:{a.port}/v1/completions", data=body,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                if r.status == 200:
                    return time.monotonic() - start
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"no answer within {a.start_timeout} s")


T0 = time.monotonic()


def save():
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)


def bench(name, prompts, constrained):
    """One `vllm bench serve` run; returns its saved result."""
    cmd = [a.binary, "bench", "serve", "--backend", "openai", "--port", str(a.port), "--tokenizer", a.model,
           "--num-prompts", str(prompts), "--max-concurrency", str(prompts), "--random-input-len", str(a.input_len),
           "--random-output-len", str(a.output_len), "--ignore-eos", "--seed", "0", "--save-result",
           "--result-dir", a.result_dir, "--result-filename", f"structured_{name}.json", "--disable-tqdm"]
    if constrained:
        cmd += ["--extra-body", json.dumps(RESPONSE_FORMAT)]
    started = time.monotonic()
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=max(10, a.deadline - (time.monotonic() - T0)))
    print(run.stdout[-2500:], run.stderr[-1500:], sep="\n", flush=True)
    if run.returncode != 0:
        raise RuntimeError(f"bench {name} exited with {run.returncode}: {run.stderr[-800:]}")
    saved = json.load(open(os.path.join(a.result_dir, f"structured_{name}.json")))
    keep = ["completed", "failed", "total_output_tokens", "output_throughput", "mean_ttft_ms", "median_ttft_ms",
            "p99_ttft_ms", "mean_tpot_ms", "median_tpot_ms", "mean_itl_ms", "duration", "errors"]
    entry = {"name": name, "constrained": constrained, "wall_s": time.monotonic() - started}
    entry.update({k: saved.get(k) for k in keep})
    return entry


def ratio(runs, key):
    schema = [r[key] for r in runs if r["constrained"]]
    plain = [r[key] for r in runs if not r["constrained"]]
    mean = lambda v: sum(v) / len(v)
    return mean(schema) / mean(plain) if schema and plain and mean(plain) else None


log = tempfile.TemporaryFile()
proc = subprocess.Popen(serve, stdout=log, stderr=subprocess.STDOUT)
try:
    result["ready_s"] = wait_ready(proc)
    bench("warmup_plain", a.warmup_prompts, False)
    bench("warmup_schema", a.warmup_prompts, True)
    for round in range(1, a.rounds + 1):
        # A round is a plain run and a schema run; start one only if it fits what is left.
        longest = max([r["wall_s"] for r in result["runs"]] or [0])
        if round > 1 and time.monotonic() - T0 + 2.2 * longest > a.deadline:
            result["skipped_rounds"] = a.rounds - round + 1
            break
        for constrained in (False, True):
            result["runs"].append(bench(f"{'schema' if constrained else 'plain'}_{round}", a.num_prompts, constrained))
            save()
    runs = result["runs"]
    result["throughput_ratio"] = ratio(runs, "output_throughput")
    result["mean_ttft_ratio"] = ratio(runs, "mean_ttft_ms")
    result["median_ttft_ratio"] = ratio(runs, "median_ttft_ms")
    result["same_output_tokens"] = len({r["total_output_tokens"] for r in runs}) == 1
    result["all_completed"] = all(r["failed"] == 0 and r["completed"] == a.num_prompts for r in runs)
    result["targets_met"] = (result["throughput_ratio"] or 0) >= 0.95 and (result["mean_ttft_ratio"] or 99) <= 1.1
except Exception as e:
    result["error"] = repr(e)
finally:
    stop_server(proc)
    log.seek(0)
    text = log.read().decode(errors="replace")
    result["server_log_head"] = text[:2000]
    result["server_log_tail"] = text[-3000:]
    save()
    print(json.dumps({k: v for k, v in result.items() if not k.startswith("server_log") and k != "schema"}, indent=1))
sys.exit(0 if result["error"] is None else 1)
