#!/usr/bin/env python3
"""Parameters of a model shape (config.json), all of them and those one token reads, for the
bandwidth floor of batch-1 decoding and the matmul share of throughput (run_gpu_checks.sh).

A decode step of one token reads every layer's attention projections and norms, the router and the
top-k experts of each mixture-of-experts layer (a shared expert where there is one), the final norm,
the LM head, and one embedding row; the other experts and the rest of the embedding table stay
unread. KV-cache reads are left out (reported apart by `speed_report.py`).

Usage: active_params.py CONFIG_DIR_OR_JSON [--check]: prints the counts as JSON; --check builds the
model on the meta device with transformers and compares the total with its parameter count.
"""
import argparse, json, os

# The families whose layers this file knows: a Llama-style decoder with these differences.
GEMMA = {"gemma2", "gemma3_text"}
QK_NORM = {"qwen3", "qwen3_moe", "gemma3_text"}
QKV_BIAS = {"qwen2", "qwen2_moe"}
KNOWN = {"llama", "mistral", "qwen2", "qwen3", "mixtral", "qwen2_moe", "qwen3_moe"} | GEMMA


def load_config(path):
    """config.json as a dict: a folder or the file itself."""
    return json.load(open(os.path.join(path, "config.json") if os.path.isdir(path) else path))


def experts_of(c):
    """(experts, per token, rows of one expert, shared-expert rows or 0, layers with experts), or
    None for a dense model, by transformers' rules for Mixtral, Qwen2-MoE and Qwen3-MoE."""
    kind, n = c["model_type"], c["num_hidden_layers"]
    if kind == "mixtral":
        return c["num_local_experts"], c["num_experts_per_tok"], c["intermediate_size"], 0, list(range(n))
    if kind in ("qwen2_moe", "qwen3_moe"):
        step, dense = c.get("decoder_sparse_step", 1), set(c.get("mlp_only_layers") or [])
        layers = [i for i in range(n) if i not in dense and (i + 1) % step == 0]
        shared = c.get("shared_expert_intermediate_size", 0) if kind == "qwen2_moe" else 0
        return c.get("num_experts", c.get("num_local_experts")), c["num_experts_per_tok"], c["moe_intermediate_size"], shared, layers
    return None


def count(c):
    """Per-part parameter counts: `active` (read for one token) and `total` (held in memory)."""
    kind = c.get("model_type")
    if kind not in KNOWN:
        raise SystemExit(f"active_params.py: model_type {kind!r} is not one of {sorted(KNOWN)}")
    h, n, v = c["hidden_size"], c["num_hidden_layers"], c["vocab_size"]
    heads = c["num_attention_heads"]
    kv = c.get("num_key_value_heads", heads)
    hd = c.get("head_dim") or h // heads
    q, k = heads * hd, kv * hd
    attention = h * q + 2 * h * k + q * h
    if kind in QKV_BIAS:  # q, k and v biases always
        attention += q + 2 * k
    elif c.get("attention_bias"):  # a bias on every projection
        attention += q + 2 * k + h
    if kind in QK_NORM:
        attention += 2 * hd
    norms = (4 if kind in GEMMA else 2) * h
    dense_mlp = 3 * h * c["intermediate_size"]
    moe = experts_of(c)
    act = {"attention": n * attention, "layer_norms": n * norms, "dense_mlp": 0, "router": 0, "experts": 0, "shared_expert": 0}
    tot = dict(act)
    for i in range(n):
        if moe is None or i not in moe[4]:
            act["dense_mlp"] += dense_mlp
            tot["dense_mlp"] += dense_mlp
            continue
        experts, top_k, rows, shared, _ = moe
        act["router"] += experts * h
        tot["router"] += experts * h
        act["experts"] += top_k * 3 * h * rows
        tot["experts"] += experts * 3 * h * rows
        if shared:  # the shared expert's SwiGLU and its one-row sigmoid gate
            act["shared_expert"] += 3 * h * shared + h
            tot["shared_expert"] += 3 * h * shared + h
    tied = c.get("tie_word_embeddings", kind in GEMMA)
    act.update(final_norm=h, lm_head=v * h, embedding_row=h)
    tot.update(final_norm=h, embedding=v * h, lm_head=0 if tied else v * h)
    out = {
        "model_type": kind,
        "active": act,
        "total": tot,
        "active_params": sum(act.values()),
        "total_params": sum(tot.values()),
        # Weights that take part in a matrix product for every token (the LM head only for tokens
        # whose logits are computed: the last of a prompt and each decoded one).
        "matmul_params_per_token": act["attention"] + act["dense_mlp"] + act["router"] + act["experts"] + act["shared_expert"],
        "lm_head_params": v * h,
        # KV-cache bytes per token of context in 16 bits, over all layers.
        "kv_bytes_per_context_token": n * 2 * k * 2,
    }
    if moe:
        out["experts"] = {"num_experts": moe[0], "per_token": moe[1], "rows": moe[2], "shared_rows": moe[3], "layers": len(moe[4])}
    return out


def check_with_transformers(path, counts):
    """transformers' own parameter count of the same config (meta device: no memory, no init)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    cfg = AutoConfig.from_pretrained(os.path.dirname(path) if path.endswith(".json") else path)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(cfg)
    theirs = sum(p.numel() for p in model.parameters())  # tied weights are one parameter
    return {"transformers_total_params": theirs, "total_matches": theirs == counts["total_params"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--check", action="store_true", help="compare the total with transformers' (meta device)")
    a = ap.parse_args()
    c = load_config(a.config)
    counts = count(c)
    if a.check:
        counts.update(check_with_transformers(a.config, counts))
    print(json.dumps(counts, indent=1))
    if a.check and not counts["total_matches"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
