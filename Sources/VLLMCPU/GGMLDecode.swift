import VLLMCore

/// `out[t, n] = Σ_k x[t, k] · w[n, k]` for 1 to 3 tokens (decode steps) and a weight whose rows
/// are ggml blocks, the blocks decoded in registers: eight values at a time become integer-valued
/// floats `q` (nibbles with their fifth or sixth bits, or signed bytes) and are multiplied with
/// every token's activations while the token's slice is in L1. A group's scale multiplies the
/// group's sum once, and its offset (`m`, `−8d`, `dmin·m`, ...) is folded out of the loop,
/// `Σ (d·q − c)·x = d·Σ q·x − c·Σ x`, with `Σ x` of every group and token computed once per product.
enum GGMLDecode {
    /// Token counts this path takes.
    static let maxTokens = 3

    /// Writes columns `0..<N` of `out` (rows `outStride` apart) for a block type (not a float type).
    static func multiply(
        x: UnsafePointer<Float>, w: UnsafeRawPointer, type: GGMLType, out: UnsafeMutablePointer<Float>, outStride: Int,
        T: Int, N: Int, K: Int
    ) {
        precondition(T >= 1 && T <= maxTokens && type.floatDType == nil)
        let group = type == .q6_K ? 16 : 32
        // A SIMD4 of sums per group (one lane per token, the unused ones zero), loaded as one vector.
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 * (K / group)) { buffer in
            let sums = buffer.baseAddress!
            groupSums(x, T: T, K: K, group: group, into: sums)
            let rows = GGMLRows(w: w, rowBytes: type.rowBytes(K), x: x, sums: UnsafePointer(sums), K: K)
            ParallelFor.run(N, costPerItem: K * (T + 2) / 2) { range in
                // The type and the token count as types, so that each loop is specialised for both.
                switch T {
                case 1: rows.dot(range, type, OneToken.self, out: out, outStride: outStride)
                case 2: rows.dot(range, type, TwoTokens.self, out: out, outStride: outStride)
                default: rows.dot(range, type, ThreeTokens.self, out: out, outStride: outStride)
                }
            }
        }
    }

    /// `Σ x[t, k]` over each group of `group` inputs, `[K/group, 4]` (lanes past `T` zero).
    private static func groupSums(_ x: UnsafePointer<Float>, T: Int, K: Int, group: Int, into sums: UnsafeMutablePointer<Float>) {
        let groups = K / group
        sums.initialize(repeating: 0, count: 4 * groups)
        for t in 0..<T {
            for g in 0..<groups {
                var s = SIMD8<Float>()
                for k in stride(from: g * group, to: (g + 1) * group, by: 8) { s += eight(x + t * K + k) }
                sums[4 * g + t] = s.sum()
            }
        }
    }
}

/// Partial sums of one row: two chains of scaled group sums per token (so that consecutive
/// groups do not wait on each other) and the folded offsets, `Σ c·Σx` per token.
struct RowSums {
    var even = TokenSums(), odd = TokenSums()
    var offsets = SIMD4<Float>()
}

/// The rows of one ggml weight and the activations they multiply.
private struct GGMLRows {
    let w: UnsafeRawPointer, rowBytes: Int
    let x: UnsafePointer<Float>, sums: UnsafePointer<Float>, K: Int

    /// Rows `rows` of the product.
    @inline(__always)
    func dot<C: DecodeTokens>(_ rows: Range<Int>, _ type: GGMLType, _: C.Type, out: UnsafeMutablePointer<Float>, outStride: Int) {
        switch type {
        case .q4_0: dot(rows, Q4_0Dot.self, C.self, out: out, outStride: outStride)
        case .q4_1: dot(rows, Q4_1Dot.self, C.self, out: out, outStride: outStride)
        case .q5_0: dot(rows, Q5_0Dot.self, C.self, out: out, outStride: outStride)
        case .q5_1: dot(rows, Q5_1Dot.self, C.self, out: out, outStride: outStride)
        case .q8_0: dot(rows, Q8_0Dot.self, C.self, out: out, outStride: outStride)
        case .q4_K: dot(rows, Q4_KDot.self, C.self, out: out, outStride: outStride)
        case .q5_K: dot(rows, Q5_KDot.self, C.self, out: out, outStride: outStride)
        case .q6_K: dot(rows, Q6_KDot.self, C.self, out: out, outStride: outStride)
        case .f32, .f16, .bf16: preconditionFailure("float types are multiplied by QuantizedMatMul")
        }
    }

