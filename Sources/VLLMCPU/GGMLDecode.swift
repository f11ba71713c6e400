import VLLMCore

/// `out[t, n] = Σ_k x[t, k] · w[n, k]` for 1 to `maxTokens` tokens (decode steps, speculative
/// verify steps, small batches) and a weight whose rows are ggml blocks, the blocks decoded in
/// registers: eight values at a time become integer-valued floats `q` (nibbles with their fifth or
/// sixth bits, or signed bytes) and are multiplied with up to `chunk` tokens' activations while
/// the tokens' slices are in L1; more tokens meet each row a chunk after another while the row is
/// in L1 (`DecodeChunks`). A group's scale multiplies the group's sum once, and its offset (`m`,
/// `−8d`, `dmin·m`, ...) is folded out of the loop, `Σ (d·q − c)·x = d·Σ q·x − c·Σ x`, with `Σ x`
/// of every group and token computed once per product.
enum GGMLDecode {
    /// Token counts this path takes: speculative verify steps of k ≤ 7 and batches of up to 8.
    /// Measured on SmolLM2-135M Q4_1 (docs/gguf.md): 4 to 6 tokens ran 1.2–1.8× the tiles'
    /// speed, 7 and 8 as fast.
    static let maxTokens = 8
    /// Tokens whose sums a kernel holds in registers at once (two to six accumulators each).
    static let chunk = 3

    /// Writes columns `0..<N` of `out` (rows `outStride` apart) for a block type (not a float type).
    static func multiply(
        x: UnsafePointer<Float>, w: UnsafeRawPointer, type: GGMLType, out: UnsafeMutablePointer<Float>, outStride: Int,
        T: Int, N: Int, K: Int
    ) {
        precondition(T >= 1 && type.floatDType == nil)
        let groups = K / (type == .q6_K ? 16 : 32)
        let chunks = (T + chunk - 1) / chunk
        // Per chunk, a SIMD4 of sums per group (one lane per token, the unused ones zero), loaded as one vector.
        withUnsafeTemporaryAllocation(of: Float.self, capacity: chunks * 4 * groups) { buffer in
            let sums = buffer.baseAddress!
            groupSums(x, T: T, K: K, groups: groups, into: sums)
            let step = DecodeStep(x: x, sums: UnsafePointer(sums), K: K, out: out, outStride: outStride)
            ParallelFor.run(N, costPerItem: K * (min(T, chunk) + 2) / 2 * chunks) { range in
                // The type as a type, so that each loop is specialised for it.
                @inline(__always) func rows<F: BlockDot>(_: F.Type) {
                    DecodeChunks.run(range, T: T, chunk: chunk, GGMLRows<F>(w: w, rowBytes: type.rowBytes(K), step: step))
                }
                switch type {
                case .q4_0: rows(Q4_0Dot.self)
                case .q4_1: rows(Q4_1Dot.self)
                case .q5_0: rows(Q5_0Dot.self)
                case .q5_1: rows(Q5_1Dot.self)
                case .q8_0: rows(Q8_0Dot.self)
                case .q4_K: rows(Q4_KDot.self)
                case .q5_K: rows(Q5_KDot.self)
                case .q6_K: rows(Q6_KDot.self)
                case .f32, .f16, .bf16: preconditionFailure("float types are multiplied by QuantizedMatMul")
                }
            }
        }
    }

    /// `Σ x[t, k]` over each of the `groups` groups of inputs, `[chunks, groups, 4]`: token `t` in
    /// lane `t % chunk` of chunk `t / chunk` (the unused lanes zero).
    private static func groupSums(_ x: UnsafePointer<Float>, T: Int, K: Int, groups: Int, into sums: UnsafeMutablePointer<Float>) {
        let group = K / groups
        sums.initialize(repeating: 0, count: (T + chunk - 1) / chunk * 4 * groups)
        for t in 0..<T {
            for g in 0..<groups {
                var s = SIMD8<Float>()
                for k in stride(from: g * group, to: (g + 1) * group, by: 8) { s += eight(x + t * K + k) }
                sums[(t / chunk) * 4 * groups + 4 * g + t % chunk] = s.sum()
            }
        }
    }
}

/// A step's activations `x [T, K]`, their group sums (`GGMLDecode.groupSums`) and its output.
private struct DecodeStep {
    let x: UnsafePointer<Float>, sums: UnsafePointer<Float>, K: Int
    let out: UnsafeMutablePointer<Float>, outStride: Int
}

