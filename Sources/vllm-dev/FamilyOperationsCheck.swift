import VLLMCPU
import VLLMCUDA
import VLLMCore
import VLLMTestSupport

/// The Gemma/Phi-3 family and encoder (BERT) part of `vllm-dev kernel-check`: GeGLU, soft-capping,
/// scaling, the erf GELU, LayerNorm (with and without a residual), the encoder embedding,
/// bidirectional attention, partial rotary (alone and with the cache write) and soft-capped paged
/// attention through every attention kernel (CUDA-core, WMMA, flash_prefill with 8 and 4 warps, the
/// decode kernel, split-KV steps), each against float64 (`Float64Families.swift`); the CPU
/// backend's error beside it as `<name> cpu-vs-f64`.
struct FamilyOperationsCheck {
    let gpu: CUDABackend
    let cpu: CPUBackend
    let round: (Float) -> Float
    var rng = SplitMixRandom(seed: 131)
    private(set) var results: [(String, Double)] = []

    init(gpu: CUDABackend, cpu: CPUBackend, round: @escaping (Float) -> Float) {
        self.gpu = gpu
        self.cpu = cpu
        self.round = round
    }

    /// (name, relative error) of each case.
    mutating func run() throws -> [(String, Double)] {
        try rowOperations()
        try encoderOperations()
        for (heads, kvHeads, hd, rotaryDim) in [(4, 2, 16, 12), (8, 4, 96, 32), (8, 2, 128, 96)] {
            try cachedAttention(QKVLayout(numHeads: heads, numKVHeads: kvHeads, headDim: hd), rotaryDim: rotaryDim, window: nil, cap: nil)
        }
        // Gemma 2's fixture shape (head size 12, window 7), Gemma-2-2B's (8/4 heads of 256), and the
        // decode and flash_prefill kernels' head sizes, all soft-capped.
        for (heads, kvHeads, hd, window) in [(4, 2, 12, 7), (8, 4, 256, 0), (16, 8, 128, 0), (8, 2, 64, 50)] {
            try cachedAttention(
                QKVLayout(numHeads: heads, numKVHeads: kvHeads, headDim: hd), rotaryDim: hd, window: window > 0 ? window : nil, cap: 3)
        }
        return results
    }

    private mutating func random(_ count: Int, scale: Float = 1) -> [Float] {
        (0..<count).map { _ in round(Float.random(in: -1...1, using: &rng) * scale) }
    }

    private func pair(_ values: [Float], _ shape: [Int]) throws -> (CPUTensor, CUDATensor) {
        (try cpu.weight([HostTensor(shape: shape, values: values)]), try gpu.upload(values, shape: shape))
    }

    private func doubles(_ x: [Float]) -> [Double] { x.map(Double.init) }

    private mutating func check(_ name: String, _ expected: [Double], _ c: CPUTensor?, _ g: CUDATensor) {
        results.append((name, Float64Reference.relativeError(gpu.toHost(g), expected)))
        if let c { results.append(("\(name) cpu-vs-f64", Float64Reference.relativeError(c.toArray(), expected))) }
    }

    /// GeGLU (both kernel paths), soft-capping and scaling in place, the erf GELU.
    private mutating func rowOperations() throws {
        _ = gpu.prepare(ForwardBatch(chunks: [SequenceChunk(tokenIDs: [1], numCached: 0, blockTable: [0])], blockSize: 16))
        let rows = 37
        for width in [600, 1024] {
            let values = random(rows * width, scale: 4)
            let (c, g) = try pair(values, [rows, width])
            check(
                "gelu_tanh_and_mul \(rows)x\(width)", Float64Reference.geluTanhAndMul(doubles(values), columns: width),
                cpu.geluTanhAndMul(c), gpu.geluTanhAndMul(g))
        }
        let logits = random(5 * 1000, scale: 40)
        let (lc, lg) = try pair(logits, [5, 1000])
        cpu.softCap(lc, cap: 10)
        gpu.softCap(lg, cap: 10)
        check("soft_cap 5x1000 cap 10", Float64Reference.softCap(doubles(logits), cap: 10), lc, lg)
        let embedded = random(rows * 44, scale: 1)
        let (ec, eg) = try pair(embedded, [rows, 44])
        let factor = Float(44.0.squareRoot())
        cpu.scale(ec, by: factor)
        gpu.scale(eg, by: factor)
        // The kernel multiplies by the factor rounded to the compute dtype (Gemma's normalizer);
        // the CPU (float32) by the factor itself.
        check("scale \(rows)x44", doubles(embedded).map { $0 * Double(round(factor)) }, nil, eg)
        results.append(
            ("scale \(rows)x44 cpu-vs-f64", Float64Reference.relativeError(ec.toArray(), doubles(embedded).map { $0 * Double(factor) })))
        let x = random(rows * 1000, scale: 4)
        let (xc, xg) = try pair(x, [rows, 1000])
        check("gelu \(rows)x1000", Float64Reference.gelu(doubles(x)), cpu.gelu(xc), gpu.gelu(xg))
    }

