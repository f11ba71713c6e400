/// The Llama family (Llama 2/3, Mistral, Qwen2/2.5, Qwen3, SmolLM, TinyLlama; Phi-3 through
/// `Phi3`) in one implementation:
/// pre-norm decoder layers of grouped-query attention with rotary embeddings and a SwiGLU MLP.
/// The variants differ only by switches of `ModelConfig` (q/k/v bias, q/k norm, rope scaling,
/// tied embeddings, sliding window).
public enum Llama: ModelArchitecture {
    /// Loads a Llama-family model; throws `ModelLoadError` when a weight is missing or has the wrong shape.
    public static func load<B: Backend>(_ context: ModelLoadContext<B>) throws -> any CausalModel<B> {
        try LlamaModel(context)
    }
}

/// The weights and forward pass of a Llama-family model.
public final class LlamaModel<B: Backend>: CausalModel, EmbeddingModel, AuxiliaryHiddenStatesModel {
    struct Layer {
        var inputNorm: B.Tensor
        var qkv: LinearWeight<B.Tensor>
        var qkvBias: B.Tensor?
        var qNorm: B.Tensor?
        var kNorm: B.Tensor?
        var output: LinearWeight<B.Tensor>
        var outputBias: B.Tensor?
        var postAttentionNorm: B.Tensor
        var feedForward: FeedForward<B.Tensor>
    }

    /// The model's configuration.
    public let config: ModelConfig
    /// The part of the model this instance holds.
    public let shard: TensorParallelShard
    private let vocabulary: Range<Int>
    private let backend: B
    private let layout: QKVLayout
    private let embedTokens: B.Tensor
    private let layers: [Layer]
    private let finalNorm: B.Tensor
    private let lmHead: LinearWeight<B.Tensor>
    private let rope: B.Tensor

    /// Loads the weights; with a shard of several ranks, only that rank's slices are read (views
    /// into the mapped files, copies only for the strided slices of row-parallel weights).
    public convenience init(_ context: ModelLoadContext<B>) throws {
        try self.init(context, feedForward: DenseFeedForward())
    }

    /// Loads the weights with each layer's feed-forward block made by `feedForward` (dense
    /// SwiGLU, Phi-3's fused one, or a mixture of experts: `Models/MixtureOfExperts.swift`);
    /// `fusedProjections` reads q, k and v from one `qkv_proj` (Phi-3), split into its parts (and
    /// this rank's rows) at load.
    public init(_ context: ModelLoadContext<B>, feedForward: some FeedForwardLoading, fusedProjections: Bool = false) throws {
        let (c, weights, backend, shard) = (context.config, context.weights, context.backend, context.shard)
        guard c.activation == "silu" else {
            throw ModelLoadError.invalidConfig(
                path: "config.json", field: "hidden_act", detail: "'\(c.activation)' is not supported by \(c.architecture) (silu)")
        }
        if c.rotaryDim != c.headDim { try backend.requireFamilyOperations(.partialRotary, model: c.architecture) }
        config = c
        self.backend = backend
        self.shard = shard
        let hd = c.headDim, h = c.hiddenSize
        let heads = shard.evenPart(of: c.numHeads), kvHeads = shard.kvHeads(of: c.numKVHeads)
        let qRows = (heads.lowerBound * hd)..<(heads.upperBound * hd)
        let kvRows = (kvHeads.lowerBound * hd)..<(kvHeads.upperBound * hd)
        vocabulary = shard.vocabularyPart(of: c.vocabSize)
        layout = QKVLayout(numHeads: heads.count, numKVHeads: kvHeads.count, headDim: hd)
        let (qDim, kvDim) = (c.numHeads * hd, c.numKVHeads * hd)
        func load(_ name: String, _ shape: [Int]) throws -> HostTensor { try weights.tensor(name, shape: shape) }
        func take(_ name: String, _ shape: [Int]) throws -> B.Tensor { try backend.weight([load(name, shape)]) }
        func linear(_ prefix: String, _ out: Int, _ inFeatures: Int) throws -> HostLinearWeight {
            try weights.linear(prefix, out: out, in: inFeatures)
        }

        embedTokens = try backend.weight([load("model.embed_tokens.weight", [c.vocabSize, h]).rows(vocabulary)])
        var layers: [Layer] = []
        for i in 0..<c.numLayers {
            let p = "model.layers.\(i)."
            let a = p + "self_attn."
            let qkvParts: [HostLinearWeight]
            if fusedProjections {
                let qkv = try linear(a + "qkv_proj", qDim + 2 * kvDim, h)
                let shiftK = qDim, shiftV = qDim + kvDim
                qkvParts = try [
                    qkv.rows(qRows), qkv.rows((kvRows.lowerBound + shiftK)..<(kvRows.upperBound + shiftK)),
                    qkv.rows((kvRows.lowerBound + shiftV)..<(kvRows.upperBound + shiftV)),
                ]
            } else {
                qkvParts = [
                    try linear(a + "q_proj", qDim, h).rows(qRows), try linear(a + "k_proj", kvDim, h).rows(kvRows),
                    try linear(a + "v_proj", kvDim, h).rows(kvRows),
                ]
            }
            layers.append(
                Layer(
                    inputNorm: try take(p + "input_layernorm.weight", [h]),
                    qkv: try backend.linearWeight(qkvParts),
                    qkvBias: c.qkvBias
                        ? try backend.weight([
                            load(a + "q_proj.bias", [qDim]).rows(qRows), load(a + "k_proj.bias", [kvDim]).rows(kvRows),
                            load(a + "v_proj.bias", [kvDim]).rows(kvRows),
                        ]) : nil,
                    qNorm: c.qkNorm ? try take(a + "q_norm.weight", [hd]) : nil,
                    kNorm: c.qkNorm ? try take(a + "k_norm.weight", [hd]) : nil,
                    output: try backend.linearWeight([linear(a + "o_proj", h, qDim).columns(qRows)]),
                    // The bias is added once, by rank 0, before the partial sums are reduced.
                    outputBias: c.outputBias && shard.rank == 0 ? try take(a + "o_proj.bias", [h]) : nil,
                    postAttentionNorm: try take(p + "post_attention_layernorm.weight", [h]),
                    feedForward: try feedForward.load(layer: i, prefix: p, context)))
            context.progress?(i + 1, c.numLayers)
        }
        self.layers = layers
        finalNorm = try take("model.norm.weight", [h])
        if !c.tieWordEmbeddings {
            lmHead = try backend.linearWeight([linear("lm_head", c.vocabSize, h).rows(vocabulary)])
        } else if let stored = try weights.quantizedEmbeddings(vocabSize: c.vocabSize, hidden: h) {
            // A tied head over block-quantized embeddings (GGUF) multiplies the blocks, not the float copy.
            lmHead = try backend.linearWeight([stored.rows(vocabulary)])
        } else {
            lmHead = LinearWeight(format: .dense, outFeatures: vocabulary.count, inFeatures: h, tensors: [embedTokens])
        }
        rope = try backend.weight([
            RotaryEmbedding.table(
                headDim: c.rotaryDim, theta: c.ropeTheta, scaling: c.ropeScaling, positions: context.maxPositions)
        ])
    }

