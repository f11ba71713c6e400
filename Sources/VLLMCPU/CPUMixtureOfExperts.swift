import Foundation
import VLLMCore

// Mixture of experts on the CPU: each layer's experts stacked in one gate/up tensor and one down
// tensor, the tokens gathered in expert order, then one product per expert over its rows of the
// gathered block (a slice of the stacked weight), one SwiGLU over all rows, and the weighted sum.
extension CPUBackend {
    /// Stacks the experts of a layer into one gate/up and one down tensor. Throws `ModelLoadError.unsupportedWeightFormat` for quantized
    /// experts.
    public func expertWeights(_ experts: [HostExpert]) throws -> ExpertWeights<CPUTensor> {
        try stackedExpertWeights(experts)
    }

    /// Routes each token to its top-k experts, runs one product per expert over its tokens and sums the weighted results (plus the shared
    /// expert); the experts must come from `expertWeights`.
    public func mixtureOfExperts(_ x: CPUTensor, _ block: MixtureOfExpertsBlock<CPUTensor>) -> CPUTensor {
        let experts = block.experts
        precondition(experts.stacked, "cpu: experts not loaded by CPUBackend.expertWeights")
        let (tokens, hidden, rows) = (x.rows, x.columns, experts.intermediate)
        let logits = linear(x, block.router, bias: nil)
        let assignment = ExpertAssignment(routerLogits: logits.toArray(), tokens: tokens, routing: block.routing)
        let slots = assignment.tokenOfSlot.count
        let gathered = CPUTensor(shape: [slots, hidden])
        for (s, t) in assignment.tokenOfSlot.enumerated() {
            (gathered.floats + s * hidden).update(from: x.floats + Int(t) * hidden, count: hidden)
        }
        let gateUp = CPUTensor(shape: [slots, 2 * rows])
        let down = CPUTensor(shape: [slots, hidden])
        for e in 0..<experts.numExperts {
            let range = assignment.slots(of: e)
            guard !range.isEmpty else { continue }
            multiply(
                gathered.floats + range.lowerBound * hidden, tokens: range.count, experts.gateUp[0].tensors[0],
                rows: (e * 2 * rows)..<((e + 1) * 2 * rows), into: gateUp.floats + range.lowerBound * 2 * rows)
        }
        let activated = siluAndMul(gateUp)
        for e in 0..<experts.numExperts {
            let range = assignment.slots(of: e)
            guard !range.isEmpty else { continue }
            multiply(
                activated.floats + range.lowerBound * rows, tokens: range.count, experts.down[0].tensors[0],
                rows: (e * hidden)..<((e + 1) * hidden), into: down.floats + range.lowerBound * hidden)
        }
        // Slots are in expert order, so each token's experts are summed in expert order.
        let out = CPUTensor.zeros([tokens, hidden])
        for s in 0..<slots {
            let (target, source, w) = (
                out.floats + Int(assignment.tokenOfSlot[s]) * hidden, down.floats + s * hidden, assignment.weightOfSlot[s]
            )
            for i in 0..<hidden { target[i] += source[i] * w }
        }
        if let shared = block.shared { addSharedExpert(shared, x: x, to: out) }
        return out
    }

    /// `out += sigmoid(gate · x) * sharedExpert(x)`, row by row.
    private func addSharedExpert(_ shared: SharedExpert<CPUTensor>, x: CPUTensor, to out: CPUTensor) {
        let values = linear(swiGLU(x, gateUp: shared.gateUp), shared.down, bias: nil)
        let gates = linear(x, shared.gate, bias: nil)
        let hidden = out.columns
        for t in 0..<out.rows {
            let scale = 1 / (1 + expf(-gates.floats[t]))
            let (target, source) = (out.floats + t * hidden, values.floats + t * hidden)
            for i in 0..<hidden { target[i] += scale * source[i] }
        }
    }
}