    /// LayerNorm, the encoder embedding and bidirectional attention.
    private mutating func encoderOperations() throws {
        for (rows, n) in [(37, 1000), (9, 36)] {
            let x = random(rows * n, scale: 3), residual = random(rows * n, scale: 2)
            let weight = random(n).map { round(1 + $0 / 4) }, bias = random(n, scale: 0.5)
            let (xc, xg) = try pair(x, [rows, n])
            let (rc, rg) = try pair(residual, [rows, n])
            let (wc, wg) = try pair(weight, [n])
            let (bc, bg) = try pair(bias, [n])
            for withResidual in [false, true] {
                let expected = Float64Reference.layerNorm(
                    doubles(x), residual: withResidual ? doubles(residual) : nil, weight: doubles(weight), bias: doubles(bias),
                    columns: n, eps: Double(Float(1e-12)))
                check(
                    "layer_norm\(withResidual ? "+residual" : "") \(rows)x\(n)", expected,
                    cpu.layerNorm(xc, residual: withResidual ? rc : nil, weight: wc, bias: bc, eps: 1e-12),
                    gpu.layerNorm(xg, residual: withResidual ? rg : nil, weight: wg, bias: bg, eps: 1e-12))
            }
        }
        // Sequences of 1, 7, 30, 63 and 200 tokens (the BERT fixture's lengths and a longer one).
        let lengths = [1, 7, 30, 63, 200]
        let chunks = lengths.enumerated().map { s, n in
            SequenceChunk(
                tokenIDs: (0..<n).map { Int32(($0 * 7 + s) % 100) }, numCached: 0,
                blockTable: (0..<((n + 15) / 16)).map { Int32(s * 16 + $0) })
        }
        let batch = ForwardBatch(chunks: chunks, blockSize: 16)
        let (bc, bg) = (cpu.prepare(batch), gpu.prepare(batch))
        let hidden = 64
        let words = random(100 * hidden), places = random(256 * hidden), types = random(2 * hidden)
        let (wc, wg) = try pair(words, [100, hidden])
        let (pc, pg) = try pair(places, [256, hidden])
        let (tc, tg) = try pair(types, [2, hidden])
        check(
            "encoder_embedding",
            Float64Reference.encoderEmbedding(
                words: doubles(words), positionTable: doubles(places), tokenType: doubles(types), columns: hidden,
                tokenIDs: batch.tokenIDs, positions: batch.positions),
            cpu.encoderEmbedding(words: wc, positions: pc, tokenType: tc, bc),
            gpu.encoderEmbedding(words: wg, positions: pg, tokenType: tg, bg))
        for (heads, kvHeads, hd) in [(4, 4, 9), (12, 12, 32), (8, 2, 64)] {
            let layout = QKVLayout(numHeads: heads, numKVHeads: kvHeads, headDim: hd)
            let qkv = random(batch.numTokens * layout.width, scale: 2)
            let (qc, qg) = try pair(qkv, [batch.numTokens, layout.width])
            let scale = 1 / Float(hd).squareRoot()
            check(
                "bidirectional_attention h\(heads)/\(kvHeads)x\(hd)",
                Float64Reference.bidirectionalAttention(doubles(qkv), layout: layout, queryStart: batch.queryStart, scale: Double(scale)),
                cpu.bidirectionalAttention(qc, layout: layout, batch: bc, scale: scale),
                gpu.bidirectionalAttention(qg, layout: layout, batch: bg, scale: scale))
        }
    }

