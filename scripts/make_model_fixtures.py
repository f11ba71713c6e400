#!/usr/bin/env python3
"""Make the random-weight Llama-family model fixtures under Tests/Fixtures/models/.

Each variant folder holds a small Hugging Face model (config.json, generation_config.json,
model.safetensors or shards + index) and the reference outputs of Hugging Face transformers:

  reference.json                 prompt_ids (40), greedy_ids (32, float32 argmax on full forwards,
                                 no EOS stopping), dtype, config_style, versions, ...
  reference_logits.safetensors   "logits": float32 [40, vocab], logits of every prompt position

References are always computed in float32 from the weights *as saved*: the model is reloaded
from the folder with `dtype=torch.float32` (bf16/f16 weights are upcast exactly), and the
reload is checked to give bit-identical logits to a low-precision load followed by `.float()`.

Deterministic (fixed seeds), CPU only. Needs torch, transformers, safetensors, numpy.
Usage:  python3 scripts/make_model_fixtures.py [--out Tests/Fixtures/models] [--only llama2,qwen3]
"""

import argparse
import json
import math
import os
import shutil
import sys
import tempfile

import torch
import transformers
from safetensors.torch import save_file
from transformers import (
    AutoModelForCausalLM,
    GenerationConfig,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

PROMPT_LEN = 40
GREEDY_LEN = 32
INIT_STD = 0.2          # large, so greedy choices are not near-ties
MIN_MARGIN = 0.02       # reject seeds whose greedy top-1/top-2 logit gap gets smaller than this
MIN_DISTINCT = 12      # ... or whose greedy continuation falls into a short loop
MAX_FOLDER_BYTES = 300 * 1024
BOS, EOS = 1, 2

LLAMA3_SCALING = {
    "rope_type": "llama3",
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192,
}

# name -> spec. "seed" is the first seed tried; the script walks forward from it until the
# greedy continuation has a comfortable margin and contains no EOS id. "same_as" reuses the
# weights (and so the seed) of another variant.
VARIANTS = {
    "llama2": dict(
        cls=LlamaForCausalLM, config_cls=LlamaConfig, dtype=torch.float32, style="new", seed=1000,
        description="Llama-2 shape: multi-head attention (5 heads of 8), untied embeddings, rope_theta 1e4.",
        config=dict(vocab_size=311, hidden_size=40, num_attention_heads=5, num_key_value_heads=5,
                    intermediate_size=86, rms_norm_eps=1e-5, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
                    max_position_embeddings=4096, tie_word_embeddings=False)),
    "llama3": dict(
        cls=LlamaForCausalLM, config_cls=LlamaConfig, dtype=torch.float32, style="old", seed=2000,
        eos=[EOS, 4],
        description="Llama-3 shape: GQA 6 query heads / 2 KV heads (head_dim 8), rope_theta 5e5, rope_scaling llama3 "
                    "(factor 8, low 1, high 4, original 8192), tied embeddings, eos_token_id a list.",
        config=dict(vocab_size=307, hidden_size=48, num_attention_heads=6, num_key_value_heads=2,
                    intermediate_size=110, rms_norm_eps=1e-5,
                    rope_parameters=dict(LLAMA3_SCALING, rope_theta=500000.0),
                    max_position_embeddings=131072, tie_word_embeddings=True)),
    "mistral": dict(
        cls=MistralForCausalLM, config_cls=MistralConfig, dtype=torch.float32, style="new", seed=3000,
        description="Mistral shape: GQA 8 query heads / 2 KV heads (4 per KV head, head_dim 6), untied, sliding_window null.",
        config=dict(vocab_size=293, hidden_size=48, num_attention_heads=8, num_key_value_heads=2,
                    intermediate_size=70, rms_norm_eps=1e-5, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                    sliding_window=None, max_position_embeddings=32768, tie_word_embeddings=False)),
    "qwen2": dict(
        cls=Qwen2ForCausalLM, config_cls=Qwen2Config, dtype=torch.float32, style="old", seed=4000,
        description="Qwen2 shape: bias on q/k/v, GQA 6/2 (head_dim 8), tied embeddings; old-style config with "
                    "sliding_window 32768 but use_sliding_window false (so full attention).",
        config=dict(vocab_size=311, hidden_size=48, num_attention_heads=6, num_key_value_heads=2,
                    intermediate_size=100, rms_norm_eps=1e-6, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                    max_position_embeddings=32768, tie_word_embeddings=True,
                    use_sliding_window=False, sliding_window=None, max_window_layers=2)),
    "qwen3": dict(
        cls=Qwen3ForCausalLM, config_cls=Qwen3Config, dtype=torch.float32, style="new", seed=5000,
        description="Qwen3 shape: explicit head_dim 12 != hidden/heads (40/4), GQA 4/2, q_norm/k_norm per head, untied.",
        config=dict(vocab_size=311, hidden_size=40, head_dim=12, num_attention_heads=4, num_key_value_heads=2,
                    intermediate_size=72, rms_norm_eps=1e-6, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                    max_position_embeddings=40960, tie_word_embeddings=False,
                    use_sliding_window=False, sliding_window=None)),
}
VARIANTS["llama3-bf16"] = dict(VARIANTS["llama3"], dtype=torch.bfloat16, seed=6000,
                               description="llama3 architecture with bfloat16 weights. " + VARIANTS["llama3"]["description"])
VARIANTS["qwen3-bf16"] = dict(VARIANTS["qwen3"], dtype=torch.bfloat16, style="new", seed=7000,
                              description="qwen3 architecture with bfloat16 weights. " + VARIANTS["qwen3"]["description"])
VARIANTS["qwen2-fp16"] = dict(VARIANTS["qwen2"], dtype=torch.float16, style="new", seed=8000,
                              description="qwen2 architecture with float16 weights, new-style config. "
                                          "Qwen2 shape: bias on q/k/v, GQA 6/2 (head_dim 8), tied embeddings.")
VARIANTS["llama2-sharded"] = dict(VARIANTS["llama2"], same_as="llama2", shard_size="100KB",
                                  description="Same weights as llama2, saved as 3 safetensors shards + "
                                              "model.safetensors.index.json. " + VARIANTS["llama2"]["description"])


def randomize(model, seed):
    """Overwrite every parameter with seeded values (independent of transformers' init order)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            if name.endswith("norm.weight"):  # RMSNorm scales (incl. q_norm/k_norm): around 1, not 1
                v = 1.0 + 0.25 * torch.randn(p.shape, generator=g)
            elif name.endswith(".bias"):
                v = 0.5 * torch.randn(p.shape, generator=g)
            else:
                v = INIT_STD * torch.randn(p.shape, generator=g)
            p.copy_(v)


@torch.inference_mode()
def full_logits(model, ids):
    return model(torch.tensor([ids], dtype=torch.long)).logits[0].float()


@torch.inference_mode()
def greedy(model, prompt, n):
    """Manual argmax loop on full forwards (no KV cache, no EOS stopping). Returns ids, min margin."""
    ids = list(prompt)
    out, margin = [], math.inf
    for _ in range(n):
        last = full_logits(model, ids)[-1]
        top = torch.topk(last, 2).values
        margin = min(margin, float(top[0] - top[1]))
        nxt = int(torch.argmax(last))
        out.append(nxt)
        ids.append(nxt)
    return out, margin


def build(spec, seed, dtype=None):
    cfg = spec["config_cls"](initializer_range=INIT_STD, bos_token_id=BOS, eos_token_id=spec.get("eos", EOS),
                             pad_token_id=None, **{"num_hidden_layers": 2, **spec["config"]})
    torch.manual_seed(seed)
    cfg._attn_implementation = "eager"
    if "experts_implementation" in LOAD_ARGS:
        cfg._experts_implementation = LOAD_ARGS["experts_implementation"]
    model = spec["cls"](cfg).eval()
    randomize(model, seed)
    if "after_randomize" in spec:  # e.g. tied router rows in the mixture-of-experts fixtures
        spec["after_randomize"](model)
    return model.to(dtype or spec["dtype"])


# Extra from_pretrained arguments a family's script sets (the MoE one asks for the eager experts loop).
LOAD_ARGS = {}


def load_f32(folder, attn="eager"):
    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation=attn, **LOAD_ARGS).eval()


def to_old_style(cfg):
    """Rewrite a transformers-5 config.json dict to the pre-5.0 form (top-level rope_theta/rope_scaling,
    torch_dtype, no layer_types)."""
    old = {}
    for k, v in cfg.items():
        if k == "rope_parameters":
            rp = dict(v)
            old["rope_theta"] = rp.pop("rope_theta")
            rtype = rp.pop("rope_type", "default")
            old["rope_scaling"] = None if rtype == "default" else dict(rp, rope_type=rtype)
        elif k == "dtype":
            old["torch_dtype"] = v
        elif k == "layer_types":
            continue
        else:
            old[k] = v
    if old.get("model_type") == "qwen2":
        old["sliding_window"] = 32768  # as in real Qwen2 files; ignored since use_sliding_window is false
    return dict(sorted(old.items()))


def compact_json(obj):
    """Indented JSON with lists of numbers kept on one line."""
    lines = ["{"]
    items = list(obj.items())
    for i, (k, v) in enumerate(items):
        if isinstance(v, dict):
            body = "{\n" + ",\n".join(f"    {json.dumps(kk)}: {json.dumps(vv)}" for kk, vv in v.items()) + "\n  }"
        else:
            body = json.dumps(v)
        lines.append(f"  {json.dumps(k)}: {body}" + ("," if i < len(items) - 1 else ""))
    lines.append("}")
    return "\n".join(lines) + "\n"


def folder_bytes(path):
    return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))


def upcast(build, spec, seed, model):
    """`model` in float32 with its weights rounded to the spec's dtype (the greedy reference of a
    low-precision fixture). Rebuilt and copied parameter by parameter: .to(bf16) would also round
    the rotary inv_freq buffer."""
    if spec["dtype"] == torch.float32:
        return model
    f32 = build(spec, seed, torch.float32)
    with torch.no_grad():
        for p in f32.parameters():
            p.copy_(p.to(spec["dtype"]).float())
    return f32


def publish(tmp, ref, tensors, dest, max_bytes):
    """Writes the reference (reference.json, reference_logits.safetensors) into the finished
    folder `tmp`, checks its size and puts it in place of `dest`. Returns the size in bytes."""
    with open(os.path.join(tmp, "reference.json"), "w") as f:
        f.write(compact_json(ref))
    save_file(tensors, os.path.join(tmp, "reference_logits.safetensors"))
    size = folder_bytes(tmp)
    assert size < max_bytes, f"{os.path.basename(dest)}: folder is {size} bytes"
    if os.path.exists(dest):
        shutil.rmtree(dest)
    shutil.copytree(tmp, dest)
    return size


def make_variant(name, spec, out_root, seeds_used):
    dtype_name = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}[spec["dtype"]]
    vocab = spec["config"]["vocab_size"]
    eos_ids = spec.get("eos", EOS)
    eos_set = set(eos_ids if isinstance(eos_ids, list) else [eos_ids])
    pg = torch.Generator().manual_seed(12345 + sum(map(ord, spec.get("same_as", name))))
    prompt = torch.randint(3, vocab, (PROMPT_LEN,), generator=pg).tolist()

    tmp = tempfile.mkdtemp(prefix=f"fixture-{name}-")
    try:
        seed = seeds_used[spec["same_as"]] if "same_as" in spec else spec["seed"]
        for attempt in range(200):
            model = build(spec, seed)
            f32 = upcast(build, spec, seed, model)
            g_ids, margin = greedy(f32, prompt, GREEDY_LEN)
            if "same_as" in spec or (margin >= MIN_MARGIN and not (set(g_ids) & eos_set)
                                      and len(set(g_ids)) >= MIN_DISTINCT):
                break
            seed += 1
        else:
            raise RuntimeError(f"{name}: no acceptable seed found")
        seeds_used[name] = seed

        save_kwargs = {"max_shard_size": spec["shard_size"]} if "shard_size" in spec else {}
        model.save_pretrained(tmp, safe_serialization=True, **save_kwargs)
        GenerationConfig(bos_token_id=BOS, eos_token_id=eos_ids).save_pretrained(tmp)

        cfg_path = os.path.join(tmp, "config.json")
        cfg = json.load(open(cfg_path))
        assert cfg.get("architectures") == [spec["cls"].__name__], cfg.get("architectures")
        assert cfg.get("dtype") == dtype_name, (cfg.get("dtype"), dtype_name)

        # Reference from the folder as saved (new-style config), float32 compute.
        ref_model = load_f32(tmp)
        logits = full_logits(ref_model, prompt)
        ref_greedy, ref_margin = greedy(ref_model, prompt, GREEDY_LEN)
        assert ref_greedy == g_ids, f"{name}: greedy of reloaded model differs from in-memory model"
        # Check against the in-memory (upcast) model and against low-precision load + .float().
        assert torch.equal(logits, full_logits(f32, prompt)), f"{name}: reload changed logits"
        if spec["dtype"] != torch.float32:
            lp = AutoModelForCausalLM.from_pretrained(tmp, dtype=spec["dtype"], attn_implementation="eager", **LOAD_ARGS).float().eval()
            assert torch.equal(logits, full_logits(lp, prompt)), f"{name}: low-precision load + .float() differs"
        # sdpa attention agrees closely (sanity check of the eager reference).
        sdpa = full_logits(load_f32(tmp, "sdpa"), prompt)
        sdpa_rel = float((sdpa - logits).abs().max() / logits.abs().max())
        assert sdpa_rel < 1e-5, f"{name}: sdpa vs eager rel err {sdpa_rel}"

        extra = {}
        if spec["style"] == "old":
            with open(cfg_path, "w") as f:
                json.dump(to_old_style(cfg), f, indent=2)
                f.write("\n")
            old_logits = full_logits(load_f32(tmp), prompt)
            assert torch.equal(old_logits, logits), f"{name}: old-style config changes logits"
        if spec["config"].get("rope_parameters", {}).get("rope_type") == "llama3":
            # Show that llama3 rope scaling matters at this head_dim and sequence length.
            rp = ref_model.model.rotary_emb
            inv_scaled = rp.inv_freq.clone()
            base = 500000.0
            hd = ref_model.config.head_dim
            inv_plain = 1.0 / (base ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
            changed = int((~torch.isclose(inv_scaled, inv_plain, rtol=1e-6)).sum())
            assert changed > 0, "llama3 scaling changed no inv_freq"
            plain_cfg = json.load(open(cfg_path))
            if "rope_parameters" in plain_cfg:
                plain_cfg["rope_parameters"] = {"rope_type": "default", "rope_theta": base}
            else:
                plain_cfg["rope_scaling"] = None
            ptmp = tempfile.mkdtemp(prefix="fixture-plain-")
            for f in os.listdir(tmp):
                shutil.copy(os.path.join(tmp, f), ptmp)
            json.dump(plain_cfg, open(os.path.join(ptmp, "config.json"), "w"))
            plain = full_logits(load_f32(ptmp), prompt)
            shutil.rmtree(ptmp)
            diff = float((plain[PROMPT_LEN // 2:] - logits[PROMPT_LEN // 2:]).abs().max() / logits.abs().max())
            extra["llama3_scaling"] = {
                "inv_freq_scaled": [float(x) for x in inv_scaled],
                "inv_freq_unscaled": [float(x) for x in inv_plain],
                "inv_freq_changed": changed,
                "max_rel_logit_change_without_scaling": diff,
            }
            assert diff > 1e-3, f"llama3 scaling effect too small: {diff}"

        ref = {
            "prompt_ids": prompt,
            "greedy_ids": ref_greedy,
            "dtype": dtype_name,
            "compute_dtype": "float32",
            "config_style": "old (top-level rope_theta/rope_scaling, torch_dtype)" if spec["style"] == "old"
                            else "new (transformers 5: rope_parameters, dtype, layer_types)",
            "architecture": spec["cls"].__name__,
            "description": spec["description"],
            "transformers_version": transformers.__version__,
            "torch_version": torch.__version__,
            "weights_seed": seed,
            "min_greedy_top2_margin": ref_margin,
            "greedy_includes_eos": False,
            "logits_file": "reference_logits.safetensors",
            "made_by": "scripts/make_model_fixtures.py",
        }
        if "extra" in spec:  # facts a family's script wants recorded (e.g. router ties)
            extra.update(spec["extra"](ref_model, prompt + ref_greedy))
        ref.update(extra)
        dest = os.path.join(out_root, name)
        size = publish(tmp, ref, {"logits": logits.contiguous()}, dest, MAX_FOLDER_BYTES)
        files = sorted(os.listdir(dest))
        print(f"{name:15s} seed={seed} dtype={dtype_name:8s} style={spec['style']} size={size/1024:.0f}KB "
              f"margin={ref_margin:.3f} distinct_greedy={len(set(ref_greedy))} files={files}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "models"))
    ap.add_argument("--only", default="", help="comma-separated variant names")
    args = ap.parse_args()
    torch.set_num_threads(1)  # deterministic reductions
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)
    names = [n for n in VARIANTS if not args.only or n in args.only.split(",")]
    seeds_used = {}
    for name in names:
        spec = VARIANTS[name]
        if "same_as" in spec and spec["same_as"] not in seeds_used:
            make_variant(spec["same_as"], VARIANTS[spec["same_as"]], tempfile.mkdtemp(), seeds_used)
        make_variant(name, spec, args.out, seeds_used)
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
