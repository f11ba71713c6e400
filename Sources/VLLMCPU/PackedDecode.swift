import VLLMCore

#if arch(x86_64)
    import _Builtin_intrinsics.intel
#endif

/// `out[t, n] = Σ_k x[t, k] · w[n, k]` for 1 to `maxTokens` tokens (decode steps) and weights
/// that stay packed (`WeightFormat.packedInt`, `.fp8`, `.lookupTable`), parallel over the rows of
/// `w`. Each row is read once, straight from its packed form: eight values at a time become a
/// `SIMD8<Float>` in registers (integers and FP8 codes through their bits, table indices through
/// the row's table) and are multiplied with every token while the slice of `x` is in L1. For
/// integers the zero point is folded out of the loop, `scale · (Σ q·x − zero · Σ x)` per group,
/// with `Σ x` per token and group computed once per product. Larger batches dequantize tiles of
/// rows instead (`PackedMatMul`), where the decoding is shared by many tokens.
enum PackedDecode {
    /// Token counts up to which products take this path.
    static let maxTokens = 4

    /// A `WeightFormat.packedInt` weight of one or more parts (`PackedIntParts`), `bits`-bit codes
    /// in groups of `groupSize`: the group sums (and reordered activations) are computed once for
    /// all the parts, whose rows share one parallel pass.
    static func multiplyInt(
        x: UnsafePointer<Float>, T: Int, K: Int, parts: PackedIntParts, bits: Int, groupSize: Int,
        out: UnsafeMutablePointer<Float>, outStride: Int
    ) {
        precondition(T >= 1 && T <= maxTokens && (bits == 4 || bits == 8) && K % groupSize == 0)
        if groupSize % (256 / bits) == 0 {
            multiplyIntBlocks(x: x, T: T, K: K, parts: parts, bits: bits, groupSize: groupSize, out: out, outStride: outStride)
            return
        }
        withUnsafeTemporaryAllocation(of: Float.self, capacity: maxTokens * (K / groupSize)) { sums in
            groupSums(x, T: T, K: K, groupSize: groupSize, into: sums.baseAddress!)
            let sums = UnsafePointer(sums.baseAddress!)
            ParallelFor.run(parts.rows, costPerItem: K * (T + 2) / 2) { range in
                parts.forEach(in: range) { part, rows, column in
                    let (weights, out) = (IntRows(part, K: K, groupSize: groupSize), out + column)
                    // Token counts as types, so that each loop is specialised for its count.
                    switch T {
                    case 1: weights.dot(rows, OneToken.self, bits: bits, x: x, sums: sums, out: out, outStride: outStride)
                    case 2: weights.dot(rows, TwoTokens.self, bits: bits, x: x, sums: sums, out: out, outStride: outStride)
                    case 3: weights.dot(rows, ThreeTokens.self, bits: bits, x: x, sums: sums, out: out, outStride: outStride)
                    default: weights.dot(rows, FourTokens.self, bits: bits, x: x, sums: sums, out: out, outStride: outStride)
                    }
                }
            }
        }
    }

