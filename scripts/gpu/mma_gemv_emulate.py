#!/usr/bin/env python3
"""Checks quantized.cu's gemv_int4_mma and gemv_fp8_mma indexing without a GPU: builds each lane's A registers (from
its words of the packed rows) and B registers (the activations in the same k order) as the kernel
does, multiplies them by PTX's m16n8k16 fragment layout, and compares Σ (OFFSET + q) x − (OFFSET +
zero) Σ x with the direct product of the codes (GPTQ packing: value i of a word at bits 4i).

    python3 scripts/gpu/mma_gemv_emulate.py
"""
import numpy as np
rng = np.random.default_rng(0)
n, k = 16, 512
q = rng.integers(0, 16, size=(n, k))
x = rng.standard_normal(k)
# GPTQ packing: value i of word w at bits 4i, column 8w + i
words = np.zeros((n, k // 8), dtype=np.uint64)
for i in range(8):
    words |= (q[:, i::8].astype(np.uint64) << np.uint64(4 * i))
words = words.astype(np.uint32)
OFF = 128
def pair(word):  # (low half nibble 0, high half nibble 4) as OFF + q
    return (OFF + (word & 0xF), OFF + ((word >> 16) & 0xF))
def mma(A_regs, B_regs):
    # A_regs[lane] = 4 pairs, B_regs[lane] = 2 pairs; returns D[16][8]
    A = np.zeros((16, 16)); B = np.zeros((16, 8))
    for lane in range(32):
        g, t = lane >> 2, lane & 3
        a = A_regs[lane]
        A[g, 2*t:2*t+2] = a[0]; A[g+8, 2*t:2*t+2] = a[1]; A[g, 2*t+8:2*t+10] = a[2]; A[g+8, 2*t+8:2*t+10] = a[3]
        b = B_regs[lane]
        B[2*t:2*t+2, g] = b[0]; B[2*t+8:2*t+10, g] = b[1]
    return A @ B
total = np.zeros(16); group_sum = np.zeros(16)
for s in range(k // 128):
    d = np.zeros((16, 8)); dx = np.zeros((16, 8))
    for j in range(4):
        A0, A1, Bt0, Bt1, ones = [], [], [], [], []
        for lane in range(32):
            g, t = lane >> 2, lane & 3
            p = int(words[g, s * 16 + t * 4 + j]); qq = int(words[g + 8, s * 16 + t * 4 + j])
            A0.append([pair(p), pair(qq), pair(p >> 4), pair(qq >> 4)])
            A1.append([pair(p >> 8), pair(qq >> 8), pair(p >> 12), pair(qq >> 12)])
            xv = x[s * 128 + t * 32 + j * 8: s * 128 + t * 32 + j * 8 + 8] if g == 0 else np.zeros(8)
            Bt0.append([(xv[0], xv[4]), (xv[1], xv[5])]); Bt1.append([(xv[2], xv[6]), (xv[3], xv[7])])
            ones.append([(1, 1)] * 4)
        d += mma(A0, Bt0) + mma(A1, Bt1)
        dx += mma(ones, Bt0) + mma(ones, Bt1)
    zero = 3.0
    total += d[:, 0] - (OFF + zero) * dx[:, 0]
ref = (q - 3.0) @ x
print("max error", np.abs(total - ref).max(), "scale", np.abs(ref).max())
assert np.allclose(total, ref)
print("ok")


# gemv_fp8_mma: lane t's 16 codes of a 64-column span in rows g and g + 8; word j's code pairs
# (0, 1) and (2, 3) are its A registers of k-tile j; the B registers are the activations' own pairs.
def e4m3(code):
    sign = -1.0 if code & 0x80 else 1.0
    e, m = (code >> 3) & 15, code & 7
    return sign * (2.0 ** (e - 7) * (1 + m / 8) if e else 2.0 ** -6 * m / 8)


def sixteen_bit(bits, exponent_bits, mantissa_bits):
    sign = -1.0 if bits >> 15 else 1.0
    e, m = (bits >> mantissa_bits) & ((1 << exponent_bits) - 1), bits & ((1 << mantissa_bits) - 1)
    bias = (1 << (exponent_bits - 1)) - 1
    return sign * (2.0 ** (e - bias) * (1 + m / 2 ** mantissa_bits) if e else 2.0 ** (1 - bias) * m / 2 ** mantissa_bits)


for shift, exponent_bits, mantissa_bits, scale_log2 in ((4, 8, 7, 120), (7, 5, 10, 8)):  # bf16, f16
    for code in range(256):
        if code & 0x7F == 0x7F:
            continue  # NaN
        bits = ((code & 0x80) << 8) | ((code & 0x7F) << shift)
        assert sixteen_bit(bits, exponent_bits, mantissa_bits) * 2.0 ** scale_log2 == e4m3(code), (shift, code)
codes = rng.integers(0, 256, size=(16, 256))
codes[(codes & 0x7F) == 0x7F] = 0
w = np.vectorize(e4m3)(codes)
xf = rng.standard_normal(256)
total = np.zeros(16)
for s in range(256 // 64):
    A_regs, B_regs = [], []
    d = np.zeros((16, 8))
    for j in range(4):
        A_regs, B_regs = [], []
        for lane in range(32):
            g, t = lane >> 2, lane & 3
            c = s * 64 + t * 16 + 4 * j
            A_regs.append([(w[g, c], w[g, c + 1]), (w[g + 8, c], w[g + 8, c + 1]), (w[g, c + 2], w[g, c + 3]),
                           (w[g + 8, c + 2], w[g + 8, c + 3])])
            xv = xf[c:c + 4] if g == 0 else np.zeros(4)
            B_regs.append([(xv[0], xv[1]), (xv[2], xv[3])])
        d += mma(A_regs, B_regs)
    total += d[:, 0]
assert np.allclose(total, w @ xf)
print("fp8 ok")
