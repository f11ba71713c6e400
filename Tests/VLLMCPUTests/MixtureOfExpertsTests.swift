import Foundation
import Testing
import VLLMCPU
import VLLMCore

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
        let path = TestPaths.repository + "/Tests/Fixtures/moe/topk_ties.json"
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
