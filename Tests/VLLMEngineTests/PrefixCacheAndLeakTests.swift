import SwiftVLLM
import Testing

@testable import VLLMEngine

@Suite struct PrefixCacheAndLeakTests {
    /// A second request sharing three full blocks with the first computes only its new tokens and
    /// gives the output it gives alone.
    @Test func sharedPrefixComputesOnlyNewTokens() throws {
        let shared = [1] + (0..<47).map { 10 + $0 }
        let second = shared + [300, 301, 302, 303, 304]
        let alone = try makeLLM().generate([.tokens(second)], greedyParams(10), showProgress: false)[0]

        let llm = try makeLLM()
        _ = try llm.generate([.tokens(shared + [200])], greedyParams(5), showProgress: false)
        let before = llm.engine.stats
        let cached = try llm.generate([.tokens(second)], greedyParams(10), showProgress: false)[0]
        let after = llm.engine.stats
        #expect(cached.numCachedTokens == 48)
        #expect(after.promptTokens - before.promptTokens == second.count - 48)
        #expect(after.prefixCacheHits - before.prefixCacheHits == 48)
        #expect(cached.outputs[0].tokenIDs == alone.outputs[0].tokenIDs)
    }

    /// A prompt that is entirely cached still computes its last token, to get its logits.
    @Test func fullyCachedPromptRecomputesLastToken() throws {
        let prompt = [1] + (0..<31).map { 20 + $0 }
        let llm = try makeLLM()
        let first = try llm.generate([.tokens(prompt)], greedyParams(6), showProgress: false)[0]
        let again = try llm.generate([.tokens(prompt)], greedyParams(6), showProgress: false)[0]
        #expect(again.numCachedTokens == 16)
        #expect(again.outputs[0].tokenIDs == first.outputs[0].tokenIDs)
    }

    /// After finished, stopped, preempted and aborted requests the pool is whole again.
    @Test func noBlockLeaks() throws {
        let llm = try makeLLM { $0.numGPUBlocksOverride = 10 }
        let engine = llm.engine
        let prompts = mixedPrompts(count: 24, seed: 3)
        for (i, prompt) in prompts.enumerated() {
            var params = greedyParams(8 + i % 13)
            if i % 3 == 0 { params.ignoreEOS = false; params.stopTokenIDs = [prompt.last!] }
            try engine.addRequest(id: "r\(i)", promptTokenIDs: prompt, params: params)
        }
        var steps = 0
        while engine.hasUnfinishedRequests {
            _ = engine.step()
            steps += 1
            if steps % 5 == 0 { engine.abort("r\(steps)") }
        }
        #expect(engine.stats.numPreemptions > 0)
        #expect(engine.numFreeBlocks == 10)
        #expect(engine.stats.kvCacheUsage == 0)
    }

    /// Aborting frees the request's blocks at once.
    @Test func abortFreesBlocksAtOnce() throws {
        let llm = try makeLLM { $0.numGPUBlocksOverride = 20 }
        let engine = llm.engine
        try engine.addRequest(id: "a", promptTokenIDs: [1] + Array(10..<60), params: greedyParams(50))
        _ = engine.step()
        #expect(engine.numFreeBlocks < 20)
        let final = engine.abort("a")
        #expect(final?.finishReason == .abort)
        #expect(engine.numFreeBlocks == 20)
        #expect(!engine.hasUnfinishedRequests)
        #expect(engine.abort("a") == nil)
    }

    /// A prompt longer than the context is rejected with a clear error, and the engine goes on.
    @Test func overlongPromptIsRejected() throws {
        let llm = try makeLLM()
        #expect(throws: EngineError.promptTooLong(length: 200, maxModelLength: 128)) {
            try llm.engine.addRequest(id: "long", promptTokenIDs: [Int](repeating: 5, count: 200), params: greedyParams(4))
        }
        let ok = try llm.generate([.tokens([1, 2, 3])], greedyParams(4), showProgress: false)
        #expect(ok[0].outputs[0].tokenIDs.count == 4)
    }
}