    /// Rotary embedding (partial where `rotaryDim` < head size) with the cache write, then paged
    /// attention (soft-capped with `cap`), over three steps: prefill chunks of three sequences, a
    /// mixed step, and decodes only (split over the keys); 16-bit steps through every kernel that
    /// serves them.
    private mutating func cachedAttention(_ layout: QKVLayout, rotaryDim: Int, window: Int?, cap: Float?) throws {
        let hd = layout.headDim
        let shape = KVCacheShape(numLayers: 1, numBlocks: 64, blockSize: 16, numKVHeads: layout.numKVHeads, headDim: hd)
        let cacheC = cpu.makeKVCache(shape), cacheG = gpu.makeKVCache(shape)
        let ropeValues = RotaryEmbedding.table(headDim: rotaryDim, theta: 10000, scaling: .none, positions: 256).floats().map(round)
        let (ropeC, ropeG) = try pair(ropeValues, [256, rotaryDim])
        var history = Float64Reference.AttentionHistory()
        let tables: [[Int32]] = [[3, 9, 1, 4, 20, 21, 22, 23], [7, 2], [11, 12, 13, 14, 15, 16, 17, 18]]
        let steps: [[SequenceChunk]] = [
            [
                SequenceChunk(tokenIDs: Array(repeating: 1, count: 37), numCached: 0, blockTable: tables[0]),
                SequenceChunk(tokenIDs: Array(repeating: 1, count: 5), numCached: 0, blockTable: tables[1]),
                SequenceChunk(tokenIDs: Array(repeating: 1, count: 100), numCached: 0, blockTable: tables[2]),
            ],
            [
                SequenceChunk(tokenIDs: Array(repeating: 1, count: 70), numCached: 37, blockTable: tables[0]),
                SequenceChunk(tokenIDs: [1], numCached: 5, blockTable: tables[1]),
                SequenceChunk(tokenIDs: Array(repeating: 1, count: 3), numCached: 100, blockTable: tables[2]),
            ],
            [
                SequenceChunk(tokenIDs: [1], numCached: 107, blockTable: tables[0]),
                SequenceChunk(tokenIDs: [1], numCached: 6, blockTable: tables[1]),
                SequenceChunk(tokenIDs: [1], numCached: 103, blockTable: tables[2]),
            ],
        ]
        let (warps, decode) = (gpu.flashPrefillWarps, gpu.useDecodeAttention)
        defer { (gpu.flashPrefillWarps, gpu.useDecodeAttention) = (warps, decode) }
        // (flash_prefill warps, decode kernel): flash_prefill 8 and 4 warps or the WMMA kernel for
        // prefill steps, the decode kernel or the WMMA kernel for decode steps; float32 has one path.
        let variants: [(Int, Bool, String)] =
            gpu.computeDType == .float32 ? [(8, true, "")] : [(8, true, " w8/decode"), (4, true, " w4"), (0, false, " wmma")]
        let label =
            "h\(layout.numHeads)/\(layout.numKVHeads)x\(hd)" + (rotaryDim < hd ? " rotary \(rotaryDim)" : "")
            + (window.map { " window \($0)" } ?? "") + (cap.map { " softcap \(Int($0))" } ?? "")
        for (i, chunks) in steps.enumerated() {
            let batch = ForwardBatch(chunks: chunks, blockSize: 16)
            let (bc, bg) = (cpu.prepare(batch), gpu.prepare(batch))
            // Large enough that the soft cap bends many scores.
            let qkv = random(batch.numTokens * layout.width, scale: 2)
            let rotated = Float64Reference.rotary(
                doubles(qkv), layout: layout, rope: doubles(ropeValues), positions: batch.positions, rotaryDim: rotaryDim)
            let scale = 1 / Float(hd).squareRoot()
            let expected = Float64Reference.attention(
                rotated, layout: layout, batch: batch, sequences: [0, 1, 2], history: &history, scale: Double(scale),
                slidingWindow: window, softCap: cap.map(Double.init))
            let name = "\(label) step \(i)"
            let qc = try cpu.weight([HostTensor(shape: [batch.numTokens, layout.width], values: qkv)])
            let cpuOut = cpu.rotaryAttention(
                qc, layout: layout, rope: ropeC, cache: cacheC, layer: 0, batch: bc, scale: scale, slidingWindow: window,
                logitSoftCap: cap)
            results.append(("rotary_attention \(name) cpu-vs-f64", Float64Reference.relativeError(cpuOut.toArray(), expected)))
            for (w, d, variant) in variants {
                (gpu.flashPrefillWarps, gpu.useDecodeAttention) = (w, d)
                // A fresh copy each time: the rotation is in place; the cache slots get the same keys again.
                let qg = try gpu.upload(qkv, shape: [batch.numTokens, layout.width])
                check(
                    "rotary_attention \(name)\(variant)", expected, nil,
                    gpu.rotaryAttention(
                        qg, layout: layout, rope: ropeG, cache: cacheG, layer: 0, batch: bg, scale: scale, slidingWindow: window,
                        logitSoftCap: cap))
                if variant == variants[0].2 { check("rotary_attention.qkv \(name)", rotated, qc, qg) }
            }
        }
    }
}
