import VLLMCore

#if arch(x86_64)
    import _Builtin_intrinsics.intel
#endif

/// `out[t, n] = Σ_k x̃[t, k] · w[n, k]` for any number of tokens, with the activations `x̃`
/// quantized to 8 bits in blocks of 32 (a float scale per block, round to nearest) as llama.cpp
/// does, so that each block of a ggml weight meets its activations in integer dot products
/// (`vpmaddubsw`, `vpmaddwd`: 32 products in two instructions) instead of being converted to floats.
///
/// Each format decodes a row two sub-blocks of 32 values at a time into unsigned codes, scales and
/// offsets (`Int8Pair`, `GGMLInt8Formats.swift`); tokens meet the pairs in `Int8Rows`, in the same
/// code whatever the step's size, so a token's result does not depend on the tokens beside it.
/// Decode steps decode each pair in registers; prompt steps decode a tile of rows once into memory
/// and pass the tokens over it four at a time, each pair's codes shared by the four.
///
/// The result is the exact dot product of the dequantized weight with the dequantized 8-bit
/// activations, up to float32 rounding of the per-block terms: offsets (`−8`, `−16`, `−32`, the
/// minima) meet the same quantized activations through their half-block sums. It is the CPU's
/// `--quantized-activations int8` mode (docs/gguf.md); the default float32 path (`GGMLDecode` and
/// the tiles of `QuantizedMatMul`) stays the exact reference. Written with AVX2 intrinsics, which
/// the `-target-cpu haswell` build enables; other architectures run the float32 path.
enum GGMLInt8Decode {
    #if arch(x86_64)
        /// Whether this build has the kernels (x86-64 with AVX2).
        static let available = true
    #else
        /// Whether this build has the kernels (x86-64 with AVX2).
        static let available = false

        /// Not reached: callers check `available`.
        static func multiply(
            x: UnsafePointer<Float>, w: UnsafeRawPointer, type: GGMLType, out: UnsafeMutablePointer<Float>, outStride: Int,
            T: Int, N: Int, K: Int
        ) {
            preconditionFailure("8-bit GGUF activations need x86-64")
        }
    #endif
}

