import Foundation
import SwiftVLLM
import Testing

@testable import VLLMEngine

@Suite struct TextOutputTests {
    static let expectedText = try! String(contentsOfFile: EnginePaths.builtinModel + "/expected_greedy_text.txt", encoding: .utf8)

    @Test func greedyTextMatchesLlama2c() throws {
        let output = try makeLLM { $0.maxModelLength = 256 }.generate([.tokens([1])], greedyParams(200), showProgress: false)[0]
        #expect(output.outputs[0].text == Self.expectedText)
    }

    @Test func textPromptIsTokenizedWithBOS() throws {
        let llm = try makeLLM()
        let output = try llm.generate([.text("Once upon a time")], greedyParams(5), showProgress: false)[0]
        #expect(output.prompt == "Once upon a time")
        #expect(output.promptTokenIDs.first == 1)
        #expect(output.promptTokenIDs == llm.tokenizer!.encode("Once upon a time"))
    }

    /// A stop string that spans a token boundary ends the text right before it (or after it, when
    /// asked to include it), and is reported as the stop reason.
    @Test(arguments: [false, true])
    func stopStringAcrossTokens(include: Bool) throws {
        let stop = "ily. She"
        let llm = try makeLLM { $0.maxModelLength = 256 }
        let tokenizer = llm.tokenizer!
        // Check that the stop string is really split over tokens in this text.
        let ids = try llm.generate([.tokens([1])], greedyParams(200), showProgress: false)[0].outputs[0].tokenIDs
        #expect(!ids.contains { tokenizer.decode([$0]).contains(stop) })

        var params = greedyParams(200)
        params.stop = ["no such text", stop]
        params.includeStopStringInOutput = include
        let output = try llm.generate([.tokens([1])], params, showProgress: false)[0].outputs[0]
        let range = Self.expectedText.range(of: stop)!
        let expected = String(Self.expectedText[..<(include ? range.upperBound : range.lowerBound)])
        #expect(output.text == expected)
        #expect(output.finishReason == .stop)
        #expect(output.stopReason == .string(stop))
    }

    @Test func eosStopsWithoutText() throws {
        // stories260K ends a story with BOS (id 1), one of its EOS ids.
        var params = SamplingParams.greedy(maxTokens: 400)
        params.ignoreEOS = false
        let llm = try makeLLM { $0.maxModelLength = 512 }
        let output = try llm.generate([.text("Once upon a time, there was a dog.")], params, showProgress: false)[0].outputs[0]
        #expect(output.finishReason == .stop)
        #expect(output.tokenIDs.count < 400 && output.tokenIDs.last == 1)
        #expect(output.stopReason == nil)
        #expect(output.text.hasSuffix("The dog was happy."))
    }

    /// Streamed deltas add up to the final text, and a cancelled stream aborts its request.
    @Test func streamingDeltasAndCancellation() async throws {
        var args = EngineArgs(model: EnginePaths.builtinModel)
        args.maxModelLength = 256
        args.numGPUBlocksOverride = 40
        let loaded = try LoadedModel(args)
        let core = try EngineCore(
            executor: loaded.executor, config: loaded.coreConfig, eosTokenIDs: loaded.eosTokenIDs,
            textDecoder: textDecoderFactory(try loadTokenizer(folder: EnginePaths.builtinModel)!))
        let engine = AsyncEngine(core: core)
        defer { engine.shutdown() }

        var text = ""
        var last: RequestOutput?
        for await result in engine.generate(requestID: "s", promptTokenIDs: [1], params: greedyParams(200), delta: true) {
            let output = try result.get()
            text += output.outputs[0].text
            last = output
        }
        #expect(text == Self.expectedText)
        #expect(last?.finished == true)

        let stream = engine.generate(requestID: "c", promptTokenIDs: [1], params: greedyParams(200))
        var count = 0
        for await _ in stream {
            count += 1
            if count == 3 { break }
        }
        // Leaving the loop cancels the stream; the engine thread aborts the request.
        for _ in 0..<200 where engine.stats.numRunning > 0 || engine.stats.kvCacheUsage > 0 {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(engine.stats.numRunning == 0)
        #expect(engine.stats.kvCacheUsage == 0)
    }
}
