/// The draft head of EAGLE-3 (Li et al., 2025; vLLM's `Eagle3LlamaForCausalLM`): one Llama decoder
/// layer that reads, for each position, the embedding of the next token beside a hidden state:
/// at first the target's hidden states of several layers fused by `fc`, then the head's own
/// output before its final norm. Its attention takes `concat(input_layernorm(embeds),
/// hidden_norm(hidden))`, twice the hidden width; the residual stream starts from the hidden
/// state. Its `lm_head` covers a draft vocabulary whose ids map to the target's through `d2t`.
public final class Eagle3Head<B: Backend> {
    /// The head's configuration.
    public let config: Eagle3HeadConfig
    /// For each draft token id, the target's id: the id plus `d2t` of it.
    public let draftToTarget: [Int]
    private let backend: B
    private let layout: QKVLayout
    private let embedTokens: B.Tensor
    private let fc: LinearWeight<B.Tensor>
    private let inputNorm: B.Tensor
    private let hiddenNorm: B.Tensor
    private let qkv: LinearWeight<B.Tensor>
    private let qkvBias: B.Tensor?
    private let output: LinearWeight<B.Tensor>
    private let outputBias: B.Tensor?
    private let postAttentionNorm: B.Tensor
    private let feedForward: FeedForward<B.Tensor>
    private let finalNorm: B.Tensor
    private let lmHead: LinearWeight<B.Tensor>
    private let rope: B.Tensor

    /// Loads the head from `weights` (the EAGLE repository's names, `midlayer.*`, or vLLM's,
    /// `layers.0.*` with or without `model.`); the token embeddings come from the head when it
    /// has them, else from the target's `targetWeights`. `auxiliaryLayers` target layers feed `fc`.
    public init(
        _ config: Eagle3HeadConfig, weights: WeightStore, targetWeights: WeightStore, backend: B, maxPositions: Int,
        auxiliaryLayers: Int
    ) throws {
        let c = config.model
        try backend.requireFamilyOperations(.hiddenStates, model: c.architecture)
        guard c.activation == "silu" else {
            throw ModelLoadError.invalidConfig(
                path: config.path + "/config.json", field: "hidden_act", detail: "'\(c.activation)' is not supported (silu)")
        }
        self.config = config
        self.backend = backend
        let (h, hd) = (c.hiddenSize, c.headDim)
        let (qDim, kvDim) = (c.numHeads * hd, c.numKVHeads * hd)
        layout = QKVLayout(numHeads: c.numHeads, numKVHeads: c.numKVHeads, headDim: hd)
        let layer = ["midlayer.", "model.layers.0.", "layers.0."].first { weights.contains($0 + "input_layernorm.weight") } ?? "midlayer."
        func top(_ name: String) -> String { weights.contains(name) ? name : "model." + name }
        func take(_ name: String, _ shape: [Int]) throws -> B.Tensor { try backend.weight([weights.tensor(name, shape: shape)]) }
        func linear(_ name: String, _ out: Int, _ inFeatures: Int) throws -> LinearWeight<B.Tensor> {
            try backend.linearWeight([weights.linear(name, out: out, in: inFeatures)])
        }

        let embeddings = top("embed_tokens.weight")
        embedTokens =
            weights.contains(embeddings)
            ? try take(embeddings, [c.vocabSize, h])
            : try backend.weight([targetWeights.tensor("model.embed_tokens.weight", shape: [c.vocabSize, h])])
        fc = try linear(weights.contains("fc.weight") ? "fc" : "model.fc", h, auxiliaryLayers * config.targetHiddenSize)
        inputNorm = try take(layer + "input_layernorm.weight", [h])
        hiddenNorm = try take(layer + "hidden_norm.weight", [h])
        let a = layer + "self_attn."
        qkv = try backend.linearWeight([
            weights.linear(a + "q_proj", out: qDim, in: 2 * h), weights.linear(a + "k_proj", out: kvDim, in: 2 * h),
            weights.linear(a + "v_proj", out: kvDim, in: 2 * h),
        ])
        qkvBias =
            c.qkvBias
            ? try backend.weight([
                weights.tensor(a + "q_proj.bias", shape: [qDim]), weights.tensor(a + "k_proj.bias", shape: [kvDim]),
                weights.tensor(a + "v_proj.bias", shape: [kvDim]),
            ]) : nil
        output = try linear(a + "o_proj", h, qDim)
        outputBias = c.outputBias ? try take(a + "o_proj.bias", [h]) : nil
        postAttentionNorm = try take(layer + "post_attention_layernorm.weight", [h])
        feedForward = try DenseFeedForward().load(
            layer: 0, prefix: layer, ModelLoadContext(config: c, weights: weights, backend: backend, maxPositions: maxPositions))
        finalNorm = try take(top("norm.weight"), [h])
        lmHead = try linear("lm_head", config.draftVocabSize, h)
        if weights.contains("d2t") {
            let offsets = try weights.tensor("d2t", shape: [config.draftVocabSize]).floats()
            draftToTarget = offsets.enumerated().map { $0.offset + Int($0.element) }
        } else {
            guard config.draftVocabSize == c.vocabSize else {
                throw ModelLoadError.missingTensor(name: "d2t (draft_vocab_size differs from vocab_size)", path: config.path)
            }
            draftToTarget = Array(0..<c.vocabSize)
        }
        if let bad = draftToTarget.first(where: { !(0..<c.vocabSize).contains($0) }) {
            throw ModelLoadError.invalidConfig(
                path: config.path, field: "d2t", detail: "maps a draft token to \(bad), outside the vocabulary of \(c.vocabSize)")
        }
        rope = try backend.weight([
            RotaryEmbedding.table(headDim: c.rotaryDim, theta: c.ropeTheta, scaling: c.ropeScaling, positions: maxPositions)
        ])
    }

