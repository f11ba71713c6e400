import ArgumentParser
import Foundation
import VLLMCore
import VLLMEngine

/// `vllm bench`: benchmarks of the engine.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmark the engine.", subcommands: [BenchForwardCommand.self])
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
        for run in 0..<(warmup + iterations) {
            let prompts = (0..<batchSize).map { _ in (0..<inputLen).map { _ in Int.random(in: 0..<vocab, using: &random) } }
            let (p, d) = try measure(llm.engine, prompts: prompts, run: run)
            if run >= warmup { prefill.append(p); decode.append(d) }
        }
        let result = Result(
            batch_size: batchSize, input_len: inputLen, output_len: outputLen,
            prefill_tokens_per_s: Double(batchSize * inputLen) / median(prefill),
            decode_tokens_per_s: Double(batchSize * (outputLen - 1)) / median(decode),
            prefill_seconds: median(prefill), decode_seconds: median(decode), threads: ProcessInfo.processInfo.activeProcessorCount)
        if json {
            print(try jsonLine(result))
        } else {
            print(String(format: "prefill: %.1f tokens/s, decode: %.1f tokens/s (batch %d, input %d, output %d)",
                         result.prefill_tokens_per_s, result.decode_tokens_per_s, batchSize, inputLen, outputLen))
        }
    }

    /// Seconds of the prefill step and of the decode steps of one run.
    private func measure(_ engine: EngineCore, prompts: [[Int]], run: Int) throws -> (Double, Double) {
        var params = SamplingParams.greedy(maxTokens: outputLen)
        params.ignoreEOS = true
        for (i, prompt) in prompts.enumerated() {
            try engine.addRequest(id: "bench-\(run)-\(i)", promptTokenIDs: prompt, params: params)
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
    }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
}
