import ArgumentParser
import Foundation
import SwiftVLLM
import VLLMClient
import VLLMCore
import VLLMEngine

/// `vllm bench`: benchmarks of the engine.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmark the engine.",
        subcommands: [
            BenchServeCommand.self, BenchThroughputCommand.self, BenchLatencyCommand.self, BenchForwardCommand.self,
        ])
}

/// `vllm bench forward`: prefill and decode speed of a static batch through the engine: B random
/// prompts of L tokens, all prefilled in one step, then N - 1 decode steps.
struct BenchForwardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward", abstract: "Prefill and decode tokens per second of a static batch.")

    @OptionGroup var engine: EngineOptions
    @Option var batchSize = 1
    @Option var inputLen = 128
    @Option var outputLen = 64
    @Option(help: "Untimed runs before the measured one.") var warmup = 1
    @Option(help: "Measured runs; the median is reported.") var iterations = 3
    @Flag(
        help:
            "Make each prompt repeat itself: the random prompt, the model's own greedy continuation of it, then the prompt again (a workload for speculative decoding, where the continuation repeats the prompt)."
    )
    var selfRepeat = false
    @Option(
        help:
            "With --self-repeat: times the continuation is remade, each time as the model's greedy continuation of the random prompt, the last continuation and the prompt again; the continuation then comes to repeat itself (a closer fixed point, a higher acceptance)."
    )
    var selfRepeatRounds = 1
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        var args = try engine.engineArgs()
        args.maxNumBatchedTokens = max(args.maxNumBatchedTokens ?? 0, batchSize * inputLen, 2048)
        args.maxNumSeqs = max(args.maxNumSeqs, batchSize)
        args.enablePrefixCaching = false
        let llm = try LLM(args: args)
        let vocab = llm.folder.config.vocabSize
        var random = SystemRandomNumberGenerator()
        var prefill: [Double] = [], decode: [Double] = []
        var speculative = SpeculativeStats()
        for run in 0..<(warmup + iterations) {
            var prompts = (0..<batchSize).map { _ in (0..<inputLen).map { _ in Int.random(in: 0..<vocab, using: &random) } }
            if selfRepeat { prompts = try selfRepeating(prompts, llm: llm) }
            let before = llm.engine.stats.speculative
            let (p, d) = try measure(llm.engine, prompts: prompts, run: run)
            if run >= warmup {
                prefill.append(p)
                decode.append(d)
                speculative.add(llm.engine.stats.speculative.since(before))
            }
        }
        let result = Result(
            batch_size: batchSize, input_len: inputLen, output_len: outputLen,
            prefill_tokens_per_s: Double(batchSize * (selfRepeat ? 2 * inputLen + outputLen : inputLen)) / median(prefill),
            decode_tokens_per_s: Double(batchSize * (outputLen - 1)) / median(decode),
            prefill_seconds: median(prefill), decode_seconds: median(decode), threads: ProcessInfo.processInfo.activeProcessorCount,
            spec_acceptance_rate: speculative.acceptanceRate, spec_mean_accepted_length: speculative.meanAcceptedLength,
            kv_cache_blocks: llm.engine.config.numBlocks, kv_cache_dtype: llm.engine.config.kvCacheFormat.dtype.rawValue)
        if json {
            print(try jsonLine(result))
        } else {
            print(
                String(
                    format: "prefill: %.1f tokens/s, decode: %.1f tokens/s (batch %d, input %d, output %d)",
                    result.prefill_tokens_per_s, result.decode_tokens_per_s, batchSize, inputLen, outputLen))
            if let line = specDecodingLine(speculative) { print(line) }
        }
    }

    /// Each random prompt P as P + C + P, where C is the model's greedy continuation of P, or with
    /// more rounds of P + (the previous C) + P.
    private func selfRepeating(_ prompts: [[Int]], llm: LLM) throws -> [[Int]] {
        var inputs = prompts
        for _ in 0..<max(1, selfRepeatRounds) {
            let continuations = try llm.generate(inputs.map(Prompt.tokens), greedy(), showProgress: false)
            inputs = zip(prompts, continuations).map { $0 + $1.outputs[0].tokenIDs + $0 }
        }
        return inputs
    }

    /// Greedy sampling of `outputLen` tokens, EOS ignored.
    private func greedy() -> SamplingParams {
        var params = SamplingParams.greedy(maxTokens: outputLen)
        params.ignoreEOS = true
        return params
    }

    /// Seconds of the prefill step and of the decode steps of one run.
    private func measure(_ engine: EngineCore, prompts: [[Int]], run: Int) throws -> (Double, Double) {
        for (i, prompt) in prompts.enumerated() {
            try engine.addRequest(id: "bench-\(run)-\(i)", promptTokenIDs: prompt, params: greedy())
        }
        let start = DispatchTime.now().uptimeNanoseconds
        _ = engine.step()
        let prefilled = DispatchTime.now().uptimeNanoseconds
        while engine.hasUnfinishedRequests { _ = engine.step() }
        let end = DispatchTime.now().uptimeNanoseconds
        return (Double(prefilled - start) / 1e9, Double(end - prefilled) / 1e9)
    }

    struct Result: Encodable {
        var batch_size: Int, input_len: Int, output_len: Int
        var prefill_tokens_per_s: Double, decode_tokens_per_s: Double
        var prefill_seconds: Double, decode_seconds: Double
        var threads: Int
        /// Speculative decoding in the measured runs (0 without it).
        var spec_acceptance_rate: Double, spec_mean_accepted_length: Double
        /// The KV cache the engine sized at start: blocks and `--kv-cache-dtype`.
        var kv_cache_blocks: Int, kv_cache_dtype: String
    }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
}

