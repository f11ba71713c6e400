/// The BERT encoder family (`BertModel`: all-MiniLM, BGE, E5 and other sentence-transformers
/// models): learned absolute position and token-type embeddings, post-norm layers of bidirectional
/// multi-head attention and a GELU MLP, each with biases and LayerNorm. An embedding model only:
/// it has no language-model head, and the engine pools its hidden states (`LLM.embed`).
public enum Bert: ModelArchitecture {
    /// Loads the BERT encoder; throws `ModelLoadError` when a weight is missing or the backend lacks the encoder operations.
    public static func load<B: Backend>(_ context: ModelLoadContext<B>) throws -> any CausalModel<B> {
        try BertEncoder(context)
    }
}

/// The parts of a BERT `config.json` beyond `ModelConfig`'s.
public struct EncoderConfig: Sendable, Equatable {
    /// LayerNorm's epsilon (`layer_norm_eps`).
    public var layerNormEps: Float
    /// Rows of the token-type table (`type_vocab_size`); every input uses type 0.
    public var typeVocabSize: Int

    init?(json c: [String: Any], architecture: String, reader: ConfigReader) throws {
        guard architecture == "BertModel" else { return nil }
        layerNormEps = Float(try reader.double("layer_norm_eps", default: 1e-12))
        typeVocabSize = try reader.positiveInt("type_vocab_size", default: 2)
        if let type = c["position_embedding_type"] as? String, type != "absolute" {
            throw ModelLoadError.invalidConfig(
                path: reader.path, field: "position_embedding_type", detail: "'\(type)' is not supported (only absolute)")
        }
    }
}

/// The weights and forward pass of a BERT encoder.
public final class BertEncoder<B: Backend>: EmbeddingModel {
    struct Norm {
        var weight: B.Tensor
        var bias: B.Tensor
    }

    struct Layer {
        var qkv: LinearWeight<B.Tensor>
        var qkvBias: B.Tensor
        var output: LinearWeight<B.Tensor>
        var outputBias: B.Tensor
        var attentionNorm: Norm
        var intermediate: LinearWeight<B.Tensor>
        var intermediateBias: B.Tensor
        var down: LinearWeight<B.Tensor>
        var downBias: B.Tensor
        var outputNorm: Norm
    }

    /// The model's configuration.
    public let config: ModelConfig
    private let backend: B
    private let layout: QKVLayout
    private let eps: Float
    private let words: B.Tensor
    private let positions: B.Tensor
    private let tokenType: B.Tensor
    private let embeddingNorm: Norm
    private let layers: [Layer]

    /// Loads the weights (names with or without the `bert.` prefix of task checkpoints).
    public init(_ context: ModelLoadContext<B>) throws {
        let (c, weights, backend) = (context.config, context.weights, context.backend)
        guard backend.runsEncoders else {
            throw ModelLoadError.invalidConfig(
                path: "config.json", field: "architectures",
                detail: "BertModel needs bidirectional attention, which the \(backend.name) backend does not have; run it on the CPU")
        }
        guard context.shard.worldSize == 1 else {
            throw ModelLoadError.invalidConfig(path: "config.json", field: "tensor_parallel_size", detail: "BertModel runs on one rank")
        }
        config = c
        self.backend = backend
        eps = c.encoder!.layerNormEps
        let (h, i) = (c.hiddenSize, c.intermediateSize)
        layout = QKVLayout(numHeads: c.numHeads, numKVHeads: c.numHeads, headDim: c.headDim)
        let root = weights.contains("bert.embeddings.word_embeddings.weight") ? "bert." : ""
        func take(_ name: String, _ shape: [Int]) throws -> B.Tensor { try backend.weight([weights.tensor(root + name, shape: shape)]) }
        func linear(_ names: [String], _ out: Int, _ inFeatures: Int) throws -> LinearWeight<B.Tensor> {
            try backend.linearWeight(names.map { try weights.linear(root + $0, out: out, in: inFeatures) })
        }
        func bias(_ names: [String], _ count: Int) throws -> B.Tensor {
            try backend.weight(names.map { try weights.tensor(root + $0 + ".bias", shape: [count]) })
        }
        func norm(_ prefix: String) throws -> Norm {
            Norm(weight: try take(prefix + ".weight", [h]), bias: try take(prefix + ".bias", [h]))
        }
        words = try take("embeddings.word_embeddings.weight", [c.vocabSize, h])
        positions = try take("embeddings.position_embeddings.weight", [c.maxPositionEmbeddings, h])
        tokenType = try take("embeddings.token_type_embeddings.weight", [c.encoder!.typeVocabSize, h])
        embeddingNorm = try norm("embeddings.LayerNorm")
        var layers: [Layer] = []
        for index in 0..<c.numLayers {
            let p = "encoder.layer.\(index)."
            let qkvNames = ["query", "key", "value"].map { p + "attention.self." + $0 }
            layers.append(
                Layer(
                    qkv: try linear(qkvNames, h, h), qkvBias: try bias(qkvNames, h),
                    output: try linear([p + "attention.output.dense"], h, h), outputBias: try bias([p + "attention.output.dense"], h),
                    attentionNorm: try norm(p + "attention.output.LayerNorm"),
                    intermediate: try linear([p + "intermediate.dense"], i, h), intermediateBias: try bias([p + "intermediate.dense"], i),
                    down: try linear([p + "output.dense"], h, i), downBias: try bias([p + "output.dense"], h),
                    outputNorm: try norm(p + "output.LayerNorm")))
            context.progress?(index + 1, c.numLayers)
        }
        self.layers = layers
    }