    /// Rows `rows` of the product for format `F`, two blocks at a time into two sets of sums.
    private func dot<F: BlockDot, C: DecodeTokens>(
        _ rows: Range<Int>, _: F.Type, _: C.Type, out: UnsafeMutablePointer<Float>, outStride: Int
    ) {
        let T = C.count
        let (size, bytes) = (F.size, F.bytes)
        let blocks = K / size
        for n in rows {
            let row = w + n * rowBytes
            var a = RowSums(), b = RowSums()
            var i = 0
            while i + 2 <= blocks {
                F.add(row + i * bytes, x: x + i * size, K: K, sums: sums + 4 * i * F.groups, into: &a, C.self)
                F.add(row + (i + 1) * bytes, x: x + (i + 1) * size, K: K, sums: sums + 4 * (i + 1) * F.groups, into: &b, C.self)
                i += 2
            }
            if i < blocks {
                F.add(row + i * bytes, x: x + i * size, K: K, sums: sums + 4 * i * F.groups, into: &a, C.self)
            }
            a.even.add(a.odd, times: 1, T: T)
            a.even.add(b.even, times: 1, T: T)
            a.even.add(b.odd, times: 1, T: T)
            a.even.store(out + n, outStride: outStride, T: T, minus: a.offsets + b.offsets)
        }
    }
}

/// How one ggml block format is multiplied in registers.
private protocol BlockDot {
    /// Values per block.
    static var size: Int { get }
    /// Bytes per block.
    static var bytes: Int { get }
    /// Offset groups per block (each has its own `Σ x`).
    static var groups: Int { get }
    /// Adds the block at `block` (its values at `x` of token 0, token `t` at `x + t·K`) to `sums`;
    /// `xSums` holds the block's group sums, four lanes (tokens) per group.
    static func add<C: DecodeTokens>(
        _ block: UnsafeRawPointer, x: UnsafePointer<Float>, K: Int, sums xSums: UnsafePointer<Float>,
        into sums: inout RowSums, _: C.Type)
}

/// Group `g`'s `Σ x` of every token (the unused lanes zero).
@inline(__always)
private func groupSum(_ sums: UnsafePointer<Float>, _ g: Int) -> SIMD4<Float> {
    UnsafeRawPointer(sums + 4 * g).loadUnaligned(as: SIMD4<Float>.self)
}

/// `GGMLBlocks`' lane-by-lane conversions (one vector instruction each).
@inline(__always) private func widened(_ p: UnsafeRawPointer) -> SIMD8<Int32> { GGMLBlocks.widened(p) }
@inline(__always) private func widenedSigned(_ p: UnsafeRawPointer) -> SIMD8<Int32> { GGMLBlocks.widenedSigned(p) }
@inline(__always) private func float(_ v: SIMD8<Int32>) -> SIMD8<Float> { GGMLBlocks.float(v) }

/// The 32 values of 16 bytes of nibbles (values 0..15 the low nibbles, 16..31 the high ones),
/// with fifth bits `fifth` (bit j for value j) when the format has them.
@inline(__always)
private func nibbles32<C: DecodeTokens>(
    _ qs: UnsafeRawPointer, fifth: UInt32?, x: UnsafePointer<Float>, K: Int, _: C.Type
) -> TokenSums {
    let T = C.count
    let (a, b) = (widened(qs), widened(qs + 8))
    var (q0, q1, q2, q3) = (a & 0xF, b & 0xF, a &>> 4, b &>> 4)
    if let fifth {
        let h = SIMD8<Int32>(repeating: Int32(bitPattern: fifth)), lanes = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7)
        q0 |= ((h &>> lanes) & 1) &<< 4
        q1 |= ((h &>> (lanes &+ 8)) & 1) &<< 4
        q2 |= ((h &>> (lanes &+ 16)) & 1) &<< 4
        q3 |= ((h &>> (lanes &+ 24)) & 1) &<< 4
    }
    var s = TokenSums()
    s.add(float(q0), x: x, K: K, T: T)
    s.add(float(q1), x: x + 8, K: K, T: T)
    s.add(float(q2), x: x + 16, K: K, T: T)
    s.add(float(q3), x: x + 24, K: K, T: T)
    return s
}

/// Q4_0: `d·(q − 8)`.
private enum Q4_0Dot: BlockDot {
    static var size: Int { 32 }
    static var bytes: Int { 18 }
    static var groups: Int { 1 }

    @inline(__always)
    static func add<C: DecodeTokens>(
        _ block: UnsafeRawPointer, x: UnsafePointer<Float>, K: Int, sums xSums: UnsafePointer<Float>,
        into sums: inout RowSums, _: C.Type
    ) {
        let d = GGMLBlocks.half(block, 0)
        sums.even.add(nibbles32(block + 2, fifth: nil, x: x, K: K, C.self), times: d, T: C.count)
        sums.offsets += groupSum(xSums, 0) * (8 * d)
    }
}

