import VLLMCore

/// The encoder operations (BERT) on CUDA: `encoder_embedding` (gather.cu), `layer_norm` (norm.cu),
/// `gelu` (activation.cu) and `bidirectional_attention` (encoder_attention.cu). The CPU backend
/// (`CPUEncoder.swift`) is the reference for their semantics.
extension CUDABackend {
    /// The encoder operations below are all here once `encoder_attention.cu` is loaded (compiled
    /// now when the kernel selection left it out); false when it cannot be.
    public var runsEncoders: Bool {
        (try? requireKernels([.encoder])) != nil && kernels.bidirectionalAttention != nil
    }

    /// Word + token-type-0 + position rows of each token, the sums rounded to the compute dtype in
    /// transformers' order.
    public func encoderEmbedding(words: CUDATensor, positions: CUDATensor, tokenType: CUDATensor, _ batch: CUDABatch) -> CUDATensor {
        let (hidden, tokens) = (words.columns, batch.batch.numTokens)
        precondition(
            Int(batch.batch.positions.max() ?? 0) < positions.rows, "a position beyond max_position_embeddings (\(positions.rows))")
        let out = allocate([tokens, hidden])
        launch(
            kernels.encoderEmbedding, "encoder_embedding", grid: (tokens, 1), block: min(256, threadsFor(row: hidden)),
            [
                .pointer(out.pointer), .pointer(words.pointer), .pointer(positions.pointer), .pointer(tokenType.pointer),
                .pointer(batch.tokenIDs), .pointer(batch.positions), .int32(Int32(hidden)),
            ])
        return out
    }

    /// LayerNorm of `x + residual` (of `x` without one), one block per row.
    public func layerNorm(_ x: CUDATensor, residual: CUDATensor?, weight: CUDATensor, bias: CUDATensor, eps: Float) -> CUDATensor {
        checkLive(x)
        if let residual { checkLive(residual) }
        let out = allocate(x.shape)
        launch(
            kernels.layerNorm, "layer_norm", grid: (x.rows, 1), block: threadsFor(row: x.columns),
            [
                .pointer(out.pointer), .pointer(x.pointer), .pointer(residual?.pointer ?? 0), .pointer(weight.pointer),
                .pointer(bias.pointer), .int32(Int32(x.columns)), .float(eps),
            ])
        return out
    }

    /// The erf GELU, elementwise.
    public func gelu(_ x: CUDATensor) -> CUDATensor {
        checkLive(x)
        let out = allocate(x.shape)
        launch(
            kernels.gelu, "gelu", grid: (gridFor(x.count), 1), block: 256,
            [.pointer(out.pointer), .pointer(x.pointer), .int64(Int64(x.count))])
        return out
    }

    /// Attention of each token over its sequence's tokens in the step: one block per (token, head)
    /// with the sequence's scores in shared memory (sized for the step's longest sequence).
    public func bidirectionalAttention(_ qkv: CUDATensor, layout: QKVLayout, batch: CUDABatch, scale: Float) -> CUDATensor {
        checkLive(qkv)
        guard let attention = kernels.bidirectionalAttention else { preconditionFailure("encoder attention before runsEncoders") }
        let b = batch.batch
        let starts = batch.queryStarts ?? stepArray(b.queryStart, "sequence starts")
        batch.queryStarts = starts
        // The kernel keeps a query head and all scores of the token's sequence in shared memory.
        let longest = zip(b.queryStart.dropFirst(), b.queryStart).map { Int($0 - $1) }.max() ?? 0
        let shared = (layout.headDim + longest) * 4
        precondition(shared <= 200 * 1024, "bidirectional attention over \(longest) tokens of one sequence exceeds shared memory")
        allowShared(shared, attention, "bidirectional_attention")
        let out = allocate([b.numTokens, layout.numHeads * layout.headDim])
        launch(
            attention, "bidirectional_attention", grid: (b.numTokens, layout.numHeads), block: 128,
            shared: shared,
            [
                .pointer(out.pointer), .pointer(qkv.pointer), .pointer(starts), .int32(Int32(b.numSequences)),
                .int32(Int32(layout.width)), .int32(Int32(layout.numHeads)), .int32(Int32(layout.numKVHeads)),
                .int32(Int32(layout.headDim)), .float(scale),
            ])
        return out
    }
}
