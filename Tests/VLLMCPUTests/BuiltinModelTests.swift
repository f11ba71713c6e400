import Foundation
import Testing
import VLLMCore

@Suite struct BuiltinModelTests {
    /// The greedy continuation of [BOS] matches karpathy/llama2.c's expected 200 tokens.
    @Test func stories260KGreedyMatchesReference() throws {
        let expected =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: TestPaths.builtinModel + "/expected_greedy.json"))) as! [String: Any]
        let prompt = expected["prompt_ids"] as! [Int]
        let ids = expected["generated_ids"] as! [Int]
        let runner = try DirectRunner(folder: TestPaths.builtinModel, maxLength: 512)
        #expect(runner.greedy(prompt, count: ids.count) == ids)
    }
}
