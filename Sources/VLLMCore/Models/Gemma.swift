import Foundation

/// Gemma 2 and Gemma 3 text models (`Gemma2ForCausalLM`, `Gemma3ForCausalLM`, and the language
/// model of `Gemma3ForConditionalGeneration`). Against the Llama family they add: RMSNorm scaled by
/// `1 + weight`, embeddings scaled by √hidden_size, a GeGLU MLP (`gelu_pytorch_tanh`), norms after
/// attention and around the MLP, `query_pre_attn_scalar`, soft-capped attention scores and final
/// logits (Gemma 2), sliding-window layers interleaved with global ones, and Gemma 3's q/k norm and
/// own rope theta for the sliding layers.
public enum Gemma: ModelArchitecture {
    /// Loads a Gemma 2 or 3 model; throws `ModelLoadError` when a weight is missing or the backend lacks the family's operations.
    public static func load<B: Backend>(_ context: ModelLoadContext<B>) throws -> any CausalModel<B> {
        try GemmaModel(context)
    }
}

/// The weights and forward pass of a Gemma 2 or Gemma 3 text model.
public final class GemmaModel<B: Backend>: CausalModel {
    struct Layer {
        var inputNorm: B.Tensor
        var qkv: LinearWeight<B.Tensor>
        var qNorm: B.Tensor?
        var kNorm: B.Tensor?
        var output: LinearWeight<B.Tensor>
        var postAttentionNorm: B.Tensor
        var preFeedforwardNorm: B.Tensor
        var gateUp: LinearWeight<B.Tensor>
        var down: LinearWeight<B.Tensor>
        var postFeedforwardNorm: B.Tensor
        var rope: B.Tensor
        var slidingWindow: Int?
    }

    /// The model's configuration.
    public let config: ModelConfig
    /// The part of the model this instance holds.
    public let shard: TensorParallelShard
    private let vocabulary: Range<Int>
    private let backend: B
    private let layout: QKVLayout
    private let embedTokens: B.Tensor
    private let embedScale: Float
    private let layers: [Layer]
    private let finalNorm: B.Tensor
    private let lmHead: LinearWeight<B.Tensor>

