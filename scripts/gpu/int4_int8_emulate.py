#!/usr/bin/env python3
"""Emulates quantized.cu's gemv_int4_int8 on the CPU (numpy, no GPU): the nibble masks, the
byte_perm selectors, the dp4a pairing and the per-16 (d, d·Σq) terms, against the float64 product
of the dequantized 4-bit weights with the dequantized 8-bit activations. Checks the indexing of a
kernel written without a GPU at hand.

    python3 scripts/gpu/int4_int8_emulate.py
"""
import numpy as np

rng = np.random.default_rng(0)


def byte_perm(x, y, selector):
    data = [(x >> (8 * i)) & 0xFF for i in range(4)] + [(y >> (8 * i)) & 0xFF for i in range(4)]
    return sum(data[(selector >> (4 * i)) & 0xF] << (8 * i) for i in range(4))


def dp4a(a, b, c):
    def signed_bytes(v):
        return [((v >> (8 * i)) & 0xFF) - (256 if (v >> (8 * i)) & 0x80 else 0) for i in range(4)]
    return c + sum(p * q for p, q in zip(signed_bytes(a), signed_bytes(b)))


def quantize(x):  # quantize_ggml_int8: codes and per 16 values (d, d·Σq)
    codes, pairs = [], []
    for start in range(0, len(x), 32):
        block = x[start:start + 32]
        amax = np.float32(np.abs(block).max())
        d = np.float32(amax / np.float32(127))
        inverse = np.float32(127) / amax if amax > 0 else np.float32(0)
        q = np.rint(block * inverse).astype(np.int64)
        codes += list(q)
        pairs += [(float(d), float(d) * q[:16].sum()), (float(d), float(d) * q[16:].sum())]
    return np.array(codes), pairs


def kernel(packed, scales, zeros, codes, pairs, n, k, group):
    y = np.zeros(n)
    words = [int(c) & 0xFF for c in codes]
    act_words = [words[i] | words[i + 1] << 8 | words[i + 2] << 16 | words[i + 3] << 24 for i in range(0, k, 4)]
    for row in range(n):
        acc = 0.0
        for c in range(0, k, 32):
            w = [int(packed[row, c // 8 + i]) for i in range(4)]
            a = act_words[c // 4:c // 4 + 8]
            even = [byte_perm(a[2 * i], a[2 * i + 1], 0x6420) for i in range(4)]
            odd = [byte_perm(a[2 * i], a[2 * i + 1], 0x7531) for i in range(4)]
            lo = [v & 0x0F0F0F0F for v in w]
            hi = [(v >> 4) & 0x0F0F0F0F for v in w]
            d0 = dp4a(hi[1], odd[1], dp4a(lo[1], even[1], dp4a(hi[0], odd[0], dp4a(lo[0], even[0], 0))))
            d1 = dp4a(hi[3], odd[3], dp4a(lo[3], even[3], dp4a(hi[2], odd[2], dp4a(lo[2], even[2], 0))))
            m0, m1 = pairs[c // 16], pairs[c // 16 + 1]
            g = c // group
            s, z = scales[row, g], zeros[row, g]
            acc += s * ((m0[0] * d0 - z * m0[1]) + (m1[0] * d1 - z * m1[1]))
        y[row] = acc
    return y


def main():
    for (n, k, group) in [(5, 256, 128), (3, 512, 512), (4, 128, 32)]:
        q = rng.integers(0, 16, size=(n, k))
        packed = np.zeros((n, k // 8), dtype=np.uint64)
        for j in range(8):
            packed |= (q[:, j::8].astype(np.uint64) << np.uint64(4 * j))
        scales = rng.uniform(0.01, 0.1, size=(n, k // group))
        zeros = rng.integers(0, 16, size=(n, k // group)).astype(float)
        x = rng.standard_normal(k).astype(np.float32)
        codes, pairs = quantize(x)
        d = np.repeat([p[0] for p in pairs[::2]], 32)
        weights = (q - np.repeat(zeros, group, axis=1)) * np.repeat(scales, group, axis=1)
        expected = weights @ (codes * d)
        got = kernel(packed, scales, zeros, codes, pairs, n, k, group)
        error = np.abs(got - expected).max() / np.abs(expected).max()
        print(f"n={n} k={k} group={group}: max relative error {error:.2e}")
        assert error < 1e-12


if __name__ == "__main__":
    main()
