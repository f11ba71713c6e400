import Foundation
import VLLMCore

/// Causal attention over a paged KV cache for a flat batch of prefill chunks and decodes.
enum PagedAttention {
    /// Copies the batch's new keys and values from the fused qkv rows into their cache slots.
    static func writeCache(
        qkv: UnsafePointer<Float>, layout: QKVLayout, cache: CPUKVCache, layer: Int, batch: ForwardBatch
    ) {
        let hd = layout.headDim, width = layout.width, bs = cache.shape.blockSize
        let keys = cache.keys[layer], values = cache.values[layer]
        for t in 0..<batch.numTokens {
            let slot = Int(batch.slotMapping[t])
            guard slot >= 0 else { continue }
            let row = qkv + t * width
            for g in 0..<layout.numKVHeads {
                let at = cache.offset(block: slot / bs, head: g, slot: slot % bs)
                keys.store(row + layout.keyOffset + g * hd, at: at, count: hd)
                values.store(row + layout.valueOffset + g * hd, at: at, count: hd)
            }
        }
    }

    /// For every token and query head, softmax(q·kᵀ·scale)·v over positions `0...position` of the
    /// token's sequence (limited to the last `slidingWindow` positions when set); with `softCap`,
    /// each score becomes `softCap * tanh(score / softCap)` before the softmax (Gemma 2). The loop
    /// is instantiated for the cache's element type: float32, or FP8 codes whose layer scales
    /// multiply the score and the softmax weight (so a float32 cache, of scales 1, is read as ever).
    static func attend(
        qkv: UnsafePointer<Float>, layout: QKVLayout, cache: CPUKVCache, layer: Int, batch: CPUBatch,
        scale: Float, slidingWindow: Int?, softCap: Float? = nil, out: UnsafeMutablePointer<Float>
    ) {
        switch cache.shape.format.dtype {
        case .auto:
            attend(
                Float.self, qkv: qkv, layout: layout, cache: cache, layer: layer, batch: batch, scale: scale,
                slidingWindow: slidingWindow, softCap: softCap, out: out)
        case .fp8:
            attend(
                Float8E4M3Code.self, qkv: qkv, layout: layout, cache: cache, layer: layer, batch: batch, scale: scale,
                slidingWindow: slidingWindow, softCap: softCap, out: out)
        }
    }