/// Q4_1: `d·q + m`.
private enum Q4_1Dot: BlockDot {
    static var size: Int { 32 }
    static var bytes: Int { 20 }
    static var groups: Int { 1 }

    @inline(__always)
    static func add<C: DecodeTokens>(
        _ block: UnsafeRawPointer, x: UnsafePointer<Float>, K: Int, sums xSums: UnsafePointer<Float>,
        into sums: inout RowSums, _: C.Type
    ) {
        let (d, m) = (GGMLBlocks.half(block, 0), GGMLBlocks.half(block, 2))
        sums.even.add(nibbles32(block + 4, fifth: nil, x: x, K: K, C.self), times: d, T: C.count)
        sums.offsets -= groupSum(xSums, 0) * m
    }
}

/// Q5_0: `d·(q − 16)`, the fifth bits in a 32-bit word before the nibbles.
private enum Q5_0Dot: BlockDot {
    static var size: Int { 32 }
    static var bytes: Int { 22 }
    static var groups: Int { 1 }

    @inline(__always)
    static func add<C: DecodeTokens>(
        _ block: UnsafeRawPointer, x: UnsafePointer<Float>, K: Int, sums xSums: UnsafePointer<Float>,
        into sums: inout RowSums, _: C.Type
    ) {
        let d = GGMLBlocks.half(block, 0)
        let fifth = block.loadUnaligned(fromByteOffset: 2, as: UInt32.self)
        sums.even.add(nibbles32(block + 6, fifth: fifth, x: x, K: K, C.self), times: d, T: C.count)
        sums.offsets += groupSum(xSums, 0) * (16 * d)
    }
}

/// Q5_1: `d·q + m`, the fifth bits after `d` and `m`.
private enum Q5_1Dot: BlockDot {
    static var size: Int { 32 }
    static var bytes: Int { 24 }
    static var groups: Int { 1 }

    @inline(__always)
    static func add<C: DecodeTokens>(
        _ block: UnsafeRawPointer, x: UnsafePointer<Float>, K: Int, sums xSums: UnsafePointer<Float>,
        into sums: inout RowSums, _: C.Type
    ) {
        let (d, m) = (GGMLBlocks.half(block, 0), GGMLBlocks.half(block, 2))
        let fifth = block.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
        sums.even.add(nibbles32(block + 8, fifth: fifth, x: x, K: K, C.self), times: d, T: C.count)
        sums.offsets -= groupSum(xSums, 0) * m
    }
}

/// Q8_0: `d·q` for signed bytes; no offset.
private enum Q8_0Dot: BlockDot {
    static var size: Int { 32 }
    static var bytes: Int { 34 }
    static var groups: Int { 1 }

    @inline(__always)
    static func add<C: DecodeTokens>(
        _ block: UnsafeRawPointer, x: UnsafePointer<Float>, K: Int, sums xSums: UnsafePointer<Float>,
        into sums: inout RowSums, _: C.Type
    ) {
        let T = C.count
        var s = TokenSums()
        for i in 0..<4 { s.add(float(widenedSigned(block + 2 + 8 * i)), x: x + 8 * i, K: K, T: T) }
        sums.even.add(s, times: GGMLBlocks.half(block, 0), T: T)
    }
}

/// Q4_K and Q5_K: eight sub-blocks of 32, `(d·sc)·q − dmin·m` with 6-bit `sc` and `m`; each
/// 32 bytes of nibbles hold sub-blocks `2p` (low nibbles) and `2p + 1` (high), and Q5_K's fifth
/// bits of sub-block `j` are bit `j` of 32 bytes.
@inline(__always)
private func addKBlock<C: DecodeTokens>(
    _ block: UnsafeRawPointer, fifthBits: UnsafeRawPointer?, x: UnsafePointer<Float>, K: Int, sums xSums: UnsafePointer<Float>,
    into sums: inout RowSums, _: C.Type
) {
    let T = C.count
    let (d, dmin) = (GGMLBlocks.half(block, 0), GGMLBlocks.half(block, 2))
    let qs = block + (fifthBits == nil ? 16 : 48)
    for p in 0..<4 {
        var low = TokenSums(), high = TokenSums()
        for i in 0..<4 {
            let v = widened(qs + 32 * p + 8 * i)
            var (q0, q1) = (v & 0xF, v &>> 4)
            if let fifthBits {
                let h = widened(fifthBits + 8 * i)
                q0 |= ((h &>> Int32(2 * p)) & 1) &<< 4
                q1 |= ((h &>> Int32(2 * p + 1)) & 1) &<< 4
            }
            low.add(float(q0), x: x + 64 * p + 8 * i, K: K, T: T)
            high.add(float(q1), x: x + 64 * p + 32 + 8 * i, K: K, T: T)
        }
        let (sc0, m0) = GGMLBlocks.scaleMin(block + 4, 2 * p), (sc1, m1) = GGMLBlocks.scaleMin(block + 4, 2 * p + 1)
        sums.even.add(low, times: d * sc0, T: T)
        sums.odd.add(high, times: d * sc1, T: T)
        sums.offsets += groupSum(xSums, 2 * p) * (dmin * m0) + groupSum(xSums, 2 * p + 1) * (dmin * m1)
    }
}

