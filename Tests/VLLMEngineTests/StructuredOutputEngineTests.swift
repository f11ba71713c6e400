import Foundation
import SwiftVLLM
import Testing
import VLLMStructuredOutputs

@testable import VLLMEngine

/// Structured outputs through the engine on the built-in model: whatever the weights prefer, the
/// grammar decides what can come out.
@Suite struct StructuredOutputEngineTests {
    static let schema =
        #"{"type":"object","properties":{"name":{"type":"string","maxLength":6},"age":{"type":"integer","minimum":1,"maximum":99}},"required":["name","age"]}"#

    /// Every output's tokens are a path through the grammar, and a finished one is a sentence.
    static func checkFollowsGrammar(_ outputs: [CompletionOutput], _ spec: StructuredOutputSpec, _ llm: LLM) throws {
        let compiler = makeGrammarCompiler(llm.tokenizer!, eosTokenIDs: [llm.tokenizer!.eosTokenID!])
        for output in outputs {
            var matcher = GrammarMatcher(grammar: try compiler.compile(spec))
            for token in output.tokenIDs where token != llm.tokenizer!.eosTokenID {
                let accepted = matcher.acceptToken(token)
                #expect(accepted, "\(output.text)")
            }
            if output.finishReason == .stop { #expect(matcher.canEnd, "\(output.text)") }
        }
    }

    @Test(arguments: [false, true]) func choiceAndRegexOutputsMatch(backendSampling: Bool) throws {
        let llm = try makeLLM()
        llm.engine.runner.samplesOnBackend = backendSampling
        var params = SamplingParams()
        params.maxTokens = 40
        params.n = 3
        params.structuredOutputs = .choice(["the cat", "a dog", "an owl"])
        var regex = SamplingParams.greedy(maxTokens: 40)
        regex.structuredOutputs = .regex("[A-Z][a-z]{2,6} (was|is) [0-9]{1,2}\\.")
        let results = try llm.generate([.text("Once upon a time"), .text("Lily")], params: [params, regex], showProgress: false)
        for output in results[0].outputs {
            #expect(output.finishReason == .stop && ["the cat", "a dog", "an owl"].contains(output.text), "\(output.text)")
        }
        let text = results[1].outputs[0].text
        #expect(text.range(of: "^[A-Z][a-z]{2,6} (was|is) [0-9]{1,2}\\.$", options: .regularExpression) != nil, "\(text)")
    }

    @Test func jsonSchemaOutputsFollowTheGrammarGreedyAndSampled() throws {
        let llm = try makeLLM()
        let spec = StructuredOutputSpec.jsonSchema(Self.schema)
        var greedy = SamplingParams.greedy(maxTokens: 80)
        greedy.structuredOutputs = spec
        var sampled = SamplingParams()
        sampled.maxTokens = 80
        sampled.n = 4
        sampled.seed = 11
        sampled.structuredOutputs = spec
        let results = try llm.generate([.text("Once upon a time"), .text("Tom")], params: [greedy, sampled], showProgress: false)
        let outputs = results.flatMap(\.outputs)
        try Self.checkFollowsGrammar(outputs, spec, llm)
        for output in outputs where output.finishReason == .stop {
            let object = try JSONSerialization.jsonObject(with: Data(output.text.utf8)) as? [String: Any]
            #expect(object?["name"] is String && (object?["age"] as? Int).map { (1...99).contains($0) } == true, "\(output.text)")
        }
    }

    @Test func endingInsideTheGrammarIsLengthAndBadSpecsAreRejected() throws {
        let llm = try makeLLM()
        var params = SamplingParams.greedy(maxTokens: 2)
        params.structuredOutputs = .choice(["once upon a time there was"])
        let output = try llm.generate([.text("Hi")], params, showProgress: false)[0].outputs[0]
        #expect(output.finishReason == .length && output.tokenIDs.count == 2)
        params.structuredOutputs = .jsonSchema(#"{"type":"object","patternProperties":{}}"#)
        #expect(
            throws: EngineError.invalidParameter(
                field: "structured_outputs", detail: "unsupported JSON Schema feature: patternProperties (at root)")
        ) {
            try llm.generate([.text("Hi")], params, showProgress: false)
        }
    }

    /// With `structuredOutputsStartAfter`, the output is the model's own until it has produced the
    /// marker tokens (as a reasoning model's `</think>`), and follows the grammar from there on.
    @Test func grammarStartsAfterTheMarker() throws {
        let llm = try makeLLM()
        let free = try llm.generate([.text("Once upon a time")], .greedy(maxTokens: 12), showProgress: false)[0].outputs[0].tokenIDs
        let marker = Array(free[2...3])
        // The output reaches the marker where the free output first ends with it.
        let start = (marker.count...free.count).first { free[..<$0].suffix(marker.count).elementsEqual(marker) }!
        var params = SamplingParams.greedy(maxTokens: 40)
        params.structuredOutputs = .choice(["the cat", "a dog", "an owl"])
        params.structuredOutputsStartAfter = marker
        let output = try llm.generate([.text("Once upon a time")], params, showProgress: false)[0].outputs[0]
        #expect(Array(output.tokenIDs.prefix(start)) == Array(free.prefix(start)))
        let rest = llm.tokenizer!.decode(Array(output.tokenIDs.dropFirst(start)), skipSpecialTokens: true)
        #expect(["the cat", "a dog", "an owl"].contains(rest), "\(output.text)")

        params.structuredOutputsStartAfter = [llm.tokenizer!.eosTokenID!, llm.tokenizer!.eosTokenID!]
        params.maxTokens = 12
        let never = try llm.generate([.text("Once upon a time")], params, showProgress: false)[0].outputs[0]
        #expect(never.tokenIDs == free, "a marker that never comes leaves the output unconstrained")
    }
}