    /// Groups made of whole blocks of 8 words (64 int4 or 32 int8 values): each block is one
    /// 32-byte load, and value `j` of every word is masked in place (`q · 2^(bits·j)`, converted
    /// exactly) and multiplied with activations reordered and scaled by `2^(−bits·j)` to match.
    private static func multiplyIntBlocks(
        x: UnsafePointer<Float>, T: Int, K: Int, parts: PackedIntParts, bits: Int, groupSize: Int,
        out: UnsafeMutablePointer<Float>, outStride: Int
    ) {
        let (groups, perWord) = (K / groupSize, 32 / bits)
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: maxTokens * groups + T * K)
        defer { buffer.deallocate() }
        let xp = buffer + maxTokens * groups
        groupSums(x, T: T, K: K, groupSize: groupSize, into: buffer)
        interleave(x, T: T, K: K, perWord: perWord, into: xp) { j in
            // The top value is shifted down one place before masking, so that its integer stays positive.
            Float(sign: .plus, exponent: -bits * (j == perWord - 1 ? j - 1 : j), significand: 1)
        }
        let (x, sums) = (UnsafePointer(xp), UnsafePointer(buffer))
        ParallelFor.run(parts.rows, costPerItem: K * (T + 1) / 2) { range in
            parts.forEach(in: range) { part, rows, column in
                let (weights, out) = (IntRows(part, K: K, groupSize: groupSize), out + column)
                switch (bits, T) {
                case (4, 1): weights.dotBlocks(rows, Int4Block.self, OneToken.self, x: x, sums: sums, out: out, outStride: outStride)
                case (4, 2): weights.dotBlocks(rows, Int4Block.self, TwoTokens.self, x: x, sums: sums, out: out, outStride: outStride)
                case (4, 3): weights.dotBlocks(rows, Int4Block.self, ThreeTokens.self, x: x, sums: sums, out: out, outStride: outStride)
                case (4, _): weights.dotBlocks(rows, Int4Block.self, FourTokens.self, x: x, sums: sums, out: out, outStride: outStride)
                case (_, 1): weights.dotBlocks(rows, Int8Block.self, OneToken.self, x: x, sums: sums, out: out, outStride: outStride)
                case (_, 2): weights.dotBlocks(rows, Int8Block.self, TwoTokens.self, x: x, sums: sums, out: out, outStride: outStride)
                case (_, 3): weights.dotBlocks(rows, Int8Block.self, ThreeTokens.self, x: x, sums: sums, out: out, outStride: outStride)
                case (_, _): weights.dotBlocks(rows, Int8Block.self, FourTokens.self, x: x, sums: sums, out: out, outStride: outStride)
                }
            }
        }
    }

    /// `x` with every block of `8 · perWord` inputs (8 packed words) reordered so that its chunk
    /// `j` of 8 floats holds value `j` of each word, times `scale(j)`:
    /// `xp[b + 8j + i] = x[b + perWord·i + j] · scale(j)`.
    private static func interleave(
        _ x: UnsafePointer<Float>, T: Int, K: Int, perWord: Int, into xp: UnsafeMutablePointer<Float>, scale: (Int) -> Float
    ) {
        let factors = (0..<perWord).map(scale)
        for t in 0..<T {
            for b in stride(from: 0, to: K, by: 8 * perWord) {
                for j in 0..<perWord {
                    for i in 0..<8 { xp[t * K + b + 8 * j + i] = x[t * K + b + perWord * i + j] * factors[j] }
                }
            }
        }
    }

    /// A `WeightFormat.fp8` matrix: e4m3 `codes [N, K]`, `scales [N, ⌈K/blockColumns⌉]`.
    static func multiplyFP8(
        x: UnsafePointer<Float>, T: Int, K: Int, N: Int, codes: UnsafePointer<UInt8>, scales: UnsafePointer<Float>,
        blockColumns: Int, out: UnsafeMutablePointer<Float>, outStride: Int
    ) {
        precondition(T >= 1 && T <= maxTokens)
        let weights = FP8Rows(codes: codes, scales: scales, K: K, blockColumns: min(blockColumns, K))
        if K % 32 == 0 && weights.blockColumns % 32 == 0 {
            // Blocks of 32 codes, one 32-byte load each; byte j of every word is read in place as a
            // float's bits, `code · 2⁻¹²⁰`, and the activations are scaled by 2⁶⁰ and reordered to
            // match (the other 2⁶⁰ goes to the scales).
            let xp = UnsafeMutablePointer<Float>.allocate(capacity: T * K)
            defer { xp.deallocate() }
            interleave(x, T: T, K: K, perWord: 4, into: xp) { _ in 0x1p60 }
            let x = UnsafePointer(xp)
            ParallelFor.run(N, costPerItem: K * (T + 2) / 2) { rows in
                switch T {
                case 1: weights.dotBlocks(rows, OneToken.self, x: x, out: out, outStride: outStride)
                case 2: weights.dotBlocks(rows, TwoTokens.self, x: x, out: out, outStride: outStride)
                case 3: weights.dotBlocks(rows, ThreeTokens.self, x: x, out: out, outStride: outStride)
                default: weights.dotBlocks(rows, FourTokens.self, x: x, out: out, outStride: outStride)
                }
            }
            return
        }
        ParallelFor.run(N, costPerItem: K * (T + 3) / 2) { rows in
            switch T {
            case 1: weights.dot(rows, OneToken.self, x: x, out: out, outStride: outStride)
            case 2: weights.dot(rows, TwoTokens.self, x: x, out: out, outStride: outStride)
            case 3: weights.dot(rows, ThreeTokens.self, x: x, out: out, outStride: outStride)
            default: weights.dot(rows, FourTokens.self, x: x, out: out, outStride: outStride)
            }
        }
    }

    /// A `WeightFormat.lookupTable` matrix of 4-bit indices: `packed [N, K/8]`, `table [N, 16]`.
    static func multiplyLookup(
        x: UnsafePointer<Float>, T: Int, K: Int, N: Int, packed: UnsafePointer<UInt32>, table: UnsafePointer<Float>,
        out: UnsafeMutablePointer<Float>, outStride: Int
    ) {
        precondition(T >= 1 && T <= maxTokens && K % 8 == 0)
        let weights = LookupRows(packed: packed, table: table, K: K)
        weights.withInterleaved(x, T: T) { x in
            ParallelFor.run(N, costPerItem: K * (T + 3) / 2) { rows in
                switch T {
                case 1: weights.dot(rows, OneToken.self, x: x, out: out, outStride: outStride)
                case 2: weights.dot(rows, TwoTokens.self, x: x, out: out, outStride: outStride)
                case 3: weights.dot(rows, ThreeTokens.self, x: x, out: out, outStride: outStride)
                default: weights.dot(rows, FourTokens.self, x: x, out: out, outStride: outStride)
                }
            }
        }
    }

    /// `Σ x[t, k]` over each group of `groupSize` inputs, `[maxTokens, groups]` (rows past `T` zero).
    private static func groupSums(_ x: UnsafePointer<Float>, T: Int, K: Int, groupSize: Int, into sums: UnsafeMutablePointer<Float>) {
        let groups = K / groupSize
        sums.initialize(repeating: 0, count: maxTokens * groups)
        for t in 0..<T {
            for g in 0..<groups {
                var s = SIMD8<Float>(), tail: Float = 0
                var k = g * groupSize
                let end = k + groupSize
                while k + 8 <= end { s += loadFloats(x + t * K + k); k += 8 }
                while k < end { tail += x[t * K + k]; k += 1 }
                sums[t * groups + g] = s.sum() + tail
            }
        }
    }
}