/// vLLM's `random` dataset: prompt and output lengths drawn uniformly within `range_ratio` of the
/// given lengths, prompts made of consecutive token ids from a random offset.
struct RandomDataset {
    var inputLen: Int
    var outputLen: Int
    var rangeRatio: Double
    var seed: UInt64

    func requests(count: Int, vocabSize: Int) -> [(prompt: [Int], outputLen: Int)] {
        var random = SplitMixRandom(seed: seed)
        func length(_ center: Int) -> Int {
            let low = max(1, Int((Double(center) * (1 - rangeRatio)).rounded(.down)))
            let high = max(low, Int((Double(center) * (1 + rangeRatio)).rounded(.down)))
            return Int.random(in: low...high, using: &random)
        }
        return (0..<count).map { i in
            let n = length(inputLen)
            let offset = Int.random(in: 0..<vocabSize, using: &random)
            return ((0..<n).map { (offset + i + $0) % vocabSize }, length(outputLen))
        }
    }
}

/// `vllm bench throughput`: offline throughput over the random dataset or a request file, as vLLM prints it.
struct BenchThroughputCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "throughput", abstract: "Offline throughput.")

    @OptionGroup var engine: EngineOptions
    @Option(help: "Only 'random' is supported.") var datasetName = "random"
    @Option var inputLen = 1024
    @Option var outputLen = 128
    @Option(help: "Requests of the random dataset (default 1000); with --dataset-path, the first N of the file (default all).")
    var numPrompts: Int?
    @Option(help: "JSON Lines file, one request a line: {\"prompt_token_ids\": [...], \"output_len\": N}; replaces the random dataset.")
    var datasetPath: String?
    @Option(name: [.customLong("random-range-ratio"), .customLong("range-ratio")]) var rangeRatio = 0.0
    @Option var n = 1
    @Option var seed: UInt64 = 0
    @Option(help: "Write the results as JSON to this file.") var outputJson: String?

    func run() throws {
        guard datasetName == "random" else { throw ValidationError("--dataset-name: only 'random' is supported") }
        guard (0..<1).contains(rangeRatio) else { throw ValidationError("--random-range-ratio must be in [0, 1)") }
        // Read the file before loading the model so that a bad line fails at once.
        var fileRequests: [(prompt: [Int], outputLen: Int)]?
        if let datasetPath {
            let all = try readThroughputDataset(datasetPath)
            let count = numPrompts ?? all.count
            guard count <= all.count else {
                throw ValidationError("--num-prompts \(count): \(datasetPath) has only \(all.count) requests")
            }
            fileRequests = Array(all.prefix(count))
        }
        let llm = try LLM(args: engine.engineArgs())
        let requests =
            fileRequests
            ?? RandomDataset(inputLen: inputLen, outputLen: outputLen, rangeRatio: rangeRatio, seed: seed)
            .requests(count: numPrompts ?? 1000, vocabSize: llm.folder.config.vocabSize)
        let params = requests.map { request -> SamplingParams in
            var p = SamplingParams()
            p.n = n
            p.temperature = 1
            p.topP = 1
            p.ignoreEOS = true
            p.maxTokens = request.outputLen
            return p
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let outputs = try llm.generate(requests.map { .tokens($0.prompt) }, params: params)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let promptTokens = requests.reduce(0) { $0 + $1.prompt.count }
        let outputTokens = outputs.reduce(0) { $0 + $1.outputs.reduce(0) { $0 + $1.tokenIDs.count } }
        print(
            String(
                format: "Throughput: %.2f requests/s, %.2f total tokens/s, %.2f output tokens/s",
                Double(requests.count) / seconds, Double(promptTokens + outputTokens) / seconds, Double(outputTokens) / seconds))
        print("Total num prompt tokens:  \(promptTokens)")
        print("Total num output tokens:  \(outputTokens)")
        if let line = specDecodingLine(llm.engine.stats.speculative) { print(line) }
        if let outputJson {
            let result: [String: Any] = specDecodingJSON(llm.engine.stats.speculative).merging([
                "elapsed_time": seconds, "num_requests": requests.count, "total_num_tokens": promptTokens + outputTokens,
                "requests_per_second": Double(requests.count) / seconds,
                "tokens_per_second": Double(promptTokens + outputTokens) / seconds,
                "output_tokens_per_second": Double(outputTokens) / seconds,
                "kv_cache_blocks": llm.engine.config.numBlocks, "kv_cache_dtype": llm.engine.config.kvCacheFormat.dtype.rawValue,
            ]) { $1 }
            try writeJSON(result, to: outputJson)
        }
    }
}