    /// Loads the weights (this rank's slices with a shard of several ranks, as `LlamaModel` does).
    public init(_ context: ModelLoadContext<B>) throws {
        let (c, weights, backend, shard) = (context.config, context.weights, context.backend, context.shard)
        config = c
        self.backend = backend
        self.shard = shard
        try Self.checkSupported(c, backend: backend)
        let hd = c.headDim, h = c.hiddenSize
        let heads = shard.evenPart(of: c.numHeads), kvHeads = shard.kvHeads(of: c.numKVHeads)
        let qRows = (heads.lowerBound * hd)..<(heads.upperBound * hd)
        let kvRows = (kvHeads.lowerBound * hd)..<(kvHeads.upperBound * hd)
        let mlp = shard.evenPart(of: c.intermediateSize)
        vocabulary = shard.vocabularyPart(of: c.vocabSize)
        layout = QKVLayout(numHeads: heads.count, numKVHeads: kvHeads.count, headDim: hd)
        let (qDim, kvDim) = (c.numHeads * hd, c.numKVHeads * hd)
        let prefix = Self.weightPrefix(weights)
        func load(_ name: String, _ shape: [Int]) throws -> HostTensor { try weights.tensor(prefix + name, shape: shape) }
        // Gemma's RMSNorm scales by (1 + weight); adding the 1 once here (in float32, as transformers
        // does) lets the shared rmsNorm operations serve.
        func norm(_ name: String, _ size: Int) throws -> B.Tensor {
            try backend.weight([HostTensor(shape: [size], values: load(name, [size]).floats().map { 1 + $0 })])
        }
        func linear(_ name: String, _ out: Int, _ inFeatures: Int) throws -> HostLinearWeight {
            try weights.linear(prefix + name, out: out, in: inFeatures)
        }

        embedTokens = try backend.weight([load("embed_tokens.weight", [c.vocabSize, h]).rows(vocabulary)])
        // transformers multiplies by √hidden_size rounded to the activations' dtype (float32 here).
        embedScale = Float(Double(h).squareRoot())
        let globalRope = try backend.weight([
            RotaryEmbedding.table(headDim: c.rotaryDim, theta: c.ropeTheta, scaling: c.ropeScaling, positions: context.maxPositions)
        ])
        let slidingRope =
            try c.family.slidingRopeTheta.map {
                try backend.weight([RotaryEmbedding.table(headDim: c.rotaryDim, theta: $0, scaling: .none, positions: context.maxPositions)]
                )
            } ?? globalRope
        // Gemma 3 normalizes q and k per head, Gemma 2 does not; the architecture says which (dummy
        // weight stores answer yes to every name).
        let qkNorm = c.architecture != "Gemma2ForCausalLM"
        var layers: [Layer] = []
        for i in 0..<c.numLayers {
            let p = "layers.\(i).", a = "layers.\(i).self_attn."
            let window = c.slidingWindow(layer: i)
            layers.append(
                Layer(
                    inputNorm: try norm(p + "input_layernorm.weight", h),
                    qkv: try backend.linearWeight([
                        linear(a + "q_proj", qDim, h).rows(qRows), linear(a + "k_proj", kvDim, h).rows(kvRows),
                        linear(a + "v_proj", kvDim, h).rows(kvRows),
                    ]),
                    qNorm: qkNorm ? try norm(a + "q_norm.weight", hd) : nil,
                    kNorm: qkNorm ? try norm(a + "k_norm.weight", hd) : nil,
                    output: try backend.linearWeight([linear(a + "o_proj", h, qDim).columns(qRows)]),
                    postAttentionNorm: try norm(p + "post_attention_layernorm.weight", h),
                    preFeedforwardNorm: try norm(p + "pre_feedforward_layernorm.weight", h),
                    gateUp: try backend.linearWeight([
                        linear(p + "mlp.gate_proj", c.intermediateSize, h).rows(mlp),
                        linear(p + "mlp.up_proj", c.intermediateSize, h).rows(mlp),
                    ]),
                    down: try backend.linearWeight([linear(p + "mlp.down_proj", h, c.intermediateSize).columns(mlp)]),
                    postFeedforwardNorm: try norm(p + "post_feedforward_layernorm.weight", h),
                    rope: window == nil ? globalRope : slidingRope,
                    slidingWindow: window))
            context.progress?(i + 1, c.numLayers)
        }
        self.layers = layers
        finalNorm = try norm("norm.weight", h)
        let untied = !c.tieWordEmbeddings && weights.contains("lm_head.weight")
        lmHead =
            untied
            ? try backend.linearWeight([weights.linear("lm_head", out: c.vocabSize, in: h).rows(vocabulary)])
            : LinearWeight(format: .dense, outFeatures: vocabulary.count, inFeatures: h, tensors: [embedTokens])
    }

    /// Where the text model's tensors are: `model.` for the causal-LM classes; for
    /// Gemma3ForConditionalGeneration `language_model.model.` (checkpoints on the Hub) or
    /// `model.language_model.` (as transformers 5 saves it).
    private static func weightPrefix(_ weights: WeightStore) -> String {
        let candidates = ["model.", "language_model.model.", "model.language_model."]
        return candidates.first { weights.contains($0 + "embed_tokens.weight") } ?? candidates[0]
    }

