import VLLMCore

#if arch(x86_64)
    import _Builtin_intrinsics.intel

    /// The rows of one weight and the `T` tokens' quantized activations they multiply
    /// (`GGMLInt8Decode`, `PackedInt8Decode`), two sub-blocks of 32 values (`Int8Pair`) at a time.
    /// Decode steps decode each pair in registers as their one or few tokens meet it; prompt steps
    /// decode a tile of rows once into memory and pass the tokens over it four at a time. Both run
    /// `meet`, so a token's sums take the same operations in the same order whatever the step's size.
    struct Int8Rows {
        /// Rows decoded together when a step has at least `tileTokens` tokens: they stay in L1/L2
        /// while every token passes over them.
        static let tileRows = 8
        /// Tokens that meet a row together, sharing each pair's codes in registers.
        static let tileTokens = 4

        let shape: Int8Shape, T: Int
        let x: QuantizedActivations

        /// Rows `rows` of a ggml weight of `type` at `w`, `rowBytes` a row.
        @inline(__always)
        func dot(_ rows: Range<Int>, _ type: GGMLType, w: UnsafeRawPointer, rowBytes: Int, out: UnsafeMutablePointer<Float>, outStride: Int)
        {
            @inline(__always) func blocks<F: Int8BlockFormat>(_: F.Type) {
                dot(rows, BlockRows<F>(w: w, rowBytes: rowBytes, shape: shape), out: out, outStride: outStride)
            }
            switch type {
            case .q4_0: blocks(Q4_0Int8.self)
            case .q4_1: blocks(Q4_1Int8.self)
            case .q5_0: blocks(Q5_0Int8.self)
            case .q5_1: blocks(Q5_1Int8.self)
            case .q8_0: blocks(Q8_0Int8.self)
            case .q4_K: blocks(Q4_KInt8.self)
            case .q5_K: blocks(Q5_KInt8.self)
            case .q6_K: blocks(Q6_KInt8.self)
            case .f32, .f16, .bf16: preconditionFailure("float types are multiplied by QuantizedMatMul")
            }
        }

        /// Rows `rows` of the product of `weight`. Decode steps meet each row's pairs as they are
        /// decoded, which a single pass over the row needs no more than; prompt steps decode
        /// `tileRows` rows into memory once. Not inlined into the callers' closures: there, the
        /// sums that `meet`'s local functions capture would be checked for exclusive access at
        /// run time (`swift_beginAccess`), a third of a decode step.
        func dot<Weight: Int8RowSource>(_ rows: Range<Int>, _ weight: Weight, out: UnsafeMutablePointer<Float>, outStride: Int) {
            typealias F = Weight.Row.Format
            guard T >= Self.tileTokens else {
                if T == 1 {
                    dotOneToken(rows, weight, out: out)
                    return
                }
                for n in rows {
                    let row = weight.row(n)
                    switch T {
                    case 2: meet(row, TwoTokens.self, from: 0, out: out + n, outStride: outStride)
                    default: meet(row, ThreeTokens.self, from: 0, out: out + n, outStride: outStride)
                    }
                }
                return
            }
            let bytes = DecodedRow<F>.bytes(shape)
            let decoded = UnsafeMutableRawPointer.allocate(byteCount: Self.tileRows * bytes, alignment: 64)
            defer { decoded.deallocate() }
            for first in stride(from: rows.lowerBound, to: rows.upperBound, by: Self.tileRows) {
                let count = min(Self.tileRows, rows.upperBound - first)
                for r in 0..<count { DecodedRow<F>(decoded + r * bytes, shape: shape).decode(weight.row(first + r)) }
                for t in stride(from: 0, to: T, by: Self.tileTokens) {
                    for r in 0..<count {
                        let row = DecodedRow<F>(decoded + r * bytes, shape: shape)
                        let o = out + t * outStride + first + r
                        switch min(Self.tileTokens, T - t) {
                        case 1: meet(row, OneToken.self, from: t, out: o, outStride: outStride)
                        case 2: meet(row, TwoTokens.self, from: t, out: o, outStride: outStride)
                        case 3: meet(row, ThreeTokens.self, from: t, out: o, outStride: outStride)
                        default: meet(row, FourTokens.self, from: t, out: o, outStride: outStride)
                        }
                    }
                }
            }
        }

        /// A decode step's one token against `rows`: `meet`'s sums of each row, whose lanes wait
        /// in memory until four rows' are there and meet in one transposed sum (`totals`), the same
        /// additions as `total`. A row's chain of dependent horizontal additions, which the next
        /// row's loads waited behind, was a sixth of the products' samples.
        private func dotOneToken<Weight: Int8RowSource>(_ rows: Range<Int>, _ weight: Weight, out: UnsafeMutablePointer<Float>) {
            withUnsafeTemporaryAllocation(of: __m256.self, capacity: 4) { lanes in
                for n in rows {
                    let sums = sums(weight.row(n), OneToken.self, from: 0)
                    let slot = (n - rows.lowerBound) & 3
                    lanes[slot] = _mm256_add_ps(sums.even.0, sums.odd.0)
                    if slot == 3 { _mm_storeu_ps(out + n - 3, Self.totals(lanes[0], lanes[1], lanes[2], lanes[3])) }
                }
                let rest = rows.count & 3
                for r in 0..<rest { out[rows.upperBound - rest + r] = Self.total(lanes[r]) }
            }
        }

        /// `Tokens.count` tokens from `t` on against one row (`sums`), into `out`.
        @inline(__always)
        private func meet<Row: Int8PairSource, Tokens: DecodeTokens>(
            _ row: Row, _: Tokens.Type, from t: Int, out: UnsafeMutablePointer<Float>, outStride: Int
        ) {
            let n = Tokens.count
            let sums = sums(row, Tokens.self, from: t)
            out[0] = Self.total(_mm256_add_ps(sums.even.0, sums.odd.0))
            if n > 1 { out[outStride] = Self.total(_mm256_add_ps(sums.even.1, sums.odd.1)) }
            if n > 2 { out[2 * outStride] = Self.total(_mm256_add_ps(sums.even.2, sums.odd.2)) }
            if n > 3 { out[3 * outStride] = Self.total(_mm256_add_ps(sums.even.3, sums.odd.3)) }
        }

        /// `Tokens.count` tokens from `t` on against one row, pair by pair; the pairs' offsets meet
        /// the tokens' half-block sums once per group of eight sub-blocks.
        @inline(__always)
        private func sums<Row: Int8PairSource, Tokens: DecodeTokens>(_ row: Row, _: Tokens.Type, from t: Int) -> Int8Sums<Tokens> {
            let n = Tokens.count
            let tokens = (x.token(t), x.token(t + min(1, n - 1)), x.token(t + min(2, n - 1)), x.token(t + min(3, n - 1)))
            var sums = Int8Sums<Tokens>()
            // Whole groups with a constant count, so that their loop has no tests.
            let (whole, rest) = shape.pairs.quotientAndRemainder(dividingBy: 4)
            for g in 0..<whole { sums.add(row, group: g, pairs: 4, tokens) }
            if rest > 0 { sums.add(row, group: whole, pairs: rest, tokens) }
            return sums
        }

        /// The lanes of a row's sums (`Int8Sums.even` plus `.odd`) added pairwise (`SIMD8.sum()`
        /// adds them one after another).
        @inline(__always)
        private static func total(_ v: __m256) -> Float {
            let four = v.lowHalf + v.highHalf
            let two = four.lowHalf + four.highHalf
            return two[0] + two[1]
        }

        /// `total` of four rows' lanes, side by side: each row's the same additions in the same
        /// order (halves, then lanes 0 and 1 with 2 and 3, then the last two).
        @inline(__always)
        private static func totals(_ a: __m256, _ b: __m256, _ c: __m256, _ d: __m256) -> __m128 {
            let four = (a.lowHalf + a.highHalf, b.lowHalf + b.highHalf, c.lowHalf + c.highHalf, d.lowHalf + d.highHalf)
            // [a₀ + a₂, a₁ + a₃, b₀ + b₂, b₁ + b₃] and the same of c and d; `vhaddps` adds neighbours.
            let ab = _mm_add_ps(_mm_movelh_ps(four.0, four.1), _mm_movehl_ps(four.1, four.0))
            let cd = _mm_add_ps(_mm_movelh_ps(four.2, four.3), _mm_movehl_ps(four.3, four.2))
            return _mm_hadd_ps(ab, cd)
        }
    }

    /// One to four tokens' sums against one row (`Int8Rows.meet`): even and odd pairs in two
    /// chains, so that consecutive pairs do not wait on each other; the offsets of first halves join
    /// the even chain, those of second halves the odd one (two sums per token, so that four tokens'
    /// sums stay in registers). A struct with mutating methods rather than local functions that
    /// capture the sums: captured, they were checked for exclusive access at run time.
    struct Int8Sums<Tokens: DecodeTokens> {
        typealias Sums = (__m256, __m256, __m256, __m256)
        typealias Token = QuantizedActivations.Token
        var even: Sums = (_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps())
        var odd: Sums = (_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps())

        /// `sums` plus `pair` times each token's pair `p`.
        @inline(__always)
        static func add<F>(_ pair: Int8Pair<F>, _ p: Int, _ tokens: (Token, Token, Token, Token), to sums: Sums) -> Sums {
            let n = Tokens.count
            var result = sums
            result.0 = pair.add(tokens.0, p, to: result.0)
            if n > 1 { result.1 = pair.add(tokens.1, p, to: result.1) }
            if n > 2 { result.2 = pair.add(tokens.2, p, to: result.2) }
            if n > 3 { result.3 = pair.add(tokens.3, p, to: result.3) }
            return result
        }

        /// Adds group `g`'s `pairs` pairs (up to four), then their offsets times the tokens'
        /// half-block sums.
        @inline(__always)
        mutating func add<Row: Int8PairSource>(_ row: Row, group g: Int, pairs: Int, _ tokens: (Token, Token, Token, Token)) {
            let zero = _mm_setzero_ps()
            var offsets = (zero, zero, zero, zero)
            if pairs > 0 {
                let pair = row.pair(4 * g)
                (even, offsets.0) = (Self.add(pair, 4 * g, tokens, to: even), pair.offsets)
            }
            if pairs > 1 {
                let pair = row.pair(4 * g + 1)
                (odd, offsets.1) = (Self.add(pair, 4 * g + 1, tokens, to: odd), pair.offsets)
            }
            if pairs > 2 {
                let pair = row.pair(4 * g + 2)
                (even, offsets.2) = (Self.add(pair, 4 * g + 2, tokens, to: even), pair.offsets)
            }
            if pairs > 3 {
                let pair = row.pair(4 * g + 3)
                (odd, offsets.3) = (Self.add(pair, 4 * g + 3, tokens, to: odd), pair.offsets)
            }
            guard Row.Format.hasOffsets else { return }
            // Four pairs' [first₀, first₁, second₀, second₁] as the group's eight first-half
            // offsets and eight second-half ones.
            let (a, b) = (_mm256_set_m128(offsets.2, offsets.0), _mm256_set_m128(offsets.3, offsets.1))
            let halves = (
                _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(a), _mm256_castps_pd(b))),
                _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(a), _mm256_castps_pd(b)))
            )
            @inline(__always) func first(_ x: Token, _ sums: __m256) -> __m256 {
                _mm256_fmadd_ps(halves.0, _mm256_loadu_ps(x.firstSums + 8 * g), sums)
            }
            @inline(__always) func second(_ x: Token, _ sums: __m256) -> __m256 {
                _mm256_fmadd_ps(halves.1, _mm256_loadu_ps(x.secondSums + 8 * g), sums)
            }
            let n = Tokens.count
            (even.0, odd.0) = (first(tokens.0, even.0), second(tokens.0, odd.0))
            if n > 1 { (even.1, odd.1) = (first(tokens.1, even.1), second(tokens.1, odd.1)) }
            if n > 2 { (even.2, odd.2) = (first(tokens.2, even.2), second(tokens.2, odd.2)) }
            if n > 3 { (even.3, odd.3) = (first(tokens.3, even.3), second(tokens.3, odd.3)) }
        }
    }

    /// Two sub-blocks of 32 values of a weight row, decoded: sub-block `i`'s values are
    /// `scale_i · q · m + offset`, `q` its unsigned codes, `m` one or a 16-bit multiplier per half
    /// (`Int8Extra`), the offset one per half. Shared in registers by the tokens that meet it.
    /// Vectors hold the two sub-blocks' first halves (the first's in the low 128 bits), then their
    /// second halves (`interleaved`), as the activations do, so that one `vpmaddubsw` gives a half
    /// of each sub-block in lanes of its own.
    struct Int8Pair<F: Int8Codes> {
        let codes: (__m256i, __m256i)
        /// The signed codes (`Int8Extra.signs`), or the 16-bit multipliers of the products of the
        /// first halves and of the second halves (`Int8Extra.multipliers`); ones otherwise.
        let extra: (__m256i, __m256i)
        /// The sub-blocks' scales in the lanes of their sums: 0–3 for the first, 4–7 for the second.
        let scales: __m256
        /// What each value adds: [first half of the first, first half of the second, second half
        /// of the first, second half of the second].
        let offsets: __m128

        /// Sub-blocks `a` and `b` (32 values each, in order) as the vector of their first halves
        /// and the vector of their second halves.
        @inline(__always)
        static func interleaved(_ a: __m256i, _ b: __m256i) -> (__m256i, __m256i) {
            let upper = _mm256_setr_epi32(0, 0, 0, 0, -1, -1, -1, -1)
            let highOfA = _mm256_permutevar8x32_epi32(a, _mm256_setr_epi32(4, 5, 6, 7, 4, 5, 6, 7))
            return (_mm256_set_m128i(_mm256_castsi256_si128(b), _mm256_castsi256_si128(a)), _mm256_blendv_epi8(highOfA, b, upper))
        }

        /// `sums` plus the pair times token `x`'s values of pair `p`: exact integer sums of each
        /// sub-block (four lanes each, in the order of `scales`), then both scales.
        @inline(__always)
        func add(_ x: QuantizedActivations.Token, _ p: Int, to sums: __m256) -> __m256 {
            let v = (load32(x.values + 64 * p), load32(x.values + 64 * p + 32))
            let ones = _mm256_set1_epi16(1)
            let dots: __m256i
            switch F.extra {
            case .signs:
                // Q8_0's products reach 2·128·127 per 16-bit lane, so each half widens first.
                dots = _mm256_add_epi32(
                    _mm256_madd_epi16(_mm256_maddubs_epi16(codes.0, _mm256_sign_epi8(v.0, extra.0)), ones),
                    _mm256_madd_epi16(_mm256_maddubs_epi16(codes.1, _mm256_sign_epi8(v.1, extra.1)), ones))
            case .multipliers:
                dots = _mm256_add_epi32(
                    _mm256_madd_epi16(_mm256_maddubs_epi16(codes.0, v.0), extra.0),
                    _mm256_madd_epi16(_mm256_maddubs_epi16(codes.1, v.1), extra.1))
            case .none:
                // Codes below 64 keep two lanes' products under 2·2·63·127 < 2¹⁵, so both halves'
                // 16-bit sums add before one widening `vpmaddwd`.
                let halves = _mm256_add_epi16(_mm256_maddubs_epi16(codes.0, v.0), _mm256_maddubs_epi16(codes.1, v.1))
                dots = _mm256_madd_epi16(halves, ones)
            }
            return _mm256_fmadd_ps(_mm256_mul_ps(scales, _mm256_loadu_ps(x.scales + 8 * p)), _mm256_cvtepi32_ps(dots), sums)
        }
    }

    /// Where `Int8Rows.meet` takes a row's pairs from.
    protocol Int8PairSource {
        associatedtype Format: Int8Codes
        /// Pair `p`.
        func pair(_ p: Int) -> Int8Pair<Format>
    }

    /// Where `Int8Rows.dot` takes a weight's rows from.
    protocol Int8RowSource {
        associatedtype Row: Int8PairSource
        /// Row `n`.
        func row(_ n: Int) -> Row
    }

    /// The rows of a ggml weight, `rowBytes` apart.
    struct BlockRows<F: Int8BlockFormat>: Int8RowSource {
        let w: UnsafeRawPointer, rowBytes: Int, shape: Int8Shape

        @inline(__always)
        func row(_ n: Int) -> BlockRow<F> { BlockRow(row: w + n * rowBytes, shape: shape) }
    }

    /// A row's blocks as the file stores them, each pair decoded when it is asked for.
    struct BlockRow<F: Int8BlockFormat>: Int8PairSource {
        let row: UnsafeRawPointer, shape: Int8Shape

        @inline(__always)
        func pair(_ p: Int) -> Int8Pair<F> { F.pair(row, p, single: 2 * p + 1 == shape.subBlocks) }
    }

    /// A row decoded into memory, pair after pair: codes, signs or multipliers where the format
    /// has them (`Int8Extra`), scales, offsets.
    struct DecodedRow<F: Int8Codes>: Int8PairSource {
        let base: UnsafeMutableRawPointer, shape: Int8Shape

        init(_ base: UnsafeMutableRawPointer, shape: Int8Shape) { (self.base, self.shape) = (base, shape) }

        /// Bytes of one pair (the offsets padded to 32).
        static var pairBytes: Int { 64 + (F.extra == .none ? 0 : 64) + 32 + 32 }
        /// Bytes of a decoded row.
        static func bytes(_ shape: Int8Shape) -> Int { shape.pairs * pairBytes }

        /// Decodes the pairs of `source`.
        @inline(__always)
        func decode<Source: Int8PairSource>(_ source: Source) where Source.Format == F {
            for p in 0..<shape.pairs {
                let pair = source.pair(p), at = base + p * Self.pairBytes
                store32(at, pair.codes.0)
                store32(at + 32, pair.codes.1)
                if F.extra != .none {
                    store32(at + 64, pair.extra.0)
                    store32(at + 96, pair.extra.1)
                }
                let floats = at + Self.pairBytes - 64
                _mm256_storeu_ps(floats.assumingMemoryBound(to: Float.self), pair.scales)
                _mm_storeu_ps((floats + 32).assumingMemoryBound(to: Float.self), pair.offsets)
            }
        }

        @inline(__always)
        func pair(_ p: Int) -> Int8Pair<F> {
            let at = base + p * Self.pairBytes
            let floats = (at + Self.pairBytes - 64).assumingMemoryBound(to: Float.self)
            let extra = F.extra == .none ? (_mm256_set1_epi16(1), _mm256_set1_epi16(1)) : (load32(at + 64), load32(at + 96))
            return Int8Pair(
                codes: (load32(at), load32(at + 32)), extra: extra, scales: _mm256_loadu_ps(floats),
                offsets: _mm_loadu_ps(floats + 8))
        }
    }
#endif
