import Foundation
import Testing
import VLLMCPU
import VLLMCore

/// Random-weight models in the shapes of each Llama-family variant, against the logits and greedy
/// tokens that Hugging Face transformers computed for them (scripts/make_model_fixtures.py).
@Suite struct TransformersReferenceTests {
    static let variants = [
        "llama2", "llama2-sharded", "llama3", "llama3-bf16", "mistral", "qwen2", "qwen2-fp16", "qwen3", "qwen3-bf16",
    ]

    struct Reference {
        let prompt: [Int]
        let greedy: [Int]
        let logits: HostTensor

        init(_ folder: String) throws {
            let json =
                try JSONSerialization.jsonObject(
                    with: Data(contentsOf: URL(fileURLWithPath: folder + "/reference.json"))) as! [String: Any]
            prompt = json["prompt_ids"] as! [Int]
            greedy = json["greedy_ids"] as! [Int]
            logits = try SafetensorsFile(path: folder + "/reference_logits.safetensors").tensor("logits")
        }
    }

    @Test(arguments: variants)
    func promptLogitsMatchTransformers(variant: String) throws { try Self.checkPromptLogits(variant) }

    @Test(arguments: variants)
    func greedyTokensMatchTransformers(variant: String) throws { try Self.checkGreedyTokens(variant) }

    /// Expects the logits of every prompt position of fixture `variant` within 1e-4 of
    /// transformers' (relative to the row's largest magnitude).
    static func checkPromptLogits(_ variant: String) throws {
        let folder = TestPaths.fixtureModels + "/" + variant
        let reference = try Reference(folder)
        let runner = try DirectRunner(folder: folder, maxLength: 128)
        let logits = runner.promptLogits(reference.prompt)
        let expected = reference.logits.floats()
        let vocab = reference.logits.shape[1]
        var worst: Float = 0
        for (position, row) in logits.enumerated() {
            let want = expected[(position * vocab)..<((position + 1) * vocab)]
            let scale = want.map(abs).max()!
            let error = zip(row, want).map { abs($0 - $1) }.max()!
            worst = max(worst, error / scale)
        }
        print("\(variant): worst relative logit error \(worst)")
        #expect(worst < 1e-4, "\(variant): worst relative logit error \(worst)")
    }

    /// Expects fixture `variant`'s greedy continuation to be transformers' token for token.
    static func checkGreedyTokens(_ variant: String) throws {
        let folder = TestPaths.fixtureModels + "/" + variant
        let reference = try Reference(folder)
        let runner = try DirectRunner(folder: folder, maxLength: 128)
        #expect(runner.greedy(reference.prompt, count: reference.greedy.count) == reference.greedy)
    }

    /// bfloat16 weights widened to float32 at load time give the same tokens as keeping them bfloat16.
    @Test func bfloat16WeightsKeptOrWidenedAgree() throws {
        let folder = TestPaths.fixtureModels + "/llama3-bf16"
        let reference = try Reference(folder)
        let widened = try DirectRunner(folder: folder, maxLength: 128, backend: CPUBackend(keepsBFloat16: false))
        let kept = try DirectRunner(folder: folder, maxLength: 128, backend: CPUBackend(keepsBFloat16: true))
        #expect(widened.promptLogits(reference.prompt) == kept.promptLogits(reference.prompt))
    }
}
