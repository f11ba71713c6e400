import Foundation
import VLLMCore
import VLLMTokenizers

/// A prompt: text (tokenized with the model's tokenizer) or token ids.
public enum Prompt: Sendable, Equatable {
    case text(String)
    case tokens([Int])
}

/// The offline API, like vLLM's `LLM`: load a model once, then generate for many prompts at once
/// through continuous batching.
public final class LLM {
    /// The engine core that runs the requests.
    public let engine: EngineCore
    /// The loaded model folder.
    public let folder: ModelFolder
    /// The model's tokenizer, when the folder has one (text prompts and output text need it).
    public let tokenizer: Tokenizer?
    private var nextID = 0

    /// Loads `args.model` (the built-in model when nil) and its tokenizer on one of `platforms`
    /// (`args.device` says which); `progress` hears of each layer loaded (done, total).
    public init(args: EngineArgs = EngineArgs(), platforms: [any Platform], progress: ((Int, Int) -> Void)? = nil) throws {
        let loaded = try LoadedModel(args, platforms: platforms, progress: progress)
        folder = loaded.folder
        tokenizer = try loadTokenizer(loaded.folder, override: args.tokenizer)
        engine = try EngineCore(
            executor: loaded.executor, config: loaded.coreConfig, eosTokenIDs: loaded.eosTokenIDs,
            textDecoder: tokenizer.map(textDecoderFactory),
            grammarCompiler: tokenizer.map {
                makeGrammarCompiler($0, eosTokenIDs: loaded.eosTokenIDs, options: args.structuredOutputs.grammarOptions)
            },
            draftExecutor: loaded.draftExecutor, eagle3Head: loaded.eagle3Head)
    }

    /// One line saying what was loaded, for logs.
    public var summary: String {
        let c = engine.config
        return
            "\(folder.config.architecture) from \(folder.path): weights \(c.weightBytes >> 20) MiB, \(c.numBlocks) KV cache blocks of \(c.blockSize) tokens "
            + "(\(c.numBlocks * c.blockSize) tokens, \(c.kvCacheFormat.summary)), max_model_len \(c.scheduler.maxModelLength)"
            + (engine.graphsRecorded > 0
                ? String(format: ", %d CUDA graphs recorded in %.2f s", engine.graphsRecorded, engine.graphRecordingSeconds) : "")
            + (c.speculative.map { ", speculative decoding: \($0.summary)" } ?? "")
    }

    /// Generates for every prompt and returns the outputs in prompt order. All requests are checked
    /// before any runs, so a bad one fails the call without starting the others.
    public func generate(_ prompts: [Prompt], _ params: SamplingParams, showProgress: Bool = true) throws -> [RequestOutput] {
        try generate(prompts, params: Array(repeating: params, count: prompts.count), showProgress: showProgress)
    }

    /// Generates with per-prompt sampling parameters.
    public func generate(_ prompts: [Prompt], params: [SamplingParams], showProgress: Bool = true) throws -> [RequestOutput] {
        precondition(prompts.count == params.count, "one SamplingParams per prompt")
        let tokenized = try prompts.map(tokens)
        for p in params { try p.validate() }
        var collector = OutputCollector()
        var ids: [String] = []
        do {
            for (i, prompt) in prompts.enumerated() {
                let id = String(nextID)
                nextID += 1
                let text: String? = if case .text(let t) = prompt { t } else { nil }
                collector.register(
                    id: id, prompt: text, promptTokenIDs: tokenized[i], n: params[i].n, wantsLogprobs: params[i].logprobs != nil)
                try engine.addSamples(id: id, promptTokenIDs: tokenized[i], params: params[i])
                ids.append(id)
            }
        } catch {
            abortAll(ids: ids, params: params)
            throw error
        }
        var results: [String: RequestOutput] = [:]
        let progress = ProgressBar(total: prompts.count, enabled: showProgress)
        while engine.hasUnfinishedRequests {
            for update in engine.step() {
                if let output = collector.apply(update), output.finished {
                    results[output.requestID] = output
                    progress.advance()
                }
            }
        }
        progress.finish()
        return ids.map { results[$0]! }
    }

    private func abortAll(ids: [String], params: [SamplingParams]) {
        for (i, id) in ids.enumerated() {
            for sample in OutputCollector.sampleIDs(id, n: params[i].n) { engine.abort(sample) }
        }
    }

    func tokens(_ prompt: Prompt) throws -> [Int] {
        switch prompt {
        case .tokens(let ids): return ids
        case .text(let text):
            guard let tokenizer else { throw EngineError.invalidPrompt("the model folder has no tokenizer.json; give token ids") }
            return tokenizer.encode(text)
        }
    }
}

/// A one-line progress bar on standard error, drawn only when it is a terminal.
final class ProgressBar {
    private let total: Int
    private let enabled: Bool
    private var done = 0
    private let start = Date()

    init(total: Int, enabled: Bool) {
        self.total = total
        self.enabled = enabled && isatty(2) != 0
    }

    func advance() {
        done += 1
        draw()
    }

    private func draw() {
        guard enabled else { return }
        let width = 30
        let filled = total == 0 ? width : width * done / total
        let elapsed = Date().timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let bar = String(repeating: "█", count: filled) + String(repeating: " ", count: width - filled)
        FileHandle.standardError.write(
            "\rProcessed prompts: \(done)/\(total) |\(bar)| \(String(format: "%.2f", rate)) it/s".data(using: .utf8)!)
    }

    func finish() {
        if enabled { FileHandle.standardError.write("\n".data(using: .utf8)!) }
    }
}