    /// `attend` over a cache of elements `W`.
    private static func attend<W: WeightElement>(
        _: W.Type, qkv: UnsafePointer<Float>, layout: QKVLayout, cache: CPUKVCache, layer: Int, batch: CPUBatch,
        scale: Float, slidingWindow: Int?, softCap: Float?, out: UnsafeMutablePointer<Float>
    ) {
        let b = batch.batch
        let hd = layout.headDim, heads = layout.numHeads, width = layout.width
        let group = heads / layout.numKVHeads
        let bs = cache.shape.blockSize
        let keys = cache.keys[layer].elements(W.self), values = cache.values[layer].elements(W.self)
        let (scoreScale, valueScale) = (scale * cache.keys[layer].scale, cache.values[layer].scale)
        let maxContext = Int(b.seqLens.max() ?? 0)
        // One item per token and kv head: the group's query heads run on one thread in turn, so the
        // heads after the first find the kv head's rows in this core's caches. A decode step has
        // too few kv heads to share out evenly (3 items on 2 threads wait for the one that runs
        // two), so then each query head is an item of its own; a head's sums are the same either way.
        let kvHeads = layout.numKVHeads
        let headsPerItem = b.numTokens * kvHeads >= 4 * ParallelFor.threads ? group : 1
        let itemsPerToken = heads / headsPerItem
        ParallelFor.run(b.numTokens * itemsPerToken, costPerItem: maxContext * hd * 2 * headsPerItem) { items in
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: max(1, maxContext))
            let rows = UnsafeMutablePointer<Int>.allocate(capacity: max(1, maxContext))
            let accumulator = UnsafeMutablePointer<Float>.allocate(capacity: hd)
            defer { scores.deallocate(); rows.deallocate(); accumulator.deallocate() }
            for item in items {
                let t = item / itemsPerToken, firstHead = item % itemsPerToken * headsPerItem
                let g = firstHead / group
                let s = batch.sequenceOfToken[t]
                let position = Int(b.positions[t])
                let first = slidingWindow.map { max(0, position - $0 + 1) } ?? 0
                let count = position - first + 1
                let table = s * b.blockTableWidth
                for j in first...position {
                    rows[j - first] = cache.offset(block: Int(b.blockTables[table + j / bs]), head: g, slot: j % bs)
                }
                for h in firstHead..<firstHead + headsPerItem {
                    let q = qkv + t * width + h * hd
                    let maxScore = score(
                        q, keys: keys, rows: rows, count: count, hd: hd, scale: scoreScale, softCap: softCap, into: scores)
                    let total = VectorMath.exponentiate(scores, count: count, minus: maxScore)
                    weightedSum(
                        values, rows: rows, weights: scores, count: count, scale: valueScale, hd: hd, into: accumulator)
                    let o = out + t * heads * hd + h * hd
                    let inverse = 1 / total
                    for d in 0..<hd { o[d] = accumulator[d] * inverse }
                }
            }
        }
    }

    /// `scores[j] = q·k_j · scale` (soft-capped) for the `count` keys at `rows`, returning the
    /// largest. Four keys at a time: their dot products are independent chains of fused
    /// multiply-adds, where one key at a time waited on each add; each key's sum is still
    /// `MatMul.dot`'s, so the scores are bitwise the same.
    @inline(__always)
    private static func score<W: WeightElement>(
        _ q: UnsafePointer<Float>, keys: UnsafePointer<W>, rows: UnsafePointer<Int>, count: Int, hd: Int, scale: Float,
        softCap: Float?, into scores: UnsafeMutablePointer<Float>
    ) -> Float {
        var maxScore = -Float.infinity
        func keep(_ j: Int, _ dot: Float) {
            var score = dot * scale
            if let softCap { score = tanhf(score / softCap) * softCap }
            scores[j] = score
            maxScore = max(maxScore, score)
        }
        var j = 0
        while j + 4 <= count {
            let k = (keys + rows[j], keys + rows[j + 1], keys + rows[j + 2], keys + rows[j + 3])
            var (a0, a1, a2, a3) = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
            var d = 0
            while d + 8 <= hd {
                let x = Float.load8(q + d)
                a0.addProduct(x, W.load8(k.0 + d))
                a1.addProduct(x, W.load8(k.1 + d))
                a2.addProduct(x, W.load8(k.2 + d))
                a3.addProduct(x, W.load8(k.3 + d))
                d += 8
            }
            keep(j, MatMul.total(a0, q, k.0, from: d, to: hd))
            keep(j + 1, MatMul.total(a1, q, k.1, from: d, to: hd))
            keep(j + 2, MatMul.total(a2, q, k.2, from: d, to: hd))
            keep(j + 3, MatMul.total(a3, q, k.3, from: d, to: hd))
            j += 4
        }
        while j < count {
            keep(j, MatMul.dot(q, keys + rows[j], hd))
            j += 1
        }
        return maxScore
    }

    /// `out = Σ_j weights[j] · scale · v_j` over the `count` values at `rows`, 32 dimensions at a
    /// time held in registers across the keys (adding into memory made each key wait on the last
    /// one's store). Each element still takes the keys' products in the keys' order, each a fused
    /// multiply-add of `weight · scale`, so the sums are bitwise the same as one key at a time.
    @inline(__always)
    private static func weightedSum<W: WeightElement>(
        _ values: UnsafePointer<W>, rows: UnsafePointer<Int>, weights: UnsafePointer<Float>, count: Int, scale: Float, hd: Int,
        into out: UnsafeMutablePointer<Float>
    ) {
        var d = 0
        while d + 32 <= hd {
            var (c0, c1, c2, c3) = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
            for j in 0..<count {
                let a = SIMD8<Float>(repeating: weights[j] * scale), v = values + rows[j] + d
                c0 = c0.addingProduct(a, W.load8(v))
                c1 = c1.addingProduct(a, W.load8(v + 8))
                c2 = c2.addingProduct(a, W.load8(v + 16))
                c3 = c3.addingProduct(a, W.load8(v + 24))
            }
            let o = UnsafeMutableRawPointer(out + d)
            o.storeBytes(of: c0, as: SIMD8<Float>.self)
            o.storeBytes(of: c1, toByteOffset: 32, as: SIMD8<Float>.self)
            o.storeBytes(of: c2, toByteOffset: 64, as: SIMD8<Float>.self)
            o.storeBytes(of: c3, toByteOffset: 96, as: SIMD8<Float>.self)
            d += 32
        }
        while d + 8 <= hd {
            var c = SIMD8<Float>()
            for j in 0..<count {
                c = c.addingProduct(SIMD8<Float>(repeating: weights[j] * scale), W.load8(values + rows[j] + d))
            }
            UnsafeMutableRawPointer(out + d).storeBytes(of: c, as: SIMD8<Float>.self)
            d += 8
        }
        for e in d..<hd {
            var c: Float = 0
            for j in 0..<count { c += weights[j] * scale * W.load1(values + rows[j] + e) }
            out[e] = c
        }
    }
}

