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
    /// each score becomes `softCap * tanh(score / softCap)` before the softmax (Gemma 2).
    static func attend(
        qkv: UnsafePointer<Float>, layout: QKVLayout, cache: CPUKVCache, layer: Int, batch: CPUBatch,
        scale: Float, slidingWindow: Int?, softCap: Float? = nil, out: UnsafeMutablePointer<Float>
    ) {
        let b = batch.batch
        let hd = layout.headDim, heads = layout.numHeads, width = layout.width
        let group = heads / layout.numKVHeads
        let bs = cache.shape.blockSize
        let keys = cache.keys[layer], values = cache.values[layer]
        let maxContext = Int(b.seqLens.max() ?? 0)
        ParallelFor.run(b.numTokens * heads, costPerItem: maxContext * hd * 2) { items in
            var scores = [Float](repeating: 0, count: max(1, maxContext))
            var accumulator = [Float](repeating: 0, count: hd)
            // Where an FP8 cache's rows are decoded to (a float32 cache is read in place).
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: hd)
            defer { scratch.deallocate() }
            for item in items {
                let t = item / heads, h = item % heads, g = h / group
                let s = batch.sequenceOfToken[t]
                let position = Int(b.positions[t])
                let first = slidingWindow.map { max(0, position - $0 + 1) } ?? 0
                let table = s * b.blockTableWidth
                let q = qkv + t * width + h * hd
                var maxScore = -Float.infinity
                for j in first...position {
                    let block = Int(b.blockTables[table + j / bs])
                    let k = keys.load(at: cache.offset(block: block, head: g, slot: j % bs), count: hd, scratch: scratch)
                    var score = MatMul.dot(q, k, hd) * scale
                    if let softCap { score = tanhf(score / softCap) * softCap }
                    scores[j - first] = score
                    maxScore = max(maxScore, score)
                }
                var total: Float = 0
                for j in 0...(position - first) {
                    let e = expf(scores[j] - maxScore)
                    scores[j] = e
                    total += e
                }
                accumulator.withUnsafeMutableBufferPointer { acc in
                    acc.update(repeating: 0)
                    for j in first...position {
                        let block = Int(b.blockTables[table + j / bs])
                        let v = values.load(at: cache.offset(block: block, head: g, slot: j % bs), count: hd, scratch: scratch)
                        axpy(scores[j - first], v, acc.baseAddress!, hd)
                    }
                    let o = out + t * heads * hd + h * hd
                    let inverse = 1 / total
                    for d in 0..<hd { o[d] = acc[d] * inverse }
                }
            }
        }
    }

    /// `y += a * x` over `n` elements.
    @inline(__always)
    static func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        var d = 0
        let av = SIMD8<Float>(repeating: a)
        while d + 8 <= n {
            let r = UnsafeRawPointer(y + d).loadUnaligned(as: SIMD8<Float>.self)
                .addingProduct(av, UnsafeRawPointer(x + d).loadUnaligned(as: SIMD8<Float>.self))
            UnsafeMutableRawPointer(y + d).storeBytes(of: r, as: SIMD8<Float>.self)
            d += 8
        }
        while d < n {
            y[d] += a * x[d]
            d += 1
        }
    }
}

/// One layer's keys or values of a `CPUKVCache`: float32 elements, or FP8 e4m3 codes of
/// `value / scale` (round to nearest even, saturating) decoded as `code · scale` on read. In this
/// file so that the attention loop inlines its loads also in builds without whole-module optimisation.
struct CPUKVRows: @unchecked Sendable {
    /// The elements: `Float`s, or `UInt8` codes.
    let base: UnsafeMutableRawPointer
    /// FP8 only: the 256 codes decoded and multiplied by the scale.
    let table: UnsafeMutablePointer<Float>?
    /// FP8 only: 1 / scale.
    let inverseScale: Float

    init(count: Int, fp8: Bool, scale: Float) {
        base = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * (fp8 ? 1 : 4), alignment: 64)
        inverseScale = 1 / scale
        if fp8 {
            let table = UnsafeMutablePointer<Float>.allocate(capacity: 256)
            for code in 0..<256 { table[code] = FloatBits.float8E4M3Table[code] * scale }
            self.table = table
        } else {
            table = nil
        }
    }

    func deallocate() {
        base.deallocate()
        table?.deallocate()
    }

    /// Writes `count` values from `source` at element `offset`, quantized for FP8.
    @inline(__always)
    func store(_ source: UnsafePointer<Float>, at offset: Int, count: Int) {
        guard table != nil else {
            (base.assumingMemoryBound(to: Float.self) + offset).update(from: source, count: count)
            return
        }
        let codes = base.assumingMemoryBound(to: UInt8.self) + offset
        for i in 0..<count { codes[i] = FloatBits.floatToFloat8E4M3(source[i] * inverseScale) }
    }

    /// The `count` values at element `offset` as float32: the cache's own memory for float32,
    /// else decoded into `scratch` (at least `count` floats).
    @inline(__always)
    func load(at offset: Int, count: Int, scratch: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
        guard let table else { return UnsafePointer(base.assumingMemoryBound(to: Float.self) + offset) }
        let codes = base.assumingMemoryBound(to: UInt8.self) + offset
        for i in 0..<count { scratch[i] = table[Int(codes[i])] }
        return UnsafePointer(scratch)
    }
}
