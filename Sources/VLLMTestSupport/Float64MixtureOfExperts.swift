import Foundation
import VLLMCore

extension Float64Reference {
    /// A mixture-of-experts block in float64, written per token: the router's softmax and
    /// top-k (torch.topk's order, on the probabilities rounded to float32 as the backends pick
    /// from), each chosen expert's SwiGLU MLP weighted and added in expert order, then the shared
    /// expert scaled by the sigmoid of its gate. Experts are `[gate; up]` (`2 * rows` x `hidden`)
    /// and down (`hidden` x `rows`) matrices, row-major.
    public static func mixtureOfExperts(
        _ x: [Double], hidden: Int, router: [Double], routing: ExpertRouting, gateUp: [[Double]], down: [[Double]],
        rows: Int, shared: (gateUp: [Double], down: [Double], gate: [Double], rows: Int)? = nil
    ) -> [Double] {
        let tokens = x.count / hidden
        let logits = linear(x, weight: router, bias: nil, inputs: hidden)
        var out = [Double](repeating: 0, count: x.count)
        for t in 0..<tokens {
            let row = Array(x[(t * hidden)..<((t + 1) * hidden)])
            let scores = logits[(t * routing.numExperts)..<((t + 1) * routing.numExperts)]
            let top = scores.max()!
            let exps = scores.map { exp($0 - top) }
            let sum = exps.reduce(0, +)
            let probabilities = exps.map { $0 / sum }
            let chosen = TorchTopK.indices(probabilities.map(Float.init), k: routing.topK).sorted()
            let total = chosen.reduce(0.0) { $0 + probabilities[$1] }
            for e in chosen {
                let weight = routing.normalizeTopK ? probabilities[e] / total : probabilities[e]
                let y = swiGLUMLP(row, gateUp: gateUp[e], down: down[e], rows: rows)
                for i in 0..<hidden { out[t * hidden + i] += weight * y[i] }
            }
            if let shared {
                let gate = zip(row, shared.gate).reduce(0.0) { $0 + $1.0 * $1.1 }
                let y = swiGLUMLP(row, gateUp: shared.gateUp, down: shared.down, rows: shared.rows)
                for i in 0..<hidden { out[t * hidden + i] += y[i] / (1 + exp(-gate)) }
            }
        }
        return out
    }

    /// `down · (silu(gate · x) * (up · x))` for one row `x`.
    static func swiGLUMLP(_ x: [Double], gateUp: [Double], down: [Double], rows: Int) -> [Double] {
        linear(siluAndMul(linear(x, weight: gateUp, bias: nil, inputs: x.count), columns: 2 * rows), weight: down, bias: nil, inputs: rows)
    }
}
