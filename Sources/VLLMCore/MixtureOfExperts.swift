import Foundation

/// How a mixture-of-experts layer picks its experts: a softmax over the router's logits, the
/// `topK` largest probabilities (equal ones in `torch.topk`'s order, see `TorchTopK`),
/// optionally renormalized to sum to one.
public struct ExpertRouting: Sendable, Equatable {
    /// Experts of the layer.
    public var numExperts: Int
    /// Experts each token goes through.
    public var topK: Int
    /// Whether the chosen probabilities are divided by their sum (Mixtral always; Qwen's `norm_topk_prob`).
    public var normalizeTopK: Bool

    /// A routing rule.
    public init(numExperts: Int, topK: Int, normalizeTopK: Bool) {
        self.numExperts = numExperts
        self.topK = topK
        self.normalizeTopK = normalizeTopK
    }
}

/// The tokens of a batch grouped by expert: slot `s` sends token `tokenOfSlot[s]` through expert
/// `e` (where `expertStart[e] <= s < expertStart[e + 1]`) with weight `weightOfSlot[s]`. Within an
/// expert, tokens are in batch order, so that adding the slots' results in slot order sums each
/// token's experts in expert order, as transformers does.
public struct ExpertAssignment: Sendable, Equatable {
    /// The token of each slot, grouped by expert.
    public var tokenOfSlot: [Int32]
    /// The routing weight of each slot.
    public var weightOfSlot: [Float]
    /// Where each expert's slots begin; `numExperts + 1` entries, the last one the slot count.
    public var expertStart: [Int]

    /// The slots of expert `e`.
    public func slots(of e: Int) -> Range<Int> { expertStart[e]..<expertStart[e + 1] }

    /// Routes `tokens` rows of router logits (`[tokens, numExperts]`, row-major).
    public init(routerLogits: [Float], tokens: Int, routing: ExpertRouting) {
        let (experts, k) = (routing.numExperts, routing.topK)
        precondition(routerLogits.count == tokens * experts, "router logits: \(routerLogits.count) for \(tokens)x\(experts)")
        var chosen = [(expert: Int, token: Int, weight: Float)]()
        chosen.reserveCapacity(tokens * k)
        for t in 0..<tokens {
            let row = routerLogits[(t * experts)..<((t + 1) * experts)]
            for (e, w) in Self.topExperts(Array(row), k: k, normalize: routing.normalizeTopK) {
                chosen.append((e, t, w))
            }
        }
        // A stable grouping by expert keeps the tokens of one expert in batch order.
        var counts = [Int](repeating: 0, count: experts + 1)
        for c in chosen { counts[c.expert + 1] += 1 }
        for e in 0..<experts { counts[e + 1] += counts[e] }
        expertStart = counts
        var next = counts
        tokenOfSlot = [Int32](repeating: 0, count: chosen.count)
        weightOfSlot = [Float](repeating: 0, count: chosen.count)
        for c in chosen {
            tokenOfSlot[next[c.expert]] = Int32(c.token)
            weightOfSlot[next[c.expert]] = c.weight
            next[c.expert] += 1
        }
    }

    /// The `k` experts of one token and their weights, in `torch.topk` order: softmax in float32
    /// (the maximum subtracted, as torch does), the largest probabilities first (ties as
    /// `TorchTopK` breaks them); then divided by their sum when `normalize`.
    public static func topExperts(_ logits: [Float], k: Int, normalize: Bool) -> [(expert: Int, weight: Float)] {
        let top = logits.max() ?? 0
        let exps = logits.map { expf($0 - top) }
        let sum = exps.reduce(0, +)
        let probabilities = exps.map { $0 / sum }
        var picked = TorchTopK.indices(probabilities, k: k).map { (expert: $0, weight: probabilities[$0]) }
        if normalize {
            let total = picked.reduce(Float(0)) { $0 + $1.weight }
            for i in picked.indices { picked[i].weight /= total }
        }
        return picked
    }
}

