/// Mixtral, Qwen2-MoE and Qwen3-MoE: the Llama decoder (the same attention path, with Qwen2's q/k/v
/// bias or Qwen3's q/k norm as the config says) whose feed-forward blocks are mixtures of experts.
public enum MixtureOfExpertsModels: ModelArchitecture {
    /// Loads the model; throws `ModelLoadError.invalidConfig` when config.json has no mixture-of-experts settings, and `ModelLoadError` for
    /// a missing weight.
    public static func load<B: Backend>(_ context: ModelLoadContext<B>) throws -> any CausalModel<B> {
        guard let moe = context.config.moe else {
            throw ModelLoadError.invalidConfig(
                path: "config.json", field: "architectures",
                detail: "\(context.config.architecture) has no mixture-of-experts settings")
        }
        return try LlamaModel(context, feedForward: ExpertFeedForward(config: moe, naming: .init(context.config.architecture)))
    }
}

/// The weight names of one checkpoint family's expert blocks.
struct ExpertNaming {
    /// The block under the layer prefix (`block_sparse_moe.` or `mlp.`).
    var block: String
    /// An expert's gate, up and down projections.
    var projections: (gate: String, up: String, down: String)

    init(_ architecture: String) {
        if architecture == "MixtralForCausalLM" {
            block = "block_sparse_moe."
            projections = ("w1", "w3", "w2")
        } else {
            block = "mlp."
            projections = ("gate_proj", "up_proj", "down_proj")
        }
    }
}

/// Loads a layer's mixture-of-experts block (or its dense MLP where the config keeps one).
struct ExpertFeedForward: FeedForwardLoading {
    let config: MixtureOfExpertsConfig
    let naming: ExpertNaming

    func load<B: Backend>(layer: Int, prefix: String, _ context: ModelLoadContext<B>) throws -> FeedForward<B.Tensor> {
        guard config.hasExperts(layer: layer) else { return try DenseFeedForward().load(layer: layer, prefix: prefix, context) }
        let (h, weights, backend) = (context.config.hiddenSize, context.weights, context.backend)
        let rows = config.expertIntermediateSize
        let part = context.shard.evenPart(of: rows)
        let block = prefix + naming.block
        let names = naming.projections
        let experts = try (0..<config.routing.numExperts).map { e in
            let p = block + "experts.\(e)."
            return HostExpert(
                gate: try weights.linear(p + names.gate, out: rows, in: h).rows(part),
                up: try weights.linear(p + names.up, out: rows, in: h).rows(part),
                down: try weights.linear(p + names.down, out: h, in: rows).columns(part))
        }
        var shared: SharedExpert<B.Tensor>?
        if let sharedRows = config.sharedExpertIntermediateSize {
            let (gateUp, down) = try DenseFeedForward.swiGLU(
                block + "shared_expert.", names: ("gate_proj", "up_proj", "down_proj"), rows: sharedRows, context)
            shared = SharedExpert(
                gateUp: gateUp, down: down,
                gate: try backend.linearWeight([weights.linear(block + "shared_expert_gate", out: 1, in: h)]))
        }
        return .experts(
            MixtureOfExpertsBlock(
                routing: config.routing,
                router: try backend.linearWeight([weights.linear(block + "gate", out: config.routing.numExperts, in: h)]),
                experts: try backend.expertWeights(experts), shared: shared))
    }
}
