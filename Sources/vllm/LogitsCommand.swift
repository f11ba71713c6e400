import ArgumentParser
import Foundation
import SwiftVLLM
import VLLMCore
import VLLMEngine

/// `vllm logits`: the logits of every prompt position for a set of prompts, written as raw float32
/// `[total tokens, vocab]`, to compare a backend with a reference (transformers on the same GPU).
/// `--chunked` runs the prompts the way the engine does: a prefill chunk of half of each prompt,
/// then the rest one token a step, all sequences in one flat batch per step.
struct LogitsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logits", abstract: "Write the logits of every prompt position (raw float32) for backend checks.")

    @OptionGroup var engine: EngineOptions
    @Option(help: "JSON Lines file of {\"prompt_token_ids\": [...]}.") var promptsFile: String
    @Option(help: "Output file: float32 [total prompt tokens, vocab], prompts in file order.") var out: String
    @Flag(help: "Half of each prompt as one chunk, then one token a step.") var chunked = false

    func run() throws {
        let prompts: [[Int]] = try readPromptsFile(promptsFile).map {
            guard case .tokens(let ids) = $0 else { throw ValidationError("logits needs prompt_token_ids") }
            return ids
        }
        let args = try engine.engineArgs()
        let start = Date()
        let loaded = try LoadedModel(args)
        let model = loaded.executor
        let vocab = model.config.vocabSize
        let blockSize = args.blockSize
        var tables: [[Int32]] = []
        var next: Int32 = 0
        for p in prompts {
            let blocks = (p.count + blockSize - 1) / blockSize
            tables.append((0..<blocks).map { next + Int32($0) })
            next += Int32(blocks)
        }
        model.allocateKVCache(numBlocks: Int(next), blockSize: blockSize)
        let loadSeconds = Date().timeIntervalSince(start)
        var logits = [[Float]](repeating: [], count: prompts.count)
        var done = [Int](repeating: 0, count: prompts.count)
        var steps = 0
        while zip(done, prompts).contains(where: { $0 < $1.count }) {
            var chunks: [SequenceChunk] = [], owners: [Int] = []
            for (s, p) in prompts.enumerated() where done[s] < p.count {
                let n = !chunked ? p.count : (done[s] == 0 ? max(1, p.count / 2) : 1)
                chunks.append(
                    SequenceChunk(
                        tokenIDs: p[done[s]..<(done[s] + n)].map(Int32.init), numCached: done[s], blockTable: tables[s]))
                owners.append(s)
            }
            var batch = ForwardBatch(chunks: chunks, blockSize: blockSize)
            batch.logitIndices = (0..<Int32(batch.numTokens)).map { $0 }
            let rows = model.execute(batch)
            for (i, s) in owners.enumerated() {
                let from = Int(batch.queryStart[i]) * vocab, to = Int(batch.queryStart[i + 1]) * vocab
                logits[s] += rows[from..<to]
                done[s] += chunks[i].tokenIDs.count
            }
            steps += 1
        }
        let flat = logits.flatMap { $0 }
        try flat.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: out)) }
        print(
            try jsonLine([
                "backend": model.backendName, "tokens": String(flat.count / vocab), "vocab": String(vocab), "steps": String(steps),
                "load_seconds": String(format: "%.2f", loadSeconds),
            ]))
    }
}
