import Testing
import VLLMCPU
import VLLMCore
import VLLMTestSupport

/// The float64 reference that `vllm-dev kernel-check` measures the CUDA kernels against, checked
/// against the CPU backend (float32) on small random inputs: each operation must agree to 1e-5
/// relative, which validates the reference's semantics (layouts, rotate-half, window, ties) without
/// a GPU.
@Suite struct Float64ReferenceTests {
    let cpu = CPUBackend(keepsBFloat16: false)
    let tolerance = 1e-5

    final class Inputs {
        var rng = SplitMixRandom(seed: 7)
        func random(_ count: Int, scale: Float = 1) -> [Float] {
            (0..<count).map { _ in Float.random(in: -1...1, using: &rng) * scale }
        }
    }

    func tensor(_ values: [Float], _ shape: [Int]) throws -> CPUTensor {
        try cpu.weight([HostTensor(shape: shape, values: values)])
    }

    func doubles(_ x: [Float]) -> [Double] { x.map(Double.init) }

    @Test func rowOperations() throws {
        let inputs = Inputs()
        let (rows, n) = (7, 300)
        let x = inputs.random(rows * n, scale: 3), residual = inputs.random(rows * n, scale: 2)
        let weight = inputs.random(n).map { 1 + $0 / 4 }
        let (xc, rc, wc) = (try tensor(x, [rows, n]), try tensor(residual, [rows, n]), try tensor(weight, [n]))

        let norm = Float64Reference.rmsNorm(doubles(x), weight: doubles(weight), columns: n, eps: Double(Float(1e-5)))
        #expect(Float64Reference.relativeError(cpu.rmsNorm(xc, weight: wc, eps: 1e-5).toArray(), norm) <= tolerance)

        let added = Float64Reference.addRMSNorm(
            doubles(x), residual: doubles(residual), weight: doubles(weight), columns: n, eps: Double(Float(1e-6)))
        let out = cpu.addRMSNorm(xc, residual: rc, weight: wc, eps: 1e-6)
        #expect(Float64Reference.relativeError(out.toArray(), added.out) <= tolerance)
        #expect(Float64Reference.relativeError(rc.toArray(), added.residual) <= tolerance)

        let gate = inputs.random(rows * 2 * 50, scale: 4)
        let silu = Float64Reference.siluAndMul(doubles(gate), columns: 100)
        #expect(Float64Reference.relativeError(cpu.siluAndMul(try tensor(gate, [rows, 100])).toArray(), silu) <= tolerance)
    }

    @Test func matrixProducts() throws {
        let inputs = Inputs()
        for (t, k, m) in [(1, 64, 96), (13, 300, 70), (37, 1000, 129)] {
            let (a, b, bias) = (inputs.random(t * k), inputs.random(m * k, scale: 0.05), inputs.random(m))
            let (ac, bc, biasC) = (try tensor(a, [t, k]), try tensor(b, [m, k]), try tensor(bias, [m]))
            let plain = Float64Reference.linear(doubles(a), weight: doubles(b), bias: nil, inputs: k)
            let biased = Float64Reference.linear(doubles(a), weight: doubles(b), bias: doubles(bias), inputs: k)
            #expect(Float64Reference.relativeError(cpu.linear(ac, weight: bc, bias: nil).toArray(), plain) <= tolerance)
            #expect(Float64Reference.relativeError(cpu.linear(ac, weight: bc, bias: biasC).toArray(), biased) <= tolerance)
            if m % 2 == 0 {
                let swiglu = Float64Reference.swiGLU(doubles(a), gateUp: doubles(b), inputs: k)
                #expect(Float64Reference.relativeError(cpu.swiGLU(ac, gateUp: bc).toArray(), swiglu) <= tolerance)
            }
        }
    }

