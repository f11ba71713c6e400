#!/usr/bin/env python3
"""Writes the draft models of the speculative decoding tests, both with the built-in model's
vocabulary (512 tokens):

- Tests/Fixtures/speculative/draft-random-512: a one-layer Llama with random weights, whose
  proposals the target mostly rejects (numpy seed 260);
- Tests/Fixtures/speculative/stories260K-without-layer-2: the built-in model (Models/stories260K)
  without its middle layer, a related draft that the target accepts in part (about a quarter of
  greedy drafts on random prompts).

Deterministic; needs numpy and safetensors."""
import json
import os

import numpy as np
from safetensors.numpy import load_file, save_file

out = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "speculative", "draft-random-512")
os.makedirs(out, exist_ok=True)
vocab, hidden, heads, kv_heads, inter = 512, 32, 4, 2, 64
head_dim = hidden // heads
config = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": vocab, "hidden_size": hidden,
    "intermediate_size": inter, "num_hidden_layers": 1, "num_attention_heads": heads, "num_key_value_heads": kv_heads,
    "max_position_embeddings": 512, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
    "tie_word_embeddings": True, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32",
}
rng = np.random.default_rng(260)


def normal(*shape, std):
    return (rng.standard_normal(shape) * std).astype(np.float32)


p = "model.layers.0."
tensors = {
    "model.embed_tokens.weight": normal(vocab, hidden, std=1.0),
    p + "self_attn.q_proj.weight": normal(heads * head_dim, hidden, std=0.2),
    p + "self_attn.k_proj.weight": normal(kv_heads * head_dim, hidden, std=0.2),
    p + "self_attn.v_proj.weight": normal(kv_heads * head_dim, hidden, std=0.2),
    p + "self_attn.o_proj.weight": normal(hidden, heads * head_dim, std=0.2),
    p + "mlp.gate_proj.weight": normal(inter, hidden, std=0.2),
    p + "mlp.up_proj.weight": normal(inter, hidden, std=0.2),
    p + "mlp.down_proj.weight": normal(hidden, inter, std=0.2),
    p + "input_layernorm.weight": np.ones(hidden, np.float32),
    p + "post_attention_layernorm.weight": np.ones(hidden, np.float32),
    "model.norm.weight": np.full(hidden, 0.3, np.float32),
}
save_file(tensors, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
with open(os.path.join(out, "config.json"), "w") as f:
    json.dump(config, f, indent=2)
    f.write("\n")


# The built-in model without its middle layer: layers 3 and 4 become 2 and 3.
root = os.path.join(os.path.dirname(__file__), "..")
builtin = os.path.join(root, "Models", "stories260K")
out = os.path.join(root, "Tests", "Fixtures", "speculative", "stories260K-without-layer-2")
os.makedirs(out, exist_ok=True)
source = load_file(os.path.join(builtin, "model.safetensors"))
kept = {}
for name, tensor in source.items():
    if not name.startswith("model.layers."):
        kept[name] = tensor
        continue
    layer = int(name.split(".")[2])
    if layer != 2:
        kept[name.replace(f"model.layers.{layer}.", f"model.layers.{layer if layer < 2 else layer - 1}.")] = tensor
save_file(kept, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
with open(os.path.join(builtin, "config.json")) as f:
    config = json.load(f)
config["num_hidden_layers"] = 4
with open(os.path.join(out, "config.json"), "w") as f:
    json.dump(config, f, indent=2)
    f.write("\n")
