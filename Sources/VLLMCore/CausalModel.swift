/// What a model needs to load itself: its configuration, where its weights come from, the backend
/// it runs on and which part of it this instance holds.
public struct ModelLoadContext<B: Backend> {
    /// config.json.
    public var config: ModelConfig
    /// The weights.
    public var weights: WeightStore
    /// The backend the model's tensors live on.
    public var backend: B
    /// Positions the rotary tables cover (the longest sequence the engine will run).
    public var maxPositions: Int
    /// The part of the model this instance holds (tensor parallelism).
    public var shard: TensorParallelShard
    /// Called after each layer with (done, total).
    public var progress: ((Int, Int) -> Void)?

    /// Collects what a model needs to load.
    public init(
        config: ModelConfig, weights: WeightStore, backend: B, maxPositions: Int, shard: TensorParallelShard = .whole,
        progress: ((Int, Int) -> Void)? = nil
    ) {
        self.config = config
        self.weights = weights
        self.backend = backend
        self.maxPositions = maxPositions
        self.shard = shard
        self.progress = progress
    }
}

/// A decoder-only language model on a backend: its weights and its forward pass, nothing else.
/// Running it (the KV cache, graphs, sampling, placeholders) is `ModelRunner`'s job, the same
/// for every architecture.
public protocol CausalModel<B>: AnyObject {
    /// The backend the model runs on.
    associatedtype B: Backend

    /// Loads the weights of `context.config` onto `context.backend`.
    init(_ context: ModelLoadContext<B>) throws
    /// The model's configuration.
    var config: ModelConfig { get }
    /// The shape of this instance's paged KV cache with `numBlocks` blocks of `blockSize` tokens.
    func kvCacheShape(numBlocks: Int, blockSize: Int) -> KVCacheShape
    /// The forward pass of a prepared step: the logits of the step's requested rows
    /// (`ForwardBatch.logitIndices`), left on the backend.
    func forward(_ step: B.Batch, cache: B.KVCache) -> B.Tensor
}

/// A model whose final hidden states can be pooled into embeddings (`ModelRunner.embed`): a
/// decoder used as an embedding model (Qwen3-Embedding), or an encoder (BERT).
public protocol EmbeddingModel<B>: CausalModel {
    /// The final hidden states (after the last norm) of every token of the step: `[numTokens, hidden]`.
    /// An encoder needs each sequence's whole input in the step.
    func hiddenStates(_ step: B.Batch, cache: B.KVCache) -> B.Tensor
}

/// A model that can hand out, beside the logits, the hidden states entering some of its layers
/// (the residual stream, before the layer's norm) for every token of the step: the target's side
/// of EAGLE-3 speculative decoding.
public protocol AuxiliaryHiddenStatesModel<B>: CausalModel {
    /// `forward`, plus the hidden states entering each of `layers` side by side in the order given:
    /// `[numTokens, layers.count * hiddenSize]`.
    func forward(_ step: B.Batch, cache: B.KVCache, capturing layers: [Int]) -> (logits: B.Tensor, auxiliary: B.Tensor)
}

/// A family of architectures that one model type runs, named in `ModelRegistry`.
public protocol ModelArchitecture {
    /// Loads the model for `context` on its backend.
    static func load<B: Backend>(_ context: ModelLoadContext<B>) throws -> any CausalModel<B>
}

/// Maps `architectures[0]` of config.json to the model that runs it: one line per architecture.
public enum ModelRegistry {
    static let architectures: [String: any ModelArchitecture.Type] = [
        "Gemma2ForCausalLM": Gemma.self,
        "Gemma3ForCausalLM": Gemma.self,
        "Gemma3ForConditionalGeneration": Gemma.self,
        "LlamaForCausalLM": Llama.self,
        "MistralForCausalLM": Llama.self,
        "Phi3ForCausalLM": Phi3.self,
        "Qwen2ForCausalLM": Llama.self,
        "Qwen3ForCausalLM": Llama.self,
        "MixtralForCausalLM": MixtureOfExpertsModels.self,
        "BertModel": Bert.self,
        "Qwen2MoeForCausalLM": MixtureOfExpertsModels.self,
        "Qwen3MoeForCausalLM": MixtureOfExpertsModels.self,
    ]

    /// The architecture names that can be loaded, sorted.
    public static var supportedArchitectures: [String] { architectures.keys.sorted() }

    /// The name of the implementation that runs `architecture` (the type in `Models/`, e.g.
    /// "Gemma"), nil when none does; `vllm serve` logs it.
    public static func implementation(of architecture: String) -> String? {
        architectures[architecture].map { String(describing: $0) }
    }

    /// The model type that runs `config`'s architecture; the error lists every supported one.
    public static func architecture(of config: ModelConfig, path: String = "config.json") throws -> any ModelArchitecture.Type {
        guard let found = architectures[config.architecture] else {
            throw ModelLoadError.unknownArchitecture(path: path, name: config.architecture, supported: supportedArchitectures)
        }
        return found
    }

    /// Loads the model of `context.config` and wraps it in a runner.
    public static func load<B: Backend>(_ context: ModelLoadContext<B>) throws -> ModelRunner<B> {
        try context.shard.validate(context.config)
        let model = try architecture(of: context.config).load(context)
        return ModelRunner(model: model, backend: context.backend, maxPositions: context.maxPositions, shard: context.shard)
    }

    /// Loads the model of `config` on `backend`.
    public static func load<B: Backend>(
        config: ModelConfig, weights: WeightStore, backend: B, maxPositions: Int, shard: TensorParallelShard = .whole,
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> ModelRunner<B> {
        try load(
            ModelLoadContext(
                config: config, weights: weights, backend: backend, maxPositions: maxPositions, shard: shard, progress: progress))
    }
}