    /// Rotary, attention (three steps, with the history carried over, GQA, a sliding window) and
    /// the per-head norm, as kernel-check chains them.
    @Test(arguments: [(8, 2, 16, 0), (4, 4, 8, 0), (6, 2, 12, 5)])
    func attention(heads: Int, kvHeads: Int, hd: Int, window: Int) throws {
        let inputs = Inputs()
        let layout = QKVLayout(numHeads: heads, numKVHeads: kvHeads, headDim: hd)
        let cache = cpu.makeKVCache(KVCacheShape(numLayers: 1, numBlocks: 16, blockSize: 4, numKVHeads: kvHeads, headDim: hd))
        let rope = RotaryEmbedding.table(headDim: hd, theta: 10000, scaling: .none, positions: 64).floats()
        let ropeC = try tensor(rope, [64, hd])
        let tables: [[Int32]] = [[3, 9, 1, 4, 0], [7, 2, 5], [11, 12, 13, 14]]
        let steps: [[SequenceChunk]] = [
            [
                SequenceChunk(tokenIDs: Array(repeating: 1, count: 9), numCached: 0, blockTable: tables[0]),
                SequenceChunk(tokenIDs: Array(repeating: 1, count: 3), numCached: 0, blockTable: tables[1]),
            ],
            [
                SequenceChunk(tokenIDs: [1], numCached: 9, blockTable: tables[0]),
                SequenceChunk(tokenIDs: Array(repeating: 1, count: 6), numCached: 3, blockTable: tables[1]),
                SequenceChunk(tokenIDs: Array(repeating: 1, count: 13), numCached: 0, blockTable: tables[2]),
            ],
            [
                SequenceChunk(tokenIDs: [1], numCached: 10, blockTable: tables[0]),
                SequenceChunk(tokenIDs: [1], numCached: 13, blockTable: tables[2]),
            ],
        ]
        let sequences = [[0, 1], [0, 1, 2], [0, 2]]
        var history = Float64Reference.AttentionHistory()
        for (i, chunks) in steps.enumerated() {
            let batch = ForwardBatch(chunks: chunks, blockSize: 4)
            let prepared = cpu.prepare(batch)
            let qkv = inputs.random(batch.numTokens * layout.width, scale: 2)
            let qc = try tensor(qkv, [batch.numTokens, layout.width])
            cpu.rotary(qc, layout: layout, rope: ropeC, batch: prepared)
            let rotated = Float64Reference.rotary(doubles(qkv), layout: layout, rope: doubles(rope), positions: batch.positions)
            #expect(Float64Reference.relativeError(qc.toArray(), rotated) <= tolerance, "rotary step \(i)")

            let scale = 1 / Float(hd).squareRoot()
            let w: Int? = window > 0 ? window : nil
            let expected = Float64Reference.attention(
                rotated, layout: layout, batch: batch, sequences: sequences[i], history: &history, scale: Double(scale),
                slidingWindow: w)
            let got = cpu.attention(qc, layout: layout, cache: cache, layer: 0, batch: prepared, scale: scale, slidingWindow: w)
            #expect(Float64Reference.relativeError(got.toArray(), expected) <= tolerance, "attention step \(i)")

            let (qw, kw) = (inputs.random(hd).map { 1 + $0 / 4 }, inputs.random(hd).map { 1 + $0 / 4 })
            cpu.headRMSNorm(qc, layout: layout, qWeight: try tensor(qw, [hd]), kWeight: try tensor(kw, [hd]), eps: 1e-6)
            let normed = Float64Reference.headRMSNorm(
                rotated, layout: layout, qWeight: doubles(qw), kWeight: doubles(kw), eps: Double(Float(1e-6)))
            #expect(Float64Reference.relativeError(qc.toArray(), normed) <= tolerance, "head_rms_norm step \(i)")
        }
    }

    /// The window must matter: a reference that ignored it would not match the CPU above only by
    /// luck, so check here that attention with and without the window differ.
    @Test func slidingWindowChangesTheResult() {
        let inputs = Inputs()
        let layout = QKVLayout(numHeads: 2, numKVHeads: 1, headDim: 4)
        let batch = ForwardBatch(
            chunks: [SequenceChunk(tokenIDs: Array(repeating: 1, count: 10), numCached: 0, blockTable: [0, 1, 2])], blockSize: 4)
        let qkv = doubles(inputs.random(10 * layout.width))
        var a = Float64Reference.AttentionHistory(), b = Float64Reference.AttentionHistory()
        let full = Float64Reference.attention(
            qkv, layout: layout, batch: batch, sequences: [0], history: &a, scale: 0.5, slidingWindow: nil)
        let windowed = Float64Reference.attention(
            qkv, layout: layout, batch: batch, sequences: [0], history: &b, scale: 0.5, slidingWindow: 3)
        #expect(Array(full[0..<(3 * 8)]) == Array(windowed[0..<(3 * 8)]))
        #expect(Float64Reference.relativeError(windowed.map(Float.init), full) > 1e-3)
    }

    @Test func embeddingGatherAndArgmax() throws {
        let inputs = Inputs()
        let batch = ForwardBatch(
            chunks: [
                SequenceChunk(tokenIDs: [5, 0, 99, 17], numCached: 0, blockTable: [0]),
                SequenceChunk(tokenIDs: [3, 3], numCached: 0, blockTable: [1]),
            ], blockSize: 16)
        let table = inputs.random(100 * 64)
        let prepared = cpu.prepare(batch)
        let rows = cpu.embedding(try tensor(table, [100, 64]), prepared)
        let expected = Float64Reference.embedding(doubles(table), columns: 64, tokenIDs: batch.tokenIDs)
        #expect(Float64Reference.relativeError(rows.toArray(), expected) == 0)
        let gathered = Float64Reference.gatherRows(expected, columns: 64, indices: batch.logitIndices)
        #expect(Float64Reference.relativeError(cpu.gatherLogitRows(rows, batch: prepared).toArray(), gathered) == 0)

        // Ties go to the lowest index.
        var values = inputs.random(3 * 1000, scale: 8)
        for r in [0, 2] { values[r * 1000 + 999] = 9; values[r * 1000 + 333] = 9 }
        let reference = Float64Reference.argmaxRows(doubles(values), rows: 3)
        #expect(reference[0] == 333 && reference[2] == 333)
        #expect(cpu.argmaxRows(try tensor(values, [3, 1000]), rows: 3) == reference)
    }
}