#if arch(x86_64)
    extension GGMLInt8Decode {
        /// Values per activation block (one scale each).
        static let block = 32

        /// Whether the path has a kernel for `type` (every block type but the float ones).
        static func supports(_ type: GGMLType) -> Bool { type.floatDType == nil }

        /// Writes columns `0..<N` of `out` (rows `outStride` apart) for `T` tokens of `x` (`K`
        /// columns, a multiple of the type's block) and the `N` rows of `w`.
        static func multiply(
            x: UnsafePointer<Float>, w: UnsafeRawPointer, type: GGMLType, out: UnsafeMutablePointer<Float>, outStride: Int,
            T: Int, N: Int, K: Int
        ) {
            precondition(supports(type) && K % type.blockSize == 0)
            multiply(x: x, T: T, N: N, K: K) { rows, range in
                rows.dot(range, type, w: w, rowBytes: type.rowBytes(K), out: out, outStride: outStride)
            }
        }

        /// Quantizes the `T` tokens of `x` (`K` columns, a multiple of 32), then runs `dot` on
        /// ranges of the `N` rows in parallel.
        static func multiply(
            x: UnsafePointer<Float>, T: Int, N: Int, K: Int, dot: (Int8Rows, Range<Int>) -> Void
        ) {
            let shape = Int8Shape(K: K)
            withUnsafeTemporaryAllocation(of: Int8.self, capacity: T * shape.valueBytes) { values in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: T * shape.tokenFloats) { floats in
                    let x8 = QuantizedActivations(values: values.baseAddress!, floats: floats.baseAddress!, shape: shape)
                    ParallelFor.run(T, costPerItem: K * 4) { tokens in
                        for t in tokens { quantize(x + t * K, into: x8.token(t), shape: shape) }
                    }
                    let rows = Int8Rows(shape: shape, T: T, x: x8)
                    ParallelFor.run(N, costPerItem: K * T / 4) { range in dot(rows, range) }
                }
            }
        }

        /// One token's activations as 8-bit values, and per block of 32 the scale and the sums of
        /// the dequantized values of each half (`scale · Σ q`), which multiply the weights' offsets.
        static func quantize(_ x: UnsafePointer<Float>, into token: QuantizedActivations.Token, shape: Int8Shape) {
            let magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFF_FFFF))
            for b in 0..<shape.subBlocks {
                let p = x + block * b
                let v = (_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8), _mm256_loadu_ps(p + 16), _mm256_loadu_ps(p + 24))
                let amax = _mm256_max_ps(
                    _mm256_max_ps(_mm256_and_ps(v.0, magnitude), _mm256_and_ps(v.1, magnitude)),
                    _mm256_max_ps(_mm256_and_ps(v.2, magnitude), _mm256_and_ps(v.3, magnitude))
                ).max()
                let scale = amax / 127
                let inverse = _mm256_set1_ps(amax > 0 ? 127 / amax : 0)
                // `vcvtps2dq` rounds to nearest even; the packs keep order within 128-bit lanes, so a
                // last permutation puts the four groups of eight back in sequence.
                let q = (
                    _mm256_cvtps_epi32(_mm256_mul_ps(v.0, inverse)), _mm256_cvtps_epi32(_mm256_mul_ps(v.1, inverse)),
                    _mm256_cvtps_epi32(_mm256_mul_ps(v.2, inverse)), _mm256_cvtps_epi32(_mm256_mul_ps(v.3, inverse))
                )
                let packed = _mm256_packs_epi16(_mm256_packs_epi32(q.0, q.1), _mm256_packs_epi32(q.2, q.3))
                let ordered = _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))
                shape.storeHalves(token.values, b, ordered)
                let first = unsafeBitCast(_mm256_add_epi32(q.0, q.1), to: SIMD8<Int32>.self).wrappedSum()
                let second = unsafeBitCast(_mm256_add_epi32(q.2, q.3), to: SIMD8<Int32>.self).wrappedSum()
                shape.setScale(token.scales, b, scale)
                (token.firstSums[b], token.secondSums[b]) = (scale * Float(first), scale * Float(second))
            }
            // A missing last sub-block of a pair, and the offsets' lanes past the row, are zeros.
            if shape.subBlocks % 2 == 1 {
                shape.storeHalves(token.values, shape.subBlocks, _mm256_setzero_si256())
                shape.setScale(token.scales, shape.subBlocks, 0)
            }
            let padding = shape.paddedSubBlocks - shape.subBlocks
            (token.firstSums + shape.subBlocks).initialize(repeating: 0, count: padding)
            (token.secondSums + shape.subBlocks).initialize(repeating: 0, count: padding)
        }
    }

    /// How a row of `K` values divides for the 8-bit kernels: sub-blocks of 32 in pairs (whose
    /// halves one `vpmaddubsw` takes together, `Int8Pair`), and groups of eight for the offsets.
    /// Weight rows and activations share it; both are padded to whole pairs and groups with zeros.
    struct Int8Shape {
        let K: Int

        /// Blocks of 32 values.
        var subBlocks: Int { K / 32 }
        /// Pairs of sub-blocks, the last one possibly half empty.
        var pairs: Int { (subBlocks + 1) / 2 }
        /// Sub-blocks rounded up to whole groups of eight.
        var paddedSubBlocks: Int { (subBlocks + 7) / 8 * 8 }
        /// Bytes of codes or activation values, whole pairs.
        var valueBytes: Int { 64 * pairs }
        /// Floats per token: the scales as pairs' lanes (eight per pair), then the two halves' sums.
        var tokenFloats: Int { 8 * pairs + 2 * paddedSubBlocks }

        /// Sub-block `b`'s scale into the lanes of its pair's eight that hold its sums
        /// (`Int8Pair.add`): 0–3 for the first, 4–7 for the second.
        @inline(__always)
        func setScale(_ scales: UnsafeMutablePointer<Float>, _ b: Int, _ value: Float) {
            (scales + 8 * (b / 2) + 4 * (b % 2)).initialize(repeating: value, count: 4)
        }

        /// Sub-block `b`'s 32 values into its pair's 64 bytes, where the pair's first halves come
        /// before their second halves (`Int8Pair.interleaved`).
        @inline(__always)
        func storeHalves(_ values: UnsafeMutablePointer<Int8>, _ b: Int, _ v: __m256i) {
            let at = UnsafeMutableRawPointer(values + 64 * (b / 2) + 16 * (b % 2))
            let high = _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(4, 5, 6, 7, 4, 5, 6, 7))
            _mm_storeu_si128(at.assumingMemoryBound(to: __m128i.self), _mm256_castsi256_si128(v))
            _mm_storeu_si128((at + 32).assumingMemoryBound(to: __m128i.self), _mm256_castsi256_si128(high))
        }
    }

    /// `T` tokens' quantized activations, each token `Int8Shape.valueBytes` values and then
    /// `Int8Shape.tokenFloats` floats.
    struct QuantizedActivations {
        let values: UnsafeMutablePointer<Int8>
        let floats: UnsafeMutablePointer<Float>
        let shape: Int8Shape

        /// Token `t`'s activations.
        @inline(__always)
        func token(_ t: Int) -> Token {
            let scales = floats + t * shape.tokenFloats
            let firstSums = scales + 8 * shape.pairs
            return Token(
                values: values + t * shape.valueBytes, scales: scales, firstSums: firstSums,
                secondSums: firstSums + shape.paddedSubBlocks)
        }

        /// One token's activations.
        struct Token {
            /// 8-bit values, 32 per sub-block.
            let values: UnsafeMutablePointer<Int8>
            /// Each sub-block's scale, in its pair's lanes (`Int8Shape.setScale`).
            let scales: UnsafeMutablePointer<Float>
            /// `scale · Σ q` of each sub-block's first 16 values.
            let firstSums: UnsafeMutablePointer<Float>
            /// `scale · Σ q` of each sub-block's last 16 values.
            let secondSums: UnsafeMutablePointer<Float>
        }
    }

    @inline(__always)
    func load32(_ p: UnsafeRawPointer) -> __m256i {
        _mm256_loadu_si256(p.assumingMemoryBound(to: __m256i.self))
    }

    @inline(__always)
    func store32(_ p: UnsafeMutableRawPointer, _ v: __m256i) {
        _mm256_storeu_si256(p.assumingMemoryBound(to: __m256i.self), v)
    }
#endif
