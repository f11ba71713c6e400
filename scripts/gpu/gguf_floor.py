#!/usr/bin/env python3
"""The bandwidth floor of a batch-1 decode step of a config.json shape in llama.cpp's Q4_K_M layout
(the types DummyGGUFWeights gives each linear layer: Q6_K for the output layer and for the v and
down projections of the layers llama.cpp's use_more_bits picks, Q4_K for the rest), against the
measured `bench forward` latencies, for `run_gpu_checks.sh gguf`. Bytes per step: every linear
layer's blocks, the norms, and the KV cache read at the mean context of the decode; the embedding
row is negligible. The floor is bytes / the copy bandwidth that `hf_bench.py --limits` measured.

    gguf_floor.py --config DIR/config.json --limits hf_limits.json --input-len 32 --output-len 128 LATENCY.out...
"""
import argparse, json

ap = argparse.ArgumentParser()
ap.add_argument("--config", required=True)
ap.add_argument("--limits", required=True)
ap.add_argument("--input-len", type=int, default=32)
ap.add_argument("--output-len", type=int, default=128)
ap.add_argument("latencies", nargs="*", help="`bench forward --json` outputs (the last line of each)")
a = ap.parse_args()

c = json.load(open(a.config))
h, inter, layers, vocab = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["vocab_size"]
heads, kv_heads = c["num_attention_heads"], c.get("num_key_value_heads", c["num_attention_heads"])
head_dim = c.get("head_dim") or h // heads
BLOCK = {"Q4_K": (256, 144), "Q6_K": (256, 210)}  # values, bytes (GGMLType)


def size(kind, rows, inputs):
    values, nbytes = BLOCK[kind]
    return rows * inputs // values * nbytes


def more_bits(i, n):
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


total = size("Q6_K", vocab, h)  # the output layer
for i in range(layers):
    wide = "Q6_K" if more_bits(i, layers) else "Q4_K"
    total += size("Q4_K", heads * head_dim, h) + size("Q4_K", kv_heads * head_dim, h) + size(wide, kv_heads * head_dim, h)
    total += size("Q4_K", h, heads * head_dim) + 2 * size("Q4_K", inter, h) + size(wide, h, inter)
    total += 2 * h * 2  # the two norms (bf16)
context = a.input_len + a.output_len / 2
kv = context * layers * 2 * kv_heads * head_dim * 2  # bf16 keys and values
limits = json.load(open(a.limits))
bandwidth = limits["bandwidth_bytes_per_s"]
out = {"bytes_per_step": total + kv, "weight_bytes": total, "kv_bytes_mean": kv, "bandwidth_bytes_per_s": bandwidth,
       "floor_ms": (total + kv) / bandwidth * 1e3}
for path in a.latencies:
    try:
        r = json.loads(open(path).read().strip().splitlines()[-1])
        ms = 1e3 / r["decode_tokens_per_s"]
        out[path.rsplit("/", 1)[-1]] = {"ms_per_token": ms, "over_floor": ms / out["floor_ms"]}
    except Exception as e:
        out[path.rsplit("/", 1)[-1]] = {"error": repr(e)}
print(json.dumps(out))