/// A token count as a type (with its number of accumulator chains per token), so that the decode
/// loops, generic over it, are specialised for each count with the count a constant.
protocol DecodeTokens {
    static var count: Int { get }
    /// Independent accumulators per token (4 for one token, 8 in all for two, 6 or 8 for more).
    static var chains: Int { get }
}
enum OneToken: DecodeTokens { static var count: Int { 1 }; static var chains: Int { 4 } }
enum TwoTokens: DecodeTokens { static var count: Int { 2 }; static var chains: Int { 4 } }
enum ThreeTokens: DecodeTokens { static var count: Int { 3 }; static var chains: Int { 2 } }
enum FourTokens: DecodeTokens { static var count: Int { 4 }; static var chains: Int { 2 } }

/// One SIMD8 accumulator per token; `T` is a constant where the kernels call it, so the unused
/// ones vanish.
struct TokenSums {
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()

    /// `a_t += w · x[t, k..<k+8]` for `x` pointing at column `k` of token 0.
    @inline(__always)
    mutating func add(_ w: SIMD8<Float>, x: UnsafePointer<Float>, K: Int, T: Int) {
        a0.accumulate(loadFloats(x), w)
        if T > 1 { a1.accumulate(loadFloats(x + K), w) }
        if T > 2 { a2.accumulate(loadFloats(x + 2 * K), w) }
        if T > 3 { a3.accumulate(loadFloats(x + 3 * K), w) }
    }

    /// `a_t += other_t · scale`.
    @inline(__always)
    mutating func add(_ other: TokenSums, times scale: Float, T: Int) {
        let s = SIMD8<Float>(repeating: scale)
        a0.accumulate(other.a0, s)
        if T > 1 { a1.accumulate(other.a1, s) }
        if T > 2 { a2.accumulate(other.a2, s) }
        if T > 3 { a3.accumulate(other.a3, s) }
    }

    /// Lane 0 of token `t` gets `value` (scalar tails).
    @inline(__always)
    mutating func addScalar(_ value: Float, token t: Int) {
        switch t {
        case 0: a0[0] += value
        case 1: a1[0] += value
        case 2: a2[0] += value
        default: a3[0] += value
        }
    }

    /// Writes `Σ a_t − correction[t]` to `out[t · outStride]`.
    @inline(__always)
    func store(_ out: UnsafeMutablePointer<Float>, outStride: Int, T: Int, minus correction: SIMD4<Float> = SIMD4()) {
        out[0] = a0.sum() - correction[0]
        if T > 1 { out[outStride] = a1.sum() - correction[1] }
        if T > 2 { out[2 * outStride] = a2.sum() - correction[2] }
        if T > 3 { out[3 * outStride] = a3.sum() - correction[3] }
    }
}

/// Independent accumulators: `chains` per token (`DecodeTokens.chains`), so that
/// consecutive multiply-adds do not wait on each other. `T` and `chains` are constants where the
/// kernels call it, so the unused ones vanish.
struct Chains {
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
    var a4 = SIMD8<Float>(), a5 = SIMD8<Float>(), a6 = SIMD8<Float>(), a7 = SIMD8<Float>()