    /// The head's paged KV cache: one layer.
    public func kvCacheShape(numBlocks: Int, blockSize: Int) -> KVCacheShape {
        KVCacheShape(
            numLayers: 1, numBlocks: numBlocks, blockSize: blockSize, numKVHeads: layout.numKVHeads, headDim: config.model.headDim)
    }

    /// One pass over `step`, each position reading the embedding of its token beside its row of
    /// `hidden`: the target's auxiliary hidden states side by side when `fromTarget` (fused by
    /// `fc`), else the head's own earlier output. Returns, for the step's requested rows, the
    /// draft-vocabulary logits and the hidden states before the final norm (the next pass's input).
    public func forward(_ step: B.Batch, hidden: B.Tensor, fromTarget: Bool, cache: B.KVCache) -> (
        logits: B.Tensor, hidden: B.Tensor
    ) {
        let b = backend
        let c = config.model
        // The residual stream starts from the hidden state; `addRMSNorm` adds to it in place. It
        // lives through the pass, so `fc`'s output is copied where a backend keeps the step's
        // long-lived tensors (`concatColumns`' memory) rather than left among short-lived ones.
        let residual = fromTarget ? b.concatColumns([b.linear(hidden, fc, bias: nil)]) : hidden
        let embeds = b.rmsNorm(b.embedding(embedTokens, step), weight: inputNorm, eps: c.rmsNormEps)
        let input = b.concatColumns([embeds, b.rmsNorm(residual, weight: hiddenNorm, eps: c.rmsNormEps)])
        let attention = b.rotaryAttention(
            b.linear(input, qkv, bias: qkvBias), layout: layout, rope: rope, cache: cache, layer: 0, batch: step,
            scale: 1 / Float(c.headDim).squareRoot(), slidingWindow: nil)
        let attended = b.linear(attention, output, bias: outputBias)
        let mlp = feedForward.apply(b.addRMSNorm(attended, residual: residual, weight: postAttentionNorm, eps: c.rmsNormEps), on: b)
        let normed = b.addRMSNorm(mlp, residual: residual, weight: finalNorm, eps: c.rmsNormEps)
        return (b.linear(b.gatherLogitRows(normed, batch: step), lmHead, bias: nil), b.gatherLogitRows(residual, batch: step))
    }
}