/// One layer's keys or values of a `CPUKVCache`: float32 elements, or FP8 e4m3 codes of
/// `value / scale` (round to nearest even, saturating, `FloatBits.floatToFloat8E4M3`), read as
/// `code · scale` (the attention applies `scale` to the score and the softmax weight).
struct CPUKVRows: @unchecked Sendable {
    /// The elements: `Float`s, or `Float8E4M3Code`s.
    let base: UnsafeMutableRawPointer
    /// Whether the elements are FP8 codes.
    let isFP8: Bool
    /// The layer's scale (1 for float32).
    let scale: Float

    init(count: Int, fp8: Bool, scale: Float) {
        base = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * (fp8 ? 1 : 4), alignment: 64)
        isFP8 = fp8
        self.scale = fp8 ? scale : 1
    }

    func deallocate() { base.deallocate() }

    /// The elements as `W` (`Float` or `Float8E4M3Code`, as the cache stores them).
    func elements<W>(_: W.Type) -> UnsafePointer<W> { UnsafePointer(base.assumingMemoryBound(to: W.self)) }

    /// Writes `count` values from `source` at element `offset`, quantized for FP8.
    @inline(__always)
    func store(_ source: UnsafePointer<Float>, at offset: Int, count: Int) {
        guard isFP8 else {
            (base.assumingMemoryBound(to: Float.self) + offset).update(from: source, count: count)
            return
        }
        let codes = base.assumingMemoryBound(to: Float8E4M3Code.self) + offset
        let inverse = 1 / scale
        for i in 0..<count { codes[i] = Float8E4M3Code(bits: FloatBits.floatToFloat8E4M3(source[i] * inverse)) }
    }
}

/// A float8 e4m3fn code in the KV cache, widened to float32 through its bits, eight at a time.
struct Float8E4M3Code: WeightElement {
    var bits: UInt8

    /// `(code & 0x7F) << 20` are the bits of the float32 2^(e - 127)·(1 + m/8), or for e = 0 of the
    /// float32 subnormal m·2^-129; times 2^120 that is e4m3's 2^(e - 7)·(1 + m/8), or m·2^-9. Then the
    /// sign, and NaN for 0x7F/0xFF (the only codes whose low 7 bits plus 1 reach bit 7), all in
    /// integer lanes without masks. Exact for every code (as `FloatBits.float8E4M3ToFloat`).
    @inline(__always) static func load8(_ p: UnsafePointer<Float8E4M3Code>) -> SIMD8<Float> {
        let codes = SIMD8<UInt32>(truncatingIfNeeded: UnsafeRawPointer(p).loadUnaligned(as: SIMD8<UInt8>.self))
        let low = codes & 0x7F
        let magnitude = unsafeBitCast(unsafeBitCast(low &<< 20, to: SIMD8<Float>.self) * 0x1p120, to: SIMD8<UInt32>.self)
        let nan = (SIMD8<UInt32>() &- ((low &+ 1) &>> 7)) & 0x7FC0_0000
        return unsafeBitCast(magnitude | nan | (codes & 0x80) &<< 24, to: SIMD8<Float>.self)
    }

    @inline(__always) static func load1(_ p: UnsafePointer<Float8E4M3Code>) -> Float {
        FloatBits.float8E4M3ToFloat(p.pointee.bits)
    }
}
