#!/usr/bin/env python3
"""Make the random-weight mixture-of-experts fixtures (Mixtral, Qwen2-MoE, Qwen3-MoE) under
Tests/Fixtures/models/, with the folder layout and reference files of make_model_fixtures.py
(whose make_variant does the work), and Tests/Fixtures/moe/topk_ties.json: torch.topk's order
among equal values, which the routers follow.

Ties in the router: in every MoE layer two experts get the same router row, so that their
probabilities are equal for every token; where the pair straddles the top-k boundary only
torch.topk's tie order decides which one runs. reference.json records, per variant, how many
routed tokens (prompt + greedy continuation, last full forward) had a tie at the boundary.

Deterministic, CPU only. Needs torch, transformers, safetensors, numpy.
Usage:  python3 scripts/make_moe_fixtures.py [--only mixtral,qwen2moe]
"""

import argparse
import json
import os
import sys
import tempfile

import torch
from transformers import (
    MixtralConfig,
    MixtralForCausalLM,
    Qwen2MoeConfig,
    Qwen2MoeForCausalLM,
    Qwen3MoeConfig,
    Qwen3MoeForCausalLM,
)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_model_fixtures as base  # noqa: E402

# Experts whose router rows are made equal: (copied from, copied to).
TIED = (1, 3)


def routers(model):
    return [m for name, m in model.named_modules() if name.endswith(".gate") and hasattr(m, "top_k")]


def tie_router_rows(model):
    with torch.no_grad():
        for router in routers(model):
            router.weight[TIED[1]].copy_(router.weight[TIED[0]])


@torch.inference_mode()
def tie_statistics(model, ids):
    """Counts tokens whose k-th and (k+1)-th router probabilities are equal (tied experts on both
    sides of the boundary), and how often torch.topk then did not pick the lower index."""
    seen = []
    hooks = [r.register_forward_hook(lambda m, i, o: seen.append((m.top_k, o[0].float(), o[2]))) for r in routers(model)]
    model(torch.tensor([ids], dtype=torch.long))
    for h in hooks:
        h.remove()
    boundary, higher_index_won = 0, 0
    for k, logits, chosen in seen:
        probs = torch.softmax(logits, dim=-1)
        for t in range(probs.shape[0]):
            kth = probs[t, chosen[t, -1]]
            tied_out = [e for e in range(probs.shape[1]) if probs[t, e] == kth and e not in chosen[t].tolist()]
            if tied_out:
                boundary += 1
                higher_index_won += int(min(tied_out) < int(chosen[t, -1]))
    assert boundary > 0, "no router tie at the top-k boundary: the fixture would not test tie order"
    return {"router_ties": {"tied_experts": list(TIED), "routed_tokens_with_tie_at_topk_boundary": boundary,
                            "of_which_torch_picked_the_higher_index": higher_index_won}}


COMMON = dict(style="new", after_randomize=tie_router_rows, extra=tie_statistics)
VARIANTS = {
    "mixtral": dict(
        COMMON, cls=MixtralForCausalLM, config_cls=MixtralConfig, dtype=torch.float32, seed=11000,
        description="Mixtral shape: 5 experts, top-2 renormalized, experts 1 and 3 share a router row (ties); "
                    "GQA 6/2 (head_dim 6), expert intermediate 19, untied.",
        config=dict(vocab_size=301, hidden_size=36, num_attention_heads=6, num_key_value_heads=2, intermediate_size=19,
                    num_local_experts=5, num_experts_per_tok=2, rms_norm_eps=1e-5, sliding_window=None,
                    rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                    max_position_embeddings=32768, tie_word_embeddings=False)),
    "qwen2moe": dict(
        COMMON, cls=Qwen2MoeForCausalLM, config_cls=Qwen2MoeConfig, dtype=torch.float32, seed=12000,
        description="Qwen2-MoE shape: 4 layers, decoder_sparse_step 2 (layers 1 and 3 have experts, 0 and 2 a dense "
                    "MLP of 30), 7 experts top-3 without renormalization, shared expert of 21 with its sigmoid gate, "
                    "q/k/v bias, experts 1 and 3 tied, expert intermediate 17, untied.",
        config=dict(vocab_size=263, hidden_size=32, num_attention_heads=4, num_key_value_heads=2, intermediate_size=30,
                    moe_intermediate_size=17, shared_expert_intermediate_size=21, num_experts=7, num_experts_per_tok=3,
                    norm_topk_prob=False, decoder_sparse_step=2, mlp_only_layers=[], num_hidden_layers=4,
                    rms_norm_eps=1e-6, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                    use_sliding_window=False, max_position_embeddings=32768, tie_word_embeddings=False)),
    "qwen3moe": dict(
        COMMON, cls=Qwen3MoeForCausalLM, config_cls=Qwen3MoeConfig, dtype=torch.float32, seed=13000,
        description="Qwen3-MoE shape: 3 layers, mlp_only_layers [1] (a dense MLP of 40 there), 9 experts top-4 "
                    "renormalized (norm_topk_prob), q/k norm, head_dim 10 != 36/4, experts 1 and 3 tied, "
                    "expert intermediate 11, untied.",
        config=dict(vocab_size=257, hidden_size=36, head_dim=10, num_attention_heads=4, num_key_value_heads=2,
                    intermediate_size=40, moe_intermediate_size=11, num_experts=9, num_experts_per_tok=4,
                    norm_topk_prob=True, decoder_sparse_step=1, mlp_only_layers=[1], num_hidden_layers=3,
                    rms_norm_eps=1e-6, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                    use_sliding_window=False, max_position_embeddings=40960, tie_word_embeddings=False)),
}
VARIANTS["qwen3moe-bf16"] = dict(VARIANTS["qwen3moe"], dtype=torch.bfloat16, seed=14000,
                                 description="qwen3moe architecture with bfloat16 weights. " + VARIANTS["qwen3moe"]["description"])


def topk_ties():
    """torch.topk(largest, sorted) on vectors full of equal values, on both of its paths
    (nth_element + sort when k * 64 > n, partial_sort otherwise)."""
    g = torch.Generator().manual_seed(99)
    cases = []
    for n, k in [(5, 2), (8, 2), (8, 3), (9, 4), (16, 5), (40, 8), (60, 4), (128, 8), (64, 1), (130, 2), (256, 4)]:
        for levels in (2, 3, 5):
            for _ in range(4):
                values = torch.randint(0, levels, (n,), generator=g).float() / levels
                cases.append({"values": values.tolist(), "k": k, "indices": torch.topk(values, k).indices.tolist()})
    return {"torch_version": torch.__version__, "made_by": "scripts/make_moe_fixtures.py", "cases": cases}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures")
    ap.add_argument("--only", default="", help="comma-separated variant names")
    args = ap.parse_args()
    torch.set_num_threads(1)
    base.LOAD_ARGS["experts_implementation"] = "eager"  # transformers' reference loop over experts
    torch.use_deterministic_algorithms(True)
    os.makedirs(os.path.join(root, "moe"), exist_ok=True)
    with open(os.path.join(root, "moe", "topk_ties.json"), "w") as f:
        json.dump(topk_ties(), f, separators=(",", ":"))
    seeds = {}
    for name, spec in VARIANTS.items():
        if not args.only or name in args.only.split(","):
            base.make_variant(name, spec, os.path.join(root, "models"), seeds)


if __name__ == "__main__":
    main()