    /// Accumulator `slot` += `x · w` (the switch folds away for a constant slot).
    @inline(__always)
    mutating func fma(_ slot: Int, _ x: SIMD8<Float>, _ w: SIMD8<Float>) {
        switch slot {
        case 0: a0.accumulate(x, w)
        case 1: a1.accumulate(x, w)
        case 2: a2.accumulate(x, w)
        case 3: a3.accumulate(x, w)
        case 4: a4.accumulate(x, w)
        case 5: a5.accumulate(x, w)
        case 6: a6.accumulate(x, w)
        default: a7.accumulate(x, w)
        }
    }

    /// Chunk `j` of a block: `w` times the 8 activations at `x` of every token.
    @inline(__always)
    mutating func add(_ j: Int, _ w: SIMD8<Float>, x: UnsafePointer<Float>, K: Int, T: Int, chains: Int) {
        for t in 0..<T { fma(t * chains + j % chains, loadFloats(x + t * K), w) }
    }

    /// The chains of each token summed, as `TokenSums`.
    @inline(__always)
    func tokens(T: Int, chains: Int) -> TokenSums {
        var result = TokenSums()
        if chains == 8 {
            result.a0 = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
        } else if chains == 4 {
            result.a0 = (a0 + a1) + (a2 + a3)
            if T > 1 { result.a1 = (a4 + a5) + (a6 + a7) }
        } else {
            result.a0 = a0 + a1
            if T > 1 { result.a1 = a2 + a3 }
            if T > 2 { result.a2 = a4 + a5 }
            if T > 3 { result.a3 = a6 + a7 }
        }
        return result
    }
}

/// Integer SIMD lanes as floats (`vcvtdq2ps`); exact below 2²⁴ · 2^k for values with k low zero bits.
@inline(__always)
private func converted(_ v: SIMD8<UInt32>) -> SIMD8<Float> {
    SIMD8<Float>(SIMD8<Int32>(truncatingIfNeeded: v))
}

/// Exact small integers as floats: `v | 2²³`'s bits are the float `2²³ + v` (v < 2²³).
@inline(__always)
func floats(_ v: SIMD8<UInt32>) -> SIMD8<Float> {
    unsafeBitCast(v | 0x4B00_0000, to: SIMD8<Float>.self) - 0x1p23
}

/// Eight packed `bits`-bit values starting at value `k` of a row of words, low bits first.
@inline(__always)
func unpack(_ row: UnsafePointer<UInt32>, _ k: Int, bits: Int) -> SIMD8<UInt32> {
    if bits == 4 {
        return (SIMD8(repeating: row[k >> 3]) &>> SIMD8(0, 4, 8, 12, 16, 20, 24, 28)) & 0xF
    }
    let (w0, w1) = (row[k >> 2], row[(k >> 2) + 1])
    return (SIMD8(w0, w0, w0, w0, w1, w1, w1, w1) &>> SIMD8(0, 8, 16, 24, 0, 8, 16, 24)) & 0xFF
}

/// The rows of a `WeightFormat.packedInt` matrix.
private struct IntRows {
    let packed: UnsafePointer<UInt32>, scales: UnsafePointer<Float>, zeros: UnsafePointer<Float>
    let K: Int, groupSize: Int

    /// The rows of one part of a fused weight of `K` inputs in groups of `groupSize`.
    init(_ part: PackedIntParts.Part, K: Int, groupSize: Int) {
        (packed, scales, zeros) = (part.packed, part.scales, part.zeros)
        (self.K, self.groupSize) = (K, groupSize)
    }

    /// Rows `rows` of the product, word by word (any group of a multiple of 8 values, or int8 of 8·i + 4).
    func dot<C: DecodeTokens>(
        _ rows: Range<Int>, _: C.Type, bits: Int, x: UnsafePointer<Float>, sums: UnsafePointer<Float>,
        out: UnsafeMutablePointer<Float>, outStride: Int
    ) {
        let T = C.count
        let groups = K / groupSize, words = K * bits / 32
        for n in rows {
            let row = packed + n * words
            var total = TokenSums(), correction = SIMD4<Float>()
            for g in 0..<groups {
                var group = TokenSums()
                var k = g * groupSize
                let end = k + groupSize
                while k + 8 <= end {
                    group.add(floats(unpack(row, k, bits: bits)), x: x + k, K: K, T: T)
                    k += 8
                }
                while k < end {  // int8 groups of 8·i + 4 inputs
                    let q = Float((row[k * bits / 32] >> UInt32((k % (32 / bits)) * bits)) & ((1 << UInt32(bits)) - 1))
                    for t in 0..<T { group.addScalar(q * x[t * K + k], token: t) }
                    k += 1
                }
                let scale = scales[n * groups + g], zero = zeros[n * groups + g]
                total.add(group, times: scale, T: T)
                let z = scale * zero
                correction += SIMD4(sums[g], sums[groups + g], sums[2 * groups + g], sums[3 * groups + g]) * z
            }
            total.store(out + n, outStride: outStride, T: T, minus: correction)
        }
    }
}