/// The experts of one layer as a checkpoint holds them: per expert its gate, up and down projections.
public struct HostExpert: Sendable {
    /// `[intermediate, hidden]`.
    public var gate: HostLinearWeight
    /// `[intermediate, hidden]`.
    public var up: HostLinearWeight
    /// `[hidden, intermediate]`.
    public var down: HostLinearWeight

    /// One expert's projections.
    public init(gate: HostLinearWeight, up: HostLinearWeight, down: HostLinearWeight) {
        self.gate = gate
        self.up = up
        self.down = down
    }
}

/// The experts of one layer on a backend. With `stacked`, `gateUp[0]` holds every expert's gate
/// and up rows one expert after the other (`[numExperts * 2 * intermediate, hidden]`) and
/// `down[0]` every expert's down projection (`[numExperts * hidden, intermediate]`), so that one
/// weight tensor serves a grouped product over all experts; otherwise one weight per expert.
public struct ExpertWeights<Tensor> {
    /// Experts of the layer.
    public let numExperts: Int
    /// Rows of one expert's gate (and of its up) projection.
    public let intermediate: Int
    /// Model width.
    public let hidden: Int
    /// Whether each list holds one weight for all experts (see the type's comment).
    public let stacked: Bool
    /// Gate and up rows stacked, per expert or for all experts.
    public let gateUp: [LinearWeight<Tensor>]
    /// Down projections, per expert or for all experts.
    public let down: [LinearWeight<Tensor>]

    /// Wraps weights a backend made.
    public init(
        numExperts: Int, intermediate: Int, hidden: Int, stacked: Bool, gateUp: [LinearWeight<Tensor>],
        down: [LinearWeight<Tensor>]
    ) {
        self.numExperts = numExperts
        self.intermediate = intermediate
        self.hidden = hidden
        self.stacked = stacked
        self.gateUp = gateUp
        self.down = down
    }
}

/// A dense SwiGLU MLP whose output is scaled by `sigmoid(gate · x)` and added to the routed
/// experts' (Qwen2-MoE's shared expert).
public struct SharedExpert<Tensor> {
    /// Gate and up rows stacked.
    public let gateUp: LinearWeight<Tensor>
    /// The down projection.
    public let down: LinearWeight<Tensor>
    /// The `[1, hidden]` gate.
    public let gate: LinearWeight<Tensor>

    /// Collects the shared expert's weights.
    public init(gateUp: LinearWeight<Tensor>, down: LinearWeight<Tensor>, gate: LinearWeight<Tensor>) {
        self.gateUp = gateUp
        self.down = down
        self.gate = gate
    }
}

/// One mixture-of-experts block: the router, the routed experts and an optional shared expert.
public struct MixtureOfExpertsBlock<Tensor> {
    /// How tokens pick experts.
    public let routing: ExpertRouting
    /// The `[numExperts, hidden]` router.
    public let router: LinearWeight<Tensor>
    /// The routed experts.
    public let experts: ExpertWeights<Tensor>
    /// The shared expert, when the layer has one.
    public let shared: SharedExpert<Tensor>?

    /// Collects a block's weights.
    public init(routing: ExpertRouting, router: LinearWeight<Tensor>, experts: ExpertWeights<Tensor>, shared: SharedExpert<Tensor>?) {
        self.routing = routing
        self.router = router
        self.experts = experts
        self.shared = shared
    }
}

// The defaults of the mixture-of-experts operations, made of the other operations: the routing
// and the grouping by expert are done on the host (one trip of the activations there and back),
// then each expert that got tokens runs one SwiGLU product over all of its tokens. A backend
// overrides both (the CPU to skip the copies, CUDA to keep everything on the device).
extension Backend {
    /// Default: one weight per expert (`perExpertWeights`).
    public func expertWeights(_ experts: [HostExpert]) throws -> ExpertWeights<Tensor> { try perExpertWeights(experts) }

    /// The default `expertWeights` (one weight per expert, for `hostGroupedMixtureOfExperts`).
    public func perExpertWeights(_ experts: [HostExpert]) throws -> ExpertWeights<Tensor> {
        let first = experts[0]
        return ExpertWeights(
            numExperts: experts.count, intermediate: first.gate.outFeatures, hidden: first.gate.inFeatures, stacked: false,
            gateUp: try experts.map { try linearWeight([$0.gate, $0.up]) },
            down: try experts.map { try linearWeight([$0.down]) })
    }

