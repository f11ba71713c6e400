#!/usr/bin/env python3
"""The chunk layout of Sources/VLLMCUDA/Kernels/ggml.cu emulated in numpy float32, on a machine
without a GPU: each type's chunks and runs (start, the bytes each reads, q, scale and offset as
Ggml<TYPE>::decode computes them, each product and sum rounded to float32 apart), checked bit for
bit against the `gguf` package's dequantization of Tests/Fixtures/gguf/blocks.gguf. A change to a
decoder in ggml.cu should be mirrored here first. Also each block type's `codes` (the 8-bit-activation
kernels' byte codes, computed on 32-bit words as ggml.cu does): scale · code + offset must be the
decoded value, in float64. Needs: pip install gguf numpy.

    python3 scripts/gpu/ggml_emulate.py
"""
import numpy as np, gguf
from gguf import GGMLQuantizationType as T
f32 = np.float32
def half(b, o): return f32(np.frombuffer(bytes(b[o:o+2]), np.float16)[0])
def scale_min(s, j):
    if j < 4: return s[j] & 63, s[j+4] & 63
    return (s[j+4] & 0xF) | ((s[j-4] >> 6) << 4), (s[j+4] >> 4) | ((s[j] >> 6) << 4)
SPEC = {  # values, bytes, chunks, runs
    T.Q4_0: (32, 18, 1, 2), T.Q4_1: (32, 20, 1, 2), T.Q5_0: (32, 22, 1, 2), T.Q5_1: (32, 24, 1, 2), T.Q8_0: (32, 34, 1, 2),
    T.Q4_K: (256, 144, 8, 2), T.Q5_K: (256, 176, 8, 2), T.Q6_K: (256, 210, 4, 4),
    T.F32: (32, 128, 1, 2), T.F16: (32, 64, 1, 2), T.BF16: (32, 64, 1, 2)}
def start(t, c, r):
    if t in (T.Q4_K, T.Q5_K): return 64 * (c >> 1) + 16 * (c & 1) + 32 * r
    if t == T.Q6_K: return 128 * (c >> 1) + 16 * (c & 1) + 32 * r
    return 16 * r
def decode(t, b, c, r):
    """(q[16], scale, offset or None)"""
    if t in (T.Q4_0, T.Q4_1):
        mn = t == T.Q4_1; qs = b[4 if mn else 2:][:16]
        v = [(x >> (4 * r)) & 0xF for x in qs]
        return [f32(x) if mn else f32(int(x) - 8) for x in v], half(b, 0), (half(b, 2) if mn else None)
    if t in (T.Q5_0, T.Q5_1):
        mn = t == T.Q5_1
        qh = int.from_bytes(bytes(b[4:8] if mn else b[2:6]), "little"); qs = b[8 if mn else 6:][:16]
        v = [((qs[i] >> (4 * r)) & 0xF) | (((qh >> (16 * r + i)) & 1) << 4) for i in range(16)]
        return [f32(x) if mn else f32(int(x) - 16) for x in v], half(b, 0), (half(b, 2) if mn else None)
    if t == T.Q8_0:
        q = np.frombuffer(bytes(b[2 + 16 * r: 18 + 16 * r]), np.int8)
        return [f32(x) for x in q], half(b, 0), None
    if t in (T.Q4_K, T.Q5_K):
        fifth = t == T.Q5_K; pair, hf = c >> 1, c & 1
        qs = b[(48 if fifth else 16) + 32 * pair + 16 * hf:][:16]; qh = b[16 + 16 * hf:][:16]
        j = 2 * pair + r; sc, m = scale_min(b[4:16], j)
        v = []
        for i in range(16):
            x = (qs[i] >> (4 * r)) & 0xF
            if fifth: x |= ((qh[i] >> j) & 1) << 4
            v.append(f32(x))
        return v, f32(half(b, 0) * f32(sc)), f32(-(half(b, 2) * f32(m)))
    if t == T.Q6_K:
        part, l = c >> 1, 16 * (c & 1)
        A = b[64 * part + l:][:16]; B = b[64 * part + 32 + l:][:16]; H = b[128 + 32 * part + l:][:16]
        s = np.frombuffer(bytes(b[192:208]), np.int8)[8 * part + (c & 1) + 2 * r]
        low = B if (r & 1) else A
        v = [f32(int(((low[i] >> (4 * (r >> 1))) & 0xF) | (((H[i] >> (2 * r)) & 3) << 4)) - 32) for i in range(16)]
        return v, f32(half(b, 208) * f32(s)), None
    size = {T.F32: 4, T.F16: 2, T.BF16: 2}[t]
    raw = bytes(b[r * 16 * size:(r + 1) * 16 * size])
    v = np.frombuffer(raw, {T.F32: np.float32, T.F16: np.float16}.get(t, np.uint16))
    if t == T.BF16: v = (v.astype(np.uint32) << 16).view(np.float32)
    return [f32(x) for x in v], f32(1), None