/// Reads a request list written by scripts/gpu/make_dataset.py, so that another engine can run the
/// very same requests; an error names the line.
func readThroughputDataset(_ path: String) throws -> [(prompt: [Int], outputLen: Int)] {
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
        throw ValidationError("\(path): cannot read the file")
    }
    var requests: [(prompt: [Int], outputLen: Int)] = []
    for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
    where !line.trimmingCharacters(in: .whitespaces).isEmpty {
        let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        guard let ids = object?["prompt_token_ids"] as? [Int], !ids.isEmpty, ids.allSatisfy({ $0 >= 0 }),
            let outputLen = object?["output_len"] as? Int, outputLen >= 1
        else {
            throw ValidationError(
                "\(path):\(number + 1): expected {\"prompt_token_ids\": [non-negative ints, at least one], \"output_len\": int >= 1}")
        }
        requests.append((ids, outputLen))
    }
    guard !requests.isEmpty else { throw ValidationError("\(path): no requests") }
    return requests
}

/// `vllm bench latency`: end-to-end latency of one static batch, as vLLM prints it.
struct BenchLatencyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "latency", abstract: "Latency of a batch.")

    @OptionGroup var engine: EngineOptions
    @Option var inputLen = 32
    @Option var outputLen = 128
    @Option var batchSize = 8
    @Option var n = 1
    @Option var numItersWarmup = 10
    @Option var numIters = 30
    @Option(help: "Write the results as JSON to this file.") var outputJson: String?

    func run() throws {
        let llm = try LLM(args: engine.engineArgs())
        let vocab = llm.folder.config.vocabSize
        var random = SplitMixRandom(seed: 0)
        let prompts = (0..<batchSize).map { _ in Prompt.tokens((0..<inputLen).map { _ in Int.random(in: 0..<vocab, using: &random) }) }
        var params = SamplingParams()
        params.n = n
        params.temperature = 1
        params.ignoreEOS = true
        params.maxTokens = outputLen
        func once() throws -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try llm.generate(prompts, params, showProgress: false)
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        for _ in 0..<numItersWarmup { _ = try once() }
        let latencies = try (0..<numIters).map { _ in try once() }
        let average = latencies.reduce(0, +) / Double(max(1, latencies.count))
        print("Avg latency: \(average) seconds")
        var percentiles: [String: Double] = [:]
        for p in [10, 25, 50, 75, 90, 99] {
            let value = percentile(latencies, Double(p))
            percentiles[String(p)] = value
            print("\(p)% percentile latency: \(value) seconds")
        }
        if let line = specDecodingLine(llm.engine.stats.speculative) { print(line) }
        if let outputJson {
            let result: [String: Any] = ["avg_latency": average, "latencies": latencies, "percentiles": percentiles]
            try writeJSON(result.merging(specDecodingJSON(llm.engine.stats.speculative)) { $1 }, to: outputJson)
        }
    }
}

/// vLLM's speculative decoding log line (`SpecDecoding metrics: ...`), nil when nothing was drafted.
func specDecodingLine(_ stats: SpeculativeStats) -> String? {
    guard stats.numDrafts > 0 else { return nil }
    let perPosition = stats.acceptedPerPosition.map { String(format: "%.3f", Double($0) / Double(stats.numDrafts)) }
    return String(
        format: "SpecDecoding metrics: Mean acceptance length: %.2f, Accepted: %d tokens, Drafted: %d tokens, "
            + "Per-position acceptance rate: %@, Avg Draft acceptance rate: %.1f%%",
        stats.meanAcceptedLength, stats.numAcceptedTokens, stats.numDraftTokens, perPosition.joined(separator: ", "),
        100 * stats.acceptanceRate)
}

/// The speculative decoding figures of `--output-json` (empty when nothing was drafted).
func specDecodingJSON(_ stats: SpeculativeStats) -> [String: Any] {
    guard stats.numDrafts > 0 else { return [:] }
    return [
        "spec_acceptance_rate": stats.acceptanceRate, "spec_mean_accepted_length": stats.meanAcceptedLength,
        "spec_num_drafts": stats.numDrafts, "spec_num_draft_tokens": stats.numDraftTokens,
        "spec_num_accepted_tokens": stats.numAcceptedTokens,
    ]
}

func writeJSON(_ object: [String: Any], to path: String) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    try data.write(to: URL(fileURLWithPath: path))
}
