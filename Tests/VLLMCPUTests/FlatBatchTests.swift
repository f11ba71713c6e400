import Testing
import VLLMCore

/// One forward call over a flat batch of several sequences (prefill chunks and decodes together)
/// gives each sequence the logits it gets alone.
@Suite struct FlatBatchTests {
    @Test(arguments: ["llama3", "qwen3", "mistral"])
    func mixedBatchMatchesSequencesAlone(variant: String) throws {
        let folder = TestPaths.fixtureModels + "/" + variant
        let sequences: [[Int]] = [
            (0..<40).map { 3 + ($0 * 7) % 200 },
            (0..<13).map { 5 + ($0 * 11) % 150 },
            (0..<29).map { 9 + ($0 * 5) % 250 },
        ]
        let alone = try DirectRunner(folder: folder, maxLength: 64)
        func aloneLogits(_ tokens: ArraySlice<Int>) -> [Float] { alone.promptLogits(Array(tokens), slot: 7).last! }

        let batched = try DirectRunner(folder: folder, blockSize: 8, maxLength: 64)
        func chunk(_ s: Int, _ range: Range<Int>) -> SequenceChunk {
            SequenceChunk(
                tokenIDs: sequences[s][range].map(Int32.init), numCached: range.lowerBound,
                blockTable: batched.table(s, length: range.upperBound))
        }
        // Step 1: a prefill chunk of sequence 0 and all of sequence 1's prompt but its last token.
        // Step 2: the rest of sequence 0, a decode of sequence 1, all of sequence 2.
        let steps: [[(Int, Range<Int>)]] = [
            [(0, 0..<17), (1, 0..<12)],
            [(0, 17..<40), (1, 12..<13), (2, 0..<29)],
        ]
        for step in steps {
            let logits = batched.model.execute(ForwardBatch(chunks: step.map { chunk($0.0, $0.1) }, blockSize: 8))
            let vocab = batched.model.config.vocabSize
            for (i, (s, range)) in step.enumerated() {
                let got = Array(logits[(i * vocab)..<((i + 1) * vocab)])
                let want = aloneLogits(sequences[s][..<range.upperBound])
                let error = zip(got, want).map { abs($0 - $1) }.max()!
                #expect(error < 1e-4, "sequence \(s) up to \(range.upperBound): max error \(error)")
            }
        }
    }
}
