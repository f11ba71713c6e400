import Testing
import VLLMCPU
import VLLMCore
import VLLMTestSupport

/// The float64 references of the family and encoder operations (`Float64Families.swift`), which
/// `vllm-dev kernel-check` holds the CUDA kernels to, checked against the CPU backend (float32) to
/// 1e-5 relative, and shown to depend on what they claim (the cap, the rotary width).
@Suite struct Float64FamilyReferenceTests {
    let cpu = CPUBackend(keepsBFloat16: false)
    let tolerance = 1e-5
    let inputs = Float64ReferenceTests.Inputs()

    func tensor(_ values: [Float], _ shape: [Int]) throws -> CPUTensor { try cpu.weight([HostTensor(shape: shape, values: values)]) }

    func doubles(_ x: [Float]) -> [Double] { x.map(Double.init) }

    func error(_ got: CPUTensor, _ expected: [Double]) -> Double { Float64Reference.relativeError(got.toArray(), expected) }

    @Test func elementwiseAndRowOperations() throws {
        let (rows, n) = (7, 300)
        let gate = inputs.random(rows * 2 * n, scale: 4)
        let gated = cpu.geluTanhAndMul(try tensor(gate, [rows, 2 * n]))
        #expect(error(gated, Float64Reference.geluTanhAndMul(doubles(gate), columns: 2 * n)) <= tolerance)
        let x = inputs.random(rows * n, scale: 30)
        let capped = try tensor(x, [rows, n])
        cpu.softCap(capped, cap: 10)
        #expect(error(capped, Float64Reference.softCap(doubles(x), cap: 10)) <= tolerance)
        #expect(Float64Reference.relativeError(x, Float64Reference.softCap(doubles(x), cap: 10)) > 0.1, "the cap bends these values")
        let activated = cpu.gelu(try tensor(x, [rows, n]))
        #expect(error(activated, Float64Reference.gelu(doubles(x))) <= tolerance)
        let residual = inputs.random(rows * n, scale: 2), weight = inputs.random(n).map { 1 + $0 / 4 }, bias = inputs.random(n)
        let (wc, bc) = (try tensor(weight, [n]), try tensor(bias, [n]))
        for r in [nil, residual] {
            let expected = Float64Reference.layerNorm(
                doubles(x), residual: r.map(doubles), weight: doubles(weight), bias: doubles(bias), columns: n, eps: Double(Float(1e-12)))
            let residualTensor = try r.map { try tensor($0, [rows, n]) }
            let got = cpu.layerNorm(try tensor(x, [rows, n]), residual: residualTensor, weight: wc, bias: bc, eps: 1e-12)
            #expect(error(got, expected) <= tolerance)
        }
    }

    /// Gemma's gated MLP input, `geluTanhGLU`: with a dense weight as a tensor and as a
    /// `LinearWeight` (the same values), and with an FP8 weight (the default runs `linear` in the
    /// weight's format, then the activation), against the float64 reference; SwiGLU of the same
    /// inputs lands far from it.
    @Test func geluTanhGatedProducts() throws {
        var rng = SplitMixRandom(seed: 5)
        for (t, k, n) in [(1, 64, 48), (3, 256, 35), (13, 384, 70)] {
            let x = inputs.random(t * k), w = inputs.random(2 * n * k, scale: 0.05)
            let (xc, wc) = (try tensor(x, [t, k]), try tensor(w, [2 * n, k]))
            let expected = Float64Reference.geluTanhGLU(doubles(x), gateUp: doubles(w), inputs: k)
            let fused = cpu.geluTanhGLU(xc, gateUp: wc)
            #expect(error(fused, expected) <= tolerance)
            #expect(error(cpu.swiGLU(xc, gateUp: wc), expected) > 100 * tolerance)
            let dense = try cpu.linearWeight([
                HostLinearWeight(format: .dense, outFeatures: 2 * n, inFeatures: k, tensors: [HostTensor(shape: [2 * n, k], values: w)])
            ])
            #expect(cpu.geluTanhGLU(xc, gateUp: dense).toArray() == fused.toArray())
            let fp8 = QuantizedReference.randomWeight(.fp8(blockColumns: 128), out: 2 * n, inFeatures: k, using: &rng)
            let quantized = Float64Reference.geluTanhGLU(doubles(x), gateUp: QuantizedReference.dequantized(fp8), inputs: k)
            #expect(error(cpu.geluTanhGLU(xc, gateUp: try cpu.linearWeight([fp8])), quantized) <= tolerance)
        }
    }

