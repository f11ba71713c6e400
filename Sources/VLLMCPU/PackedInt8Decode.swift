import CVLLMSupport
import VLLMCore

#if arch(x86_64)
    import _Builtin_intrinsics.intel
#endif

/// `out[t, n] = Σ_k x̃[t, k] · w[n, k]` for a `WeightFormat.packedInt` weight (GPTQ, AWQ,
/// compressed-tensors pack-quantized) and any number of tokens, with the activations `x̃`
/// quantized to 8 bits per 32 values as the GGUF mode does (`GGMLInt8Decode.quantize`): the
/// `--quantized-activations int8` mode of packed integers.
///
/// The packed codes are read as unsigned bytes and meet the activations in the same integer dot
/// products and the same `Int8Rows` loop as the ggml blocks: a group's `scale · (q − zero)` is
/// `scale · q` plus the offset `−scale · zero`, which meets each half block's activation sums, as
/// the minima of Q4_1 do. The backend rewrites the weights it loads for this kernel (`prepare`):
/// the offsets in place of the zero points, and 4-bit codes in the order of Q4_0's. 8-bit codes would overflow the 16-bit sums
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

    /// Rewrites a part's codes and zero points, as the backend loads a weight that this kernel
    /// will multiply, into what the kernel reads: each group's zero point becomes its offset
    /// (`−scale · zero` for 4-bit codes, `scale · (128 − zero)` for 8-bit ones, the same float
    /// operations the kernel did per pair), and 4-bit codes, which GPTQ packs with byte `i` of a
    /// sub-block's 16 holding values `2i` and `2i + 1`, move to ggml's Q4_0 order, byte `i` holding
    /// values `i` (low nibble) and `i + 16` (high), so that masking and shifting a sub-block's bytes
    /// gives its first and second halves with no interleaving. Together a fifth of the
    /// instructions of a pair.
    static func prepare(
        codes: UnsafeMutableRawPointer, codeBytes: Int, scales: UnsafePointer<Float>, zeros: UnsafeMutablePointer<Float>,
        groups: Int, bits: Int
    ) {
        for g in 0..<groups { zeros[g] = bits == 4 ? -scales[g] * zeros[g] : scales[g] * (128 - zeros[g]) }
        guard bits == 4 else { return }
        precondition(codeBytes % 16 == 0, "4-bit rows of whole sub-blocks of 32")
        let bytes = codes.assumingMemoryBound(to: UInt8.self)
        for block in stride(from: 0, to: codeBytes, by: 16) {
            let old = UnsafeRawPointer(bytes + block).loadUnaligned(as: SIMD16<UInt8>.self)
            @inline(__always) func value(_ j: Int) -> UInt8 { j % 2 == 0 ? old[j / 2] & 0x0F : old[j / 2] >> 4 }
            for i in 0..<16 { bytes[block + i] = value(i) | value(i + 16) << 4 }
        }
    }

    /// The sub-block index's shift that gives its group (any shift past the row's sub-blocks for
    /// one group per row).
    static func groupShift(groupSize: Int, K: Int) -> Int {
        groupSize == K ? Int.bitWidth - 2 : (groupSize / 32).trailingZeroBitCount
    }

    /// Writes columns `0..<parts.rows` of `out` (rows `outStride` apart) for `T` tokens of `x`
    /// (`K` columns) and the packed rows of `parts`, `bits`-bit codes in groups of `groupSize`:
    /// the activations are quantized once for all the parts, whose rows share one parallel pass.
    static func multiply(
        x: UnsafePointer<Float>, T: Int, K: Int, parts: PackedIntParts, bits: Int, groupSize: Int,
        out: UnsafeMutablePointer<Float>, outStride: Int
    ) {
        precondition(supports(bits: bits, groupSize: groupSize, K: K))
        #if arch(x86_64)
            let (groups, shift, rowBytes) = (K / groupSize, groupShift(groupSize: groupSize, K: K), K * bits / 8)
            GGMLInt8Decode.multiply(x: x, T: T, N: parts.rows, K: K) { rows, range in
                parts.forEach(in: range) { part, local, column in
                    func weight<F: PackedIntCodes>(_: F.Type) -> PackedIntRows<F> {
                        PackedIntRows(
                            w: UnsafeRawPointer(part.packed), rowBytes: rowBytes, scales: part.scales, offsets: part.zeros,
                            groups: groups, groupShift: shift, shape: rows.shape)
                    }
                    if bits == 4 {
                        rows.dot(local, weight(PackedInt4Codes.self), out: out + column, outStride: outStride)
                    } else {
                        rows.dot(local, weight(PackedInt8Codes.self), out: out + column, outStride: outStride)
                    }
                }
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
    }

    /// 4-bit codes as `PackedInt8Decode.prepare` leaves them: byte `i` of a sub-block's 16
    /// holds its values `i` (low nibble) and `i + 16` (high).
    enum PackedInt4Codes: PackedIntCodes {
        static var extra: Int8Extra { .none }
        static var pairBytes: Int { 32 }

        @inline(__always)
        static func codes(_ p: UnsafeRawPointer, single: Bool) -> (codes: (__m256i, __m256i), extra: (__m256i, __m256i)) {
            let raw =
                single
                ? _mm256_zextsi128_si256(_mm_loadu_si128(p.assumingMemoryBound(to: __m128i.self))) : load32(p)
            // Each 128-bit lane holds one sub-block: its low nibbles are the first half, its high
            // nibbles the second.
            let mask = _mm256_set1_epi8(0x0F)
            let ones = _mm256_set1_epi16(1)
            return ((_mm256_and_si256(raw, mask), _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask)), (ones, ones))
        }
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
    }

    /// The rows of a packed weight, `rowBytes` apart, with their groups' scales and offsets.
    struct PackedIntRows<F: PackedIntCodes>: Int8RowSource {
        let w: UnsafeRawPointer, rowBytes: Int, scales: UnsafePointer<Float>, offsets: UnsafePointer<Float>
        let groups: Int, groupShift: Int, shape: Int8Shape

        @inline(__always)
        func row(_ n: Int) -> PackedIntRow<F> {
            PackedIntRow(
                row: w + n * rowBytes, scales: scales + n * groups, offsets: offsets + n * groups, groupShift: groupShift, shape: shape)
        }
    }

    /// One packed row with its groups' scales and offsets, each pair decoded when it is asked for.
    struct PackedIntRow<F: PackedIntCodes>: Int8PairSource {
        let row: UnsafeRawPointer, scales: UnsafePointer<Float>, offsets: UnsafePointer<Float>
        /// Sub-block `b` is in group `b >> groupShift`.
        let groupShift: Int
        let shape: Int8Shape
        /// Bytes ahead of the pair being read that `pair` prefetches: about seven rows of 576
        /// 4-bit inputs. Once a pair took fewer instructions (`prepare`, `Int8Rows.dotOneToken`),
        /// 1 KB ahead left the codes' loads waiting on memory; 2 and 3 KB ran 5–17% faster than
        /// 1 KB in alternating runs (load 1.7–2.4), 4 KB no better.
        static var prefetchDistance: Int { 2048 }

        @inline(__always)
        func pair(_ p: Int) -> Int8Pair<F> {
            let single = 2 * p + 1 == shape.subBlocks
            // Rows of a few hundred bytes end before the hardware prefetcher ramps up; the rows of
            // a range are contiguous, so each pair asks for the line a fixed distance ahead.
            vllm_prefetch(row + p * F.pairBytes + Self.prefetchDistance)
            let (codes, extra) = F.codes(row + p * F.pairBytes, single: single)
            let (scales, offsets) = groupScales(p, single: single)
            return Int8Pair(codes: codes, extra: extra, scales: scales, offsets: offsets)
        }

        /// Pair `p`'s scales in the lanes of its sub-blocks' sums and its offsets
        /// (`Int8Pair.scales`, `.offsets`). Groups of 64 inputs or more hold both sub-blocks, so
        /// one scale and one offset serve the pair (a missing second sub-block meets zero
        /// activations whatever its scale); groups of 32 give each its own, read as two floats.
        @inline(__always)
        func groupScales(_ p: Int, single: Bool) -> (__m256, __m128) {
            if groupShift > 0 {
                let g = (2 * p) &>> groupShift
                return (_mm256_set1_ps(scales[g]), _mm_set1_ps(offsets[g]))
            }
            guard !single else {
                let (s, o) = (scales[2 * p], offsets[2 * p])
                return (_mm256_setr_ps(s, s, s, s, 0, 0, 0, 0), _mm_setr_ps(o, 0, o, 0))
            }
            @inline(__always) func two(_ p: UnsafePointer<Float>) -> __m128 {
                _mm_castpd_ps(_mm_load_sd(UnsafeRawPointer(p).assumingMemoryBound(to: Double.self)))
            }
            let (s, o) = (two(scales + 2 * p), two(offsets + 2 * p))
            // [s₀, s₁] to [s₀ ×4, s₁ ×4]; offsets [o₀, o₁] to [o₀, o₁, o₀, o₁].
            let lanes = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(s), _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1))
            return (lanes, _mm_movelh_ps(o, o))
        }
    }
#endif
