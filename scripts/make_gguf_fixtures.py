#!/usr/bin/env python3
"""Writes Tests/Fixtures/gguf/blocks.gguf: ggml block-format test vectors and metadata of every
GGUF value type, made with the `gguf` Python package (llama.cpp's reference implementation in
Python, MIT licence; `pip install gguf`, tested with 0.19.0).

For each type T there are two tensors: `T.raw`, blocks stored in T, and `T.expected`, float32,
what `gguf.quants.dequantize` makes of them (the values the Swift decoders must reproduce bit for
bit). Types that gguf.quants can quantize get random normal data quantized with it; the K-quants,
which it only decodes, get blocks cut from the real Qwen2.5-Coder GGUF (Q4_K, Q6_K; when
scripts/fetch_gguf_models.sh has fetched it) and blocks of random bytes with finite scales (all
three K types, so every bit pattern of the scales is exercised).

Usage: python3 scripts/make_gguf_fixtures.py [path of the Qwen2.5-Coder GGUF]
"""
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T

out = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "gguf", "blocks.gguf")
qwen = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser(
    "~/.cache/swift-vllm/gguf/Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf")
rng = np.random.default_rng(14)
writer = gguf.GGUFWriter(out, arch="llama")


def add(name, qtype, raw):
    """Stores `raw` (uint8 rows of blocks, or floats for F32/F16/BF16 data) and its dequantization."""
    raw = np.ascontiguousarray(raw)
    expected = gguf.quants.dequantize(raw, qtype).astype(np.float32)
    writer.add_tensor(name + ".raw", raw, raw_dtype=qtype)
    writer.add_tensor(name + ".expected", expected)


# Types gguf.quants quantizes: 3 rows of 256 random values, with a spread of magnitudes.
data = (rng.standard_normal((3, 256)) * np.array([[0.02], [1.0], [300.0]])).astype(np.float32)
data[0, :7] = [0, -0.0, 1e-8, -65504, 65504, 1e-5, -3.5]
for qtype in [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.BF16]:
    add(qtype.name, qtype, gguf.quants.quantize(data, qtype))
add("F16", T.F16, data.astype(np.float16).view(np.uint8))
add("F32", T.F32, data.view(np.uint8))


def random_k_blocks(qtype, n):
    """`n` blocks of random bytes whose float16 scales are finite and moderate."""
    size = gguf.GGML_QUANT_SIZES[qtype][1]
    blocks = rng.integers(0, 256, (n, size), dtype=np.uint8)
    scale_offsets = {T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208]}[qtype]
    for at in scale_offsets:
        scales = (rng.standard_normal(n) * 0.01).astype(np.float16)
        blocks[:, at:at + 2] = scales.view(np.uint8).reshape(n, 2)
    return blocks.reshape(1, -1)


for qtype in [T.Q4_K, T.Q5_K, T.Q6_K]:
    add(qtype.name + "-random", qtype, random_k_blocks(qtype, 4))

if os.path.exists(qwen):
    reader = gguf.GGUFReader(qwen)
    for qtype in [T.Q4_K, T.Q6_K]:
        tensor = next(t for t in reader.tensors if t.tensor_type == qtype)
        size = gguf.GGML_QUANT_SIZES[qtype][1]
        blocks = np.asarray(tensor.data).reshape(-1)[: 4 * size]
        add(qtype.name + "-qwen", qtype, blocks.reshape(1, -1))
        writer.add_string(f"fixture.{qtype.name}-qwen.source", f"{os.path.basename(qwen)}: {tensor.name}, first 4 blocks")
else:
    sys.exit(f"{qwen} is missing: run scripts/fetch_gguf_models.sh first")

# Metadata of every value type, for the reader's tests.
writer.add_uint8("test.uint8", 200)
writer.add_int8("test.int8", -100)
writer.add_uint16("test.uint16", 60000)
writer.add_int16("test.int16", -30000)
writer.add_uint32("test.uint32", 4000000000)
writer.add_int32("test.int32", -2000000000)
writer.add_float32("test.float32", 0.1)
writer.add_uint64("test.uint64", 2**63 + 5)
writer.add_int64("test.int64", -(2**62))
writer.add_float64("test.float64", 0.1)
writer.add_bool("test.bool", True)
writer.add_string("test.string", "héllo ✓")
writer.add_array("test.array.int", [1, -2, 3])
writer.add_array("test.array.string", ["a", "", "ü"])
writer.add_array("test.array.float", [0.5, -1.25])

writer.write_header_to_file()
writer.write_kv_data_to_file()
writer.write_tensors_to_file()
writer.close()
print(out, os.path.getsize(out), "bytes")
