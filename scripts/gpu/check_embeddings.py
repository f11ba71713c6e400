#!/usr/bin/env python3
"""An embedding fixture (scripts/make_embedding_fixtures.py) served by `vllm serve` against its
committed sentence-transformers outputs: POST /v1/embeddings with the fixture's token-id inputs in
one request (the folder's own pooling, then `"normalize": false`), cosine similarity of each
embedding with `mean_normalized` and `mean` of reference.json. Prints one JSON line. Standard
library only.

    check_embeddings.py --binary B --model DIR --name NAME [--port P] [--extra-args ARGS...]
"""
import argparse, json, math, os, subprocess, tempfile, time, urllib.error, urllib.request
from serve_process import stop_server

ap = argparse.ArgumentParser()
ap.add_argument("--binary", required=True)
ap.add_argument("--model", required=True)
ap.add_argument("--name", required=True)
ap.add_argument("--port", type=int, default=8131)
ap.add_argument("--timeout", type=float, default=120)
ap.add_argument("--extra-args", nargs=argparse.REMAINDER, default=[], help="the rest of the line goes to `serve`")
a = ap.parse_args()

ref = json.load(open(os.path.join(a.model, "reference.json")))
cmd = [a.binary, "serve", a.model, "--host", "127.0.0.1", "--port", str(a.port)] + a.extra_args
url = f"http://127.0.0.1:{a.port}"
out = {"name": a.name, "command": cmd}


def post(body):
    req = urllib.request.Request(url + "/v1/embeddings", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=a.timeout) as r:
        return [d["embedding"] for d in sorted(json.load(r)["data"], key=lambda d: d["index"])]


def cosine(x, y):
    dot = sum(p * q for p, q in zip(x, y))
    return dot / (math.sqrt(sum(p * p for p in x)) * math.sqrt(sum(q * q for q in y)))


log = tempfile.TemporaryFile()
proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
try:
    start = time.monotonic()
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        if time.monotonic() - start > a.timeout:
            raise RuntimeError(f"no /health within {a.timeout} s")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            time.sleep(0.1)
    for label, body, key in [("default pooling", {}, "mean_normalized"), ("not normalized", {"normalize": False}, "mean")]:
        got = post(dict(body, input=ref["inputs"]))
        cosines = [cosine(g, r) for g, r in zip(got, ref[key])]
        out[label] = {"cosines": cosines, "min_cosine": min(cosines), "count": len(got), "expected_count": len(ref[key]),
                      "dimensions": len(got[0]) if got else 0}
    out["min_cosine"] = min(out[k]["min_cosine"] for k in ("default pooling", "not normalized"))
except Exception as e:  # a failed run of ours is a result, not a crash of the checks
    out["error"] = repr(e)
finally:
    stop_server(proc)
    log.seek(0)
    out["log_tail"] = log.read().decode(errors="replace")[-2000:]
print(json.dumps(out))
