import VLLMCore

/// A tensor in host memory as the CPU backend keeps it: float32 activations, and weights in
/// float32 or bfloat16 (bfloat16 halves the bytes that a memory-bound decode step reads).
public final class CPUTensor: @unchecked Sendable {
    /// Row-major shape; operations treat the last dimension as columns.
    public let shape: [Int]
    /// float32 or bfloat16.
    public let dtype: DType
    let storage: UnsafeMutableRawPointer

    /// Elements of the last dimension.
    public var columns: Int { shape.last ?? 1 }
    /// Product of the other dimensions.
    public var rows: Int { shape.dropLast().reduce(1, *) }
    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }

    /// An uninitialised tensor.
    init(shape: [Int], dtype: DType = .float32) {
        self.shape = shape
        self.dtype = dtype
        storage = UnsafeMutableRawPointer.allocate(byteCount: max(1, shape.reduce(1, *) * dtype.byteSize), alignment: 64)
    }

    /// A zero-filled tensor.
    static func zeros(_ shape: [Int]) -> CPUTensor {
        let t = CPUTensor(shape: shape)
        t.floats.initialize(repeating: 0, count: t.count)
        return t
    }

    deinit { storage.deallocate() }

    /// The elements of a float32 tensor.
    var floats: UnsafeMutablePointer<Float> {
        precondition(dtype == .float32, "expected a float32 tensor")
        return storage.assumingMemoryBound(to: Float.self)
    }

    /// The bit patterns of a bfloat16 tensor.
    var bfloat16Bits: UnsafeMutablePointer<UInt16> {
        precondition(dtype == .bfloat16, "expected a bfloat16 tensor")
        return storage.assumingMemoryBound(to: UInt16.self)
    }

    /// A copy of the elements as float32.
    public func toArray() -> [Float] {
        switch dtype {
        case .float32: Array(UnsafeBufferPointer(start: floats, count: count))
        case .bfloat16: (0..<count).map { FloatBits.bfloat16ToFloat(bfloat16Bits[$0]) }
        case .float16, .float8E4M3, .int32, .int64, .uint8: preconditionFailure("a \(dtype) tensor has no float values here")
        }
    }
}

/// The paged KV cache of all layers. Each layer's keys (and values) are laid out
/// `[block, kvHead, slotInBlock, headDim]`, so that one head's keys of a block are contiguous.
/// The element type is the cache's (`shape.format`): float32, or FP8 e4m3 codes with the layer's
/// scales (`CPUKVRows`); `PagedAttention` writes and reads both with one loop, generic over the element.
public final class CPUKVCache: @unchecked Sendable {
    /// The cache's shape and format.
    public let shape: KVCacheShape
    /// Each layer's keys.
    let keys: [CPUKVRows]
    /// Each layer's values.
    let values: [CPUKVRows]

    init(_ shape: KVCacheShape) {
        self.shape = shape
        let perLayer = shape.numBlocks * shape.blockSize * shape.numKVHeads * shape.headDim
        let fp8 = shape.format.dtype == .fp8
        // Not zeroed: a slot is always written before it is read, and untouched pages of a large
        // cache then cost no memory.
        keys = (0..<shape.numLayers).map { CPUKVRows(count: perLayer, fp8: fp8, scale: shape.format.scales(layer: $0).key) }
        values = (0..<shape.numLayers).map { CPUKVRows(count: perLayer, fp8: fp8, scale: shape.format.scales(layer: $0).value) }
    }

    deinit {
        keys.forEach { $0.deallocate() }
        values.forEach { $0.deallocate() }
    }

    /// Layer `layer`'s keys and values as stored (float32 bytes, or e4m3 codes), copied: for
    /// checks. Slots never written hold whatever the memory held.
    public func bytes(layer: Int) -> (keys: [UInt8], values: [UInt8]) {
        let count = shape.numBlocks * shape.blockSize * shape.numKVHeads * shape.headDim * Self.elementSize(shape.format)
        func copy(_ rows: CPUKVRows) -> [UInt8] { Array(UnsafeRawBufferPointer(start: rows.base, count: count)) }
        return (copy(keys[layer]), copy(values[layer]))
    }

    /// Bytes of one element of a cache of `format`: 4 (float32) or 1 (FP8 code).
    static func elementSize(_ format: KVCacheFormat) -> Int {
        switch format.dtype {
        case .auto: MemoryLayout<Float>.size
        case .fp8: 1
        }
    }

    /// Offset of (block, kvHead, slot) in a layer's buffer.
    @inline(__always)
    func offset(block: Int, head: Int, slot: Int) -> Int {
        ((block * shape.numKVHeads + head) * shape.blockSize + slot) * shape.headDim
    }
}

/// A step's batch with each token's sequence precomputed.
public struct CPUBatch: Sendable {
    /// The step's batch as the scheduler made it.
    public let batch: ForwardBatch
    /// The sequence that each token belongs to.
    let sequenceOfToken: [Int]

    init(_ batch: ForwardBatch) {
        self.batch = batch
        var owners = [Int](repeating: 0, count: batch.numTokens)
        for s in 0..<batch.numSequences {
            for t in Int(batch.queryStart[s])..<Int(batch.queryStart[s + 1]) { owners[t] = s }
        }
        sequenceOfToken = owners
    }
}
