import ArgumentParser
import Foundation
import VLLMCUDA
import VLLMCore

/// `vllm-dev batch-invariance`: one token's result from the CUDA operations in steps of different
/// shapes, against the same token computed alone, on a backend in batch-invariant mode (or in the
/// default mode with `--default-mode`, where differences are expected). Products: a row alone and
/// among 2 to 2048 others, for Llama-3.1-8B's weight shapes. Attention (Llama-3.1-8B's layout and
/// the fixtures' small heads, with and without a window): the last token of a 300-token sequence as
/// a decode alone (the reference), as a decode beside 255 others, as a decode in a step with a
/// prefill chunk, at the end of its whole prompt, and at the end of the prompt in chunks of 7, also
/// with each step prepared before the device has run the step before (nothing read back between).
/// Prints each case's largest absolute difference (0: bitwise the same); exits 1 when batch-invariant
/// mode has any.
struct BatchInvarianceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch-invariance", abstract: "Check that a token's CUDA results do not depend on its step.")

    @Option(help: "Compute dtype: bfloat16, float16 or float32.") var dtype = "bfloat16"
    @Flag(help: "The default mode instead of batch-invariant mode (differences expected).") var defaultMode = false
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        guard let dtype = DType(configName: dtype) else { throw ValidationError("--dtype: float32, bfloat16 or float16") }
        if let problem = CUDAAvailability.problem() { throw ValidationError("CUDA is not usable: \(problem)") }
        let gpu = try CUDABackend(computeDType: dtype, batchInvariant: !defaultMode)
        // Room for the largest product's output and the SwiGLU after it (2048 x 28672, float32).
        try gpu.reserveActivations(ringBytes: 1 << 30, stepBytes: 16 << 20)
        var rng = SplitMixRandom(seed: 16)
        func random(_ count: Int) -> [Float] { (0..<count).map { _ in Float.random(in: -1...1, using: &rng) } }
        var results: [(name: String, difference: Float)] = []
        func record(_ name: String, _ got: [Float], _ reference: [Float]) {
            let difference = zip(got, reference).map { $0.bitPattern == $1.bitPattern ? 0 : abs($0 - $1) }.max() ?? 0
            // A bitwise difference whose value difference rounds to zero still counts.
            let differs = zip(got, reference).contains { $0.bitPattern != $1.bitPattern }
            results.append((name, differs ? max(difference, .leastNonzeroMagnitude) : 0))
        }
        func newStep() {
            _ = gpu.prepare(ForwardBatch(chunks: [SequenceChunk(tokenIDs: [1], numCached: 0, blockTable: [0])], blockSize: 16))
        }

        for (n, k) in [(6144, 4096), (4096, 4096), (28672, 4096), (4096, 14336)] {
            let weight = try gpu.upload(random(n * k).map { $0 / 16 }, shape: [n, k])
            let rows = random(2048 * k)
            var reference: (linear: [Float], swiGLU: [Float]) = ([], [])
            for tokens in [1, 2, 3, 4, 5, 7, 64, 300, 1024, 2048] {
                let x = try gpu.upload(Array(rows[0..<(tokens * k)]), shape: [tokens, k])
                newStep()
                let linear = Array(gpu.toHost(gpu.linear(x, weight: weight, bias: nil))[0..<n])
                newStep()
                let swiGLU = Array(gpu.toHost(gpu.swiGLU(x, gateUp: weight))[0..<(n / 2)])
                if tokens == 1 { reference = (linear, swiGLU) }
                record("linear \(n)x\(k), row 0 of \(tokens)", linear, reference.linear)
                record("swiglu \(n)x\(k), row 0 of \(tokens)", swiGLU, reference.swiGLU)
            }
        }
        // Products that keep the device busy for a while, so that the host prepares the next steps
        // before the device has run the step before (as when the engine does not wait for a step).
        let busyWeight = try gpu.upload(random(4096 * 4096), shape: [4096, 4096])
        let busyRows = try gpu.upload(random(2048 * 4096), shape: [2048, 4096])
        let busy = { for _ in 0..<4 { _ = gpu.linear(busyRows, weight: busyWeight, bias: nil) } }
        for (heads, kvHeads, hd, window) in [(32, 8, 128, 0), (32, 8, 128, 100), (4, 2, 12, 0), (6, 2, 8, 0)] {
            try attentionCases(
                gpu, QKVLayout(numHeads: heads, numKVHeads: kvHeads, headDim: hd), window: window, random: random, busy: busy,
                record: record)
        }

        let failed = results.filter { $0.difference != 0 }
        if json {
            let object: [String: Any] = [
                "mode": defaultMode ? "default" : "batch-invariant", "dtype": dtype.rawValue, "cases": results.count,
                "differing": Dictionary(failed.map { ($0.name, Double($0.difference)) }, uniquingKeysWith: { a, _ in a }),
                "gemm_algorithms": gpu.invariantGEMMAlgorithms,
            ]
            print(String(data: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), encoding: .utf8)!)
        } else {
            for (name, difference) in results { print("\(difference == 0 ? "same" : "DIFF \(difference)")  \(name)") }
            for algorithm in gpu.invariantGEMMAlgorithms { print("cuBLASLt \(algorithm)") }
            print("\(failed.count) of \(results.count) cases differ from the token alone")
        }
        if !defaultMode && !failed.isEmpty { throw ExitCode(1) }
    }

    /// The attention cases of one layout (see the command's description): sequence 0 is the 300-token
    /// sequence whose last token is checked, its query, key and value rows fixed; others fill steps.
    private func attentionCases(
        _ gpu: CUDABackend, _ layout: QKVLayout, window: Int, random: (Int) -> [Float], busy: () -> Void,
        record: (String, [Float], [Float]) -> Void
    ) throws {
        let length = 300, blockSize = 16, perSequence = (length + blockSize) / blockSize
        let others = 255
        let cache = gpu.makeKVCache(
            KVCacheShape(
                numLayers: 1, numBlocks: (others + 2) * perSequence, blockSize: blockSize, numKVHeads: layout.numKVHeads,
                headDim: layout.headDim))
        func table(_ s: Int) -> [Int32] { (0..<perSequence).map { Int32(s * perSequence + $0) } }
        let target = random(length * layout.width)
        let scale = 1 / Float(layout.headDim).squareRoot()
        let name = "attention h\(layout.numHeads)/\(layout.numKVHeads)x\(layout.headDim)\(window > 0 ? " window \(window)" : "")"
        /// Runs one step of `chunks` (chunk 0: sequence 0's tokens from `first`); returns the output
        /// row of sequence 0's last token in it.
        func step(_ chunks: [SequenceChunk], first: Int) throws -> [Float] {
            let batch = ForwardBatch(chunks: chunks, blockSize: blockSize)
            var qkv = Array(target[(first * layout.width)..<((first + chunks[0].tokenIDs.count) * layout.width)])
            qkv += random((batch.numTokens - chunks[0].tokenIDs.count) * layout.width)
            let rows = try gpu.upload(qkv, shape: [batch.numTokens, layout.width])
            let prepared = gpu.prepare(batch)
            let out = gpu.toHost(
                gpu.attention(
                    rows, layout: layout, cache: cache, layer: 0, batch: prepared, scale: scale, slidingWindow: window > 0 ? window : nil))
            let width = layout.numHeads * layout.headDim, last = chunks[0].tokenIDs.count - 1
            return Array(out[(last * width)..<((last + 1) * width)])
        }
        func prefix(_ count: Int, chunk: Int) throws {
            var done = 0
            while done < count {
                let n = min(chunk, count - done)
                _ = try step([SequenceChunk(tokenIDs: Array(repeating: 1, count: n), numCached: done, blockTable: table(0))], first: done)
                done += n
            }
        }
        let decode = SequenceChunk(tokenIDs: [1], numCached: length - 1, blockTable: table(0))
        // The others' caches hold whatever their own prefill left: 20 to 299 tokens each.
        let otherLengths = (1...others).map { 20 + ($0 * 37) % 280 }
        for group in stride(from: 1, through: others, by: 16) {
            let members = group..<min(others + 1, group + 16)
            let fill = members.map {
                SequenceChunk(tokenIDs: Array(repeating: 1, count: otherLengths[$0 - 1]), numCached: 0, blockTable: table($0))
            }
            // Chunk 0 of a step is sequence 0's: one token of it, rewritten with the same values.
            _ = try step([SequenceChunk(tokenIDs: [1], numCached: 0, blockTable: table(0))] + fill, first: 0)
        }
        try prefix(length - 1, chunk: 512)
        let alone = try step([decode], first: length - 1)
        let beside = [decode] + (1...others).map { SequenceChunk(tokenIDs: [1], numCached: otherLengths[$0 - 1], blockTable: table($0)) }
        record("\(name): decode beside \(others) decodes", try step(beside, first: length - 1), alone)
        record("\(name): decode beside 3 decodes", try step(Array(beside[0..<4]), first: length - 1), alone)
        let prefill = SequenceChunk(tokenIDs: Array(repeating: 1, count: 100), numCached: 0, blockTable: table(others + 1))
        record("\(name): decode in a step with a prefill chunk", try step([decode, prefill], first: length - 1), alone)
        record(
            "\(name): end of the whole prompt",
            try step([SequenceChunk(tokenIDs: Array(repeating: 1, count: length), numCached: 0, blockTable: table(0))], first: 0), alone)
        try prefix(length - 5, chunk: 7)
        record(
            "\(name): end of the prompt in chunks of 7",
            try step(
                [SequenceChunk(tokenIDs: Array(repeating: 1, count: 5), numCached: length - 5, blockTable: table(0))], first: length - 5),
            alone)
        record(
            "\(name): end of the prompt in chunks of 7, steps not waited for",
            try pipelinedChunks(gpu, layout, target: target, chunk: 7, window: window, busy: busy), alone)
    }

    /// The last token's attention output after `target`'s prompt ran in chunks of `chunk` into a
    /// fresh cache, each step prepared while the device may still run the ones before (behind the
    /// `busy` products) and nothing read back in between: what the engine does with steps that
    /// sample nothing. A step that read a later step's inputs leaves keys unwritten or misplaced.
    private func pipelinedChunks(
        _ gpu: CUDABackend, _ layout: QKVLayout, target: [Float], chunk: Int, window: Int, busy: () -> Void
    ) throws -> [Float] {
        let length = target.count / layout.width, blockSize = 16
        let table = (0..<((length + blockSize - 1) / blockSize)).map(Int32.init)
        let cache = gpu.makeKVCache(
            KVCacheShape(
                numLayers: 1, numBlocks: table.count, blockSize: blockSize, numKVHeads: layout.numKVHeads, headDim: layout.headDim))
        // Every chunk's rows are uploaded first: an upload may wait for the device.
        let starts = Array(stride(from: 0, to: length, by: chunk))
        let rows = try starts.map { start in
            let end = min(length, start + chunk)
            return try gpu.upload(Array(target[(start * layout.width)..<(end * layout.width)]), shape: [end - start, layout.width])
        }
        var out: CUDATensor?
        for (start, qkv) in zip(starts, rows) {
            let n = qkv.rows
            let batch = gpu.prepare(
                ForwardBatch(
                    chunks: [SequenceChunk(tokenIDs: Array(repeating: 1, count: n), numCached: start, blockTable: table)],
                    blockSize: blockSize))
            busy()
            out = gpu.attention(
                qkv, layout: layout, cache: cache, layer: 0, batch: batch, scale: 1 / Float(layout.headDim).squareRoot(),
                slidingWindow: window > 0 ? window : nil)
        }
        let width = layout.numHeads * layout.headDim, last = rows.last!.rows - 1
        return Array(gpu.toHost(out!)[(last * width)..<((last + 1) * width)])
    }
}
