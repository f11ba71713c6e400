/// The mixture-of-experts part of a `config.json` (Mixtral, Qwen2-MoE, Qwen3-MoE): how many
/// experts, how tokens pick them, and which layers have them.
public struct MixtureOfExpertsConfig: Sendable, Equatable {
    /// How tokens pick experts.
    public var routing: ExpertRouting
    /// Rows of one expert's gate and up projections.
    public var expertIntermediateSize: Int
    /// Rows of the shared expert (Qwen2-MoE), nil without one.
    public var sharedExpertIntermediateSize: Int?
    /// Every `sparseStep`-th layer (1-based) has experts (`decoder_sparse_step`).
    public var sparseStep: Int
    /// Layers that keep a dense MLP of `intermediate_size` rows (`mlp_only_layers`).
    public var denseLayers: Set<Int>

    /// Whether layer `index` (0-based) has experts, by transformers' rule.
    public func hasExperts(layer index: Int) -> Bool {
        !denseLayers.contains(index) && (index + 1) % sparseStep == 0
    }

    /// The expert count: Qwen's files say `num_experts`, Mixtral's (and transformers 5, which maps
    /// one name to the other, for all three) `num_local_experts`.
    private static func numExperts(_ c: [String: Any], _ reader: ConfigReader) throws -> Int {
        try reader.positiveInt(c["num_local_experts"] != nil ? "num_local_experts" : "num_experts")
    }

    /// The block of a config of a mixture-of-experts architecture, nil for the others.
    init?(json c: [String: Any], architecture: String, reader: ConfigReader) throws {
        switch architecture {
        case "MixtralForCausalLM":
            routing = ExpertRouting(
                numExperts: try Self.numExperts(c, reader), topK: try reader.positiveInt("num_experts_per_tok"),
                normalizeTopK: true)
            expertIntermediateSize = try reader.positiveInt("intermediate_size")
            sharedExpertIntermediateSize = nil
            sparseStep = 1
            denseLayers = []
        case "Qwen2MoeForCausalLM", "Qwen3MoeForCausalLM":
            routing = ExpertRouting(
                numExperts: try Self.numExperts(c, reader), topK: try reader.positiveInt("num_experts_per_tok"),
                normalizeTopK: c["norm_topk_prob"] as? Bool ?? false)
            expertIntermediateSize = try reader.positiveInt("moe_intermediate_size")
            let shared = architecture == "Qwen2MoeForCausalLM" ? c["shared_expert_intermediate_size"] as? Int ?? 0 : 0
            sharedExpertIntermediateSize = shared > 0 ? shared : nil
            sparseStep = try reader.positiveInt("decoder_sparse_step", default: 1)
            denseLayers = Set(c["mlp_only_layers"] as? [Int] ?? [])
        default:
            return nil
        }
        guard routing.topK <= routing.numExperts else {
            throw ModelLoadError.invalidConfig(
                path: reader.path, field: "num_experts_per_tok",
                detail: "\(routing.topK) is more than the \(routing.numExperts) experts")
        }
    }
}
