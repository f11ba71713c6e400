import Foundation

/// A store that adds up the bytes of every weight a model takes from `base`, in the form the
/// backend receives it (packed integers and FP8 codes as stored): the weight bytes that loading
/// logs, and what is left of the memory after them goes to the KV cache.
public final class CountingWeights: WeightStore, @unchecked Sendable {
    /// Where the weights come from.
    public let base: WeightStore
    private let lock = NSLock()
    private var total = 0

    /// Counts what is taken from `base`.
    public init(_ base: WeightStore) { self.base = base }

    /// Bytes of the tensors and linear weights taken so far.
    public var bytes: Int { lock.withLock { total } }

    private func add(_ count: Int) { lock.withLock { total += count } }

    /// The base store's tensor, its bytes counted.
    public func tensor(_ name: String, shape: [Int]) throws -> HostTensor {
        let t = try base.tensor(name, shape: shape)
        add(t.count * t.dtype.byteSize)
        return t
    }

    /// Whether the base store holds `name`.
    public func contains(_ name: String) -> Bool { base.contains(name) }

    /// The base store's linear weight, its bytes counted as stored.
    public func linear(_ prefix: String, out: Int, in inFeatures: Int) throws -> HostLinearWeight {
        let weight = try base.linear(prefix, out: out, in: inFeatures)
        add(weight.byteCount)
        return weight
    }

    /// `base`'s block-quantized embeddings, counted like the other weights.
    public func quantizedEmbeddings(vocabSize: Int, hidden: Int) throws -> HostLinearWeight? {
        let weight = try base.quantizedEmbeddings(vocabSize: vocabSize, hidden: hidden)
        if let weight { add(weight.byteCount) }
        return weight
    }
}
