#!/usr/bin/env python3
"""Check the model fixtures with an independent float64 NumPy forward (no torch, no transformers).

For every folder under Tests/Fixtures/models/ this reads config.json (both the old form with
top-level rope_theta/rope_scaling and the transformers-5 form with rope_parameters), loads the
safetensors weights (single file or shards via the index), runs the Llama-family forward in
float64 and checks: the prompt logits match reference_logits.safetensors to a relative error
(max |diff| / max |ref|) under 1e-4, and the 32 greedy tokens match reference.json.

It is also a compact statement of the math the Swift implementation must reproduce.
Needs only numpy and safetensors.  Usage: python3 scripts/check_model_fixtures.py [DIR ...]
"""

import glob
import json
import math
import os
import sys

import numpy as np
from safetensors.numpy import load_file


def load_weights(folder):
    """All tensors of the folder (one file, or the shards named by the index) as float64.
    Parses the safetensors layout directly (8-byte header length, JSON header, raw data),
    since safetensors.numpy cannot read BF16."""
    index = os.path.join(folder, "model.safetensors.index.json")
    files = sorted(set(json.load(open(index))["weight_map"].values())) if os.path.exists(index) else ["model.safetensors"]
    w = {}
    for f in files:
        raw = open(os.path.join(folder, f), "rb").read()
        n = int.from_bytes(raw[:8], "little")
        header = json.loads(raw[8:8 + n])
        for k, meta in header.items():
            if k == "__metadata__":
                continue
            a, b = meta["data_offsets"]
            buf = raw[8 + n + a: 8 + n + b]
            if meta["dtype"] == "BF16":  # bfloat16 = upper 16 bits of a float32
                arr = (np.frombuffer(buf, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
            else:
                arr = np.frombuffer(buf, dtype={"F32": np.float32, "F16": np.float16}[meta["dtype"]])
            w[k] = arr.reshape(meta["shape"]).astype(np.float64)
    return w


def rope_inv_freq(cfg, head_dim):
    if "rope_parameters" in cfg:
        rp = dict(cfg["rope_parameters"])
        theta = rp["rope_theta"]
    else:
        theta = cfg.get("rope_theta", 10000.0)
        rp = dict(cfg.get("rope_scaling") or {})
    rtype = rp.get("rope_type", rp.get("type", "default"))
    inv = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    if rtype == "llama3":
        factor, lo, hi = rp["factor"], rp["low_freq_factor"], rp["high_freq_factor"]
        old = rp["original_max_position_embeddings"]
        wavelen = 2 * math.pi / inv
        scaled = np.where(wavelen > old / lo, inv / factor, inv)
        smooth = (old / wavelen - lo) / (hi - lo)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < old / hi) & ~(wavelen > old / lo)
        inv = np.where(medium, smoothed, scaled)
    else:
        assert rtype == "default", rtype
    return inv


def rmsnorm(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def forward(cfg, w, ids):
    H, nh, nkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or H // nh
    eps = cfg["rms_norm_eps"]
    T = len(ids)
    inv = rope_inv_freq(cfg, hd)
    ang = np.arange(T)[:, None] * inv[None, :]                     # [T, hd/2]
    cos, sin = np.cos(np.concatenate([ang, ang], -1)), np.sin(np.concatenate([ang, ang], -1))

    def rope(x):  # x [heads, T, hd], rotate-half (non-interleaved) convention
        rot = np.concatenate([-x[..., hd // 2:], x[..., :hd // 2]], -1)
        return x * cos + rot * sin

    x = w["model.embed_tokens.weight"][ids]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rmsnorm(x, w[p + "input_layernorm.weight"], eps)
        proj = lambda n: h @ w[p + f"self_attn.{n}_proj.weight"].T + w.get(p + f"self_attn.{n}_proj.bias", 0.0)
        q = proj("q").reshape(T, nh, hd).transpose(1, 0, 2)
        k = proj("k").reshape(T, nkv, hd).transpose(1, 0, 2)
        v = proj("v").reshape(T, nkv, hd).transpose(1, 0, 2)
        if p + "self_attn.q_norm.weight" in w:  # Qwen3: per-head RMSNorm before rope
            q = rmsnorm(q, w[p + "self_attn.q_norm.weight"], eps)
            k = rmsnorm(k, w[p + "self_attn.k_norm.weight"], eps)
        q, k = rope(q), rope(k)
        rep = nh // nkv                                               # query head i uses kv head i // rep
        k, v = np.repeat(k, rep, 0), np.repeat(v, rep, 0)
        s = q @ k.transpose(0, 2, 1) / math.sqrt(hd) + mask
        s = np.exp(s - s.max(-1, keepdims=True))
        a = (s / s.sum(-1, keepdims=True)) @ v                        # [nh, T, hd]
        x = x + a.transpose(1, 0, 2).reshape(T, nh * hd) @ w[p + "self_attn.o_proj.weight"].T
        h = rmsnorm(x, w[p + "post_attention_layernorm.weight"], eps)
        g = h @ w[p + "mlp.gate_proj.weight"].T
        u = h @ w[p + "mlp.up_proj.weight"].T
        x = x + (g / (1 + np.exp(-g)) * u) @ w[p + "mlp.down_proj.weight"].T
    x = rmsnorm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else w["lm_head.weight"]
    return x @ head.T


def check(folder):
    cfg = json.load(open(os.path.join(folder, "config.json")))
    ref = json.load(open(os.path.join(folder, "reference.json")))
    ref_logits = load_file(os.path.join(folder, "reference_logits.safetensors"))["logits"].astype(np.float64)
    w = load_weights(folder)
    logits = forward(cfg, w, ref["prompt_ids"])
    rel = float(np.abs(logits - ref_logits).max() / np.abs(ref_logits).max())
    ids = list(ref["prompt_ids"])
    for _ in range(len(ref["greedy_ids"])):
        ids.append(int(np.argmax(forward(cfg, w, ids)[-1])))
    greedy_ok = ids[len(ref["prompt_ids"]):] == ref["greedy_ids"]
    ok = rel < 1e-4 and greedy_ok
    print(f"{'OK  ' if ok else 'FAIL'} {os.path.basename(folder):15s} {cfg['architectures'][0]:18s} "
          f"weights={ref['dtype']:8s} logits rel err={rel:.2e} greedy {'match' if greedy_ok else 'MISMATCH'}")
    return ok


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    folders = sys.argv[1:] or sorted(d for d in glob.glob(os.path.join(here, "..", "Tests", "Fixtures", "models", "*"))
                                     if os.path.isdir(d))
    results = [check(f) for f in folders]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
