import VLLMCore

#if arch(x86_64)
    import _Builtin_intrinsics.intel
#endif

/// `out[t, n] = Σ_k x̃[t, k] · w[n, k]` for a `WeightFormat.packedInt` weight (GPTQ, AWQ,
/// compressed-tensors pack-quantized) and any number of tokens, with the activations `x̃`
/// quantized to 8 bits per 32 values as the GGUF mode does (`GGMLInt8Decode.quantize`): the
/// `--quantized-activations int8` mode of packed integers.
///
/// The packed codes are read in their natural order as unsigned bytes and meet the activations in
/// the same integer dot products and the same `Int8Rows` loop as the ggml blocks: a group's
/// `scale · (q − zero)` is `scale · q` plus the offset `−scale · zero`, which meets each half
/// block's activation sums, as the minima of Q4_1 do. 8-bit codes would overflow the 16-bit sums
/// of `vpmaddubsw` unsigned, so they go in as `q − 128` with their signs moved onto the
/// activations (as Q8_0's), and the offset becomes `scale · (128 − zero)`.
///
/// Groups must cover whole sub-blocks of 32 and be found by a shift: `32 · 2^s` inputs, or one
/// group per row (`supports`); other layouts keep the float path (`PackedDecode`, `PackedMatMul`).
package enum PackedInt8Decode {
    /// Whether the product of `bits`-bit codes in groups of `groupSize` over `K` stored inputs has
    /// a kernel here (x86-64 only).
    package static func supports(bits: Int, groupSize: Int, K: Int) -> Bool {
        guard GGMLInt8Decode.available, bits == 4 || bits == 8, K > 0, K % 32 == 0, K % groupSize == 0 else { return false }
        return groupSize == K || (groupSize % 32 == 0 && (groupSize / 32).nonzeroBitCount == 1)
    }

    /// The sub-block index's shift that gives its group (any shift past the row's sub-blocks for
    /// one group per row).
    static func groupShift(groupSize: Int, K: Int) -> Int {
        groupSize == K ? Int.bitWidth - 2 : (groupSize / 32).trailingZeroBitCount
    }

    /// Writes columns `0..<N` of `out` (rows `outStride` apart) for `T` tokens of `x` (`K`
    /// columns) and the packed rows `packed [N, K·bits/32]` with `scales`, `zeros [N, K/groupSize]`.
    static func multiply(
        x: UnsafePointer<Float>, T: Int, K: Int, N: Int, packed: UnsafePointer<UInt32>, scales: UnsafePointer<Float>,
        zeros: UnsafePointer<Float>, bits: Int, groupSize: Int, out: UnsafeMutablePointer<Float>, outStride: Int
    ) {
        precondition(supports(bits: bits, groupSize: groupSize, K: K))
        #if arch(x86_64)
            let (groups, shift, rowBytes) = (K / groupSize, groupShift(groupSize: groupSize, K: K), K * bits / 8)
            let w = UnsafeRawPointer(packed)
            GGMLInt8Decode.multiply(x: x, T: T, N: N, K: K) { rows, range in
                @inline(__always) func dot<F: PackedIntCodes>(_: F.Type) {
                    rows.dot(range, out: out, outStride: outStride) { n in
                        PackedIntRow<F>(
                            row: w + n * rowBytes, scales: scales + n * groups, zeros: zeros + n * groups, groupShift: shift,
                            shape: rows.shape)
                    }
                }
                if bits == 4 { dot(PackedInt4Codes.self) } else { dot(PackedInt8Codes.self) }
            }
        #endif
    }
}

