#!/usr/bin/env python3
"""Writes the EAGLE-3 fixtures of the speculative decoding tests, for the built-in model
(Models/stories260K: hidden 64, 5 layers, vocabulary 512):

- Tests/Fixtures/speculative/eagle3-random-512: an EAGLE-3 head with random weights (torch seed
  3), laid out as the EAGLE repository publishes heads (config.json `LlamaForCausalLMEagle3`,
  `midlayer.*`, `fc`, `norm`, `lm_head` over a draft vocabulary of 256 tokens, `d2t`, `t2d`, no
  embeddings: the target's are used). It reads the target's layers 0, 2 and 4
  (`eagle_aux_hidden_state_layer_ids`).
- Tests/Fixtures/speculative/eagle3-reference.safetensors: for one prompt, the target's
  auxiliary hidden states (transformers' `hidden_states[i]`, the input of layer i), and the head's
  logits and pre-norm outputs computed by `Eagle3Reference` below, a float64 PyTorch rendering of
  the published head (EAGLE-3 paper; vLLM's llama_eagle3.py): a first pass over the prompt's
  positions from the target's states, then one pass at the next position from the head's own
  output.

Deterministic; needs torch, transformers and safetensors. With `--target-config CONFIG --out DIR
[--dtype bfloat16] [--draft-vocab 32000]` it writes instead a random head at another target's
shapes (scripts/gpu/check_eagle3.sh), reading vLLM's default layers."""
import argparse
import json
import os
import sys

import torch
from safetensors.torch import load_file, save_file
from transformers import LlamaForCausalLM

root = os.path.join(os.path.dirname(__file__), "..")
target_dir = os.path.join(root, "Models", "stories260K")
out = os.path.join(root, "Tests", "Fixtures", "speculative", "eagle3-random-512")

vocab, hidden, heads, kv_heads, inter, draft_vocab = 512, 64, 4, 2, 128, 256
head_dim = hidden // heads
aux_layers = [0, 2, 4]
eps, theta = 1e-5, 10000.0


def head_config(target, draft_vocab, heads, kv_heads, inter, aux_layers, dtype):
    """config.json of a one-layer head for a target of config `target` (a dict)."""
    config = {
        "architectures": ["LlamaForCausalLMEagle3"], "model_type": "llama", "vocab_size": target["vocab_size"],
        "draft_vocab_size": draft_vocab, "hidden_size": target["hidden_size"], "intermediate_size": inter,
        "num_hidden_layers": 1, "num_attention_heads": heads, "num_key_value_heads": kv_heads,
        "max_position_embeddings": target.get("max_position_embeddings", 2048),
        "rms_norm_eps": target.get("rms_norm_eps", 1e-6), "rope_theta": target.get("rope_theta", 10000.0),
        "hidden_act": "silu", "tie_word_embeddings": False, "bos_token_id": target.get("bos_token_id"),
        "eos_token_id": target.get("eos_token_id"), "torch_dtype": dtype,
    }
    if aux_layers is not None:
        config["eagle_config"] = {"eagle_aux_hidden_state_layer_ids": aux_layers, "use_aux_hidden_state": True}
    return config


def head_tensors(config):
    """Random weights of the head `config` in the EAGLE repository's layout (torch's generator as
    seeded by the caller). The draft vocabulary: the first three target ids, then others in
    increasing order; d2t holds target id minus draft id, t2d marks the target ids drafted."""
    vocab, draft_vocab, hidden = config["vocab_size"], config["draft_vocab_size"], config["hidden_size"]
    heads, kv_heads, inter = config["num_attention_heads"], config["num_key_value_heads"], config["intermediate_size"]
    head_dim = hidden // heads

    def normal(*shape, std):
        return (torch.randn(*shape, dtype=torch.float64) * std).float()

    kept = torch.cat([torch.arange(3), torch.sort(torch.randperm(vocab - 3)[: draft_vocab - 3] + 3).values])
    t2d = torch.zeros(vocab, dtype=torch.bool)
    t2d[kept] = True
    p = "midlayer."
    return {
        "fc.weight": normal(hidden, 3 * hidden, std=0.1),
        p + "input_layernorm.weight": 1 + normal(hidden, std=0.1),
        p + "hidden_norm.weight": 1 + normal(hidden, std=0.1),
        p + "self_attn.q_proj.weight": normal(heads * head_dim, 2 * hidden, std=0.15),
        p + "self_attn.k_proj.weight": normal(kv_heads * head_dim, 2 * hidden, std=0.15),
        p + "self_attn.v_proj.weight": normal(kv_heads * head_dim, 2 * hidden, std=0.15),
        p + "self_attn.o_proj.weight": normal(hidden, heads * head_dim, std=0.15),
        p + "mlp.gate_proj.weight": normal(inter, hidden, std=0.15),
        p + "mlp.up_proj.weight": normal(inter, hidden, std=0.15),
        p + "mlp.down_proj.weight": normal(hidden, inter, std=0.15),
        p + "post_attention_layernorm.weight": 1 + normal(hidden, std=0.1),
        "norm.weight": 1 + normal(hidden, std=0.1),
        "lm_head.weight": normal(draft_vocab, hidden, std=0.3),
        "d2t": (kept - torch.arange(draft_vocab)).to(torch.int64),
        "t2d": t2d,
    }


