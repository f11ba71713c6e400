#!/usr/bin/env python3
"""Make the random-weight Gemma 2, Gemma 3 (text) and Phi-3 fixtures under Tests/Fixtures/models/.

Same folder layout and seed rules as scripts/make_model_fixtures.py (whose helpers this reuses):
config.json, generation_config.json, model.safetensors, reference.json (prompt_ids, greedy_ids:
32 float32 argmax tokens on full forwards) and reference_logits.safetensors (float32 logits of
every prompt position). Every switch of the families is on in some variant:

  gemma2       attention and final logit soft-capping (small caps, so tanh bends), sliding window 7
               on alternate layers (the 40-token prompt is longer than the window),
               query_pre_attn_scalar != head_dim, GeGLU, the four norms per layer, untied lm_head
  gemma3       q/k norm, layer_types mixing sliding (window 7, rope_local_base_freq 1e4) and global
               layers (rope_theta 1e6 with linear scaling 8), query_pre_attn_scalar
  gemma3-bf16  gemma3 with bfloat16 weights
  phi3         fused qkv_proj / gate_up_proj, longrope (original_max_position_embeddings 32,
               max_position_embeddings 128: the prompt is past the switch, so transformers uses
               the long factors and the attention factor), partial_rotary_factor 0.75, GQA.
               reference_short.json also holds the logits of the first 24 prompt tokens, for which
               transformers uses the short factors.

Deterministic (fixed seeds, one thread), CPU only. Needs torch, transformers, safetensors.
Usage:  python3 scripts/make_family_fixtures.py [--only gemma2,phi3]
"""

import argparse
import json
import os
import shutil
import sys
import tempfile

import torch
import transformers
from transformers import (
    Gemma2Config, Gemma2ForCausalLM, Gemma3TextConfig, Gemma3ForCausalLM, GenerationConfig, Phi3Config,
    Phi3ForCausalLM,
)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_model_fixtures import (  # noqa: E402
    BOS, EOS, GREEDY_LEN, INIT_STD, MIN_DISTINCT, MIN_MARGIN, PROMPT_LEN, full_logits, greedy, load_f32,
    publish, randomize, upcast,
)

SHORT_PROMPT = 24
MAX_FOLDER_BYTES = 400 * 1024  # gemma2 carries an untied lm_head
ROTARY_PAIRS = 6  # phi3: head_dim 16 * 0.75 / 2

VARIANTS = {
    "gemma2": dict(
        cls=Gemma2ForCausalLM, config_cls=Gemma2Config, dtype=torch.float32, seed=9000, layers=3,
        description="Gemma 2 shape: 3 layers (sliding window 7, full, sliding), GQA 4/2 head_dim 12, "
                    "query_pre_attn_scalar 20, attn_logit_softcapping 3, final_logit_softcapping 10, untied lm_head.",
        config=dict(vocab_size=301, hidden_size=44, intermediate_size=70, num_attention_heads=4,
                    num_key_value_heads=2, head_dim=12, query_pre_attn_scalar=20, sliding_window=7,
                    attn_logit_softcapping=3.0, final_logit_softcapping=10.0, rms_norm_eps=1e-6,
                    max_position_embeddings=8192, tie_word_embeddings=False,
                    hidden_activation="gelu_pytorch_tanh")),
    "gemma3": dict(
        cls=Gemma3ForCausalLM, config_cls=Gemma3TextConfig, dtype=torch.float32, seed=10000, layers=4,
        description="Gemma 3 text shape: 4 layers (sliding, sliding, full, sliding; window 7), q/k norm, "
                    "GQA 6/2 head_dim 10, query_pre_attn_scalar 14, local rope 1e4, global rope 1e6 with "
                    "linear scaling 8, tied embeddings (with random weights, the scaled embedding of the last "
                    "token dominates tied logits, so greedy repeats tokens: at least 5 distinct are asked for).",
        config=dict(vocab_size=307, hidden_size=42, intermediate_size=66, num_attention_heads=6,
                    num_key_value_heads=2, head_dim=10, query_pre_attn_scalar=14, sliding_window=7,
                    layer_types=["sliding_attention", "sliding_attention", "full_attention", "sliding_attention"],
                    rope_parameters={"full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0},
                                     "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}},
                    rms_norm_eps=1e-6, max_position_embeddings=32768, tie_word_embeddings=True,
                    hidden_activation="gelu_pytorch_tanh"), min_distinct=5),
    "phi3": dict(
        cls=Phi3ForCausalLM, config_cls=Phi3Config, dtype=torch.float32, seed=11000, layers=2,
        description="Phi-3/Phi-4-mini shape: fused qkv_proj and gate_up_proj, GQA 4/2 head_dim 16, "
                    "partial_rotary_factor 0.75, longrope (original 32, max 128), untied.",
        config=dict(vocab_size=199, hidden_size=64, intermediate_size=50, num_attention_heads=4,
                    num_key_value_heads=2, rms_norm_eps=1e-5, partial_rotary_factor=0.75,
                    original_max_position_embeddings=32, max_position_embeddings=128,
                    rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0,
                                     "short_factor": [1.0, 1.1, 1.3, 1.6, 2.0, 2.5][:ROTARY_PAIRS],
                                     "long_factor": [1.0, 1.5, 2.5, 4.0, 6.0, 9.0][:ROTARY_PAIRS],
                                     "original_max_position_embeddings": 32, "partial_rotary_factor": 0.75},
                    tie_word_embeddings=False, pad_token_id=0)),
}
VARIANTS["gemma3-bf16"] = dict(VARIANTS["gemma3"], dtype=torch.bfloat16, seed=12000,
                               description="gemma3 with bfloat16 weights. " + VARIANTS["gemma3"]["description"])