private enum Q4_KDot: BlockDot {
    static var size: Int { 256 }
    static var bytes: Int { 144 }
    static var groups: Int { 8 }

    @inline(__always)
    static func add<C: DecodeTokens>(
        _ block: UnsafeRawPointer, x: UnsafePointer<Float>, K: Int, sums xSums: UnsafePointer<Float>,
        into sums: inout RowSums, _: C.Type
    ) {
        addKBlock(block, fifthBits: nil, x: x, K: K, sums: xSums, into: &sums, C.self)
    }
}

private enum Q5_KDot: BlockDot {
    static var size: Int { 256 }
    static var bytes: Int { 176 }
    static var groups: Int { 8 }

    @inline(__always)
    static func add<C: DecodeTokens>(
        _ block: UnsafeRawPointer, x: UnsafePointer<Float>, K: Int, sums xSums: UnsafePointer<Float>,
        into sums: inout RowSums, _: C.Type
    ) {
        addKBlock(block, fifthBits: block + 16, x: x, K: K, sums: xSums, into: &sums, C.self)
    }
}

/// Q6_K: 128 bytes of low nibbles, 64 of 2-bit high parts, 16 signed scales (one per 16 values),
/// then `d`: `(d·sc)·(q − 32)`. Each half of 128 values takes 64 low bytes and 32 high ones; byte
/// `l` of the high ones holds the top bits of values `l`, `l + 32`, `l + 64` and `l + 96`.
private enum Q6_KDot: BlockDot {
    static var size: Int { 256 }
    static var bytes: Int { 210 }
    static var groups: Int { 16 }

    @inline(__always)
    static func add<C: DecodeTokens>(
        _ block: UnsafeRawPointer, x: UnsafePointer<Float>, K: Int, sums xSums: UnsafePointer<Float>,
        into sums: inout RowSums, _: C.Type
    ) {
        let T = C.count
        let d = GGMLBlocks.half(block, 208)
        let scales = (block + 192).assumingMemoryBound(to: Int8.self)
        for part in 0..<2 {
            let ql = block + 64 * part, qh = block + 128 + 32 * part
            for l in stride(from: 0, to: 32, by: 16) {
                var s = (TokenSums(), TokenSums(), TokenSums(), TokenSums())
                for i in stride(from: 0, to: 16, by: 8) {
                    let (a, c, h) = (widened(ql + l + i), widened(ql + 32 + l + i), widened(qh + l + i))
                    let xl = x + 128 * part + l + i
                    s.0.add(float((a & 0xF) | ((h & 3) &<< 4)), x: xl, K: K, T: T)
                    s.1.add(float((c & 0xF) | (((h &>> 2) & 3) &<< 4)), x: xl + 32, K: K, T: T)
                    s.2.add(float((a &>> 4) | (((h &>> 4) & 3) &<< 4)), x: xl + 64, K: K, T: T)
                    s.3.add(float((c &>> 4) | (((h &>> 6) & 3) &<< 4)), x: xl + 96, K: K, T: T)
                }
                // Group (16 values) of each quarter: its scale, and 32 of it folded out with its Σ x.
                let g = 8 * part + l / 16
                let (d0, d1, d2, d3) = (d * Float(scales[g]), d * Float(scales[g + 2]), d * Float(scales[g + 4]), d * Float(scales[g + 6]))
                sums.even.add(s.0, times: d0, T: T)
                sums.odd.add(s.1, times: d1, T: T)
                sums.even.add(s.2, times: d2, T: T)
                sums.odd.add(s.3, times: d3, T: T)
                sums.offsets +=
                    (groupSum(xSums, g) * d0 + groupSum(xSums, g + 2) * d1
                        + groupSum(xSums, g + 4) * d2 + groupSum(xSums, g + 6) * d3) * 32
            }
        }
    }
}

@inline(__always)
private func eight(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}
