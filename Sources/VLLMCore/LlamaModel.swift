/// The Llama family (Llama 2/3, Mistral, Qwen2/2.5, Qwen3, SmolLM, TinyLlama) in one implementation:
/// pre-norm decoder layers of grouped-query attention with rotary embeddings and a SwiGLU MLP.
/// The variants differ only by switches of `ModelConfig` (q/k/v bias, q/k norm, rope scaling,
/// tied embeddings, sliding window).
public final class LlamaModel<B: Backend>: ModelExecutor {
    struct Layer {
        var inputNorm: B.Tensor
        var qkv: B.Tensor
        var qkvBias: B.Tensor?
        var qNorm: B.Tensor?
        var kNorm: B.Tensor?
        var output: B.Tensor
        var outputBias: B.Tensor?
        var postAttentionNorm: B.Tensor
        var gateUp: B.Tensor
        var down: B.Tensor
    }

    public let config: ModelConfig
    /// The part of the model this instance holds.
    public let shard: TensorParallelShard
    private let vocabulary: Range<Int>
    private let backend: B
    private let layout: QKVLayout
    private let embedTokens: B.Tensor
    private let layers: [Layer]
    private let finalNorm: B.Tensor
    private let lmHead: B.Tensor
    private let rope: B.Tensor
    private let maxPositions: Int
    private var cache: B.KVCache?
    private var cacheShape: KVCacheShape?
    /// The samples of the last `launch`, which placeholder token ids of the next batch stand for.
    private var lastSamples: PendingSamples?

    public var backendName: String { backend.name }

    /// Loads the weights of `config` from `weights` onto `backend`; `maxPositions` bounds the rotary
    /// table. With a `shard` of several ranks, only that rank's slices are read (views into the
    /// mapped files, copies only for the strided slices of row-parallel weights). `progress` is
    /// called after each layer with (done, total).
    public init(
        config: ModelConfig, weights: WeightStore, backend: B, maxPositions: Int, shard: TensorParallelShard = .whole,
        progress: ((Int, Int) -> Void)? = nil
    ) throws {
        try shard.validate(config)
        self.config = config
        self.backend = backend
        self.shard = shard
        let c = config, hd = c.headDim, h = c.hiddenSize
        let heads = shard.evenPart(of: c.numHeads), kvHeads = shard.kvHeads(of: c.numKVHeads)
        let qRows = (heads.lowerBound * hd)..<(heads.upperBound * hd)
        let kvRows = (kvHeads.lowerBound * hd)..<(kvHeads.upperBound * hd)
        let mlp = shard.evenPart(of: c.intermediateSize)
        vocabulary = shard.vocabularyPart(of: c.vocabSize)
        layout = QKVLayout(numHeads: heads.count, numKVHeads: kvHeads.count, headDim: hd)
        let (qDim, kvDim) = (c.numHeads * hd, c.numKVHeads * hd)
        func load(_ name: String, _ shape: [Int]) throws -> HostTensor { try weights.tensor(name, shape: shape) }
        func take(_ name: String, _ shape: [Int]) throws -> B.Tensor { try backend.weight([load(name, shape)]) }

        embedTokens = try backend.weight([load("model.embed_tokens.weight", [c.vocabSize, h]).rows(vocabulary)])
        var layers: [Layer] = []
        for i in 0..<c.numLayers {
            let p = "model.layers.\(i)."
            let a = p + "self_attn."
            layers.append(Layer(
                inputNorm: try take(p + "input_layernorm.weight", [h]),
                qkv: try backend.weight([
                    load(a + "q_proj.weight", [qDim, h]).rows(qRows), load(a + "k_proj.weight", [kvDim, h]).rows(kvRows),
                    load(a + "v_proj.weight", [kvDim, h]).rows(kvRows),
                ]),
                qkvBias: c.qkvBias
                    ? try backend.weight([
                        load(a + "q_proj.bias", [qDim]).rows(qRows), load(a + "k_proj.bias", [kvDim]).rows(kvRows),
                        load(a + "v_proj.bias", [kvDim]).rows(kvRows),
                    ]) : nil,
                qNorm: c.qkNorm ? try take(a + "q_norm.weight", [hd]) : nil,
                kNorm: c.qkNorm ? try take(a + "k_norm.weight", [hd]) : nil,
                output: try backend.weight([load(a + "o_proj.weight", [h, qDim]).columns(qRows)]),
                // The bias is added once, by rank 0, before the partial sums are reduced.
                outputBias: c.outputBias && shard.rank == 0 ? try take(a + "o_proj.bias", [h]) : nil,
                postAttentionNorm: try take(p + "post_attention_layernorm.weight", [h]),
                gateUp: try backend.weight([
                    load(p + "mlp.gate_proj.weight", [c.intermediateSize, h]).rows(mlp),
                    load(p + "mlp.up_proj.weight", [c.intermediateSize, h]).rows(mlp),
                ]),
                down: try backend.weight([load(p + "mlp.down_proj.weight", [h, c.intermediateSize]).columns(mlp)])))
            progress?(i + 1, c.numLayers)
        }
        self.layers = layers
        finalNorm = try take("model.norm.weight", [h])
        lmHead = c.tieWordEmbeddings
            ? embedTokens : try backend.weight([load("lm_head.weight", [c.vocabSize, h]).rows(vocabulary)])
        self.maxPositions = maxPositions
        rope = try backend.weight([
            RotaryEmbedding.table(headDim: c.headDim, theta: c.ropeTheta, scaling: c.ropeScaling, positions: maxPositions)
        ])
    }