/// How the values of one 32-byte block of packed integers are read in place.
protocol IntBlock {
    /// Values in a block of 8 words.
    static var perBlock: Int { get }
    /// Adds the block `v` against the interleaved activations at `x` to `acc`.
    static func add<C: DecodeTokens>(_ v: SIMD8<UInt32>, x: UnsafePointer<Float>, K: Int, into acc: inout Chains, _: C.Type)
}

/// 64 int4 values: nibble j of each word masked in place is `q · 16^j` (the top one shifted
/// down a nibble first, so that its integer stays positive).
enum Int4Block: IntBlock {
    static var perBlock: Int { 64 }

    @inline(__always)
    static func add<C: DecodeTokens>(_ v: SIMD8<UInt32>, x: UnsafePointer<Float>, K: Int, into acc: inout Chains, _: C.Type) {
        let (T, c) = (C.count, C.chains)
        acc.add(0, converted(v & 0xF), x: x, K: K, T: T, chains: c)
        acc.add(1, converted(v & 0xF0), x: x + 8, K: K, T: T, chains: c)
        acc.add(2, converted(v & 0xF00), x: x + 16, K: K, T: T, chains: c)
        acc.add(3, converted(v & 0xF000), x: x + 24, K: K, T: T, chains: c)
        acc.add(4, converted(v & 0xF_0000), x: x + 32, K: K, T: T, chains: c)
        acc.add(5, converted(v & 0xF0_0000), x: x + 40, K: K, T: T, chains: c)
        acc.add(6, converted(v & 0xF00_0000), x: x + 48, K: K, T: T, chains: c)
        acc.add(7, converted((v &>> 4) & 0xF00_0000), x: x + 56, K: K, T: T, chains: c)
    }
}

/// 32 int8 values: byte j of each word masked in place is `q · 256^j` (the top one shifted down).
enum Int8Block: IntBlock {
    static var perBlock: Int { 32 }

    @inline(__always)
    static func add<C: DecodeTokens>(_ v: SIMD8<UInt32>, x: UnsafePointer<Float>, K: Int, into acc: inout Chains, _: C.Type) {
        let (T, c) = (C.count, C.chains)
        acc.add(0, converted(v & 0xFF), x: x, K: K, T: T, chains: c)
        acc.add(1, converted(v & 0xFF00), x: x + 8, K: K, T: T, chains: c)
        acc.add(2, converted(v & 0xFF_0000), x: x + 16, K: K, T: T, chains: c)
        acc.add(3, converted((v &>> 8) & 0xFF_0000), x: x + 24, K: K, T: T, chains: c)
    }
}

extension IntRows {
    /// Rows `rows` of the product for groups of whole blocks, `x` interleaved (`PackedDecode.interleave`).
    func dotBlocks<B: IntBlock, C: DecodeTokens>(
        _ rows: Range<Int>, _: B.Type, _: C.Type, x: UnsafePointer<Float>, sums: UnsafePointer<Float>,
        out: UnsafeMutablePointer<Float>, outStride: Int
    ) {
        let (T, perBlock) = (C.count, B.perBlock)
        let groups = K / groupSize, rowBytes = K * 32 / perBlock
        for n in rows {
            let row = UnsafeRawPointer(packed) + n * rowBytes
            var total = TokenSums(), correction = SIMD4<Float>()
            for g in 0..<groups {
                var acc = Chains()
                var k = g * groupSize
                let end = k + groupSize
                while k < end {
                    B.add(row.loadUnaligned(fromByteOffset: k * 32 / perBlock, as: SIMD8<UInt32>.self), x: x + k, K: K, into: &acc, C.self)
                    k += perBlock
                }
                let scale = scales[n * groups + g], zero = zeros[n * groups + g]
                total.add(acc.tokens(T: T, chains: C.chains), times: scale, T: T)
                correction += SIMD4(sums[g], sums[groups + g], sums[2 * groups + g], sums[3 * groups + g]) * (scale * zero)
            }
            total.store(out + n, outStride: outStride, T: T, minus: correction)
        }
    }
}

/// The rows of a `WeightFormat.fp8` matrix.
struct FP8Rows {
    let codes: UnsafePointer<UInt8>, scales: UnsafePointer<Float>
    let K: Int, blockColumns: Int