    /// Every expert's gate and up rows in one tensor and every down projection in another, one
    /// expert after the other (`ExpertWeights.stacked`), for a backend whose grouped product reads
    /// a slice of one weight per expert. Throws `ModelLoadError.unsupportedWeightFormat` for
    /// quantized experts, whose blocks cannot be sliced by rows that way.
    public func stackedExpertWeights(_ experts: [HostExpert]) throws -> ExpertWeights<Tensor> {
        let all = experts.flatMap { [$0.gate, $0.up, $0.down] }
        if let other = all.first(where: { $0.format != .dense }) {
            throw ModelLoadError.unsupportedWeightFormat(format: other.format, backend: name)
        }
        let (count, rows, hidden) = (experts.count, experts[0].gate.outFeatures, experts[0].gate.inFeatures)
        let gateUp = try weight(experts.flatMap { [$0.gate.tensors[0], $0.up.tensors[0]] })
        let down = try weight(experts.map { $0.down.tensors[0] })
        return ExpertWeights(
            numExperts: count, intermediate: rows, hidden: hidden, stacked: true,
            gateUp: [LinearWeight(format: .dense, outFeatures: count * 2 * rows, inFeatures: hidden, tensors: [gateUp])],
            down: [LinearWeight(format: .dense, outFeatures: count * hidden, inFeatures: rows, tensors: [down])])
    }

    /// Default: routing and grouping on the host (`hostGroupedMixtureOfExperts`).
    public func mixtureOfExperts(_ x: Tensor, _ block: MixtureOfExpertsBlock<Tensor>) -> Tensor {
        hostGroupedMixtureOfExperts(x, block)
    }

    /// The default `mixtureOfExperts` under its own name, for a backend that overrides the
    /// operation but falls back to it (a kernel module without the MoE kernels).
    public func hostGroupedMixtureOfExperts(_ x: Tensor, _ block: MixtureOfExpertsBlock<Tensor>) -> Tensor {
        let logits = toHost(linear(x, block.router, bias: nil))
        let tokens = logits.count / block.routing.numExperts
        let assignment = ExpertAssignment(routerLogits: logits, tokens: tokens, routing: block.routing)
        let input = toHost(x)
        let hidden = input.count / max(tokens, 1)
        var output = [Float](repeating: 0, count: input.count)
        for e in 0..<block.routing.numExperts where !assignment.slots(of: e).isEmpty {
            let slots = assignment.slots(of: e)
            var rows = [Float]()
            rows.reserveCapacity(slots.count * hidden)
            for s in slots {
                let t = Int(assignment.tokenOfSlot[s])
                rows += input[(t * hidden)..<((t + 1) * hidden)]
            }
            let experts = block.experts
            let result = toHost(
                linear(
                    swiGLU(upload(rows, rows: slots.count), gateUp: experts.gateUp[e]), experts.down[e], bias: nil))
            for (j, s) in slots.enumerated() {
                let (t, w) = (Int(assignment.tokenOfSlot[s]), assignment.weightOfSlot[s])
                for i in 0..<hidden { output[t * hidden + i] += result[j * hidden + i] * w }
            }
        }
        if let shared = block.shared {
            let values = toHost(linear(swiGLU(x, gateUp: shared.gateUp), shared.down, bias: nil))
            let gates = toHost(linear(x, shared.gate, bias: nil))
            for t in 0..<tokens {
                let scale = 1 / (1 + expf(-gates[t]))
                for i in 0..<hidden { output[t * hidden + i] += scale * values[t * hidden + i] }
            }
        }
        return upload(output, rows: tokens)
    }

    /// Host activations back on the backend, through `weight` (a float32 tensor).
    private func upload(_ values: [Float], rows: Int) -> Tensor {
        do {
            return try weight([HostTensor(shape: [rows, values.count / max(rows, 1)], values: values)])
        } catch {
            preconditionFailure("\(name): cannot take float32 activations back: \(error)")
        }
    }
}