/// Partial sums of one row: two chains of scaled group sums per token (so that consecutive
/// groups do not wait on each other) and the folded offsets, `Σ c·Σx` per token.
struct RowSums {
    var even = TokenSums(), odd = TokenSums()
    var offsets = SIMD4<Float>()
}

/// One block's activations: token 0's values of the block at `x`, token `t`'s `t·K` further, and
/// the block's group sums, four lanes (tokens) per group.
private struct BlockInput {
    let x: UnsafePointer<Float>, K: Int, sums: UnsafePointer<Float>

    /// Group `g`'s `Σ x` of every token (the unused lanes zero).
    @inline(__always)
    func sum(_ g: Int) -> SIMD4<Float> { UnsafeRawPointer(sums + 4 * g).loadUnaligned(as: SIMD4<Float>.self) }
}

/// The rows of one ggml weight of format `F` against a step.
private struct GGMLRows<F: BlockDot>: DecodeRows {
    let w: UnsafeRawPointer, rowBytes: Int
    let step: DecodeStep

    /// Row `n`, two blocks at a time into two sets of sums.
    func dot<C: DecodeTokens>(row n: Int, from t: Int, _: C.Type) {
        let (T, K) = (C.count, step.K)
        let (size, bytes, blocks) = (F.size, F.bytes, K / F.size)
        let row = w + n * rowBytes
        let (x, sums) = (step.x + t * K, step.sums + (t / GGMLDecode.chunk) * 4 * blocks * F.groups)
        @inline(__always) func input(_ i: Int) -> BlockInput { BlockInput(x: x + i * size, K: K, sums: sums + 4 * i * F.groups) }
        var a = RowSums(), b = RowSums()
        var i = 0
        while i + 2 <= blocks {
            F.add(row + i * bytes, input(i), into: &a, C.self)
            F.add(row + (i + 1) * bytes, input(i + 1), into: &b, C.self)
            i += 2
        }
        if i < blocks { F.add(row + i * bytes, input(i), into: &a, C.self) }
        a.even.add(a.odd, times: 1, T: T)
        a.even.add(b.even, times: 1, T: T)
        a.even.add(b.odd, times: 1, T: T)
        a.even.store(step.out + t * step.outStride + n, outStride: step.outStride, T: T, minus: a.offsets + b.offsets)
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
    /// Adds the block at `block` against its activations to `sums`.
    static func add<C: DecodeTokens>(_ block: UnsafeRawPointer, _ input: BlockInput, into sums: inout RowSums, _: C.Type)
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

/// What a block of 32 nibbles needs besides them: `d`, the offset `c` of `d·q − c`, the fifth
/// bits (Q5 formats) and where the nibbles start.
private struct NibbleHeader {
    let d: Float, c: Float, fifth: UInt32?, nibbles: Int
}

/// The formats of blocks of 32 values with one scale.
private protocol Block32Dot: BlockDot {}

extension Block32Dot {
    static var size: Int { 32 }
    static var groups: Int { 1 }
}

/// Q4_0, Q4_1, Q5_0 and Q5_1: 32 values `d·q − c`, `c` folded out with the block's `Σ x`.
private protocol NibbleDot: Block32Dot {
    /// The block's header fields.
    static func header(_ block: UnsafeRawPointer) -> NibbleHeader
}

extension NibbleDot {
    @inline(__always)
    static func add<C: DecodeTokens>(_ block: UnsafeRawPointer, _ input: BlockInput, into sums: inout RowSums, _: C.Type) {
        let h = header(block)
        sums.even.add(nibbles32(block + h.nibbles, fifth: h.fifth, x: input.x, K: input.K, C.self), times: h.d, T: C.count)
        sums.offsets += input.sum(0) * h.c
    }
}

/// The block's half-precision field at byte `offset`.
@inline(__always) private func half(_ block: UnsafeRawPointer, _ offset: Int) -> Float { GGMLBlocks.half(block, offset) }
/// The block's 32-bit word at byte `offset` (fifth bits).
@inline(__always) private func word(_ block: UnsafeRawPointer, _ offset: Int) -> UInt32 {
    block.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
}

/// Q4_0: `d·(q − 8)`.
private enum Q4_0Dot: NibbleDot {
    static var bytes: Int { 18 }
    @inline(__always) static func header(_ b: UnsafeRawPointer) -> NibbleHeader {
        .init(d: half(b, 0), c: 8 * half(b, 0), fifth: nil, nibbles: 2)
    }
}

/// Q4_1: `d·q + m`.
private enum Q4_1Dot: NibbleDot {
    static var bytes: Int { 20 }
    @inline(__always) static func header(_ b: UnsafeRawPointer) -> NibbleHeader {
        .init(d: half(b, 0), c: -half(b, 2), fifth: nil, nibbles: 4)
    }
}

/// Q5_0: `d·(q − 16)`, the fifth bits in a 32-bit word before the nibbles.
private enum Q5_0Dot: NibbleDot {
    static var bytes: Int { 22 }
    @inline(__always) static func header(_ b: UnsafeRawPointer) -> NibbleHeader {
        .init(d: half(b, 0), c: 16 * half(b, 0), fifth: word(b, 2), nibbles: 6)
    }
}

/// Q5_1: `d·q + m`, the fifth bits after `d` and `m`.
private enum Q5_1Dot: NibbleDot {
    static var bytes: Int { 24 }
    @inline(__always) static func header(_ b: UnsafeRawPointer) -> NibbleHeader {
        .init(d: half(b, 0), c: -half(b, 2), fifth: word(b, 4), nibbles: 8)
    }
}

/// Q8_0: `d·q` for signed bytes; no offset.
private enum Q8_0Dot: Block32Dot {
    static var bytes: Int { 34 }

    @inline(__always)
    static func add<C: DecodeTokens>(_ block: UnsafeRawPointer, _ input: BlockInput, into sums: inout RowSums, _: C.Type) {
        var s = TokenSums()
        for i in 0..<4 { s.add(float(widenedSigned(block + 2 + 8 * i)), x: input.x + 8 * i, K: input.K, T: C.count) }
        sums.even.add(s, times: half(block, 0), T: C.count)
    }
}

/// Q4_K and Q5_K: eight sub-blocks of 32, `(d·sc)·q − dmin·m` with 6-bit `sc` and `m`; each
/// 32 bytes of nibbles hold sub-blocks `2p` (low nibbles) and `2p + 1` (high), and Q5_K's fifth
/// bits of sub-block `j` are bit `j` of the 32 bytes after the scales.
private protocol KDot: BlockDot {
    /// Whether the block has fifth bits (Q5_K).
    static var hasFifthBits: Bool { get }
}

extension KDot {
    static var size: Int { 256 }
    static var groups: Int { 8 }

    @inline(__always)
    static func add<C: DecodeTokens>(_ block: UnsafeRawPointer, _ input: BlockInput, into sums: inout RowSums, _: C.Type) {
        let (T, x, K) = (C.count, input.x, input.K)
        let (d, dmin) = (half(block, 0), half(block, 2))
        let fifthBits: UnsafeRawPointer? = hasFifthBits ? block + 16 : nil
        let qs = block + (hasFifthBits ? 48 : 16)
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
            sums.offsets += input.sum(2 * p) * (dmin * m0) + input.sum(2 * p + 1) * (dmin * m1)
        }
    }
}

private enum Q4_KDot: KDot { static var bytes: Int { 144 }; static var hasFifthBits: Bool { false } }
private enum Q5_KDot: KDot { static var bytes: Int { 176 }; static var hasFifthBits: Bool { true } }

/// Q6_K: 128 bytes of low nibbles, 64 of 2-bit high parts, 16 signed scales (one per 16 values),
/// then `d`: `(d·sc)·(q − 32)`. Each half of 128 values takes 64 low bytes and 32 high ones; byte
/// `l` of the high ones holds the top bits of values `l`, `l + 32`, `l + 64` and `l + 96`.
private enum Q6_KDot: BlockDot {
    static var size: Int { 256 }
    static var bytes: Int { 210 }
    static var groups: Int { 16 }

    @inline(__always)
    static func add<C: DecodeTokens>(_ block: UnsafeRawPointer, _ input: BlockInput, into sums: inout RowSums, _: C.Type) {
        let (T, x, K) = (C.count, input.x, input.K)
        let d = half(block, 208)
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
                    (input.sum(g) * d0 + input.sum(g + 2) * d1 + input.sum(g + 4) * d2 + input.sum(g + 6) * d3) * 32
            }
        }
    }
}

@inline(__always)
private func eight(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}