    /// Eight e4m3 codes as floats, exactly: the exponent and mantissa bits moved into a float's
    /// and rebiased (7 → 127); subnormal codes (exponent 0) get exponent 1 and lose its implicit
    /// one, `2⁻⁶ · (1 + m/8) − 2⁻⁶ = m · 2⁻⁹`. NaN codes (0x7F, 0xFF) come out as 480.
    @inline(__always)
    static func decode(_ p: UnsafePointer<UInt8>) -> SIMD8<Float> {
        let raw = UnsafeRawPointer(p)
        let (w0, w1) = (raw.loadUnaligned(as: UInt32.self), raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        let c = (SIMD8(w0, w0, w0, w0, w1, w1, w1, w1) &>> SIMD8(0, 8, 16, 24, 0, 8, 16, 24)) & 0xFF
        let magnitude = c & 0x7F
        let subnormal = (magnitude &- 8) &>> 31  // 1 where the exponent is 0
        let biased = (magnitude &<< 20) &+ (120 << 23) &+ (subnormal &<< 23)
        let value = unsafeBitCast(biased, to: SIMD8<Float>.self) - unsafeBitCast(subnormal &* (121 << 23), to: SIMD8<Float>.self)
        return unsafeBitCast(unsafeBitCast(value, to: SIMD8<UInt32>.self) | ((c & 0x80) &<< 24), to: SIMD8<Float>.self)
    }

    /// One 32-byte load of codes: byte `j` of every word, its exponent and mantissa moved to a
    /// float's bits 20...26 and its sign to bit 31, is `code · 2⁻¹²⁰` exactly (subnormal codes
    /// become float32 subnormals).
    @inline(__always)
    static func addBlock<C: DecodeTokens>(_ v: SIMD8<UInt32>, x: UnsafePointer<Float>, K: Int, into acc: inout Chains, _: C.Type) {
        let (T, chains) = (C.count, C.chains)
        let magnitude: UInt32 = 0x07F0_0000, sign: UInt32 = 0x8000_0000
        func float(_ bits: SIMD8<UInt32>) -> SIMD8<Float> { unsafeBitCast(bits, to: SIMD8<Float>.self) }
        acc.add(0, float(((v &<< 20) & magnitude) | ((v &<< 24) & sign)), x: x, K: K, T: T, chains: chains)
        acc.add(1, float(((v &<< 12) & magnitude) | ((v &<< 16) & sign)), x: x + 8, K: K, T: T, chains: chains)
        acc.add(2, float(((v &<< 4) & magnitude) | ((v &<< 8) & sign)), x: x + 16, K: K, T: T, chains: chains)
        acc.add(3, float(((v &>> 4) & magnitude) | (v & sign)), x: x + 24, K: K, T: T, chains: chains)
    }

    /// `dot` for `K` and blocks that are multiples of 32, `x` interleaved and scaled by 2⁶⁰.
    func dotBlocks<C: DecodeTokens>(
        _ rows: Range<Int>, _: C.Type, x: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, outStride: Int
    ) {
        let (T, chains) = (C.count, C.chains)
        let blocks = (K + blockColumns - 1) / blockColumns
        for n in rows {
            let row = UnsafeRawPointer(codes + n * K)
            var total = TokenSums()
            for b in 0..<blocks {
                var acc = Chains()
                var k = b * blockColumns
                let end = min(K, k + blockColumns)
                while k < end {
                    Self.addBlock(row.loadUnaligned(fromByteOffset: k, as: SIMD8<UInt32>.self), x: x + k, K: K, into: &acc, C.self)
                    k += 32
                }
                total.add(acc.tokens(T: T, chains: chains), times: scales[n * blocks + b] * 0x1p60, T: T)
            }
            total.store(out + n, outStride: outStride, T: T)
        }
    }

    /// Rows `rows` of the product, 8 codes at a time (any `K` and block width).
    func dot<C: DecodeTokens>(_ rows: Range<Int>, _: C.Type, x: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, outStride: Int) {
        let T = C.count
        let blocks = (K + blockColumns - 1) / blockColumns
        for n in rows {
            let row = codes + n * K
            var total = TokenSums()
            for b in 0..<blocks {
                var block = TokenSums()
                var k = b * blockColumns
                let end = min(K, k + blockColumns)
                while k + 8 <= end {
                    block.add(Self.decode(row + k), x: x + k, K: K, T: T)
                    k += 8
                }
                while k < end {
                    let w = FloatBits.float8E4M3ToFloat(row[k])
                    for t in 0..<T { block.addScalar(w * x[t * K + k], token: t) }
                    k += 1
                }
                total.add(block, times: scales[n * blocks + b], T: T)
            }
            total.store(out + n, outStride: outStride, T: T)
        }
    }
}

/// The rows of a `WeightFormat.lookupTable` matrix of 4-bit indices, read in blocks of 8 words
/// (64 indices, one 32-byte load) that `LookupTable16` turns into 8 chunks of 8 values in its own
/// order (`input`); the activations are reordered once per product to match (`withInterleaved`).
/// A row's last block is padded with index 0 against zero activations.
struct LookupRows {
    let packed: UnsafePointer<UInt32>, table: UnsafePointer<Float>
    let K: Int

