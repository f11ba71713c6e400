import VLLMCPU
import VLLMCUDA
import VLLMCore
import VLLMTestSupport

/// The mixture-of-experts part of `vllm kernel-check`: `CUDABackend.mixtureOfExperts` (route,
/// group, grouped products, combine) against `Float64Reference.mixtureOfExperts`. The router sees
/// a one-hot part of each token (its first `experts` features, distinct multiples of 1/2 times 4 in
/// the router) so that no two probabilities are close unless they are equal, and some tokens give
/// experts 1 and 3 the same value: the kernel must then pick as torch.topk does. The grouping kernel is also compared exactly with
/// the serial definition, since a grouping that misorders an expert's entries consistently would leave the results unchanged.
struct MixtureOfExpertsCheck {
    let gpu: CUDABackend
    let cpu: CPUBackend
    let round: (Float) -> Float
    var rng = SplitMixRandom(seed: 77)

    /// (name, relative error) of each case: the CUDA result and the CPU backend's, each against float64.
    mutating func run() throws -> [(String, Double)] {
        var results: [(String, Double)] = []
        for (name, tokens, experts, k, normalize, shared) in [
            ("moe decode", 3, 8, 2, true, false), ("moe prefill", 97, 8, 2, true, false),
            ("moe shared", 41, 12, 4, false, true), ("moe many experts", 70, 128, 8, true, false),
            // Up to 8 tokens take the matrix-vector kernels in 16-bit dtypes (the cases above, 3 tokens included).
            ("moe decode many experts", 1, 128, 8, true, false), ("moe decode shared", 8, 12, 4, false, true),
        ] {
            results += try check(name, tokens: tokens, experts: experts, k: k, normalize: normalize, shared: shared)
        }
        // A prefill step of the Qwen3-30B-A3B shape: 2048 tokens, top-8 of 128 experts.
        results += try check("moe prefill 2048 tokens", tokens: 2048, experts: 128, k: 8, normalize: true, shared: false)
        return results + (try groupingResults())
    }

    /// `moe_group` alone against the serial definition, array for array: random distinct top-k ids per token (as routing gives) from
    /// one to 4096 tokens, and skewed ones where a few experts take most entries, so that an expert's entries span many warps.
    private mutating func groupingResults() throws -> [(String, Double)] {
        var results: [(String, Double)] = []
        for (tokens, experts, k, skewed) in [
            (1, 128, 8, false), (3, 8, 2, false), (8, 128, 8, false), (97, 8, 2, false), (130, 256, 8, false),
            (2048, 128, 8, false), (4096, 128, 8, false), (2048, 128, 8, true), (1000, 60, 4, true),
        ] {
            var ids: [Int32] = []
            for _ in 0..<tokens {
                // Skewed tokens choose among the first k + 2 experts, so these get most of the entries.
                let pool = skewed ? Array(0..<min(experts, k + 2)) : Array(0..<experts)
                ids += pool.shuffled(using: &rng).prefix(k).map(Int32.init)
            }
            let name = "moe_group \(tokens)x\(k) of \(experts)\(skewed ? " skewed" : "")"
            guard let got = try gpu.expertGrouping(topIDs: ids, experts: experts) else { continue }
            results.append((name, got == ExpertGrouping(topIDs: ids, experts: experts) ? 0 : .infinity))
        }
        return results
    }

    private mutating func random(_ count: Int, scale: Float) -> [Float] {
        (0..<count).map { _ in round(Float.random(in: -1...1, using: &rng) * scale) }
    }

    private mutating func check(
        _ name: String, tokens: Int, experts: Int, k: Int, normalize: Bool, shared hasShared: Bool
    ) throws -> [(String, Double)] {
        let (hidden, rows, sharedRows) = (192, 72, 40)
        var x = random(tokens * hidden, scale: 1)
        for t in 0..<tokens {
            var levels = Array(0..<experts).shuffled(using: &rng)
            if t % 3 == 0 { levels[3] = levels[1] }  // a tie between experts 1 and 3
            for e in 0..<experts { x[t * hidden + e] = Float(levels[e]) / 2 }
        }
        var router = [Float](repeating: 0, count: experts * hidden)
        for e in 0..<experts { router[e * hidden + e] = 4 }
        let gateUps = (0..<experts).map { _ in random(2 * rows * hidden, scale: 0.2) }
        let downs = (0..<experts).map { _ in random(hidden * rows, scale: 0.2) }
        let shared =
            hasShared
            ? (
                gateUp: random(2 * sharedRows * hidden, scale: 0.2), down: random(hidden * sharedRows, scale: 0.2),
                gate: random(hidden, scale: 0.3)
            ) : nil
        let routing = ExpertRouting(numExperts: experts, topK: k, normalizeTopK: normalize)
        func dense(_ values: [Float], _ out: Int, _ inputs: Int) -> HostLinearWeight {
            .dense(HostTensor(shape: [out, inputs], values: values))
        }
        let hostExperts = (0..<experts).map { e in
            HostExpert(
                gate: dense(Array(gateUps[e][..<(rows * hidden)]), rows, hidden),
                up: dense(Array(gateUps[e][(rows * hidden)...]), rows, hidden), down: dense(downs[e], hidden, rows))
        }
        func block<B: Backend>(_ b: B) throws -> MixtureOfExpertsBlock<B.Tensor> {
            MixtureOfExpertsBlock(
                routing: routing, router: try b.linearWeight([dense(router, experts, hidden)]),
                experts: try b.expertWeights(hostExperts),
                shared: try shared.map {
                    SharedExpert(
                        gateUp: try b.linearWeight([dense($0.gateUp, 2 * sharedRows, hidden)]),
                        down: try b.linearWeight([dense($0.down, hidden, sharedRows)]),
                        gate: try b.linearWeight([dense($0.gate, 1, hidden)]))
                })
        }
        let d = { (v: [Float]) in v.map(Double.init) }
        let expected = Float64Reference.mixtureOfExperts(
            d(x), hidden: hidden, router: d(router), routing: routing, gateUp: gateUps.map(d), down: downs.map(d), rows: rows,
            shared: shared.map { (d($0.gateUp), d($0.down), d($0.gate), sharedRows) })
        let g = gpu.mixtureOfExperts(try gpu.upload(x, shape: [tokens, hidden]), try block(gpu))
        let c = cpu.mixtureOfExperts(try cpu.weight([HostTensor(shape: [tokens, hidden], values: x)]), try block(cpu))
        return [
            (name, Float64Reference.relativeError(gpu.toHost(g), expected)),
            ("\(name) cpu-vs-f64", Float64Reference.relativeError(c.toArray(), expected)),
        ]
    }
}
