"""Two `vllm serve` replicas behind vllm-router (PyPI) on loopback: both serve, and with the
router's cache-aware policy a repeated prompt goes back to the replica that holds its prefix,
which shows as prefix-cache hits in that replica's metrics."""
import concurrent.futures
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("VLLM_BIN", os.path.join(ROOT, ".build", "debug", "vllm"))
ROUTER = shutil.which("vllm-router")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url, timeout=1).status == 200:
                return
        except Exception:
            time.sleep(0.2)
    raise TimeoutError(url)


def metric(base, name):
    text = urllib.request.urlopen(base + "/metrics").read().decode()
    return sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith(name + "{"))


@pytest.mark.skipif(ROUTER is None, reason="vllm-router is not installed (pip install vllm-router)")
def test_cache_aware_routing_sends_repeats_to_the_replica_holding_the_prefix():
    ports = [free_port(), free_port()]
    replicas = [subprocess.Popen(
        [BINARY, "serve", os.path.join(ROOT, "Models", "stories260K"), "--host", "127.0.0.1", "--port", str(p),
         "--served-model-name", "stories", "--disable-log-requests", "--disable-log-stats"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for p in ports]
    router_port = free_port()
    router = None
    try:
        for p in ports:
            wait_ready(f"http://127.0.0.1:{p}/health")
        router = subprocess.Popen(
            # Any difference in load counts as imbalance, so concurrent first requests spread out.
            [ROUTER, "--host", "127.0.0.1", "--port", str(router_port), "--policy", "cache_aware",
             "--balance-abs-threshold", "0", "--balance-rel-threshold", "1.0",
             "--worker-urls", *[f"http://127.0.0.1:{p}" for p in ports]],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{router_port}"
        wait_ready(base + "/health", 60)
        # Prompts that share nothing, so the router's text tree spreads them over the replicas.
        words = ["apple", "river", "cloud", "tiger", "bread", "stone", "music", "green", "happy", "light", "ocean",
                 "paper", "quiet", "smile", "train", "water", "zebra", "honey", "lemon", "mouse", "night", "plant"]
        prompts = [" ".join(words[(i * 7 + j * (i + 3)) % len(words)] for j in range(40)) for i in range(6)]
        def complete(prompt):
            body = json.dumps({"model": "stories", "prompt": prompt, "max_tokens": 16, "temperature": 0}).encode()
            request = urllib.request.Request(base + "/v1/completions", data=body,
                                             headers={"Content-Type": "application/json"})
            assert json.loads(urllib.request.urlopen(request, timeout=60).read())["choices"][0]["text"]

        # First round at once (the router balances the load), then each prompt again, one at a time
        # (balanced load: the router follows its prefix tree).
        with concurrent.futures.ThreadPoolExecutor(len(prompts)) as pool:
            list(pool.map(complete, prompts))
        for prompt in prompts:
            complete(prompt)
        served = [metric(f"http://127.0.0.1:{p}", "vllm:request_success_total") for p in ports]
        assert all(s > 0 for s in served), f"both replicas serve: {served}"
        assert sum(served) == 12
        hits = sum(metric(f"http://127.0.0.1:{p}", "vllm:prefix_cache_hits_total") for p in ports)
        queries = sum(metric(f"http://127.0.0.1:{p}", "vllm:prefix_cache_queries_total") for p in ports)
        # Each repeat finds all its full blocks but the last position's on the replica that ran it.
        first_round = queries / 2
        assert hits >= 0.7 * first_round, f"hits {hits} of {queries} queried tokens"
    finally:
        for process in ([router] if router else []) + replicas:
            process.terminate()
        for process in ([router] if router else []) + replicas:
            process.wait(timeout=30)
