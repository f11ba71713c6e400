import Foundation
import Testing
import VLLMCPU
import VLLMCore
import VLLMTestSupport

/// Mixtral, Qwen2-MoE and Qwen3-MoE against transformers (scripts/make_moe_fixtures.py): random
/// weights with two experts sharing a router row, so that tied probabilities straddle the top-k
/// boundary and only torch.topk's tie order picks the expert.
@Suite struct MixtureOfExpertsTests {
    static let variants = ["mixtral", "qwen2moe", "qwen3moe", "qwen3moe-bf16"]

    @Test(arguments: variants)
    func promptLogitsMatchTransformers(variant: String) throws { try TransformersReferenceTests.checkPromptLogits(variant) }

    @Test(arguments: variants)
    func greedyTokensMatchTransformers(variant: String) throws { try TransformersReferenceTests.checkGreedyTokens(variant) }

    /// `TorchTopK` gives torch.topk's indices on vectors full of equal values, on both of torch's
    /// paths (nth_element + sort, and partial_sort for k * 64 <= n).
    @Test func topKFollowsTorchOnTies() throws {
        let path = RepositoryFiles.path("Tests/Fixtures/moe/topk_ties.json")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        let cases = json["cases"] as! [[String: Any]]
        var lowestIndexFirstWouldFail = 0
        for item in cases {
            let values = (item["values"] as! [NSNumber]).map(\.floatValue)
            let (k, expected) = (item["k"] as! Int, item["indices"] as! [Int])
            #expect(TorchTopK.indices(values, k: k) == expected, "n \(values.count) k \(k)")
            let stable = values.indices.sorted { values[$0] != values[$1] ? values[$0] > values[$1] : $0 < $1 }
            if Array(stable.prefix(k)) != expected { lowestIndexFirstWouldFail += 1 }
        }
        #expect(cases.count > 100)
        // The fixture would not test anything if a stable sort gave the same answers.
        #expect(lowestIndexFirstWouldFail > cases.count / 4)
    }

    /// transformers' rule for which layers have experts: `mlp_only_layers` and `decoder_sparse_step`.
    @Test func layersWithExpertsFollowTheConfig() throws {
        func layers(_ variant: String) throws -> [Bool] {
            let config = try ModelConfig(contentsOf: TestPaths.fixtureModels + "/\(variant)/config.json")
            return (0..<config.numLayers).map { config.moe!.hasExperts(layer: $0) }
        }
        #expect(try layers("qwen2moe") == [false, true, false, true])
        #expect(try layers("qwen3moe") == [true, false, true])
        #expect(try layers("mixtral") == [true, true])
        let qwen2 = try ModelConfig(contentsOf: TestPaths.fixtureModels + "/qwen2moe/config.json")
        #expect(qwen2.moe?.sharedExpertIntermediateSize == 21 && qwen2.qkvBias && qwen2.moe?.routing.normalizeTopK == false)
        let qwen3 = try ModelConfig(contentsOf: TestPaths.fixtureModels + "/qwen3moe/config.json")
        #expect(qwen3.qkNorm && qwen3.moe?.routing == ExpertRouting(numExperts: 9, topK: 4, normalizeTopK: true))
    }

    /// The routing groups slots by expert, tokens in batch order within an expert.
    @Test func assignmentGroupsTokensByExpert() {
        // Token 0 prefers experts 2 then 0; token 1 experts 0 then 1.
        let logits: [Float] = [1, 0, 3, 2, 1, 0]
        let a = ExpertAssignment(
            routerLogits: logits, tokens: 2, routing: ExpertRouting(numExperts: 3, topK: 2, normalizeTopK: true))
        #expect(a.expertStart == [0, 2, 3, 4])
        #expect(a.tokenOfSlot == [0, 1, 1, 0])
        #expect(abs(a.weightOfSlot[0] + a.weightOfSlot[3] - 1) < 1e-6)
    }
}

/// The CPU backend's mixture of experts against the float64 reference (the same reference
/// `vllm kernel-check` holds the CUDA kernels to), shared expert included.
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
            experts: try cpu.expertWeights(
                (0..<experts).map { e in
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
        let error = Float64Reference.relativeError(got, expected)
        print("cpu mixture of experts vs float64: relative error \(error)")
        #expect(error < 1e-6)
    }
}

/// Mixture-of-experts models split over ranks (each expert's rows split like a dense MLP's, the
/// router whole on every rank, the shared expert's gate applied to each rank's partial sum) give
/// the logits and greedy tokens of one rank.
@Suite struct MixtureOfExpertsTensorParallelTests {
    nonisolated(unsafe) static let variants: [(String, [String: Any])] = [
        ("mixtral", ["architectures": ["MixtralForCausalLM"], "num_key_value_heads": 2, "num_local_experts": 6, "num_experts_per_tok": 2]),
        (
            "qwen2moe",
            [
                "architectures": ["Qwen2MoeForCausalLM"], "num_key_value_heads": 4, "num_experts": 7, "num_experts_per_tok": 3,
                "moe_intermediate_size": 40, "shared_expert_intermediate_size": 56, "decoder_sparse_step": 2,
            ]
        ),
        (
            "qwen3moe",
            [
                "architectures": ["Qwen3MoeForCausalLM"], "num_key_value_heads": 2, "num_experts": 9, "num_experts_per_tok": 4,
                "moe_intermediate_size": 24, "norm_topk_prob": true, "mlp_only_layers": [1],
            ]
        ),
    ]

    @Test(arguments: [2, 4])
    func shardedMatchesOneRank(ranks: Int) throws {
        let prompt = (0..<40).map { 3 + ($0 * 37) % 290 }
        for (name, extra) in Self.variants {
            let config = try TensorParallelTests.config(extra)
            let whole = try TensorParallelTests.load(config, ranks: 1)
            let split = try TensorParallelTests.load(config, ranks: ranks)
            let expected = TensorParallelTests.prefill(whole, prompt), got = TensorParallelTests.prefill(split, prompt)
            let error = zip(got, expected).map { abs($0 - $1) }.max()! / expected.map(abs).max()!
            #expect(error < 1e-5, "\(name) at \(ranks) ranks: relative logit error \(error)")
            #expect(
                TensorParallelTests.greedy(split, prompt, count: 16) == TensorParallelTests.greedy(whole, prompt, count: 16),
                "\(name) at \(ranks) ranks")
        }
    }

    @Test func indivisibleExpertRowsAreAClearError() throws {
        let config = try TensorParallelTests.config(
            ["architectures": ["Qwen3MoeForCausalLM"], "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 30])
        #expect(
            throws: ModelLoadError.invalidConfig(
                path: "config.json", field: "tensor_parallel_size",
                detail: "moe_intermediate_size 30 is not divisible by tensor_parallel_size 4")
        ) {
            try TensorParallelTests.load(config, ranks: 4)
        }
    }
}
