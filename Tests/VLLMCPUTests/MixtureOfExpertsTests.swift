import Testing
import VLLMCPU
import VLLMCore
import VLLMTestSupport

/// The CPU backend's mixture of experts against the float64 reference (the same reference
/// `vllm-dev kernel-check` holds the CUDA kernels to), shared expert included.
@Suite struct MixtureOfExpertsFloat64Tests {
    @Test func cpuMatchesFloat64Reference() throws {
        var rng = SplitMixRandom(seed: 5)
        func random(_ n: Int, _ scale: Float) -> [Float] { (0..<n).map { _ in Float.random(in: -scale...scale, using: &rng) } }
        let (tokens, hidden, rows, experts, sharedRows) = (23, 20, 7, 6, 5)
        let routing = ExpertRouting(numExperts: experts, topK: 3, normalizeTopK: false)
        let x = random(tokens * hidden, 1), router = random(experts * hidden, 1)
        let gateUps = (0..<experts).map { _ in random(2 * rows * hidden, 0.3) }
        let downs = (0..<experts).map { _ in random(hidden * rows, 0.3) }
        let shared = (gateUp: random(2 * sharedRows * hidden, 0.3), down: random(hidden * sharedRows, 0.3), gate: random(hidden, 0.5))
        func dense(_ v: [Float], _ o: Int, _ i: Int) -> HostLinearWeight { .dense(HostTensor(shape: [o, i], values: v)) }
        let cpu = CPUBackend()
        let block = MixtureOfExpertsBlock(
            routing: routing, router: try cpu.linearWeight([dense(router, experts, hidden)]),
            experts: try cpu.expertWeights((0..<experts).map { e in
                HostExpert(
                    gate: dense(Array(gateUps[e][..<(rows * hidden)]), rows, hidden),
                    up: dense(Array(gateUps[e][(rows * hidden)...]), rows, hidden), down: dense(downs[e], hidden, rows))
            }),
            shared: SharedExpert(
                gateUp: try cpu.linearWeight([dense(shared.gateUp, 2 * sharedRows, hidden)]),
                down: try cpu.linearWeight([dense(shared.down, hidden, sharedRows)]),
                gate: try cpu.linearWeight([dense(shared.gate, 1, hidden)])))
        let d = { (v: [Float]) in v.map(Double.init) }
        let expected = Float64Reference.mixtureOfExperts(
            d(x), hidden: hidden, router: d(router), routing: routing, gateUp: gateUps.map(d), down: downs.map(d), rows: rows,
            shared: (d(shared.gateUp), d(shared.down), d(shared.gate), sharedRows))
        let got = cpu.mixtureOfExperts(try cpu.weight([HostTensor(shape: [tokens, hidden], values: x)]), block).toArray()
        #expect(Float64Reference.relativeError(got, expected) < 1e-6)
    }
}
