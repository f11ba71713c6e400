import Foundation
import SwiftVLLM
import Testing
import VLLMStructuredOutputs
import VLLMTokenizers

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

    /// With `structuredOutputsStartAfter`, the output is the model's own until its text has
    /// contained the marker (as a reasoning model's `</think>`), and follows the grammar from the
    /// next token on. The marker here is spelled by three of the model's tokens and ends inside the
    /// last one, so a match on the tokenizer's own encoding of it would never see it.
    @Test func grammarStartsAfterTheMarkerText() throws {
        let llm = try makeLLM()
        let tokenizer = llm.tokenizer!
        let free = try llm.generate([.text("Once upon a time")], .greedy(maxTokens: 12), showProgress: false)[0].outputs[0].tokenIDs
        var decoder = IncrementalDetokenizer(
            tokenizer: tokenizer, skipSpecialTokens: false, promptTokenIDs: tokenizer.encode("Once upon a time"))
        let pieces = free.map { decoder.append($0) }
        let marker = pieces[2] + pieces[3] + String(pieces[4].prefix(1))
        #expect(!pieces[2].isEmpty && !pieces[4].isEmpty)
        #expect(tokenizer.encode(marker, addSpecialTokens: false) != Array(free[2...4]))
        // The output reaches the marker with the first token whose text completes it.
        let start = (1...free.count).first { pieces[..<$0].joined().contains(marker) }!
        var params = SamplingParams.greedy(maxTokens: 40)
        params.structuredOutputs = .choice(["the cat", "a dog", "an owl"])
        params.structuredOutputsStartAfter = marker
        let output = try llm.generate([.text("Once upon a time")], params, showProgress: false)[0].outputs[0]
        #expect(Array(output.tokenIDs.prefix(start)) == Array(free.prefix(start)))
        let rest = tokenizer.decode(Array(output.tokenIDs.dropFirst(start)), skipSpecialTokens: true)
        #expect(["the cat", "a dog", "an owl"].contains(rest), "\(output.text)")

        params.structuredOutputsStartAfter = "never in this story ###"
        params.maxTokens = 12
        let never = try llm.generate([.text("Once upon a time")], params, showProgress: false)[0].outputs[0]
        #expect(never.tokenIDs == free, "a marker that never comes leaves the output unconstrained")
    }

    /// Every split of `</think>` into token texts counts, and only the whole marker does.
    @Test func markerWatchReadsTextNotTokens() {
        struct Texts: IncrementalTextDecoder {
            let texts: [String]
            mutating func append(_ tokenID: Int) -> String { texts[tokenID] }
            mutating func finish() -> String { "" }
        }
        func passesAt(_ texts: [String]) -> Int? {
            var watch = TextMarkerWatch(marker: "</think>", decoder: Texts(texts: texts))
            return texts.indices.first { watch.passes($0) }
        }
        #expect(passesAt(["</think>", "{"]) == 0)
        #expect(passesAt(["hmm </", "think", ">", "{"]) == 2)
        #expect(passesAt(["<", "/", "th", "ink>\n\n", "{"]) == 3)
        #expect(passesAt(["</think", "ing> is not it", "<", "/think>"]) == 3)
        #expect(passesAt(["</thin", "k", "s>"]) == nil)
    }

    /// Beam search under a grammar: every beam is a path through its own grammar state, beams
    /// that end are whole sentences of it, and the JSON they spell validates.
    @Test func beamSearchFollowsTheGrammar() throws {
        let llm = try makeLLM()
        let eos = Set(llm.folder.eosTokenIDs)
        let spec = StructuredOutputSpec.jsonSchema(Self.schema)
        let prompts: [Prompt] = [.text("Once upon a time"), .text("Tom")]
        // Compact JSON: with free whitespace the likeliest beams of this model are endless newlines.
        var params = BeamSearchParams(beamWidth: 3, maxTokens: 60, structuredOutputs: spec)
        params.structuredOutputsAnyWhitespace = false
        let results = try llm.beamSearch(prompts, params)
        let compiler = makeGrammarCompiler(llm.tokenizer!, eosTokenIDs: Array(eos))
        var finished = 0
        for result in results {
            #expect(result.sequences.count == 3)
            for beam in result.sequences {
                var matcher = GrammarMatcher(grammar: try compiler.compile(spec, anyWhitespace: false))
                for token in beam.tokens.dropFirst(result.promptTokenIDs.count) {
                    let accepted = matcher.acceptToken(token)
                    #expect(accepted, "\(beam.text)")
                }
                guard let last = beam.tokens.last, eos.contains(last) else { continue }
                finished += 1
                let object = try JSONSerialization.jsonObject(with: Data(beam.text.utf8)) as? [String: Any]
                #expect(object?["name"] is String && (object?["age"] as? Int).map { (1...99).contains($0) } == true, "\(beam.text)")
            }
        }
        #expect(finished > 0, "some beams finish their JSON within 60 tokens")

        let choices = ["the cat", "a dog", "an owl"]
        let chosen = try llm.beamSearch([.text("Lily")], BeamSearchParams(beamWidth: 3, maxTokens: 20, structuredOutputs: .choice(choices)))
        for beam in chosen[0].sequences {
            #expect(choices.contains(beam.text) && eos.contains(beam.tokens.last ?? -1), "\(beam.text)")
        }
    }
}
