#!/usr/bin/env python3
"""Writes Tests/Fixtures/gguf/tiny-llama-mixed.gguf: a small llama-architecture GGUF model (2 layers,
hidden 256, intermediate 256, 4 heads of 64, 2 KV heads, the built-in model's 512-token vocabulary
and tokenizer metadata copied from tokenizer-llama.gguf) whose linear layers use every block type
the engine reads, so that one model runs every GGUF product path on each backend:

    layer 0: q Q4_0, k Q4_1, v Q5_0 (a fused q/k/v of three types), o Q5_1, gate Q8_0, up Q4_K
             (a fused gate/up of two types), down Q5_K
    layer 1: q Q6_K, k F32, v Q8_0 (blocks beside a float part), o F16, gate BF16, up F16 (dense),
             down Q6_K
    output Q6_K, token_embd Q8_0, norms F32

The weights are random (no trained model is this small): the types gguf.quants quantizes get
normal data quantized with it, the K-quants random blocks with finite scales (gguf.quants only
decodes them). No engine output is stored: `run_gpu_checks.sh gguf` compares the CUDA backend with
the CPU backend on it (greedy tokens and logits), and the Swift tests load it on the CPU.
Needs: pip install gguf numpy (tested: gguf 0.19.0).
"""
import os

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures", "gguf")
OUT = os.path.join(FIXTURES, "tiny-llama-mixed.gguf")
HIDDEN, INTERMEDIATE, LAYERS, HEADS, KV_HEADS = 256, 256, 2, 4, 2
HEAD_DIM = HIDDEN // HEADS
rng = np.random.default_rng(1414)

LAYER_TYPES = [
    {"attn_q": T.Q4_0, "attn_k": T.Q4_1, "attn_v": T.Q5_0, "attn_output": T.Q5_1,
     "ffn_gate": T.Q8_0, "ffn_up": T.Q4_K, "ffn_down": T.Q5_K},
    {"attn_q": T.Q6_K, "attn_k": T.F32, "attn_v": T.Q8_0, "attn_output": T.F16,
     "ffn_gate": T.BF16, "ffn_up": T.F16, "ffn_down": T.Q6_K},
]
SHAPES = {  # (rows, inputs) of each linear layer
    "attn_q": (HIDDEN, HIDDEN), "attn_k": (KV_HEADS * HEAD_DIM, HIDDEN), "attn_v": (KV_HEADS * HEAD_DIM, HIDDEN),
    "attn_output": (HIDDEN, HIDDEN), "ffn_gate": (INTERMEDIATE, HIDDEN), "ffn_up": (INTERMEDIATE, HIDDEN),
    "ffn_down": (HIDDEN, INTERMEDIATE),
}


def random_k_blocks(qtype, rows, inputs, size):
    """Rows of random K-quant blocks whose float16 scales are about `size` (values near ±size·1000)."""
    block_values, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
    n = rows * inputs // block_values
    blocks = rng.integers(0, 256, (n, block_bytes), dtype=np.uint8)
    for at in {T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208]}[qtype]:
        scales = (rng.uniform(0.5, 1.0, n) * size).astype(np.float16)
        blocks[:, at:at + 2] = scales.view(np.uint8).reshape(n, 2)
    return blocks.reshape(rows, inputs // block_values * block_bytes)


def tensor(qtype, rows, inputs, std):
    """A [rows, inputs] weight stored in `qtype`, values of about `std`."""
    if qtype in (T.Q4_K, T.Q5_K, T.Q6_K):
        # (d·sc)·q − dmin·m with sc, m, q random: d ≈ std / 500 (Q6_K: (d·sc)·(q − 32), d ≈ std / 1000).
        return random_k_blocks(qtype, rows, inputs, std / (1000 if qtype == T.Q6_K else 500))
    data = (rng.standard_normal((rows, inputs)) * std).astype(np.float32)
    if qtype == T.F32:
        return data
    if qtype == T.F16:
        return data.astype(np.float16)
    return gguf.quants.quantize(data, qtype)


writer = gguf.GGUFWriter(OUT, arch="llama")
writer.add_name("tiny-llama-mixed (random weights, every GGUF block type)")
writer.add_block_count(LAYERS)
writer.add_context_length(512)
writer.add_embedding_length(HIDDEN)
writer.add_feed_forward_length(INTERMEDIATE)
writer.add_head_count(HEADS)
writer.add_head_count_kv(KV_HEADS)
writer.add_layer_norm_rms_eps(1e-5)
writer.add_rope_freq_base(10000.0)

tokenizer = gguf.GGUFReader(os.path.join(FIXTURES, "tokenizer-llama.gguf"))
fields = tokenizer.fields
writer.add_tokenizer_model(str(fields["tokenizer.ggml.model"].contents()))
writer.add_token_list(fields["tokenizer.ggml.tokens"].contents())
writer.add_token_scores(fields["tokenizer.ggml.scores"].contents())
writer.add_token_types(fields["tokenizer.ggml.token_type"].contents())
writer.add_bos_token_id(fields["tokenizer.ggml.bos_token_id"].contents())
writer.add_eos_token_id(fields["tokenizer.ggml.eos_token_id"].contents())
writer.add_unk_token_id(fields["tokenizer.ggml.unknown_token_id"].contents())
writer.add_add_bos_token(fields["tokenizer.ggml.add_bos_token"].contents())
writer.add_add_space_prefix(fields["tokenizer.ggml.add_space_prefix"].contents())
vocab = len(fields["tokenizer.ggml.tokens"].contents())


def add(name, qtype, data):
    writer.add_tensor(name, data, raw_dtype=None if qtype in (T.F32, T.F16) else qtype)


add("token_embd.weight", T.Q8_0, tensor(T.Q8_0, vocab, HIDDEN, 1.0))
for layer, types in enumerate(LAYER_TYPES):
    writer.add_tensor(f"blk.{layer}.attn_norm.weight", (1 + 0.1 * rng.standard_normal(HIDDEN)).astype(np.float32))
    writer.add_tensor(f"blk.{layer}.ffn_norm.weight", (1 + 0.1 * rng.standard_normal(HIDDEN)).astype(np.float32))
    for part, qtype in types.items():
        rows, inputs = SHAPES[part]
        add(f"blk.{layer}.{part}.weight", qtype, tensor(qtype, rows, inputs, 1 / np.sqrt(inputs)))
writer.add_tensor("output_norm.weight", np.ones(HIDDEN, dtype=np.float32))
# A larger output scale spreads the logits, so that greedy choices have margins.
add("output.weight", T.Q6_K, tensor(T.Q6_K, vocab, HIDDEN, 0.3))

writer.write_header_to_file()
writer.write_kv_data_to_file()
writer.write_tensors_to_file()
writer.close()
print(OUT, os.path.getsize(OUT), "bytes")
