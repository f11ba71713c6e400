/// A loaded model on a backend, as the engine sees it: it owns the weights and the KV cache, and
/// turns one flat batch into the logits of the requested tokens.
public protocol ModelExecutor: AnyObject {
    /// The model's configuration.
    var config: ModelConfig { get }
    /// The backend's name ("cpu", "cuda").
    var backendName: String { get }
    /// Bytes one KV cache block of `blockSize` tokens takes over all layers.
    func kvCacheBytesPerBlock(blockSize: Int) -> Int
    /// Makes the paged KV cache; must be called before `execute`.
    func allocateKVCache(numBlocks: Int, blockSize: Int)
    /// Runs the model over `batch` and returns float32 logits, `[batch.logitIndices.count, vocabSize]`.
    func execute(_ batch: ForwardBatch) -> [Float]
}