    /// `numBlocks` blocks of `blockSize` tokens for every layer, with this rank's KV heads.
    public func kvCacheShape(numBlocks: Int, blockSize: Int) -> KVCacheShape {
        KVCacheShape(
            numLayers: config.numLayers, numBlocks: numBlocks, blockSize: blockSize,
            numKVHeads: layout.numKVHeads, headDim: config.headDim)
    }

    /// The hidden states of the requested rows times the output projection: logits `[rows, vocabSize]` (gathered from every rank under
    /// tensor parallelism).
    public func forward(_ step: B.Batch, cache: B.KVCache) -> B.Tensor {
        logits(hiddenStates(step, cache: cache), step)
    }

    /// `forward`, plus copies of the residual stream entering each of `layers` (the embeddings for
    /// layer 0), side by side: vLLM's auxiliary hidden states of EAGLE-3.
    public func forward(_ step: B.Batch, cache: B.KVCache, capturing layers: [Int]) -> (logits: B.Tensor, auxiliary: B.Tensor) {
        let (hidden, captured) = hiddenStates(step, cache: cache, capturing: Set(layers))
        return (logits(hidden, step), backend.concatColumns(layers.map { captured[$0]! }))
    }

    /// The logits of the requested rows of `hidden`.
    private func logits(_ hidden: B.Tensor, _ step: B.Batch) -> B.Tensor {
        let b = backend
        // Only the rows whose logits are wanted go through the vocabulary projection.
        var logits = b.linear(b.gatherLogitRows(hidden, batch: step), lmHead, bias: nil)
        if shard.worldSize > 1 { logits = b.allGatherColumns(logits, totalColumns: config.vocabSize) }
        return logits
    }

    /// Embedding, then every decoder layer and the final norm: `[numTokens, hidden]`.
    public func hiddenStates(_ step: B.Batch, cache: B.KVCache) -> B.Tensor {
        hiddenStates(step, cache: cache, capturing: []).hidden
    }

    /// `hiddenStates`, and a copy of the residual stream entering each layer of `layers`.
    private func hiddenStates(_ step: B.Batch, cache: B.KVCache, capturing capture: Set<Int>) -> (
        hidden: B.Tensor, captured: [Int: B.Tensor]
    ) {
        let b = backend
        var captured: [Int: B.Tensor] = [:]
        let eps = config.rmsNormEps
        let scale = 1 / Float(config.headDim).squareRoot()
        var hidden = b.embedding(embedTokens, step, firstTokenID: vocabulary.lowerBound)
        if shard.worldSize > 1 { b.allReduce(hidden) }
        var residual: B.Tensor?
        for (index, layer) in layers.enumerated() {
            let normed: B.Tensor
            if let residual {
                normed = b.addRMSNorm(hidden, residual: residual, weight: layer.inputNorm, eps: eps)
            } else {
                residual = hidden
                normed = b.rmsNorm(hidden, weight: layer.inputNorm, eps: eps)
            }
            // The stream is changed in place later in the layer, so the capture is a copy.
            if capture.contains(index) { captured[index] = b.concatColumns([residual!]) }
            let qkv = b.linear(normed, layer.qkv, bias: layer.qkvBias)
            let window = config.slidingWindow(layer: index)
            let attention =
                if let qNorm = layer.qNorm, let kNorm = layer.kNorm {
                    b.normedRotaryAttention(
                        qkv, layout: layout, headNorm: HeadNorm(q: qNorm, k: kNorm, eps: eps), rope: rope, cache: cache,
                        layer: index, batch: step, scale: scale, slidingWindow: window, logitSoftCap: nil)
                } else {
                    b.rotaryAttention(
                        qkv, layout: layout, rope: rope, cache: cache, layer: index, batch: step, scale: scale, slidingWindow: window)
                }
            hidden = b.linear(attention, layer.output, bias: layer.outputBias)
            if shard.worldSize > 1 { b.allReduce(hidden) }
            let mlpInput = b.addRMSNorm(hidden, residual: residual!, weight: layer.postAttentionNorm, eps: eps)
            hidden = layer.feedForward.apply(mlpInput, on: b)
            if shard.worldSize > 1 { b.allReduce(hidden) }
        }
        return (b.addRMSNorm(hidden, residual: residual!, weight: finalNorm, eps: eps), captured)
    }
}