def build(spec, seed, dtype=None):
    extra = {} if "pad_token_id" in spec["config"] else {"pad_token_id": None}
    cfg = spec["config_cls"](num_hidden_layers=spec["layers"], initializer_range=INIT_STD, bos_token_id=BOS,
                             eos_token_id=EOS, **extra, **spec["config"])
    torch.manual_seed(seed)
    cfg._attn_implementation = "eager"
    model = spec["cls"](cfg).eval()
    randomize(model, seed)
    if spec["cls"] is not Phi3ForCausalLM:
        # Gemma norms scale by (1 + weight): centre the random scales on 0 so they stay near 1.
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name.endswith("norm.weight"):
                    p.sub_(1.0)
    return model.to(dtype or spec["dtype"])


def make_variant(name, spec, out_root):
    dtype_name = {torch.float32: "float32", torch.bfloat16: "bfloat16"}[spec["dtype"]]
    vocab = spec["config"]["vocab_size"]
    pg = torch.Generator().manual_seed(12345 + sum(map(ord, name)))
    prompt = torch.randint(3, vocab, (PROMPT_LEN,), generator=pg).tolist()
    tmp = tempfile.mkdtemp(prefix=f"fixture-{name}-")
    try:
        seed = spec["seed"]
        for _ in range(200):
            model = build(spec, seed)
            f32 = upcast(build, spec, seed, model)
            g_ids, margin = greedy(f32, prompt, GREEDY_LEN)
            if margin >= MIN_MARGIN and EOS not in g_ids and len(set(g_ids)) >= spec.get("min_distinct", MIN_DISTINCT):
                break
            seed += 1
        else:
            raise RuntimeError(f"{name}: no acceptable seed found")
        model.save_pretrained(tmp, safe_serialization=True)
        GenerationConfig(bos_token_id=BOS, eos_token_id=EOS).save_pretrained(tmp)
        cfg = json.load(open(os.path.join(tmp, "config.json")))
        assert cfg.get("architectures") == [spec["cls"].__name__], cfg.get("architectures")

        ref_model = load_f32(tmp)
        logits = full_logits(ref_model, prompt)
        ref_greedy, ref_margin = greedy(ref_model, prompt, GREEDY_LEN)
        assert ref_greedy == g_ids, f"{name}: greedy of reloaded model differs from in-memory model"
        assert torch.equal(logits, full_logits(f32, prompt)), f"{name}: reload changed logits"
        ref = {
            "prompt_ids": prompt, "greedy_ids": ref_greedy, "dtype": dtype_name, "compute_dtype": "float32",
            "architecture": spec["cls"].__name__, "description": spec["description"],
            "transformers_version": transformers.__version__, "torch_version": torch.__version__,
            "weights_seed": seed, "min_greedy_top2_margin": ref_margin,
            "logits_file": "reference_logits.safetensors", "made_by": "scripts/make_family_fixtures.py",
        }
        tensors = {"logits": logits.contiguous()}
        if spec["cls"] is Phi3ForCausalLM:
            short = full_logits(ref_model, prompt[:SHORT_PROMPT])
            # The short factors really differ from the long ones at these positions.
            assert float((short - logits[:SHORT_PROMPT]).abs().max()) > 1e-3
            tensors["short_logits"] = short.contiguous()
            ref["short_logits"] = f"logits of the first {SHORT_PROMPT} prompt tokens alone (short factors)"
        size = publish(tmp, ref, tensors, os.path.join(out_root, name), MAX_FOLDER_BYTES)
        print(f"{name:12s} seed={seed} dtype={dtype_name:8s} size={size/1024:.0f}KB margin={ref_margin:.3f} "
              f"distinct_greedy={len(set(ref_greedy))}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "models"))
    ap.add_argument("--only", default="", help="comma-separated variant names")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    for name, spec in VARIANTS.items():
        if not args.only or name in args.only.split(","):
            make_variant(name, spec, args.out)
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