#if arch(x86_64)
    /// How a packed-integer row's codes decode for the 8-bit kernels, 64 values at a time.
    protocol PackedIntCodes: Int8Codes {
        /// Bytes of 64 codes.
        static var pairBytes: Int { get }
        /// The codes and extra (`Int8Pair`) of the 64 values at `p`, or of the 32 there and zeros
        /// when `single`.
        static func codes(_ p: UnsafeRawPointer, single: Bool) -> (codes: (__m256i, __m256i), extra: (__m256i, __m256i))
        /// What each value of a group of `scale` and `zero` adds to `scale` times its code.
        static func offset(scale: Float, zero: Float) -> Float
    }

    /// 4-bit codes, eight to a word, value `j` in bits `4j`: byte `i` of a sub-block's 16 holds its
    /// values `2i` (low nibble) and `2i + 1` (high).
    enum PackedInt4Codes: PackedIntCodes {
        static var extra: Int8Extra { .none }
        static var pairBytes: Int { 32 }

        @inline(__always)
        static func codes(_ p: UnsafeRawPointer, single: Bool) -> (codes: (__m256i, __m256i), extra: (__m256i, __m256i)) {
            let raw =
                single
                ? _mm256_zextsi128_si256(_mm_loadu_si128(p.assumingMemoryBound(to: __m128i.self))) : load32(p)
            let mask = _mm256_set1_epi8(0x0F)
            let (low, high) = (_mm256_and_si256(raw, mask), _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask))
            // Within each 128-bit lane (one sub-block), unpacking puts the even and odd values back
            // in order: bytes 0–7 give values 0–15, the first half; 8–15 the second.
            let ones = _mm256_set1_epi16(1)
            return ((_mm256_unpacklo_epi8(low, high), _mm256_unpackhi_epi8(low, high)), (ones, ones))
        }

        @inline(__always)
        static func offset(scale: Float, zero: Float) -> Float { -scale * zero }
    }

    /// 8-bit codes, four to a word, value `j` in bits `8j`: the bytes in order. They go in as
    /// `q − 128`, magnitudes and signs (`Int8Extra.signs`).
    enum PackedInt8Codes: PackedIntCodes {
        static var extra: Int8Extra { .signs }
        static var pairBytes: Int { 64 }

        @inline(__always)
        static func codes(_ p: UnsafeRawPointer, single: Bool) -> (codes: (__m256i, __m256i), extra: (__m256i, __m256i)) {
            let flip = _mm256_set1_epi8(-128)
            let a = _mm256_xor_si256(load32(p), flip)
            let b = single ? _mm256_setzero_si256() : _mm256_xor_si256(load32(p + 32), flip)
            let q = Int8Pair<Self>.interleaved(a, b)
            return ((_mm256_abs_epi8(q.0), _mm256_abs_epi8(q.1)), q)
        }

        @inline(__always)
        static func offset(scale: Float, zero: Float) -> Float { scale * (128 - zero) }
    }

    /// One packed row with its groups' scales and zeros, each pair decoded when it is asked for.
    struct PackedIntRow<F: PackedIntCodes>: Int8PairSource {
        let row: UnsafeRawPointer, scales: UnsafePointer<Float>, zeros: UnsafePointer<Float>
        /// Sub-block `b` is in group `b >> groupShift`.
        let groupShift: Int
        let shape: Int8Shape

        @inline(__always)
        func pair(_ p: Int) -> Int8Pair<F> {
            let single = 2 * p + 1 == shape.subBlocks
            let (codes, extra) = F.codes(row + p * F.pairBytes, single: single)
            let g0 = (2 * p) >> groupShift
            let (s0, o0) = (scales[g0], F.offset(scale: scales[g0], zero: zeros[g0]))
            var (s1, o1): (Float, Float) = (0, 0)
            if !single {
                let g1 = (2 * p + 1) >> groupShift
                (s1, o1) = (scales[g1], F.offset(scale: scales[g1], zero: zeros[g1]))
            }
            return Int8Pair(
                codes: codes, extra: extra, scales: _mm256_setr_ps(s0, s0, s0, s0, s1, s1, s1, s1),
                offsets: _mm_setr_ps(o0, o1, o0, o1))
        }
    }
#endif
