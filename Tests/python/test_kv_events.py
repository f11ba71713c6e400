"""KV cache events as a router sees them: a pyzmq subscriber decodes the msgpack batches of a
`vllm serve` run with prefix sharing, preemption and reset_prefix_cache, recomputes every block
hash from token ids as vLLM's sha256_cbor does (cbor2 + hashlib, PYTHONHASHSEED), and checks
that the events account for the engine's block pool; the replay socket resends from a sequence."""
import hashlib
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

zmq = pytest.importorskip("zmq")
msgpack = pytest.importorskip("msgpack")
cbor2 = pytest.importorskip("cbor2")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("VLLM_BIN", os.path.join(ROOT, ".build", "debug", "vllm"))
SEED = "4242"


def sha256_cbor(value):
    return hashlib.sha256(cbor2.dumps(value, canonical=True)).digest()


def external(digest):
    return int.from_bytes(digest, "big") & ((1 << 64) - 1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served():
    folder = tempfile.mkdtemp(prefix="kv-events-")
    endpoint, replay = f"ipc://{folder}/events", f"ipc://{folder}/replay"
    port = free_port()
    config = {"enable_kv_cache_events": True, "endpoint": endpoint, "replay_endpoint": replay, "topic": "kv-events"}
    args = [BINARY, "serve", os.path.join(ROOT, "Models", "stories260K"), "--host", "127.0.0.1", "--port", str(port),
            "--kv-events-config", json.dumps(config), "--prefix-caching-hash-algo", "sha256_cbor",
            "--block-size", "16", "--num-gpu-blocks-override", "20", "--max-model-len", "256", "--max-num-seqs", "6",
            "--disable-log-requests", "--disable-log-stats"]
    env = dict(os.environ, PYTHONHASHSEED=SEED)
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(base + "/health", timeout=1)
            break
        except Exception:
            time.sleep(0.1)
    context = zmq.Context()
    subscriber = context.socket(zmq.SUB)
    subscriber.connect(endpoint)
    subscriber.setsockopt(zmq.SUBSCRIBE, b"kv-events")
    time.sleep(0.3)  # a SUB socket misses what is sent before it has joined
    yield base, subscriber, context, replay
    subscriber.close(0)
    process.terminate()
    process.wait(timeout=30)


def complete(base, prompt_ids, max_tokens=24):
    body = json.dumps({"model": os.path.join(ROOT, "Models", "stories260K"), "prompt": prompt_ids,
                       "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True}).encode()
    request = urllib.request.Request(base + "/v1/completions", data=body, headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(request, timeout=120).read())


def drain(subscriber, until_quiet=1.0):
    batches = []
    deadline = time.time() + until_quiet
    while time.time() < deadline:
        if subscriber.poll(100):
            topic, seq, payload = subscriber.recv_multipart()
            assert topic == b"kv-events"
            batches.append((int.from_bytes(seq, "big"), msgpack.unpackb(payload)))
            deadline = time.time() + until_quiet
    return batches


def test_events_match_the_block_pool_and_the_routers_hashes(served):
    base, subscriber, context, replay = served
    shared = [1] + [(7 * i) % 500 + 3 for i in range(47)]  # three full blocks shared by all
    prompts = [shared + [(11 * i + j) % 500 + 3 for j in range(20 + i)] for i in range(8)]
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda p: complete(base, p), prompts))
    metrics = urllib.request.urlopen(base + "/metrics").read().decode()
    assert urllib.request.urlopen(urllib.request.Request(base + "/reset_prefix_cache", method="POST")).status == 200
    batches = drain(subscriber)
    assert batches, "no events"
    sequences = [s for s, _ in batches]
    assert sequences == list(range(sequences[0], sequences[0] + len(sequences)))

    root = sha256_cbor(SEED)
    digests = {}  # external hash -> full digest, to chain children from
    cached = set()
    stored = removed = cleared = 0
    for _, (ts, events, rank) in batches:
        assert isinstance(ts, float) and rank == 0
        for event in events:
            kind = event["type"]
            if kind == "BlockStored":
                (value,) = event["block_hashes"]
                parent = event["parent_block_hash"]
                extra = event["extra_keys"][0]
                parent_digest = root if parent is None else digests[parent]
                digest = sha256_cbor((parent_digest, tuple(event["token_ids"]), tuple(extra) if extra else None))
                assert external(digest) == value, "a router computes the same hash from the token ids"
                assert len(event["token_ids"]) == event["block_size"] == 16 and event["medium"] == "GPU"
                digests[value] = digest
                assert value not in cached
                cached.add(value)
                stored += 1
            elif kind == "BlockRemoved":
                (value,) = event["block_hashes"]
                assert value in cached
                cached.remove(value)
                removed += 1
            else:
                assert kind == "AllBlocksCleared"
                cached.clear()
                cleared += 1
    assert stored > 20 and removed > 0 and cleared == 1
    assert not cached, "after reset_prefix_cache every block is accounted for"
    # The shared prefix's blocks were hashed once and reused (prefix-cache hits).
    assert external(sha256_cbor((root, tuple(shared[:16]), None))) in digests
    hits = [l for l in metrics.splitlines() if l.startswith("vllm:prefix_cache_hits_total")]
    assert float(hits[0].split()[-1]) > 0
    preemptions = [l for l in metrics.splitlines() if l.startswith("vllm:num_preemptions_total")]
    assert float(preemptions[0].split()[-1]) > 0, "20 blocks for 8 requests of ~90 tokens force preemption"

    # Replay from the first sequence: the same payloads, then the end marker.
    dealer = context.socket(zmq.DEALER)
    dealer.connect(replay)
    dealer.send_multipart([b"", sequences[0].to_bytes(8, "big")])
    replayed = []
    while True:
        assert dealer.poll(5000)
        _, seq, payload = dealer.recv_multipart()
        if int.from_bytes(seq, "big", signed=True) == -1:
            break
        replayed.append((int.from_bytes(seq, "big"), msgpack.unpackb(payload)))
    dealer.close(0)
    assert [s for s, _ in replayed] == sequences
    assert [b[1][1] for b in replayed] == [b[1][1] for b in batches]