    private func cacheShape(numBlocks: Int, blockSize: Int) -> KVCacheShape {
        KVCacheShape(
            numLayers: config.numLayers, numBlocks: numBlocks, blockSize: blockSize,
            numKVHeads: layout.numKVHeads, headDim: config.headDim)
    }

    public func kvCacheBytesPerBlock(blockSize: Int) -> Int {
        backend.kvCacheBytesPerBlock(cacheShape(numBlocks: 1, blockSize: blockSize))
    }

    public func allocateKVCache(numBlocks: Int, blockSize: Int) {
        let shape = cacheShape(numBlocks: numBlocks, blockSize: blockSize)
        cache = backend.makeKVCache(shape)
        cacheShape = shape
    }

    public func execute(_ batch: ForwardBatch) -> [Float] {
        let (logits, rows) = self.logits(batch)
        let values = backend.toHost(logits)
        let wanted = batch.logitIndices.count
        return rows == wanted ? values : Array(values.prefix(wanted * config.vocabSize))
    }

    public func executeGreedy(_ batch: ForwardBatch) -> [Int32] {
        let (logits, rows) = self.logits(batch)
        return Array(backend.argmaxRows(logits, rows: rows).prefix(batch.logitIndices.count))
    }

    public var samplesOnDevice: Bool { shard.worldSize == 1 && backend.samplesOnDevice }

    public func executeSampled(_ batch: ForwardBatch, rows: [DeviceSamplingRow]) -> [DeviceSample] {
        launch(batch, rows: rows).wait()
    }

    public var launchesAhead: Bool { shard.worldSize == 1 }

    public func launch(_ batch: ForwardBatch, rows: [DeviceSamplingRow]) -> PendingSamples {
        let (logits, count) = self.logits(batch)
        // Padding rows of a recorded step are sampled greedily and dropped.
        let padded = rows + [DeviceSamplingRow](repeating: DeviceSamplingRow(), count: count - rows.count)
        let samples = backend.launchSampling(logits, rows: padded)
        lastSamples = samples
        return samples.map { Array($0.prefix(rows.count)) }
    }

