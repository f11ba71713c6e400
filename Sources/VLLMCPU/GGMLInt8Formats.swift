import VLLMCore

#if arch(x86_64)
    import _Builtin_intrinsics.intel

    /// What a decoded pair keeps beside its unsigned codes (`Int8Pair.extra`).
    enum Int8Extra {
        /// Nothing: the codes are the values' unsigned codes.
        case none
        /// The signed codes, whose signs move onto the activations (`vpsignb`) while their
        /// magnitudes are the unsigned codes (Q8_0).
        case signs
        /// 16-bit multipliers of each half's sums (`vpmaddwd`): Q6_K's signed scales per 16.
        case multipliers
    }

    /// What the 8-bit kernels need to know of a weight's decoded pairs (`Int8Pair`): ggml block
    /// formats (`Int8BlockFormat`) and packed integers (`PackedIntCodes`).
    protocol Int8Codes {
        /// What the decoded pairs keep beside the codes.
        static var extra: Int8Extra { get }
        /// Whether values have offsets besides their scaled codes (all formats but Q8_0).
        static var hasOffsets: Bool { get }
    }

    extension Int8Codes {
        static var hasOffsets: Bool { true }
    }

    /// How one ggml block format decodes, two sub-blocks of 32 values at a time, for the 8-bit
    /// kernels (`Int8Pair`).
    protocol Int8BlockFormat: Int8Codes {
        /// Values per block.
        static var size: Int { get }
        /// Bytes per block.
        static var bytes: Int { get }
        /// Sub-blocks `2p` and `2p + 1` of the row at `row`; only `2p` when `single` (a row of an
        /// odd number of 32-value blocks), the second then all zeros.
        static func pair(_ row: UnsafeRawPointer, _ p: Int, single: Bool) -> Int8Pair<Self>
    }

    extension Int8Pair {
        /// Sub-blocks with unsigned codes `codes` (halves interleaved, `interleaved`), scales `s0`,
        /// `s1` and offsets `o0`, `o1` per value of each (the same for both halves).
        @inline(__always)
        init(codes: (__m256i, __m256i), scales s0: Float, _ s1: Float, offsets o0: Float, _ o1: Float) {
            let ones = _mm256_set1_epi16(1)
            self.init(
                codes: codes, extra: (ones, ones), scales: _mm256_setr_ps(s0, s0, s0, s0, s1, s1, s1, s1),
                offsets: _mm_setr_ps(o0, o1, o0, o1))
        }
    }

    @inline(__always)
    private func splat(_ value: UInt8) -> __m256i { _mm256_set1_epi8(Int8(bitPattern: value)) }

    /// Two blocks' 16 bytes of nibbles (values 0–15 in the low nibbles, 16–31 in the high ones, as
    /// ggml stores them), or one block's and zeros, as their first halves and their second halves
    /// (`Int8Pair.interleaved`).
    @inline(__always)
    private func nibbles(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer?) -> (__m256i, __m256i) {
        @inline(__always) func load(_ p: UnsafeRawPointer) -> __m128i { _mm_loadu_si128(p.assumingMemoryBound(to: __m128i.self)) }
        let raw = _mm256_set_m128i(b.map(load) ?? _mm_setzero_si128(), load(a))
        return (_mm256_and_si256(raw, splat(0x0F)), _mm256_and_si256(_mm256_srli_epi16(raw, 4), splat(0x0F)))
    }

    /// Two blocks' fifth bits (bit `j` of a word for value `j`) as 16 in the bytes of their first
    /// halves and of their second halves (`Int8Pair.interleaved`).
    @inline(__always)
    private func fifthBits(_ a: UInt32, _ b: UInt32) -> (__m256i, __m256i) {
        (fifthBits(a & 0xFFFF | b << 16), fifthBits(a >> 16 | b & 0xFFFF_0000))
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
    protocol SmallBlockFormat: Int8BlockFormat {
        /// The codes of blocks `a` and `b` (zeros where `b` is nil), halves interleaved
        /// (`Int8Pair.interleaved`).
        static func codes(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer?) -> (__m256i, __m256i)
        /// What each value adds to `d·q`.
        static func offset(_ block: UnsafeRawPointer, d: Float) -> Float
    }

    extension SmallBlockFormat {
        static var size: Int { 32 }
        static var extra: Int8Extra { .none }

        @inline(__always)
        static func pair(_ row: UnsafeRawPointer, _ p: Int, single: Bool) -> Int8Pair<Self> {
            let (first, second) = (row + 2 * p * bytes, row + (2 * p + 1) * bytes)
            let d0 = GGMLBlocks.half(first, 0)
            guard !single else { return Int8Pair(codes: codes(first, nil), scales: d0, 0, offsets: offset(first, d: d0), 0) }
            let d1 = GGMLBlocks.half(second, 0)
            return Int8Pair(codes: codes(first, second), scales: d0, d1, offsets: offset(first, d: d0), offset(second, d: d1))
        }
    }

    /// Q4_0: `d·(q − 8)`.
    enum Q4_0Int8: SmallBlockFormat {
        static var bytes: Int { 18 }
        @inline(__always) static func codes(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer?) -> (__m256i, __m256i) {
            nibbles(a + 2, b.map { $0 + 2 })
        }
        @inline(__always) static func offset(_ block: UnsafeRawPointer, d: Float) -> Float { -8 * d }
    }

    /// Q4_1: `d·q + m`.
    enum Q4_1Int8: SmallBlockFormat {
        static var bytes: Int { 20 }
        @inline(__always) static func codes(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer?) -> (__m256i, __m256i) {
            nibbles(a + 4, b.map { $0 + 4 })
        }
        @inline(__always) static func offset(_ block: UnsafeRawPointer, d: Float) -> Float { GGMLBlocks.half(block, 2) }
    }

    /// Q5_0 and Q5_1: `nibbles` with the fifth bits of blocks `a` and `b`, 32-bit words at byte `at`.
    @inline(__always)
    private func fifths(_ nibbles: (__m256i, __m256i), _ a: UnsafeRawPointer, _ b: UnsafeRawPointer?, at offset: Int) -> (__m256i, __m256i)
    {
        let words = (
            a.loadUnaligned(fromByteOffset: offset, as: UInt32.self), b?.loadUnaligned(fromByteOffset: offset, as: UInt32.self) ?? 0
        )
        let bits = fifthBits(words.0, words.1)
        return (_mm256_or_si256(nibbles.0, bits.0), _mm256_or_si256(nibbles.1, bits.1))
    }

    /// Q5_0: `d·(q − 16)`, the fifth bits in a 32-bit word before the nibbles.
    enum Q5_0Int8: SmallBlockFormat {
        static var bytes: Int { 22 }
        @inline(__always) static func codes(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer?) -> (__m256i, __m256i) {
            fifths(nibbles(a + 6, b.map { $0 + 6 }), a, b, at: 2)
        }
        @inline(__always) static func offset(_ block: UnsafeRawPointer, d: Float) -> Float { -16 * d }
    }

    /// Q5_1: `d·q + m`, the fifth bits after `d` and `m`.
    enum Q5_1Int8: SmallBlockFormat {
        static var bytes: Int { 24 }
        @inline(__always) static func codes(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer?) -> (__m256i, __m256i) {
            fifths(nibbles(a + 8, b.map { $0 + 8 }), a, b, at: 4)
        }
        @inline(__always) static func offset(_ block: UnsafeRawPointer, d: Float) -> Float { GGMLBlocks.half(block, 2) }
    }

    /// Q8_0: `d·q` for signed bytes; the sign moves onto the activations so the weights go in unsigned.
    enum Q8_0Int8: Int8BlockFormat {
        static var size: Int { 32 }
        static var bytes: Int { 34 }
        static var extra: Int8Extra { .signs }
        static var hasOffsets: Bool { false }

        @inline(__always)
        static func pair(_ row: UnsafeRawPointer, _ p: Int, single: Bool) -> Int8Pair<Self> {
            let (first, second) = (row + 2 * p * bytes, row + (2 * p + 1) * bytes)
            // Interleaved once: the magnitudes are those of the interleaved signed codes.
            let q = Int8Pair<Self>.interleaved(load32(first + 2), single ? _mm256_setzero_si256() : load32(second + 2))
            let d = (GGMLBlocks.half(first, 0), single ? 0 : GGMLBlocks.half(second, 0))
            return Int8Pair(
                codes: (_mm256_abs_epi8(q.0), _mm256_abs_epi8(q.1)), extra: q,
                scales: _mm256_setr_ps(d.0, d.0, d.0, d.0, d.1, d.1, d.1, d.1),
                offsets: _mm_setzero_ps())
        }
    }

    /// Q4_K and Q5_K: eight sub-blocks of 32, `(d·sc)·q − dmin·m`; the 32 bytes of nibbles of pair
    /// `j` hold sub-blocks `2j` (low nibbles) and `2j + 1` (high), and Q5_K's fifth bits of
    /// sub-block `i` are bit `i` of 32 bytes.
    @inline(__always)
    private func kPair<F: Int8BlockFormat>(_ row: UnsafeRawPointer, _ p: Int, fifthBits: Bool) -> Int8Pair<F> {
        let (block, j) = (row + p / 4 * F.bytes, p % 4)
        let (d, dmin) = (GGMLBlocks.half(block, 0), GGMLBlocks.half(block, 2))
        let v = load32(block + (fifthBits ? 48 : 16) + 32 * j)
        var (q0, q1) = (_mm256_and_si256(v, splat(0x0F)), _mm256_and_si256(_mm256_srli_epi16(v, 4), splat(0x0F)))
        if fifthBits {
            let high = load32(block + 16)
            q0 = _mm256_or_si256(q0, fifth(high, bit: 2 * j))
            q1 = _mm256_or_si256(q1, fifth(high, bit: 2 * j + 1))
        }
        let (sc0, m0) = GGMLBlocks.scaleMin(block + 4, 2 * j), (sc1, m1) = GGMLBlocks.scaleMin(block + 4, 2 * j + 1)
        return Int8Pair(codes: Int8Pair<F>.interleaved(q0, q1), scales: d * sc0, d * sc1, offsets: -dmin * m0, -dmin * m1)
    }

    /// Bit `bit` of each byte of `bits` as 16.
    @inline(__always)
    private func fifth(_ bits: __m256i, bit: Int) -> __m256i {
        let mask = splat(UInt8(1) << UInt8(bit))
        return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(bits, mask), mask), splat(16))
    }

    enum Q4_KInt8: Int8BlockFormat {
        static var size: Int { 256 }
        static var bytes: Int { 144 }
        static var extra: Int8Extra { .none }

        @inline(__always)
        static func pair(_ row: UnsafeRawPointer, _ p: Int, single: Bool) -> Int8Pair<Self> { kPair(row, p, fifthBits: false) }
    }

    enum Q5_KInt8: Int8BlockFormat {
        static var size: Int { 256 }
        static var bytes: Int { 176 }
        static var extra: Int8Extra { .none }

        @inline(__always)
        static func pair(_ row: UnsafeRawPointer, _ p: Int, single: Bool) -> Int8Pair<Self> { kPair(row, p, fifthBits: true) }
    }

    /// Q6_K: 128 bytes of low nibbles, 64 of 2-bit high parts, 16 signed scales (one per 16 values),
    /// then `d`: `(d·sc)·(q − 32)`. Each half of 128 values takes 64 low bytes (`a`, `c`) and 32
    /// high ones (`h`); byte `l` of `h` holds the top bits of values `l`, `l + 32`, `l + 64` and
    /// `l + 96`. The scales multiply each half's 16-bit sums (`vpmaddwd`).
    enum Q6_KInt8: Int8BlockFormat {
        static var size: Int { 256 }
        static var bytes: Int { 210 }
        static var extra: Int8Extra { .multipliers }

        @inline(__always)
        static func pair(_ row: UnsafeRawPointer, _ p: Int, single: Bool) -> Int8Pair<Self> {
            let (block, j) = (row + p / 4 * bytes, p % 4)
            let half = j / 2
            let (a, c, h) = (load32(block + 64 * half), load32(block + 64 * half + 32), load32(block + 128 + 32 * half))
            let (low, top) = (splat(0x0F), splat(0x30))
            // Sub-blocks 4·half + 0 and 1 are a's and c's low nibbles, 2 and 3 their high ones,
            // each with two bits of h.
            let high = j % 2 == 1
            let (x, y) = high ? (_mm256_srli_epi16(a, 4), _mm256_srli_epi16(c, 4)) : (a, c)
            let (h0, h1) = high ? (h, _mm256_srli_epi16(h, 2)) : (_mm256_slli_epi16(h, 4), _mm256_slli_epi16(h, 2))
            let q0 = _mm256_or_si256(_mm256_and_si256(x, low), _mm256_and_si256(h0, top))
            let q1 = _mm256_or_si256(_mm256_and_si256(y, low), _mm256_and_si256(h1, top))
            // Scales s0...s3 of the pair's halves (the first sub-block's two, then the second's) as
            // 16-bit multipliers of the first halves' products (s0 in the low 128 bits, s2 in the
            // high) and of the second halves' (s1, s3).
            let four = _mm256_broadcastsi128_si256(
                _mm_cvtepi8_epi16(_mm_cvtsi32_si128(block.loadUnaligned(fromByteOffset: 192 + 4 * j, as: Int32.self))))
            let multipliers = (
                _mm256_shuffle_epi8(
                    four, _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5)),
                _mm256_shuffle_epi8(
                    four, _mm256_setr_epi8(2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7))
            )
            let d = GGMLBlocks.half(block, 208)
            let offsets = _mm_mul_ps(
                _mm_set1_ps(-32 * d),
                _mm_cvtepi32_ps(
                    _mm_shuffle_epi8(
                        _mm_cvtepi16_epi32(_mm256_castsi256_si128(four)),
                        _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15))))
            return Int8Pair(codes: Int8Pair<Self>.interleaved(q0, q1), extra: multipliers, scales: _mm256_set1_ps(d), offsets: offsets)
        }
    }
#endif
