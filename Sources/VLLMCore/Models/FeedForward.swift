/// The feed-forward block of a decoder layer: a dense SwiGLU MLP or a mixture of experts.
public enum FeedForward<Tensor> {
    /// `down · (silu(gate · x) * (up · x))` with gate and up stacked in one weight.
    case dense(gateUp: LinearWeight<Tensor>, down: LinearWeight<Tensor>)
    /// A router and experts (`Backend.mixtureOfExperts`).
    case experts(MixtureOfExpertsBlock<Tensor>)

    /// The block's output for `x`.
    func apply<B: Backend>(_ x: Tensor, on backend: B) -> Tensor where B.Tensor == Tensor {
        switch self {
        case .dense(let gateUp, let down): backend.linear(backend.swiGLU(x, gateUp: gateUp), down, bias: nil)
        case .experts(let block): backend.mixtureOfExperts(x, block)
        }
    }
}

/// Makes each layer's feed-forward block while a model loads, so that one decoder (`LlamaModel`)
/// serves dense and mixture-of-experts models.
public protocol FeedForwardLoading {
    /// The feed-forward block of layer `layer`, whose weights are named `prefix` + ... .
    func load<B: Backend>(layer: Int, prefix: String, _ context: ModelLoadContext<B>) throws -> FeedForward<B.Tensor>
}

/// The dense SwiGLU MLP of the Llama family: `mlp.gate_proj`, `mlp.up_proj`, `mlp.down_proj`.
public struct DenseFeedForward: FeedForwardLoading {
    /// The Llama layout.
    public init() {}

    /// Loads `mlp.gate_proj` and `mlp.up_proj` stacked into one weight, and `mlp.down_proj`, this rank's part of each.
    public func load<B: Backend>(layer: Int, prefix: String, _ context: ModelLoadContext<B>) throws -> FeedForward<B.Tensor> {
        let (gateUp, down) = try Self.swiGLU(
            prefix + "mlp.", names: ("gate_proj", "up_proj", "down_proj"), rows: context.config.intermediateSize, context)
        return .dense(gateUp: gateUp, down: down)
    }

    /// The stacked gate/up and the down weight of a SwiGLU MLP of `rows` intermediate rows named
    /// `prefix` + `names`; this rank's part of the rows with tensor parallelism.
    static func swiGLU<B: Backend>(
        _ prefix: String, names: (gate: String, up: String, down: String), rows: Int, _ context: ModelLoadContext<B>
    ) throws -> (gateUp: LinearWeight<B.Tensor>, down: LinearWeight<B.Tensor>) {
        let (h, weights, backend) = (context.config.hiddenSize, context.weights, context.backend)
        let part = context.shard.evenPart(of: rows)
        let gateUp = try backend.linearWeight([
            weights.linear(prefix + names.gate, out: rows, in: h).rows(part),
            weights.linear(prefix + names.up, out: rows, in: h).rows(part),
        ])
        let down = try backend.linearWeight([weights.linear(prefix + names.down, out: h, in: rows).columns(part)])
        return (gateUp, down)
    }
}

/// Phi-3's SwiGLU MLP: gate and up in one `gate_up_proj`, split into this rank's rows at load.
public struct FusedDenseFeedForward: FeedForwardLoading {
    /// The Phi-3 layout.
    public init() {}

    /// Loads `mlp.gate_up_proj`, split into this rank's gate and up rows, and `mlp.down_proj`.
    public func load<B: Backend>(layer: Int, prefix: String, _ context: ModelLoadContext<B>) throws -> FeedForward<B.Tensor> {
        let (c, weights, backend) = (context.config, context.weights, context.backend)
        let (h, n) = (c.hiddenSize, c.intermediateSize)
        let part = context.shard.evenPart(of: n)
        let fused = try weights.linear(prefix + "mlp.gate_up_proj", out: 2 * n, in: h)
        let gateUp = try backend.linearWeight([
            fused.rows(part), fused.rows((part.lowerBound + n)..<(part.upperBound + n)),
        ])
        let down = try backend.linearWeight([weights.linear(prefix + "mlp.down_proj", out: h, in: n).columns(part)])
        return .dense(gateUp: gateUp, down: down)
    }
}
