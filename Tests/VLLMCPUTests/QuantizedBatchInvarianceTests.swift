import Testing
import VLLMCPU
import VLLMCore
import VLLMTestSupport

/// `--batch-invariant` on the CPU with quantized weights: a decode token's logits are bitwise the
/// same whether its step holds it alone or beside one or four other sequences' tokens. Without the
/// mode they are not: steps of 1 to 3 tokens (4 for packed formats) take the decode kernels, larger
/// ones the dequantized tiles, which sum in another order (this test failed for all five formats
/// before the mode sent every step through the tiles).
@Suite struct QuantizedBatchInvarianceTests {
    static let models = [
        "Tests/Fixtures/gguf/tiny-llama-mixed.gguf", "Tests/Fixtures/quantized/gptq-int4-actorder",
        "Tests/Fixtures/quantized/awq-int4", "Tests/Fixtures/quantized/fp8-block", "Tests/Fixtures/quantized/gptq-int8-channel",
    ]

    @Test(arguments: models)
    func decodeLogitsAreTheSameAloneAndInABatch(model: String) throws {
        try Self.checkDecodeLogits(model, backend: CPUBackend(keepsBFloat16: false, batchInvariant: true))
    }

    /// A decode token's logits alone, beside one and beside four other sequences' tokens.
    static func checkDecodeLogits(_ model: String, backend: CPUBackend) throws {
        let runner = try DirectRunner(folder: RepositoryFiles.path(model), maxSequences: 5, maxLength: 64, backend: backend)
        let vocab = runner.model.config.vocabSize
        let prompts = Self.mixedPrompts(count: 5, vocabulary: vocab)
        for (s, prompt) in prompts.enumerated() {
            let chunk = SequenceChunk(tokenIDs: prompt.map(Int32.init), numCached: 0, blockTable: runner.table(s, length: prompt.count))
            _ = runner.model.execute(ForwardBatch(chunks: [chunk], blockSize: runner.blockSize))
        }
        func decode(_ sequences: [Int]) -> [Float] {
            let chunks = sequences.map { s in
                SequenceChunk(tokenIDs: [7], numCached: prompts[s].count, blockTable: runner.table(s, length: prompts[s].count + 1))
            }
            return Array(runner.model.execute(ForwardBatch(chunks: chunks, blockSize: runner.blockSize)).prefix(vocab))
        }
        let alone = decode([0])
        #expect(decode([0, 1, 2, 3, 4]) == alone, "\(model): sequence 0's logits beside four others")
        #expect(decode([0, 1]) == alone, "\(model): sequence 0's logits beside one other")
    }

    /// 8-bit activations (GGUF blocks, packed integers) serve every step in an order of the token's
    /// own, so the mode takes them, and a token's logits stay bitwise the same alone and in a batch.
    @Test(
        .enabled(if: CPUBackend(quantizedActivations: .int8).quantizedActivations == .int8, "int8 activations need x86-64"),
        arguments: [
            "Tests/Fixtures/gguf/tiny-llama-mixed.gguf", "Tests/Fixtures/quantized/gptq-int4-actorder",
            "Tests/Fixtures/quantized/awq-int4", "Tests/Fixtures/quantized/gptq-int8-channel",
        ])
    func int8ActivationsAreInvariant(model: String) throws {
        var options = ModelLoadOptions(maxModelLength: 64, maxNumBatchedTokens: 64)
        options.batchInvariant = true
        options.quantizedActivations = .int8
        let config = try ModelFolder(path: RepositoryFiles.path(model)).config
        let backends = try CPUPlatform().makeBackends(config: config, options)
        #expect(backends.allSatisfy { $0.batchInvariant && $0.quantizedActivations == .int8 })
        try Self.checkDecodeLogits(model, backend: backends[0])
    }

    /// Five prompts of 5 to 20 tokens below `vocabulary`.
    static func mixedPrompts(count: Int, vocabulary: Int) -> [[Int]] {
        var random = SplitMixRandom(seed: 3)
        return (0..<count).map { _ in (0..<(5 + Int(random.next() % 16))).map { _ in 1 + Int(random.next() % UInt64(vocabulary - 1)) } }
    }
}