    /// `K` rounded up to whole blocks: the row length of the interleaved activations.
    var width: Int { (K + 63) / 64 * 64 }

    /// The input (within its block) that lane `i` of chunk `c` of a block holds: the bytes of
    /// the block, low nibbles first (`c < 4`), in the order that byte shuffles and unpacks leave
    /// them in (`LookupTable16.half`).
    @inline(__always)
    static func input(chunk c: Int, lane i: Int) -> Int {
        32 * (i / 4) + 8 * (c % 4) + 2 * (i % 4) + c / 4
    }

    /// `body` with `x [T, K]` reordered to `[T, width]`, `xp[t, b + 8c + i] = x[t, b + input(c, i)]`
    /// for each block `b`, zero past `K`. The products only sum over the inputs, so reordering
    /// the activations and the weights alike leaves them unchanged.
    func withInterleaved<R>(_ x: UnsafePointer<Float>, T: Int, _ body: (UnsafePointer<Float>) -> R) -> R {
        let width = self.width
        let xp = UnsafeMutablePointer<Float>.allocate(capacity: T * width)
        defer { xp.deallocate() }
        for t in 0..<T {
            for b in stride(from: 0, to: width, by: 64) {
                for c in 0..<8 {
                    for i in 0..<8 {
                        let k = b + Self.input(chunk: c, lane: i)
                        xp[t * width + b + 8 * c + i] = k < K ? x[t * K + k] : 0
                    }
                }
            }
        }
        return body(xp)
    }

    /// Words `8b ..< 8b + 8` of `row`, zero past its end.
    @inline(__always)
    func block(_ row: UnsafePointer<UInt32>, _ b: Int) -> SIMD8<UInt32> {
        let words = K / 8
        if 8 * b + 8 <= words { return UnsafeRawPointer(row + 8 * b).loadUnaligned(as: SIMD8<UInt32>.self) }
        var v = SIMD8<UInt32>()
        for i in 0..<(words - 8 * b) { v[i] = row[8 * b + i] }
        return v
    }

    /// Rows `rows` of the product, `x` interleaved (`withInterleaved`).
    func dot<C: DecodeTokens>(_ rows: Range<Int>, _: C.Type, x: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, outStride: Int) {
        let (T, chains, width) = (C.count, C.chains, self.width)
        for n in rows {
            let row = packed + n * (K / 8), values = LookupTable16(table + n * 16)
            var acc = Chains()
            for b in 0..<(width / 64) {
                let v = block(row, b), xb = x + 64 * b
                // Written out, so that each accumulator is a constant.
                let low = values.half(v, 0)
                acc.add(0, low.0, x: xb, K: width, T: T, chains: chains)
                acc.add(1, low.1, x: xb + 8, K: width, T: T, chains: chains)
                acc.add(2, low.2, x: xb + 16, K: width, T: T, chains: chains)
                acc.add(3, low.3, x: xb + 24, K: width, T: T, chains: chains)
                let high = values.half(v, 1)
                acc.add(4, high.0, x: xb + 32, K: width, T: T, chains: chains)
                acc.add(5, high.1, x: xb + 40, K: width, T: T, chains: chains)
                acc.add(6, high.2, x: xb + 48, K: width, T: T, chains: chains)
                acc.add(7, high.3, x: xb + 56, K: width, T: T, chains: chains)
            }
            acc.tokens(T: T, chains: chains).store(out + n, outStride: outStride, T: T)
        }
    }

