#!/usr/bin/env python3
"""Start-up time of `vllm serve` as a user sees it: seconds from starting the process to the first
completion answered with 200 (a one-token prompt, max_tokens 1). Polls every 50 ms, then stops the
server with SIGINT and writes {seconds, ok, kernels_line, weights_line, phases_line, ...} as JSON
(the lines of the server's log that say how the kernels came, where the weights' time went and how
long each start-up phase took). Standard library only.

    startup_serve.py --binary B --model DIR [--cache-root DIR] [--port P] --out F [--extra-args ARGS...]
"""
import argparse, json, os, subprocess, tempfile, time, urllib.error, urllib.request
from serve_process import stop_server

ap = argparse.ArgumentParser()
ap.add_argument("--binary", required=True)
ap.add_argument("--model", required=True)
ap.add_argument("--cache-root", help="VLLM_CACHE_ROOT for the server (where the compiled kernels are kept)")
ap.add_argument("--port", type=int, default=8123)
ap.add_argument("--timeout", type=float, default=420, help="give up after this many seconds")
ap.add_argument("--out", help="JSON file (also printed)")
ap.add_argument("--extra-args", nargs=argparse.REMAINDER, default=[],
                help="the rest of the line goes to `serve`; --device cuda is added unless it names --device")
a = ap.parse_args()

cmd = [a.binary, "serve", a.model, "--host", "127.0.0.1", "--port", str(a.port)]
if not any(x == "--device" or x.startswith("--device=") for x in a.extra_args):
    cmd += ["--device", "cuda"]
cmd += a.extra_args
env = dict(os.environ)
if a.cache_root:
    env["VLLM_CACHE_ROOT"] = a.cache_root
url = f"http://127.0.0.1:{a.port}/v1/completions"
# Token ids, not text: the random-weight folders have no tokenizer. No "model": the server's one model.
body = json.dumps({"prompt": [1], "max_tokens": 1, "temperature": 0}).encode()

log = tempfile.TemporaryFile()
result = {"command": cmd, "cache_root": a.cache_root, "seconds": None, "ok": False, "attempts": 0,
          "first_status": None, "exit_code": None, "error": None}
start = time.monotonic()
proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
try:
    while True:
        now = time.monotonic()
        if proc.poll() is not None:
            result["error"] = f"the server exited with {proc.returncode} before answering"
            break
        if now - start > a.timeout:
            result["error"] = f"no 200 within {a.timeout} s"
            break
        result["attempts"] += 1
        req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        try:
            # A listening server may take a while on its first request; refused connections return at once.
            with urllib.request.urlopen(req, timeout=max(1.0, a.timeout - (now - start))) as r:
                status = r.status
                r.read()
        except urllib.error.HTTPError as e:
            status = e.code
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            status = None
        if status is not None and result["first_status"] is None:
            result["first_status"] = status
        if status == 200:
            result["seconds"] = time.monotonic() - start
            result["ok"] = True
            break
        time.sleep(0.05)
finally:
    stop_server(proc)
    result["exit_code"] = proc.returncode
    log.seek(0)
    text = log.read().decode(errors="replace")
    # The CUDA line says how the kernels came (compiled or from the cache) and the phases line where
    # the seconds went; the head and the tail of the log, how it started and ended.
    for key, marker in (("kernels_line", "CUDA: "), ("weights_line", "CUDA: weights "), ("phases_line", "Start-up phases: ")):
        result[key] = next((line[line.index(marker):] for line in text.splitlines() if marker in line), None)
    result["log_head"] = text[:3000]
    result["log_tail"] = text[-3000:]
    text = json.dumps(result, indent=1)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    print(text)