def words(b): return [int.from_bytes(bytes(b[4 * i:4 * i + 4]), "little") for i in range(len(b) // 4)]
def nibbles(w, n): return [(x >> (4 * n)) & 0x0F0F0F0F for x in w]
def spread(bits): return ((bits & 0xF) * 0x00204081) & 0x01010101
def codes(t, b, c, r):
    """Ggml<TYPE>::codes: (16 codes as signed bytes from four words, scale, offset), float64."""
    q, scale, off = decode(t, b, c, r)
    if t in (T.Q4_0, T.Q4_1):
        v = nibbles(words(b[4 if t == T.Q4_1 else 2:][:16]), r)
        offset = float(off) if t == T.Q4_1 else -8.0 * float(scale)
    elif t in (T.Q5_0, T.Q5_1):
        mn = t == T.Q5_1
        qh = int.from_bytes(bytes(b[4:8] if mn else b[2:6]), "little")
        v = [x | (spread(qh >> (16 * r + 4 * i)) << 4) for i, x in enumerate(nibbles(words(b[8 if mn else 6:][:16]), r))]
        offset = float(off) if mn else -16.0 * float(scale)
    elif t == T.Q8_0:
        v, offset = words(b[2 + 16 * r:18 + 16 * r]), 0.0
    elif t in (T.Q4_K, T.Q5_K):
        fifth = t == T.Q5_K; pair, hf = c >> 1, c & 1
        v = nibbles(words(b[(48 if fifth else 16) + 32 * pair + 16 * hf:][:16]), r)
        if fifth: v = [x | (((h >> (2 * pair + r)) & 0x01010101) << 4) for x, h in zip(v, words(b[16 + 16 * hf:][:16]))]
        offset = float(off)
    else:  # Q6_K
        part, l = c >> 1, 16 * (c & 1)
        low = b[64 * part + 32 + l:][:16] if (r & 1) else b[64 * part + l:][:16]
        v = [x | (((h >> (2 * r)) & 0x03030303) << 4) for x, h in zip(nibbles(words(low), r >> 1), words(b[128 + 32 * part + l:][:16]))]
        offset = -32.0 * float(scale)
    signed = np.frombuffer(b"".join(x.to_bytes(4, "little") for x in v), np.int8).astype(np.float64)
    return signed, float(scale), offset
r = gguf.GGUFReader("Tests/Fixtures/gguf/blocks.gguf")
tensors = {t.name: t for t in r.tensors}
for name in sorted(n[:-4] for n in tensors if n.endswith(".raw")):
    raw, exp = tensors[name + ".raw"], tensors[name + ".expected"]
    t = raw.tensor_type
    values, nbytes, chunks, runs = SPEC[t]
    data = np.asarray(raw.data).view(np.uint8).reshape(-1)
    want = np.asarray(exp.data).reshape(-1)
    got = np.full(want.size, np.nan, np.float32)
    for blk in range(want.size // values):
        b = data[blk * nbytes:(blk + 1) * nbytes]
        for c in range(chunks):
            for rr in range(runs):
                q, scale, off = decode(t, b, c, rr)
                for i in range(16):
                    w = f32(scale * q[i])
                    if off is not None: w = f32(w + off)
                    got[blk * values + start(t, c, rr) + i] = w
    print(name, t.name, "differing bits:", int((got.view(np.uint32) != want.view(np.uint32)).sum()), "of", want.size)
    if t in (T.F32, T.F16, T.BF16): continue
    worst = 0.0
    for blk in range(want.size // values):
        b = data[blk * nbytes:(blk + 1) * nbytes]
        for c in range(chunks):
            for rr in range(runs):
                code, scale, offset = codes(t, b, c, rr)
                first = blk * values + start(t, c, rr)
                exact = want[first:first + 16].astype(np.float64)
                worst = max(worst, float(np.max(np.abs(scale * code + offset - exact) / (np.abs(exact) + abs(scale) + 1e-30))))
    print(name, t.name, "codes: largest difference of scale * code + offset from the value, relative:", f"{worst:.2e}")