def write_head(folder, config, tensors):
    os.makedirs(folder, exist_ok=True)
    save_file(tensors, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")


if len(sys.argv) > 1:
    # A head for another target (the GPU checks): --target-config CONFIG --out DIR [--dtype bfloat16].
    parser = argparse.ArgumentParser()
    parser.add_argument("--target-config", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--draft-vocab", type=int, default=32000)
    args = parser.parse_args()
    with open(args.target_config) as f:
        target = json.load(f)
    torch.manual_seed(3)
    config = head_config(
        target, min(args.draft_vocab, target["vocab_size"]), target["num_attention_heads"],
        target.get("num_key_value_heads", target["num_attention_heads"]), target["intermediate_size"], None, args.dtype)
    tensors = head_tensors(config)
    dtype = getattr(torch, args.dtype)
    write_head(args.out, config, {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()})
    sys.exit(0)

torch.manual_seed(3)
with open(os.path.join(target_dir, "config.json")) as f:
    config = head_config(json.load(f), draft_vocab, heads, kv_heads, inter, aux_layers, "float32")
tensors = head_tensors(config)
write_head(out, config, tensors)
p = "midlayer."


class Eagle3Reference:
    """The published EAGLE-3 head in float64, written from its description: position p reads the
    embedding of token p + 1 and a hidden state; attention over concat(input_layernorm(embeds),
    hidden_norm(hidden)) with rotary positions; the residual stream starts from the hidden state;
    SwiGLU MLP; final norm; lm_head over the draft vocabulary."""

    def __init__(self, weights, embeddings):
        self.w = {k: v.double() for k, v in weights.items() if v.dtype != torch.bool}
        self.embeddings = embeddings.double()
        self.keys, self.values = [], []  # the cache: one entry per position, in order

    @staticmethod
    def norm(x, weight):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight

    @staticmethod
    def rotate(x, positions):
        inv = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
        angles = positions[:, None].double() * inv[None, :]
        cos, sin = torch.cat([angles.cos()] * 2, -1)[:, None, :], torch.cat([angles.sin()] * 2, -1)[:, None, :]
        half = x.shape[-1] // 2
        rotated = torch.cat([-x[..., half:], x[..., :half]], -1)
        return x * cos + rotated * sin

    def forward(self, tokens, positions, hidden, from_target):
        w, n = self.w, len(tokens)
        residual = hidden @ w["fc.weight"].T if from_target else hidden
        embeds = self.norm(self.embeddings[tokens], w[p + "input_layernorm.weight"])
        x = torch.cat([embeds, self.norm(residual, w[p + "hidden_norm.weight"])], -1)
        q = (x @ w[p + "self_attn.q_proj.weight"].T).view(n, heads, head_dim)
        k = (x @ w[p + "self_attn.k_proj.weight"].T).view(n, kv_heads, head_dim)
        v = (x @ w[p + "self_attn.v_proj.weight"].T).view(n, kv_heads, head_dim)
        q, k = self.rotate(q, positions), self.rotate(k, positions)
        self.keys.append(k)
        self.values.append(v)
        keys, values = torch.cat(self.keys), torch.cat(self.values)
        group = heads // kv_heads
        keys, values = keys.repeat_interleave(group, 1), values.repeat_interleave(group, 1)
        scores = torch.einsum("qhd,khd->hqk", q, keys) / head_dim**0.5
        mask = positions[:, None] < torch.arange(len(keys))[None, :]
        scores = scores.masked_fill(mask[None], float("-inf"))
        attention = torch.einsum("hqk,khd->qhd", scores.softmax(-1), values).reshape(n, heads * head_dim)
        residual = residual + attention @ w[p + "self_attn.o_proj.weight"].T
        y = self.norm(residual, w[p + "post_attention_layernorm.weight"])
        gate, up = y @ w[p + "mlp.gate_proj.weight"].T, y @ w[p + "mlp.up_proj.weight"].T
        residual = residual + (torch.nn.functional.silu(gate) * up) @ w[p + "mlp.down_proj.weight"].T
        return self.norm(residual, w["norm.weight"]) @ w["lm_head.weight"].T, residual


target = LlamaForCausalLM.from_pretrained(target_dir, torch_dtype=torch.float64).eval()
prompt = torch.tensor([1, 403, 22, 87, 301, 5, 190, 44, 260, 7, 311, 98, 150])
with torch.no_grad():
    states = target(prompt[None], output_hidden_states=True).hidden_states
aux = torch.cat([states[i][0] for i in aux_layers], -1)
reference = Eagle3Reference(tensors, load_file(os.path.join(target_dir, "model.safetensors"))["model.embed_tokens.weight"])
n = len(prompt)
# First pass: positions 0..n-2, position i reading token i + 1 and the target's states of i.
logits, prenorm = reference.forward(prompt[1:], torch.arange(n - 1), aux[: n - 1], from_target=True)
# Second pass: position n-1 reads a draft token and the head's own output of position n-2.
draft = torch.tensor([77])
logits2, prenorm2 = reference.forward(draft, torch.tensor([n - 1]), prenorm[-1:], from_target=False)
save_file(
    {
        "prompt": prompt.to(torch.int64), "draft": draft.to(torch.int64), "auxiliary": aux.float(),
        "logits": logits.float(), "prenorm": prenorm.float(), "logits2": logits2.float(), "prenorm2": prenorm2.float(),
    },
    os.path.join(root, "Tests", "Fixtures", "speculative", "eagle3-reference.safetensors"),
    metadata={"format": "pt"},
)
print("head logits range", float(logits.min()), float(logits.max()), "draft argmax", logits.argmax(-1).tolist())
