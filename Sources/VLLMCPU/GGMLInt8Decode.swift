import VLLMCore

#if arch(x86_64)
    import _Builtin_intrinsics.intel
#endif

/// `out[t, n] = Σ_k x̃[t, k] · w[n, k]` for decode steps, with the activations `x̃` quantized to
/// 8 bits in blocks of 32 (a float scale per block, round to nearest) as llama.cpp does, so that
/// each block of a ggml weight meets its activations in integer dot products (`vpmaddubsw`,
/// `vpmaddwd`: 32 products in two instructions) instead of being converted to floats.
///
/// The result is the exact dot product of the dequantized weight with the dequantized 8-bit
/// activations, up to float32 rounding of the per-block terms: offsets (`−8`, `−16`, `−32`, the
/// minima) meet the same quantized activations through their block sums. It is the CPU's
/// `--cpu-gguf-activations int8` mode (docs/gguf.md); the default float32 path (`GGMLDecode`) stays
/// the exact reference. Written with AVX2 intrinsics, which the `-target-cpu haswell` build
/// enables; other architectures run the float32 path.
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
            withUnsafeTemporaryAllocation(of: Int8.self, capacity: T * K) { values in
                withUnsafeTemporaryAllocation(of: ActivationBlock.self, capacity: T * (K / block)) { blocks in
                    for t in 0..<T {
                        quantize(x + t * K, count: K, values: values.baseAddress! + t * K, blocks: blocks.baseAddress! + t * (K / block))
                    }
                    let rows = Int8Rows(
                        w: w, rowBytes: type.rowBytes(K), K: K, T: T,
                        x: QuantizedActivations(values: values.baseAddress!, blocks: blocks.baseAddress!))
                    ParallelFor.run(N, costPerItem: K * T / 4) { range in
                        rows.dot(range, type, out: out, outStride: outStride)
                    }
                }
            }
        }

        /// One token's activations as 8-bit values and a scale and sums per block of 32.
        static func quantize(
            _ x: UnsafePointer<Float>, count K: Int, values: UnsafeMutablePointer<Int8>, blocks: UnsafeMutablePointer<ActivationBlock>
        ) {
            let magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFF_FFFF))
            for b in 0..<(K / block) {
                let p = x + block * b
                let v = (_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8), _mm256_loadu_ps(p + 16), _mm256_loadu_ps(p + 24))
                let m = _mm256_max_ps(
                    _mm256_max_ps(_mm256_and_ps(v.0, magnitude), _mm256_and_ps(v.1, magnitude)),
                    _mm256_max_ps(_mm256_and_ps(v.2, magnitude), _mm256_and_ps(v.3, magnitude)))
                let amax = unsafeBitCast(m, to: SIMD8<Float>.self).max()
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
                _mm256_storeu_si256(UnsafeMutableRawPointer(values + block * b).assumingMemoryBound(to: __m256i.self), ordered)
                let first = unsafeBitCast(_mm256_add_epi32(q.0, q.1), to: SIMD8<Int32>.self).wrappedSum()
                let second = unsafeBitCast(_mm256_add_epi32(q.2, q.3), to: SIMD8<Int32>.self).wrappedSum()
                blocks[b] = ActivationBlock(
                    scale: scale, firstSum: scale * Float(first), secondSum: scale * Float(second), sum: scale * Float(first + second))
            }
        }
    }

    /// What the kernels need of one block of 32 quantized activations besides its values: the
    /// scale, and the sums of the dequantized values (`scale · Σ q`) of each half and of the whole,
    /// which multiply the weights' offsets.
    struct ActivationBlock {
        var scale: Float
        var firstSum: Float, secondSum: Float
        var sum: Float
    }

    /// One token's quantized activations from some block on.
    struct QuantizedActivations {
        /// 8-bit values.
        let values: UnsafePointer<Int8>
        /// Scale and sums of each block of 32.
        let blocks: UnsafePointer<ActivationBlock>

        /// The activations from value `k` on (a multiple of 32); token `t` of `K`-wide rows is `k + t·K`.
        @inline(__always)
        func advanced(by k: Int) -> QuantizedActivations {
            QuantizedActivations(values: values + k, blocks: blocks + k / 32)
        }

        /// The 32 values of block `b` (counted from here).
        @inline(__always)
        func values(_ b: Int) -> __m256i { load32(values + 32 * b) }

        /// The scale of block `b`.
        @inline(__always)
        func scale(_ b: Int) -> Float { blocks[b].scale }

        /// `scale · Σ q` of block `b`.
        @inline(__always)
        func sum(_ b: Int) -> Float { blocks[b].sum }
    }

    /// A row's running sums: two vector chains of scaled block dot products and the offsets.
    struct Int8RowSums {
        var even = _mm256_setzero_ps(), odd = _mm256_setzero_ps()
        var offset: Float = 0

        /// `even += scale · dot`.
        @inline(__always)
        mutating func add(_ dot: __m256i, times scale: Float) {
            even = _mm256_fmadd_ps(_mm256_set1_ps(scale), _mm256_cvtepi32_ps(dot), even)
        }

        /// `odd += scale · dot` (the second chain, so consecutive terms do not wait on each other).
        @inline(__always)
        mutating func addOdd(_ dot: __m256i, times scale: Float) {
            odd = _mm256_fmadd_ps(_mm256_set1_ps(scale), _mm256_cvtepi32_ps(dot), odd)
        }

        /// The row's value from two sets of sums, the lanes added pairwise (`SIMD8.sum()` adds them
        /// one after another, a chain of eight additions per row).
        @inline(__always)
        func total(plus other: Int8RowSums) -> Float {
            let v = unsafeBitCast(_mm256_add_ps(_mm256_add_ps(even, odd), _mm256_add_ps(other.even, other.odd)), to: SIMD8<Float>.self)
            let four = v.lowHalf + v.highHalf
            let two = four.lowHalf + four.highHalf
            return (two[0] + two[1]) + (offset + other.offset)
        }
    }

    /// The rows of one ggml weight and the `T` tokens' quantized activations they multiply.
    private struct Int8Rows {
        let w: UnsafeRawPointer, rowBytes: Int, K: Int, T: Int
        let x: QuantizedActivations

        /// Rows `rows` of the product.
        @inline(__always)
        func dot(_ rows: Range<Int>, _ type: GGMLType, out: UnsafeMutablePointer<Float>, outStride: Int) {
            switch type {
            case .q4_0: dot(rows, Q4_0Int8.self, out: out, outStride: outStride)
            case .q4_1: dot(rows, Q4_1Int8.self, out: out, outStride: outStride)
            case .q5_0: dot(rows, Q5_0Int8.self, out: out, outStride: outStride)
            case .q5_1: dot(rows, Q5_1Int8.self, out: out, outStride: outStride)
            case .q8_0: dot(rows, Q8_0Int8.self, out: out, outStride: outStride)
            case .q4_K: dot(rows, Q4_KInt8.self, out: out, outStride: outStride)
            case .q5_K: dot(rows, Q5_KInt8.self, out: out, outStride: outStride)
            case .q6_K: dot(rows, Q6_KInt8.self, out: out, outStride: outStride)
            case .f32, .f16, .bf16: preconditionFailure("float types are multiplied by QuantizedMatMul")
            }
        }

        /// Each row meets every token while it is in L1.
        private func dot<F: Int8BlockDot>(_ rows: Range<Int>, _: F.Type, out: UnsafeMutablePointer<Float>, outStride: Int) {
            let blocks = K / F.size
            for n in rows {
                let row = w + n * rowBytes
                for t in 0..<T {
                    let token = x.advanced(by: t * K)
                    // Two sets of sums, so that consecutive blocks do not wait on each other.
                    var (a, b) = (Int8RowSums(), Int8RowSums())
                    var i = 0
                    while i + 2 <= blocks {
                        F.add(row + i * F.bytes, token.advanced(by: i * F.size), into: &a)
                        F.add(row + (i + 1) * F.bytes, token.advanced(by: (i + 1) * F.size), into: &b)
                        i += 2
                    }
                    if i < blocks { F.add(row + i * F.bytes, token.advanced(by: i * F.size), into: &a) }
                    out[t * outStride + n] = a.total(plus: b)
                }
            }
        }
    }

    /// How one ggml block format meets 8-bit activations.
    private protocol Int8BlockDot {
        /// Values per block.
        static var size: Int { get }
        /// Bytes per block.
        static var bytes: Int { get }
        /// Adds the block at `block` times the activations `x` (from the block's first value) to `sums`.
        static func add(_ block: UnsafeRawPointer, _ x: QuantizedActivations, into sums: inout Int8RowSums)
    }

    @inline(__always)
    private func load32(_ p: UnsafeRawPointer) -> __m256i {
        _mm256_loadu_si256(p.assumingMemoryBound(to: __m256i.self))
    }

    @inline(__always)
    private func splat(_ value: UInt8) -> __m256i { _mm256_set1_epi8(Int8(bitPattern: value)) }

    /// Σ of unsigned `w` times signed `x`, byte by byte, as eight 32-bit sums of four products.
    @inline(__always)
    private func dot(_ w: __m256i, _ x: __m256i) -> __m256i {
        _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1))
    }

    /// 16 bytes of nibbles as 32 values: the low nibbles first, then the high ones (ggml's order).
    @inline(__always)
    private func nibbles(_ p: UnsafeRawPointer) -> __m256i {
        let raw = _mm_loadu_si128(p.assumingMemoryBound(to: __m128i.self))
        return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), splat(0x0F))
    }

    /// Bit `j` of `word` as 16 in byte `j` (the fifth bits of 32 values).
    @inline(__always)
    private func fifthBits(_ word: UInt32) -> __m256i {
        let spread = _mm256_shuffle_epi8(
            _mm256_set1_epi32(Int32(bitPattern: word)),
            _mm256_setr_epi64x(0, 0x0101_0101_0101_0101, 0x0202_0202_0202_0202, 0x0303_0303_0303_0303))
        let bit = _mm256_set1_epi64x(Int64(bitPattern: 0x8040_2010_0804_0201))
        return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), splat(16))
    }

    /// The formats of 32 values with unsigned codes `q` and a scale `d`, each value `d·q` plus a
    /// constant offset (`−8d`, `−16d`) or the block's minimum `m`.
    private protocol SmallBlockFormat: Int8BlockDot {
        /// The 32 codes, in value order.
        static func codes(_ block: UnsafeRawPointer) -> __m256i
        /// What each value adds to `d·q`.
        static func offset(_ block: UnsafeRawPointer, d: Float) -> Float
    }

    extension SmallBlockFormat {
        static var size: Int { 32 }

        @inline(__always)
        static func add(_ block: UnsafeRawPointer, _ x: QuantizedActivations, into sums: inout Int8RowSums) {
            let d = GGMLBlocks.half(block, 0)
            sums.add(dot(codes(block), x.values(0)), times: d * x.scale(0))
            sums.offset += offset(block, d: d) * x.sum(0)
        }
    }

    /// Q4_0: `d·(q − 8)`.
    private enum Q4_0Int8: SmallBlockFormat {
        static var bytes: Int { 18 }
        @inline(__always) static func codes(_ block: UnsafeRawPointer) -> __m256i { nibbles(block + 2) }
        @inline(__always) static func offset(_ block: UnsafeRawPointer, d: Float) -> Float { -8 * d }
    }

    /// Q4_1: `d·q + m`.
    private enum Q4_1Int8: SmallBlockFormat {
        static var bytes: Int { 20 }
        @inline(__always) static func codes(_ block: UnsafeRawPointer) -> __m256i { nibbles(block + 4) }
        @inline(__always) static func offset(_ block: UnsafeRawPointer, d: Float) -> Float { GGMLBlocks.half(block, 2) }
    }

    /// Q5_0: `d·(q − 16)`, the fifth bits in a 32-bit word before the nibbles.
    private enum Q5_0Int8: SmallBlockFormat {
        static var bytes: Int { 22 }
        @inline(__always) static func codes(_ block: UnsafeRawPointer) -> __m256i {
            _mm256_or_si256(nibbles(block + 6), fifthBits(block.loadUnaligned(fromByteOffset: 2, as: UInt32.self)))
        }
        @inline(__always) static func offset(_ block: UnsafeRawPointer, d: Float) -> Float { -16 * d }
    }

    /// Q5_1: `d·q + m`, the fifth bits after `d` and `m`.
    private enum Q5_1Int8: SmallBlockFormat {
        static var bytes: Int { 24 }
        @inline(__always) static func codes(_ block: UnsafeRawPointer) -> __m256i {
            _mm256_or_si256(nibbles(block + 8), fifthBits(block.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
        }
        @inline(__always) static func offset(_ block: UnsafeRawPointer, d: Float) -> Float { GGMLBlocks.half(block, 2) }
    }

    /// Q8_0: `d·q` for signed bytes; the sign moves onto the activations so the weights go in unsigned.
    private enum Q8_0Int8: Int8BlockDot {
        static var size: Int { 32 }
        static var bytes: Int { 34 }

        @inline(__always)
        static func add(_ block: UnsafeRawPointer, _ x: QuantizedActivations, into sums: inout Int8RowSums) {
            let q = load32(block + 2)
            sums.add(dot(_mm256_abs_epi8(q), _mm256_sign_epi8(x.values(0), q)), times: GGMLBlocks.half(block, 0) * x.scale(0))
        }
    }

    /// Q4_K and Q5_K: eight sub-blocks of 32, `(d·sc)·q − dmin·m`; each 32 bytes of nibbles hold
    /// sub-blocks `2p` (low nibbles) and `2p + 1` (high), and Q5_K's fifth bits of sub-block `j`
    /// are bit `j` of 32 bytes.
    @inline(__always)
    private func addKBlock(_ block: UnsafeRawPointer, fifthBits: UnsafeRawPointer?, _ x: QuantizedActivations, into sums: inout Int8RowSums)
    {
        let (d, dmin) = (GGMLBlocks.half(block, 0), GGMLBlocks.half(block, 2))
        let qs = block + (fifthBits == nil ? 16 : 48)
        let high = fifthBits.map(load32)
        var offset: Float = 0
        for p in 0..<4 {
            let v = load32(qs + 32 * p)
            var (q0, q1) = (_mm256_and_si256(v, splat(0x0F)), _mm256_and_si256(_mm256_srli_epi16(v, 4), splat(0x0F)))
            if let high {
                q0 = _mm256_or_si256(q0, fifth(high, bit: 2 * p))
                q1 = _mm256_or_si256(q1, fifth(high, bit: 2 * p + 1))
            }
            let (sc0, m0) = GGMLBlocks.scaleMin(block + 4, 2 * p), (sc1, m1) = GGMLBlocks.scaleMin(block + 4, 2 * p + 1)
            sums.add(dot(q0, x.values(2 * p)), times: d * sc0 * x.scale(2 * p))
            sums.addOdd(dot(q1, x.values(2 * p + 1)), times: d * sc1 * x.scale(2 * p + 1))
            offset += m0 * x.sum(2 * p) + m1 * x.sum(2 * p + 1)
        }
        sums.offset -= dmin * offset
    }

    /// Bit `bit` of each byte of `bits` as 16.
    @inline(__always)
    private func fifth(_ bits: __m256i, bit: Int) -> __m256i {
        let mask = splat(UInt8(1) << UInt8(bit))
        return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(bits, mask), mask), splat(16))
    }

    private enum Q4_KInt8: Int8BlockDot {
        static var size: Int { 256 }
        static var bytes: Int { 144 }

        @inline(__always)
        static func add(_ block: UnsafeRawPointer, _ x: QuantizedActivations, into sums: inout Int8RowSums) {
            addKBlock(block, fifthBits: nil, x, into: &sums)
        }
    }

    private enum Q5_KInt8: Int8BlockDot {
        static var size: Int { 256 }
        static var bytes: Int { 176 }

        @inline(__always)
        static func add(_ block: UnsafeRawPointer, _ x: QuantizedActivations, into sums: inout Int8RowSums) {
            addKBlock(block, fifthBits: block + 16, x, into: &sums)
        }
    }

    /// Q6_K: 128 bytes of low nibbles, 64 of 2-bit high parts, 16 signed scales (one per 16 values),
    /// then `d`: `(d·sc)·(q − 32)`. Each half of 128 values takes 64 low bytes and 32 high ones; byte
    /// `l` of the high ones holds the top bits of values `l`, `l + 32`, `l + 64` and `l + 96`. The
    /// scales of a block's two groups of 16 multiply in the integer sums (`vpmaddwd`).
    private enum Q6_KInt8: Int8BlockDot {
        static var size: Int { 256 }
        static var bytes: Int { 210 }

        @inline(__always)
        static func add(_ block: UnsafeRawPointer, _ x: QuantizedActivations, into sums: inout Int8RowSums) {
            let d = GGMLBlocks.half(block, 208)
            let scales = (block + 192).assumingMemoryBound(to: Int8.self)
            var offset: Float = 0
            for part in 0..<2 {
                let (a, c, h) = (load32(block + 64 * part), load32(block + 64 * part + 32), load32(block + 128 + 32 * part))
                let low = splat(0x0F), top = splat(0x30)
                // Block `b` of activations is groups `g` and `g + 1` of the weight.
                @inline(__always) func add(_ q: __m256i, _ j: Int) {
                    let (b, g) = (4 * part + j, 8 * part + 2 * j)
                    let (s0, s1) = (Int16(scales[g]), Int16(scales[g + 1]))
                    let scaled = _mm256_madd_epi16(
                        _mm256_maddubs_epi16(q, x.values(b)), _mm256_set_m128i(_mm_set1_epi16(s1), _mm_set1_epi16(s0)))
                    if j % 2 == 0 { sums.add(scaled, times: d * x.scale(b)) } else { sums.addOdd(scaled, times: d * x.scale(b)) }
                    offset += Float(s0) * x.blocks[b].firstSum + Float(s1) * x.blocks[b].secondSum
                }
                add(_mm256_or_si256(_mm256_and_si256(a, low), _mm256_and_si256(_mm256_slli_epi16(h, 4), top)), 0)
                add(_mm256_or_si256(_mm256_and_si256(c, low), _mm256_and_si256(_mm256_slli_epi16(h, 2), top)), 1)
                add(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), low), _mm256_and_si256(h, top)), 2)
                add(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(c, 4), low), _mm256_and_si256(_mm256_srli_epi16(h, 2), top)), 3)
            }
            sums.offset -= 32 * d * offset
        }
    }
#endif