    private static func checkSupported(_ c: ModelConfig, backend: B) throws {
        guard c.activation == "gelu_pytorch_tanh" else {
            throw ModelLoadError.invalidConfig(
                path: "config.json", field: "hidden_activation",
                detail: "'\(c.activation)' is not supported by \(c.architecture) (gelu_pytorch_tanh)")
        }
        var needed: FamilyOperations = [.geluTanh, .elementwise]
        if c.family.attentionLogitSoftCap != nil { needed.insert(.attentionSoftCap) }
        if c.rotaryDim != c.headDim { needed.insert(.partialRotary) }
        try backend.requireFamilyOperations(needed, model: c.architecture)
    }

    /// `numBlocks` blocks of `blockSize` tokens for every layer, with this rank's KV heads.
    public func kvCacheShape(numBlocks: Int, blockSize: Int) -> KVCacheShape {
        KVCacheShape(
            numLayers: config.numLayers, numBlocks: numBlocks, blockSize: blockSize,
            numKVHeads: layout.numKVHeads, headDim: config.headDim)
    }

    /// Embedding (scaled by √hidden_size), every decoder layer and the final norm, then logits `[rows, vocabSize]` of the requested rows,
    /// soft-capped where the config says.
    public func forward(_ step: B.Batch, cache: B.KVCache) -> B.Tensor {
        let b = backend
        let eps = config.rmsNormEps
        let scale = Float(1 / (config.family.queryPreAttnScalar ?? Double(config.headDim)).squareRoot())
        let residual = b.embedding(embedTokens, step, firstTokenID: vocabulary.lowerBound)
        if shard.worldSize > 1 { b.allReduce(residual) }
        b.scale(residual, by: embedScale)
        // `residual` carries the stream; each block's output is normed, then added into it, then the
        // stream normed for the next block: one `normAddRMSNorm` (the MLP's output waits in
        // `pending` with its post-feedforward norm until the next layer's input norm).
        var pending: (output: B.Tensor, norm: B.Tensor)?
        for (index, layer) in layers.enumerated() {
            let normed =
                pending.map { b.normAddRMSNorm($0.output, normWeight: $0.norm, residual: residual, weight: layer.inputNorm, eps: eps) }
                ?? b.rmsNorm(residual, weight: layer.inputNorm, eps: eps)
            let qkv = b.linear(normed, layer.qkv, bias: nil)
            let softCap = config.family.attentionLogitSoftCap
            let attention =
                if let qNorm = layer.qNorm, let kNorm = layer.kNorm {
                    b.normedRotaryAttention(
                        qkv, layout: layout, headNorm: HeadNorm(q: qNorm, k: kNorm, eps: eps), rope: layer.rope, cache: cache,
                        layer: index, batch: step, scale: scale, slidingWindow: layer.slidingWindow, logitSoftCap: softCap)
                } else {
                    b.rotaryAttention(
                        qkv, layout: layout, rope: layer.rope, cache: cache, layer: index, batch: step, scale: scale,
                        slidingWindow: layer.slidingWindow, logitSoftCap: softCap)
                }
            let attentionOutput = b.linear(attention, layer.output, bias: nil)
            if shard.worldSize > 1 { b.allReduce(attentionOutput) }
            let mlpInput = b.normAddRMSNorm(
                attentionOutput, normWeight: layer.postAttentionNorm, residual: residual, weight: layer.preFeedforwardNorm, eps: eps)
            let mlpOutput = b.linear(b.geluTanhGLU(mlpInput, gateUp: layer.gateUp), layer.down, bias: nil)
            if shard.worldSize > 1 { b.allReduce(mlpOutput) }
            pending = (mlpOutput, layer.postFeedforwardNorm)
        }
        let last = b.normAddRMSNorm(pending!.output, normWeight: pending!.norm, residual: residual, weight: finalNorm, eps: eps)
        var logits = b.linear(b.gatherLogitRows(last, batch: step), lmHead, bias: nil)
        if shard.worldSize > 1 { logits = b.allGatherColumns(logits, totalColumns: config.vocabSize) }
        if let cap = config.family.finalLogitSoftCap { b.softCap(logits, cap: cap) }
        return logits
    }
}