    /// An encoder keeps no keys and values between steps: a token of cache is all it asks for.
    public func kvCacheShape(numBlocks: Int, blockSize: Int) -> KVCacheShape {
        KVCacheShape(numLayers: 1, numBlocks: numBlocks, blockSize: blockSize, numKVHeads: 1, headDim: 1)
    }

    /// There is no language-model head: the hidden states of the requested rows.
    public func forward(_ step: B.Batch, cache: B.KVCache) -> B.Tensor {
        backend.gatherLogitRows(hiddenStates(step, cache: cache), batch: step)
    }

    /// Embeddings, then every encoder layer (bidirectional attention over each sequence): `[numTokens, hidden]`.
    public func hiddenStates(_ step: B.Batch, cache: B.KVCache) -> B.Tensor {
        let b = backend
        let scale = 1 / Float(config.headDim).squareRoot()
        let embedded = b.encoderEmbedding(words: words, positions: positions, tokenType: tokenType, step)
        var hidden = b.layerNorm(embedded, residual: nil, weight: embeddingNorm.weight, bias: embeddingNorm.bias, eps: eps)
        for layer in layers {
            let qkv = b.linear(hidden, layer.qkv, bias: layer.qkvBias)
            let attention = b.bidirectionalAttention(qkv, layout: layout, batch: step, scale: scale)
            let projected = b.linear(attention, layer.output, bias: layer.outputBias)
            hidden = b.layerNorm(projected, residual: hidden, weight: layer.attentionNorm.weight, bias: layer.attentionNorm.bias, eps: eps)
            let activated = b.gelu(b.linear(hidden, layer.intermediate, bias: layer.intermediateBias))
            let down = b.linear(activated, layer.down, bias: layer.downBias)
            hidden = b.layerNorm(down, residual: hidden, weight: layer.outputNorm.weight, bias: layer.outputNorm.bias, eps: eps)
        }
        return hidden
    }
}

extension Backend {
    /// Default: false.
    public var runsEncoders: Bool { false }

    /// Default: traps; a model checks `runsEncoders` at load.
    public func encoderEmbedding(words: Tensor, positions: Tensor, tokenType: Tensor, _ batch: Batch) -> Tensor {
        preconditionFailure("\(name): no encoder operations (runsEncoders is false)")
    }

    /// Default: traps; a model checks `runsEncoders` at load.
    public func layerNorm(_ x: Tensor, residual: Tensor?, weight: Tensor, bias: Tensor, eps: Float) -> Tensor {
        preconditionFailure("\(name): no encoder operations (runsEncoders is false)")
    }

    /// Default: traps; a model checks `runsEncoders` at load.
    public func gelu(_ x: Tensor) -> Tensor { preconditionFailure("\(name): no encoder operations (runsEncoders is false)") }

    /// Default: traps; a model checks `runsEncoders` at load.
    public func bidirectionalAttention(_ qkv: Tensor, layout: QKVLayout, batch: Batch, scale: Float) -> Tensor {
        preconditionFailure("\(name): no encoder operations (runsEncoders is false)")
    }
}