    public func profileRun(tokens: Int, sequences: Int, blockSize: Int) {
        let perSequence = max(1, min(maxPositions - 1, (tokens + max(1, sequences) - 1) / max(1, sequences)))
        let count = (tokens + perSequence - 1) / perSequence
        let blocksPerSequence = (perSequence + blockSize - 1) / blockSize
        allocateKVCache(numBlocks: count * blocksPerSequence, blockSize: blockSize)
        let chunks = (0..<count).map { s in
            SequenceChunk(
                tokenIDs: [Int32](repeating: 0, count: min(perSequence, tokens - s * perSequence)), numCached: 0,
                blockTable: (0..<blocksPerSequence).map { Int32(s * blocksPerSequence + $0) })
        }
        _ = executeGreedy(ForwardBatch(chunks: chunks, blockSize: blockSize))
        cache = nil
        cacheShape = nil
    }

    /// Decode batch sizes replayed from recordings, ascending; empty when steps run eagerly.
    public private(set) var graphBatchSizes: [Int] = []

    public func captureGraphs(batchSizes: [Int]) -> Int {
        guard backend.recordsSteps, shard.worldSize == 1, cache != nil else { return 0 }
        graphBatchSizes = Set(batchSizes.filter { $0 > 0 }).sorted()
        // Largest first, as vLLM does; each dummy step records its size.
        for size in graphBatchSizes.reversed() { _ = executeGreedy(.dummyDecodes(size)) }
        // A backend that failed to record stops recording; the steps then run eagerly.
        if !backend.recordsSteps { graphBatchSizes = [] }
        return graphBatchSizes.count
    }

    /// The logits of `batch`'s requested rows on the backend, and how many rows there are: more
    /// than requested when a decode step was padded to a recorded size.
    private func logits(_ batch: ForwardBatch) -> (B.Tensor, rows: Int) {
        var batch = batch
        if batch.hasPlaceholders {
            guard let last = lastSamples else { preconditionFailure("placeholder token ids before any launch") }
            // Tokens already on the host are put in here; the others the backend reads on the device.
            if last.isReady { batch = batch.resolvingPlaceholders(last.wait().map { Int32($0.token) }) }
        }
        if backend.recordsSteps, batch.isDecodeOnly, let size = graphBatchSizes.first(where: { $0 >= batch.numSequences }) {
            let step = backend.prepare(batch.paddedDecodes(to: size))
            return (backend.recorded(size, batch: step) { forward(step) }, size)
        }
        return (forward(backend.prepare(batch)), batch.logitIndices.count)
    }

    /// The forward pass of a prepared step up to the logits of the requested rows, left on the backend.
    private func forward(_ step: B.Batch) -> B.Tensor {
        guard let cache else { preconditionFailure("allocateKVCache must be called before execute") }
        let b = backend
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
            let qkv = b.linear(normed, weight: layer.qkv, bias: layer.qkvBias)
            if let qNorm = layer.qNorm, let kNorm = layer.kNorm {
                b.headRMSNorm(qkv, layout: layout, qWeight: qNorm, kWeight: kNorm, eps: eps)
            }
            let attention = b.rotaryAttention(
                qkv, layout: layout, rope: rope, cache: cache, layer: index, batch: step, scale: scale,
                slidingWindow: config.slidingWindow)
            hidden = b.linear(attention, weight: layer.output, bias: layer.outputBias)
            if shard.worldSize > 1 { b.allReduce(hidden) }
            let mlpInput = b.addRMSNorm(hidden, residual: residual!, weight: layer.postAttentionNorm, eps: eps)
            hidden = b.linear(b.swiGLU(mlpInput, gateUp: layer.gateUp), weight: layer.down, bias: nil)
            if shard.worldSize > 1 { b.allReduce(hidden) }
        }
        // Only the rows whose logits are wanted go through the last norm and the vocabulary projection.
        let last = b.addRMSNorm(hidden, residual: residual!, weight: finalNorm, eps: eps)
        var logits = b.linear(b.gatherLogitRows(last, batch: step), weight: lmHead, bias: nil)
        if shard.worldSize > 1 { logits = b.allGatherColumns(logits, totalColumns: config.vocabSize) }
        return logits
    }
}