    @Test func encoderEmbeddingAndBidirectionalAttention() throws {
        let chunks = [3, 1, 9].enumerated().map { s, count in
            SequenceChunk(tokenIDs: (0..<count).map { Int32(($0 * 5 + s) % 20) }, numCached: 0, blockTable: [Int32(s)])
        }
        let batch = ForwardBatch(chunks: chunks, blockSize: 16)
        let prepared = cpu.prepare(batch)
        let (words, places, types) = (inputs.random(20 * 12), inputs.random(16 * 12), inputs.random(2 * 12))
        let embedded = cpu.encoderEmbedding(
            words: try tensor(words, [20, 12]), positions: try tensor(places, [16, 12]), tokenType: try tensor(types, [2, 12]), prepared)
        let expected = Float64Reference.encoderEmbedding(
            words: doubles(words), positionTable: doubles(places), tokenType: doubles(types), columns: 12, tokenIDs: batch.tokenIDs,
            positions: batch.positions)
        #expect(error(embedded, expected) <= tolerance)
        for layout in [QKVLayout(numHeads: 4, numKVHeads: 4, headDim: 9), QKVLayout(numHeads: 4, numKVHeads: 2, headDim: 8)] {
            let qkv = inputs.random(batch.numTokens * layout.width, scale: 2)
            let got = cpu.bidirectionalAttention(
                try tensor(qkv, [batch.numTokens, layout.width]), layout: layout, batch: prepared, scale: 0.3)
            let reference = Float64Reference.bidirectionalAttention(doubles(qkv), layout: layout, queryStart: batch.queryStart, scale: 0.3)
            #expect(error(got, reference) <= tolerance)
        }
    }

    /// Partial rotary and soft-capped attention over two steps, as kernel-check chains them.
    @Test func partialRotaryAndSoftCappedAttention() throws {
        let layout = QKVLayout(numHeads: 4, numKVHeads: 2, headDim: 16)
        let cache = cpu.makeKVCache(KVCacheShape(numLayers: 1, numBlocks: 8, blockSize: 4, numKVHeads: 2, headDim: 16))
        let rope = RotaryEmbedding.table(headDim: 12, theta: 10000, scaling: .none, positions: 32).floats()
        let ropeC = try tensor(rope, [32, 12])
        var history = Float64Reference.AttentionHistory(), uncapped = Float64Reference.AttentionHistory()
        for (i, chunk) in [(9, 0), (1, 9)].enumerated() {
            let batch = ForwardBatch(
                chunks: [SequenceChunk(tokenIDs: Array(repeating: 1, count: chunk.0), numCached: chunk.1, blockTable: [2, 5, 7])],
                blockSize: 4)
            let qkv = inputs.random(batch.numTokens * layout.width, scale: 3)
            let rotated = Float64Reference.rotary(
                doubles(qkv), layout: layout, rope: doubles(rope), positions: batch.positions, rotaryDim: 12)
            let full = Float64Reference.rotary(
                doubles(qkv), layout: layout,
                rope: doubles(RotaryEmbedding.table(headDim: 16, theta: 10000, scaling: .none, positions: 32).floats()),
                positions: batch.positions)
            if i == 1 { #expect(rotated != full, "partial rotary leaves the last 4 values of each head") }
            let expected = Float64Reference.attention(
                rotated, layout: layout, batch: batch, sequences: [0], history: &history, scale: 0.25, slidingWindow: nil, softCap: 2)
            let plain = Float64Reference.attention(
                rotated, layout: layout, batch: batch, sequences: [0], history: &uncapped, scale: 0.25, slidingWindow: nil)
            let qc = try tensor(qkv, [batch.numTokens, layout.width])
            let got = cpu.rotaryAttention(
                qc, layout: layout, rope: ropeC, cache: cache, layer: 0, batch: cpu.prepare(batch), scale: 0.25, slidingWindow: nil,
                logitSoftCap: 2)
            #expect(error(qc, rotated) <= tolerance, "rotary step \(i)")
            #expect(error(got, expected) <= tolerance, "attention step \(i)")
            #expect(Float64Reference.relativeError(got.toArray(), plain) > 1e-3, "the cap matters at step \(i)")
        }
    }
}
