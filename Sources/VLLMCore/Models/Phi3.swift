/// Phi-3 and Phi-4-mini (`Phi3ForCausalLM`): a Llama-family model whose checkpoints fuse q, k and v
/// into `qkv_proj` and gate and up into `gate_up_proj` (split into their parts at load), with
/// LongRoPE scaling and partial rotary from `ModelConfig`.
public enum Phi3: ModelArchitecture {
    /// Loads a Phi-3 model; throws `ModelLoadError` when a weight is missing or has the wrong shape.
    public static func load<B: Backend>(_ context: ModelLoadContext<B>) throws -> any CausalModel<B> {
        try LlamaModel(context, feedForward: FusedDenseFeedForward(), fusedProjections: true)
    }
}
