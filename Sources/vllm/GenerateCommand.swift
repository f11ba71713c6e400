import ArgumentParser
import Foundation
import SwiftVLLM
import VLLMCore
import VLLMEngine

/// `vllm generate`: offline generation for one or more prompts through the engine.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "Generate completions offline (continuous batching over all prompts).")

    @OptionGroup var engine: EngineOptions
    @OptionGroup var sampling: SamplingOptions

    @Option(name: .customLong("prompt-token-ids"), help: "A prompt as comma-separated token ids (repeatable).")
    var promptTokenIDs: [String] = []

    @Option(help: "A prompt as text (repeatable).")
    var prompt: [String] = []

    @Option(help: "JSON Lines file, each line {\"prompt\": ...} or {\"prompt_token_ids\": [...]}.")
    var promptsFile: String?

    @Flag(help: "Print one JSON object per prompt, in input order.")
    var json = false

    @Option(help: "Beam search with this many beams instead of sampling (uses --max-tokens, --ignore-eos).")
    var beamWidth: Int?

    @Option(help: "Length penalty of beam search.")
    var lengthPenalty: Double = 1.0

    func run() throws {
        let prompts = try collectPrompts()
        guard !prompts.isEmpty else { throw ValidationError("give a prompt: --prompt, --prompt-token-ids or --prompts-file") }
        let llm = try LLM(args: engine.engineArgs(), progress: loadProgress())
        logToStderr("Loaded \(llm.summary)")
        if let beamWidth {
            let params = BeamSearchParams(
                beamWidth: beamWidth, maxTokens: sampling.maxTokens, ignoreEOS: sampling.ignoreEos, lengthPenalty: lengthPenalty)
            for output in try llm.beamSearch(prompts, params) { try printBeams(output) }
            return
        }
        let params = try sampling.params(defaults: llm.folder.generationConfig)
        let outputs = try llm.generate(prompts, params, showProgress: !json)
        let stats = llm.engine.stats
        logToStderr("Engine steps: \(stats.numSteps), preemptions: \(stats.numPreemptions)")
        for output in outputs {
            if json {
                print(try jsonLine(GenerateResult(output)))
            } else {
                for completion in output.outputs {
                    print(completion.text.isEmpty ? completion.tokenIDs.map(String.init).joined(separator: " ") : completion.text)
                }
            }
        }
    }

    private func printBeams(_ output: BeamSearchOutput) throws {
        let promptIDs = output.promptTokenIDs
        for (i, beam) in output.sequences.enumerated() {
            let generated = Array(beam.tokens.dropFirst(promptIDs.count))
            if json {
                struct Beam: Encodable { var index: Int; var text: String; var token_ids: [Int]; var cumulative_logprob: Double }
                print(try jsonLine(Beam(index: i, text: beam.text, token_ids: generated, cumulative_logprob: beam.cumulativeLogprob)))
            } else {
                print(beam.text.isEmpty ? generated.map(String.init).joined(separator: " ") : beam.text)
            }
        }
    }

    private func collectPrompts() throws -> [Prompt] {
        var prompts = try promptTokenIDs.map { Prompt.tokens(try parseTokenIDs($0)) }
        prompts += prompt.map(Prompt.text)
        if let promptsFile { prompts += try readPromptsFile(promptsFile) }
        return prompts
    }
}

/// Reads a JSON Lines prompts file; an error names the line.
func readPromptsFile(_ path: String) throws -> [Prompt] {
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
        throw ValidationError("\(path): cannot read the file")
    }
    var prompts: [Prompt] = []
    for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
    where !line.trimmingCharacters(in: .whitespaces).isEmpty {
        let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        if let text = object?["prompt"] as? String {
            prompts.append(.text(text))
        } else if let ids = object?["prompt_token_ids"] as? [Int] {
            prompts.append(.tokens(ids))
        } else {
            throw ValidationError("\(path):\(number + 1): expected {\"prompt\": string} or {\"prompt_token_ids\": [ints]}")
        }
    }
    return prompts
}

/// The JSON form of a request's output, with vLLM's field names.
struct GenerateResult: Encodable {
    struct Output: Encodable {
        var index: Int
        var text: String
        var token_ids: [Int]
        var cumulative_logprob: Double?
        var logprobs: [[String: Double]]?
        var finish_reason: String?
        var stop_reason: String?
    }

    var request_id: String
    var prompt: String?
    var prompt_token_ids: [Int]
    var prompt_logprobs: [[String: Double]?]?
    var outputs: [Output]
    var num_cached_tokens: Int

    init(_ r: RequestOutput) {
        request_id = r.requestID
        prompt = r.prompt
        prompt_token_ids = r.promptTokenIDs
        num_cached_tokens = r.numCachedTokens
        prompt_logprobs = r.promptLogprobs?.map { $0.map(logprobEntry) }
        outputs = r.outputs.map { o in
            Output(
                index: o.index, text: o.text, token_ids: o.tokenIDs, cumulative_logprob: o.cumulativeLogprob,
                logprobs: o.logprobs?.map(logprobEntry),
                finish_reason: o.finishReason?.rawValue,
                stop_reason: o.stopReason.map { reason in
                    switch reason {
                    case .token(let id): String(id)
                    case .string(let s): s
                    }
                })
        }
    }
}

/// vLLM's form of one position's logprobs: token id -> logprob, the top ones and the chosen one.
private func logprobEntry(_ position: PositionLogprobs) -> [String: Double] {
    var entry: [String: Double] = [:]
    for t in position.top { entry[String(t.tokenID)] = Double(t.logprob) }
    entry[String(position.chosen.tokenID)] = Double(position.chosen.logprob)
    return entry
}

/// Draws "Loading weights: i/N layers" on standard error while a model loads, when it is a terminal.
func loadProgress() -> ((Int, Int) -> Void)? {
    guard isatty(2) != 0 else { return nil }
    return { done, total in
        FileHandle.standardError.write(Data("\rLoading weights: \(done)/\(total) layers\(done == total ? "\n" : "")".utf8))
    }
}

/// Writes a line to standard error (logs stay out of the JSON on standard output).
func logToStderr(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// One line of compact JSON.
func jsonLine(_ value: some Encodable) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