    /// Row `n` as `width` floats in the interleaved order, into `out`.
    func dequantize(row n: Int, into out: UnsafeMutablePointer<Float>) {
        let row = packed + n * (K / 8), values = LookupTable16(table + n * 16)
        for b in 0..<(width / 64) {
            let v = block(row, b), o = UnsafeMutableRawPointer(out + 64 * b)
            for h in 0..<2 {
                let chunks = values.half(v, h)
                o.storeBytes(of: chunks.0, toByteOffset: 128 * h, as: SIMD8<Float>.self)
                o.storeBytes(of: chunks.1, toByteOffset: 128 * h + 32, as: SIMD8<Float>.self)
                o.storeBytes(of: chunks.2, toByteOffset: 128 * h + 64, as: SIMD8<Float>.self)
                o.storeBytes(of: chunks.3, toByteOffset: 128 * h + 96, as: SIMD8<Float>.self)
            }
        }
    }
}

/// One row's table of 16 floats. On x86-64 it is held as 4 byte planes (plane `b`: byte `b` of
/// each entry, in both 128-bit lanes), so that one byte shuffle looks up a byte of 32 entries at
/// once and two rounds of unpacks put the bytes back together: 32 values in 12 shuffles, where
/// lane permutes (8 entries each) needed two and a blend per 8 values, and scalar loads 8.
/// Other architectures load the entries one by one, in the same order; both pick the same values.
struct LookupTable16 {
    /// Chunks `4h ..< 4h + 4` of a block of 8 words: their low (`h` 0) or high (`h` 1) nibbles.
    typealias Chunks = (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)

    #if arch(x86_64)
        let p0: __m256i, p1: __m256i, p2: __m256i, p3: __m256i

        @inline(__always)
        init(_ values: UnsafePointer<Float>) {
            // Each group of 4 entries with its bytes sorted by place, then a 4 × 4 transpose of words.
            let sort = _mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15)
            func sorted(_ i: Int) -> __m128i { _mm_shuffle_epi8(_mm_castps_si128(_mm_loadu_ps(values + 4 * i)), sort) }
            let (a, b, c, d) = (sorted(0), sorted(1), sorted(2), sorted(3))
            let (ab0, ab1) = (_mm_unpacklo_epi32(a, b), _mm_unpackhi_epi32(a, b))
            let (cd0, cd1) = (_mm_unpacklo_epi32(c, d), _mm_unpackhi_epi32(c, d))
            p0 = _mm256_broadcastsi128_si256(_mm_unpacklo_epi64(ab0, cd0))
            p1 = _mm256_broadcastsi128_si256(_mm_unpackhi_epi64(ab0, cd0))
            p2 = _mm256_broadcastsi128_si256(_mm_unpacklo_epi64(ab1, cd1))
            p3 = _mm256_broadcastsi128_si256(_mm_unpackhi_epi64(ab1, cd1))
        }

        /// The entries of the low (`h` 0) or high (`h` 1) nibbles of the 32 bytes of `words`.
        @inline(__always)
        func half(_ words: SIMD8<UInt32>, _ h: Int) -> Chunks {
            let index = unsafeBitCast((words &>> UInt32(4 * h)) & 0x0F0F_0F0F, to: __m256i.self)
            let (b0, b1) = (_mm256_shuffle_epi8(p0, index), _mm256_shuffle_epi8(p1, index))
            let (b2, b3) = (_mm256_shuffle_epi8(p2, index), _mm256_shuffle_epi8(p3, index))
            let (low01, high01) = (_mm256_unpacklo_epi8(b0, b1), _mm256_unpackhi_epi8(b0, b1))
            let (low23, high23) = (_mm256_unpacklo_epi8(b2, b3), _mm256_unpackhi_epi8(b2, b3))
            func floats(_ v: __m256i) -> SIMD8<Float> { unsafeBitCast(v, to: SIMD8<Float>.self) }
            return (
                floats(_mm256_unpacklo_epi16(low01, low23)), floats(_mm256_unpackhi_epi16(low01, low23)),
                floats(_mm256_unpacklo_epi16(high01, high23)), floats(_mm256_unpackhi_epi16(high01, high23))
            )
        }
    #else
        let values: UnsafePointer<Float>

        @inline(__always)
        init(_ values: UnsafePointer<Float>) { self.values = values }

        /// The entries of the low (`h` 0) or high (`h` 1) nibbles of the 32 bytes of `words`.
        @inline(__always)
        func half(_ words: SIMD8<UInt32>, _ h: Int) -> Chunks {
            func chunk(_ c: Int) -> SIMD8<Float> {
                var v = SIMD8<Float>()
                for i in 0..<8 {
                    let k = LookupRows.input(chunk: c, lane: i)
                    v[i] = values[Int((words[k / 8] >> UInt32(4 * (k % 8))) & 0xF)]
                }
                return v
            }
            return (chunk(4 * h), chunk(4 * h + 1), chunk(4 * h + 2), chunk(4 * h + 3))
        }
    #endif
}

// Kept in this file, so that builds without whole-module optimisation (debug) inline them too.
@inline(__always)
private func loadFloats(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

extension SIMD8 where Scalar == Float {
    /// `self += a * b`, fused.
    @inline(__always)
    fileprivate mutating func accumulate(_ a: SIMD8<Float>, _ b: SIMD8<Float>) {
        self = addingProduct(a, b)
    }
}
