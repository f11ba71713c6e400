import ArgumentParser
import Foundation
import VLLMCPU
import VLLMCUDA
import VLLMCore
import VLLMTestSupport

/// `vllm-dev kernel-check`: each CUDA operation alone against a float64 reference (`Float64Reference`)
/// on random inputs, with the relative error ‖cuda − f64‖ / ‖f64‖ of each; the inputs are rounded
/// to the compute dtype first, so that the kernel and the reference see the same values. Where the
/// CPU backend (float32) runs the same operation, its error against the reference is reported too,
/// as `<name> cpu-vs-f64`.
struct KernelCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernel-check", abstract: "Check each CUDA operation against a float64 reference.")

    @Option(help: "Compute dtype: float32, bfloat16 or float16.") var dtype = "bfloat16"
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        guard let dtype = DType(configName: dtype) else { throw ValidationError("--dtype: float32, bfloat16 or float16") }
        if let problem = CUDAAvailability.problem() { throw ValidationError("CUDA is not usable: \(problem)") }
        let started = Date()
        // Every kernel family (the default selection), compiled before the clock stops.
        let gpu = try CUDABackend(computeDType: dtype)
        try gpu.waitForKernels()
        let startSeconds = Date().timeIntervalSince(started)
        let cpu = CPUBackend(keepsBFloat16: false)
        var rng = SplitMixRandom(seed: 42)
        var results: [(String, Double)] = []
        let tolerance = dtype == .float32 ? 1e-5 : (dtype == .bfloat16 ? 2e-2 : 4e-3)

        func random(_ count: Int, scale: Float = 1) -> [Float] {
            (0..<count).map { _ in round(Float.random(in: -1...1, using: &rng) * scale) }
        }
        func round(_ x: Float) -> Float {
            switch dtype {
            case .float32: x
            case .bfloat16: FloatBits.bfloat16ToFloat(FloatBits.floatToBFloat16(x))
            case .float16: Float(Float16(x))
            case .float8E4M3, .int32, .int64, .uint8: preconditionFailure("\(dtype) is not a compute dtype")
            }
        }
        func pair(_ values: [Float], _ shape: [Int]) throws -> (CPUTensor, CUDATensor) {
            (try cpu.weight([HostTensor(shape: shape, values: values)]), try gpu.upload(values, shape: shape))
        }
        func doubles(_ x: [Float]) -> [Double] { x.map(Double.init) }
        /// The CUDA result's relative error against the float64 reference, as `name`, and the CPU
        /// backend's (when given) as `name cpu-vs-f64`.
        func check(_ name: String, _ expected: [Double], _ c: CPUTensor?, _ g: CUDATensor) {
            results.append((name, Float64Reference.relativeError(gpu.toHost(g), expected)))
            if let c { results.append(("\(name) cpu-vs-f64", Float64Reference.relativeError(c.toArray(), expected))) }
        }

        // Row operations at a model's width.
        let rows = 37, n = 1000
        let xValues = random(rows * n, scale: 3)
        let (xc, xg) = try pair(xValues, [rows, n])
        // Weights near 1, rounded to the dtype like every input (the reference sees what the GPU sees).
        let wValues = random(n, scale: 1).map { round(1 + $0 / 4) }
        let (wc, wg) = try pair(wValues, [n])
        let step = gpu.prepare(ForwardBatch(chunks: [SequenceChunk(tokenIDs: [1], numCached: 0, blockTable: [0])], blockSize: 16))
        _ = step
        check(
            "rms_norm", Float64Reference.rmsNorm(doubles(xValues), weight: doubles(wValues), columns: n, eps: Double(Float(1e-5))),
            cpu.rmsNorm(xc, weight: wc, eps: 1e-5), gpu.rmsNorm(xg, weight: wg, eps: 1e-5))
        let residualValues = random(rows * n, scale: 2)
        let (rc, rg) = try pair(residualValues, [rows, n])
        let added = Float64Reference.addRMSNorm(
            doubles(xValues), residual: doubles(residualValues), weight: doubles(wValues), columns: n, eps: Double(Float(1e-6)))
        check(
            "add_rms_norm", added.out, cpu.addRMSNorm(xc, residual: rc, weight: wc, eps: 1e-6),
            gpu.addRMSNorm(xg, residual: rg, weight: wg, eps: 1e-6))
        check("add_rms_norm.residual", added.residual, rc, rg)
        // Gemma's norm, residual add and norm in one kernel: the float64 chain, and bit for bit the
        // two kernels it replaces; 9000 columns pass the 8 a thread its registers hold.
        for columns in [n, 9000] {
            let x = random(rows * columns, scale: 3), residual = random(rows * columns, scale: 2)
            let first = random(columns, scale: 1).map { round(1 + $0 / 4) }, second = random(columns, scale: 1).map { round(1 + $0 / 4) }
            let (xC, xG) = try pair(x, [rows, columns])
            let (w1C, w1G) = try pair(first, [columns])
            let (w2C, w2G) = try pair(second, [columns])
            let (resC, resG) = try pair(residual, [rows, columns])
            let resApart = try gpu.upload(residual, shape: [rows, columns])
            let chained = Float64Reference.addRMSNorm(
                Float64Reference.rmsNorm(doubles(x), weight: doubles(first), columns: columns, eps: Double(Float(1e-6))),
                residual: doubles(residual), weight: doubles(second), columns: columns, eps: Double(Float(1e-6)))
            let fused = gpu.normAddRMSNorm(xG, normWeight: w1G, residual: resG, weight: w2G, eps: 1e-6)
            check(
                "norm_add_rms_norm \(rows)x\(columns)", chained.out,
                cpu.normAddRMSNorm(xC, normWeight: w1C, residual: resC, weight: w2C, eps: 1e-6), fused)
            check("norm_add_rms_norm.residual \(rows)x\(columns)", chained.residual, resC, resG)
            let apart = gpu.addRMSNorm(gpu.rmsNorm(xG, weight: w1G, eps: 1e-6), residual: resApart, weight: w2G, eps: 1e-6)
            results.append(
                (
                    "norm_add_rms_norm fused-vs-separate \(rows)x\(columns)",
                    Float64Reference.relativeError(gpu.toHost(fused), gpu.toHost(apart).map(Double.init))
                ))
        }
        // add_rms_norm_int8 and silu_and_mul_int8 (decode steps of GGUF models with 8-bit
        // activations): their outputs as add_rms_norm and silu_and_mul leave them, and their 8-bit
        // form as quantize_ggml_int8 makes it from those outputs, bit for bit (counts of differing
        // values and bytes: must be 0).
        if gpu.hasPrequantizingKernels {
            // `run` once plainly and once with `prequantizes`; its first tensor is the output that
            // takes the 8-bit form, the others are compared too (a residual updated in place).
            func checkPrequantizing(_ name: String, plain: String, _ run: () throws -> [CUDATensor]) rethrows {
                let plainOutputs = try run()
                gpu.prequantizes = true
                let fusedOutputs = try run()
                gpu.prequantizes = false
                let (made, fresh) = (
                    gpu.int8ActivationBytes(fusedOutputs[0], fresh: false), gpu.int8ActivationBytes(plainOutputs[0], fresh: true)
                )
                let outputs = zip(plainOutputs, fusedOutputs).map { plainOutput, fusedOutput in
                    zip(gpu.toHost(plainOutput), gpu.toHost(fusedOutput)).filter { $0.bitPattern != $1.bitPattern }.count
                }
                let bytes = zip(made.codes + made.pairs, fresh.codes + fresh.pairs).filter { $0 != $1 }.count
                results += [
                    ("\(name): outputs differing from \(plain)'s", Double(outputs.reduce(0, +))),
                    ("\(name): 8-bit bytes differing from quantize_ggml_int8's", Double(bytes)),
                ]
            }
            for columns in [1024, 4096] {
                let x = random(3 * columns, scale: 3), residual = random(3 * columns, scale: 2)
                let w = random(columns, scale: 1).map { round(1 + $0 / 4) }
                let xG = try gpu.upload(x, shape: [3, columns]), wG = try gpu.upload(w, shape: [columns])
                try checkPrequantizing("add_rms_norm_int8 3x\(columns)", plain: "add_rms_norm") {
                    let residualG = try gpu.upload(residual, shape: [3, columns])
                    return [gpu.addRMSNorm(xG, residual: residualG, weight: wG, eps: 1e-6), residualG]
                }
                // Against silu_and_mul's 16-byte path.
                let gateUp = try gpu.upload(random(3 * 2 * columns, scale: 4), shape: [3, 2 * columns])
                checkPrequantizing("silu_and_mul_int8 3x\(columns)", plain: "silu_and_mul") { [gpu.siluAndMul(gateUp)] }
            }
        }
        let gateValues = random(rows * 2 * 300, scale: 4)
        let (gc, gg) = try pair(gateValues, [rows, 600])
        check("silu_and_mul", Float64Reference.siluAndMul(doubles(gateValues), columns: 600), cpu.siluAndMul(gc), gpu.siluAndMul(gg))
        // A width of whole 16-byte chunks takes the kernel's vector path.
        let wideValues = random(rows * 2 * 512, scale: 4)
        let (wideC, wideG) = try pair(wideValues, [rows, 1024])
        check(
            "silu_and_mul 16-byte", Float64Reference.siluAndMul(doubles(wideValues), columns: 1024), cpu.siluAndMul(wideC),
            gpu.siluAndMul(wideG))

        // Matrix products, with and without bias, at odd and aligned sizes.
        for (t, k, m) in [(1, 256, 512), (37, 1000, 300), (129, 4096, 1024)] {
            let a = random(t * k), b = random(m * k, scale: 0.05), bias = random(m)
            let (ac, ag) = try pair(a, [t, k])
            let (bc, bg) = try pair(b, [m, k])
            let (biasC, biasG) = try pair(bias, [m])
            let (ad, bd) = (doubles(a), doubles(b))
            check(
                "linear \(t)x\(k)x\(m)", Float64Reference.linear(ad, weight: bd, bias: nil, inputs: k),
                cpu.linear(ac, weight: bc, bias: nil), gpu.linear(ag, weight: bg, bias: nil))
            check(
                "linear+bias \(t)x\(k)x\(m)", Float64Reference.linear(ad, weight: bd, bias: doubles(bias), inputs: k),
                cpu.linear(ac, weight: bc, bias: biasC), gpu.linear(ag, weight: bg, bias: biasG))
        }

        // Decode-sized products through our matrix-vector kernel (16-bit only) and cuBLASLt; then the
        // same kernel in blocks of 4 warps (VLLM_CUDA_GEMV_BALANCE), at a row count that takes them.
        func checkDecodeProduct(tokens t: Int, _ k: Int, _ m: Int, label: String) throws {
            let a = random(t * k), b = random(m * k, scale: 0.05)
            let (ac, ag) = try pair(a, [t, k])
            let (bc, bg) = try pair(b, [m, k])
            check(
                "linear decode \(label)\(t)x\(k)x\(m)", Float64Reference.linear(doubles(a), weight: doubles(b), bias: nil, inputs: k),
                cpu.linear(ac, weight: bc, bias: nil), gpu.linear(ag, weight: bg, bias: nil))
        }
        for t in 1...4 { try checkDecodeProduct(tokens: t, 1024, 777, label: "") }
        // Verifying steps' products (gemv_mma, 16-bit; cuBLASLt in float32): one batch of runs,
        // several with a partial last one, and a width off 32 (cuBLASLt).
        for (t, k, m) in [(5, 1024, 777), (6, 4096, 300), (7, 2080, 33), (8, 1024, 16), (5, 1000, 64)] {
            try checkDecodeProduct(tokens: t, k, m, label: "")
        }
        gpu.balancesGEMV = true
        let warps = CUDABackend.gemvWarps(rows: 3584, multiprocessors: gpu.multiprocessors)
        for t in [1, 3] { try checkDecodeProduct(tokens: t, 512, 3584, label: "\(warps)-warp blocks ") }
        gpu.balancesGEMV = false
        var timings: [String: Double] = [:]
        if dtype != .float32 {
            // The product of `tokens` tokens and a [m, k] weight under each setting: its bytes over the median time.
            func timeProducts(_ k: Int, _ m: Int, tokens: Int = 1, _ settings: [(name: String, apply: () -> Void)]) throws {
                let x = try gpu.upload(random(tokens * k), shape: [tokens, k])
                let w = try gpu.upload([Float](repeating: 0.01, count: m * k).map(round), shape: [m, k])
                for setting in settings {
                    setting.apply()
                    _ = gpu.prepare(ForwardBatch(chunks: [SequenceChunk(tokenIDs: [1], numCached: 0, blockTable: [0])], blockSize: 16))
                    let ms = gpu.timeMilliseconds { _ = gpu.linear(x, weight: w, bias: nil) }
                    let name = tokens == 1 ? setting.name : "\(setting.name) t\(tokens)"
                    timings["\(name) \(k)x\(m) GB/s"] = Double(m * k * dtype.byteSize) / (ms / 1000) / 1e9
                }
            }
            // Llama-3.1-8B decode shapes, our kernel and cuBLASLt.
            for (k, m) in [(4096, 6144), (4096, 4096), (4096, 28672), (14336, 4096), (4096, 32768)] {
                try timeProducts(k, m, [("gemv", { gpu.useGEMV = true }), ("cublaslt", { gpu.useGEMV = false })])
            }
            gpu.useGEMV = true
            // Five tokens (a step verifying four drafts): gemv_mma and cuBLASLt.
            for (k, m) in [(4096, 6144), (4096, 28672), (14336, 4096)] {
                try timeProducts(
                    k, m, tokens: 5, [("gemv_mma", { gpu.useGEMVMMA = true }), ("cublaslt", { gpu.useGEMVMMA = false })])
            }
            gpu.useGEMVMMA = true
            // Products of 3584 rows (Gemma-2-9B, Qwen2.5-7B) in blocks of 8 warps and, balanced, of 4.
            for (k, m) in [(4096, 3584), (14336, 3584)] {
                try timeProducts(k, m, [("gemv", { gpu.balancesGEMV = false }), ("gemv balanced", { gpu.balancesGEMV = true })])
            }
            gpu.balancesGEMV = false
            // The MLP's gate/up product with its activation, SwiGLU and GeGLU on the same weight
            // (weight bytes over time), and greedy sampling of one 128k-vocabulary row.
            let x = try gpu.upload(random(4096), shape: [1, 4096])
            let gateUp = try gpu.upload(random(28672 * 4096, scale: 0.05), shape: [28672, 4096])
            _ = gpu.prepare(ForwardBatch(chunks: [SequenceChunk(tokenIDs: [1], numCached: 0, blockTable: [0])], blockSize: 16))
            let gated: [(String, () -> CUDATensor)] = [
                ("gemv_swiglu", { gpu.swiGLU(x, gateUp: gateUp) }), ("gemv_geglu", { gpu.geluTanhGLU(x, gateUp: gateUp) }),
            ]
            for (label, product) in gated {
                let ms = gpu.timeMilliseconds { _ = product() }
                timings["\(label) 4096x28672 GB/s"] = Double(28672 * 4096 * dtype.byteSize) / (ms / 1000) / 1e9
            }
            let logits = try gpu.upload(random(128_256, scale: 8), shape: [1, 128_256])
            timings["argmax_rows 1x128256 us"] = 1000 * gpu.timeMilliseconds { _ = gpu.argmaxRows(logits, rows: 1) }
            // Decode attention in Llama-3.1-8B's layout (32/8 heads, head size 128), microseconds a
            // step (with the step's cache write and, for few sequences, attention_combine): the
            // memory-bound decode kernel and the tensor-core kernel.
            let layout = QKVLayout(numHeads: 32, numKVHeads: 8, headDim: 128)
            for (sequences, context) in [(1, 160), (1, 2000), (64, 1000), (256, 1024)] {
                let perSequence = context / 16 + 1
                let cache = gpu.makeKVCache(
                    KVCacheShape(
                        numLayers: 1, numBlocks: sequences * perSequence, blockSize: 16, numKVHeads: 8, headDim: 128))
                let chunks = (0..<sequences).map { s in
                    SequenceChunk(tokenIDs: [1], numCached: context - 1, blockTable: (0..<perSequence).map { Int32(s * perSequence + $0) })
                }
                let batch = gpu.prepare(ForwardBatch(chunks: chunks, blockSize: 16))
                let qkv = try gpu.upload(random(sequences * layout.width), shape: [sequences, layout.width])
                for (label, decode) in [("decode_attention", true), ("flash_attention", false)] {
                    gpu.useDecodeAttention = decode
                    let ms = gpu.timeMilliseconds {
                        _ = gpu.attention(qkv, layout: layout, cache: cache, layer: 0, batch: batch, scale: 0.09, slidingWindow: nil)
                    }
                    timings["\(label) \(sequences)x\(context) us"] = 1000 * ms
                }
            }
            gpu.useDecodeAttention = true
        }

        // The MLP's fused gate/up product and activation, SwiGLU (Llama) and GeGLU (Gemma), through
        // the matrix-vector kernels (1-4 tokens, gemv_swiglu and gemv_geglu) and through cuBLASLt
        // (37 tokens); the CPU runs the separate operations. 389 rows: blocks take four, so the
        // last block has dead warps.
        for t in [1, 2, 3, 4, 37] {
            let (k, m) = (1024, 2 * 389)
            let a = random(t * k), b = random(m * k, scale: 0.05)
            let (ac, ag) = try pair(a, [t, k])
            let (bc, bg) = try pair(b, [m, k])
            let product = cpu.linear(ac, weight: bc, bias: nil)
            check(
                "swiglu \(t)x\(k)x\(m)", Float64Reference.swiGLU(doubles(a), gateUp: doubles(b), inputs: k),
                cpu.siluAndMul(product), gpu.swiGLU(ag, gateUp: bg))
            check(
                "geglu \(t)x\(k)x\(m)", Float64Reference.geluTanhGLU(doubles(a), gateUp: doubles(b), inputs: k),
                cpu.geluTanhAndMul(product), gpu.geluTanhGLU(ag, gateUp: bg))
            // The fused kernel rounds as gemv then gelu_tanh_and_mul do: 0 expected at 1-4 tokens.
            let separate = gpu.geluTanhAndMul(gpu.linear(ag, weight: bg, bias: nil))
            check("geglu \(t)x\(k)x\(m) fused-vs-separate", doubles(gpu.toHost(separate)), nil, gpu.geluTanhGLU(ag, gateUp: bg))
        }

        // Greedy sampling: indices must agree exactly (ties go to the lower index), for one row cut
        // into many chunks, several rows, and rows whose maximum repeats.
        for (count, width) in [(1, 128_256), (5, 32_000), (3, 1000)] {
            var values = random(count * width, scale: 8)
            for r in 0..<count where r % 2 == 0 { values[r * width + width - 1] = 9; values[r * width + width / 3] = 9 }
            let (lc, lg) = try pair(values, [count, width])
            let expected = Float64Reference.argmaxRows(doubles(values), rows: count)
            let got = gpu.argmaxRows(lg, rows: count), cpuGot = cpu.argmaxRows(lc, rows: count)
            results.append(("argmax_rows \(count)x\(width)", expected == got ? 0 : .infinity))
            results.append(("argmax_rows \(count)x\(width) cpu-vs-f64", expected == cpuGot ? 0 : .infinity))
        }
        // A row of NaNs (overflowed activations) gives token 0 on both backends, never an id past
        // the vocabulary that the next step's embedding would read.
        do {
            let (lc, lg) = try pair([Float](repeating: .nan, count: 2 * 1000), [2, 1000])
            results.append(("argmax_rows NaN rows", gpu.argmaxRows(lg, rows: 2) == [0, 0] ? 0 : .infinity))
            results.append(("argmax_rows NaN rows cpu", cpu.argmaxRows(lc, rows: 2) == [0, 0] ? 0 : .infinity))
        }

        // Attention layouts: (heads, kv heads, head dim), two steps mixing prefill chunks and decodes, then
        // decodes, then a verifying step.
        for (heads, kvHeads, hd, window) in [
            (8, 2, 64, 0), (32, 8, 128, 0), (4, 2, 12, 0), (6, 6, 8, 0), (16, 8, 128, 7), (8, 4, 256, 0), (8, 4, 256, 9),
        ] {
            let layout = QKVLayout(numHeads: heads, numKVHeads: kvHeads, headDim: hd)
            let shape = KVCacheShape(numLayers: 1, numBlocks: 64, blockSize: 16, numKVHeads: kvHeads, headDim: hd)
            let cacheC = cpu.makeKVCache(shape), cacheG = gpu.makeKVCache(shape), fusedCacheG = gpu.makeKVCache(shape)
            let separateNormCacheG = gpu.makeKVCache(shape), normedCacheG = gpu.makeKVCache(shape)
            let ropeValues = RotaryEmbedding.table(headDim: hd, theta: 10000, scaling: .none, positions: 256).floats().map(round)
            let (ropeC, ropeG) = try pair(ropeValues, [256, hd])
            let ropeD = doubles(ropeValues)
            // The reference's keys and values of the three sequences (chunk s of every step is sequence s).
            var history = Float64Reference.AttentionHistory()
            let tables: [[Int32]] = [[3, 9, 1, 4], [7, 2], [11, 12, 13, 14, 15, 16]]
            let steps: [[SequenceChunk]] = [
                [
                    SequenceChunk(tokenIDs: Array(repeating: 1, count: 37), numCached: 0, blockTable: tables[0]),
                    SequenceChunk(tokenIDs: Array(repeating: 1, count: 5), numCached: 0, blockTable: tables[1]),
                    SequenceChunk(tokenIDs: Array(repeating: 1, count: 70), numCached: 0, blockTable: tables[2]),
                ],
                [
                    SequenceChunk(tokenIDs: [1], numCached: 37, blockTable: tables[0]),
                    SequenceChunk(tokenIDs: Array(repeating: 1, count: 12), numCached: 5, blockTable: tables[1]),
                    SequenceChunk(tokenIDs: [1], numCached: 70, blockTable: tables[2]),
                ],
                // Decodes only: split-KV attention (few blocks), as recorded decode steps run it.
                [
                    SequenceChunk(tokenIDs: [1], numCached: 38, blockTable: tables[0]),
                    SequenceChunk(tokenIDs: [1], numCached: 17, blockTable: tables[1]),
                    SequenceChunk(tokenIDs: [1], numCached: 71, blockTable: tables[2]),
                ],
                // Five tokens a sequence, as a step verifying four drafts: decode_attention with a
                // tile a token (CUDABackend.decodesVerifyingSteps).
                [
                    SequenceChunk(tokenIDs: Array(repeating: 1, count: 5), numCached: 39, blockTable: tables[0]),
                    SequenceChunk(tokenIDs: Array(repeating: 1, count: 5), numCached: 18, blockTable: tables[1]),
                    SequenceChunk(tokenIDs: Array(repeating: 1, count: 5), numCached: 72, blockTable: tables[2]),
                ],
            ]
            for (i, chunks) in steps.enumerated() {
                let batch = ForwardBatch(chunks: chunks, blockSize: 16)
                let bc = cpu.prepare(batch), bg = gpu.prepare(batch)
                let qkvValues = random(batch.numTokens * layout.width, scale: 2)
                let (qc, qg) = try pair(qkvValues, [batch.numTokens, layout.width])
                let fusedQ = try gpu.upload(qkvValues, shape: [batch.numTokens, layout.width])
                cpu.rotary(qc, layout: layout, rope: ropeC, batch: bc)
                gpu.rotary(qg, layout: layout, rope: ropeG, batch: bg)
                let rotated = Float64Reference.rotary(doubles(qkvValues), layout: layout, rope: ropeD, positions: batch.positions)
                let name = "h\(heads)/\(kvHeads)x\(hd)\(window > 0 ? " window \(window)" : "") step \(i)"
                check("rotary " + name, rotated, qc, qg)
                let scale = 1 / Float(hd).squareRoot()
                let w: Int? = window > 0 ? window : nil
                let expected = Float64Reference.attention(
                    rotated, layout: layout, batch: batch, sequences: [0, 1, 2], history: &history, scale: Double(scale),
                    slidingWindow: w)
                check(
                    "attention " + name, expected,
                    cpu.attention(qc, layout: layout, cache: cacheC, layer: 0, batch: bc, scale: scale, slidingWindow: w),
                    gpu.attention(qg, layout: layout, cache: cacheG, layer: 0, batch: bg, scale: scale, slidingWindow: w))
                // The same step with the rotation and the cache write in one kernel, on its own cache.
                check(
                    "rotary_attention " + name, expected, nil,
                    gpu.rotaryAttention(
                        fusedQ, layout: layout, rope: ropeG, cache: fusedCacheG, layer: 0, batch: bg, scale: scale, slidingWindow: w))
                check("rotary_attention.qkv " + name, rotated, nil, fusedQ)
                let nq = random(hd).map { round(1 + $0 / 4) }, nk = random(hd).map { round(1 + $0 / 4) }
                let (nqc, nqg) = try pair(nq, [hd])
                let (nkc, nkg) = try pair(nk, [hd])
                cpu.headRMSNorm(qc, layout: layout, qWeight: nqc, kWeight: nkc, eps: 1e-6)
                gpu.headRMSNorm(qg, layout: layout, qWeight: nqg, kWeight: nkg, eps: 1e-6)
                check(
                    "head_rms_norm " + name,
                    Float64Reference.headRMSNorm(
                        rotated, layout: layout, qWeight: doubles(nq), kWeight: doubles(nk), eps: Double(Float(1e-6))),
                    qc, qg)
                // Qwen3's q/k norm in the rotary kernel (rotary_norm_write_kv) against head_rms_norm, then rotary_write_kv,
                // each on its own cache: the same bits expected (attention output, then the normed and rotated qkv).
                let separateQ = try gpu.upload(qkvValues, shape: [batch.numTokens, layout.width])
                let normedQ = try gpu.upload(qkvValues, shape: [batch.numTokens, layout.width])
                gpu.headRMSNorm(separateQ, layout: layout, qWeight: nqg, kWeight: nkg, eps: 1e-6)
                let separate = gpu.rotaryAttention(
                    separateQ, layout: layout, rope: ropeG, cache: separateNormCacheG, layer: 0, batch: bg, scale: scale, slidingWindow: w)
                let normed = gpu.normedRotaryAttention(
                    normedQ, layout: layout, headNorm: HeadNorm(q: nqg, k: nkg, eps: 1e-6), rope: ropeG, cache: normedCacheG, layer: 0,
                    batch: bg, scale: scale, slidingWindow: w, logitSoftCap: nil)
                check("rotary_norm_write_kv vs separate " + name, doubles(gpu.toHost(separate)), nil, normed)
                check("rotary_norm_write_kv.qkv vs separate " + name, doubles(gpu.toHost(separateQ)), nil, normedQ)
            }
        }

        // Decode steps of enough sequences that decode_attention runs unsplit (at least four blocks a
        // multiprocessor: one lane a key, long runs), which the three-sequence steps above never
        // reach: a prefill of every sequence, then one decode each.
        for (heads, kvHeads, hd) in [(32, 8, 128), (8, 4, 256), (8, 2, 64)] {
            let layout = QKVLayout(numHeads: heads, numKVHeads: kvHeads, headDim: hd)
            let sequences = 4 * gpu.multiprocessors / kvHeads + 3
            let lengths = (0..<sequences).map { _ in Int.random(in: 1...70, using: &rng) }
            let perSequence = 5
            let shape = KVCacheShape(
                numLayers: 1, numBlocks: sequences * perSequence, blockSize: 16, numKVHeads: kvHeads, headDim: hd)
            let cacheC = cpu.makeKVCache(shape), cacheG = gpu.makeKVCache(shape)
            let tables = (0..<sequences).map { s in (0..<perSequence).map { Int32(s * perSequence + $0) } }
            var history = Float64Reference.AttentionHistory()
            let steps = [
                zip(lengths, tables).map { SequenceChunk(tokenIDs: Array(repeating: 1, count: $0), numCached: 0, blockTable: $1) },
                zip(lengths, tables).map { SequenceChunk(tokenIDs: [1], numCached: $0, blockTable: $1) },
            ]
            for (i, chunks) in steps.enumerated() {
                let batch = ForwardBatch(chunks: chunks, blockSize: 16)
                let qkvValues = random(batch.numTokens * layout.width, scale: 2)
                let (qc, qg) = try pair(qkvValues, [batch.numTokens, layout.width])
                let scale = 1 / Float(hd).squareRoot()
                let expected = Float64Reference.attention(
                    doubles(qkvValues), layout: layout, batch: batch, sequences: Array(0..<sequences), history: &history,
                    scale: Double(scale), slidingWindow: nil)
                check(
                    "attention h\(heads)/\(kvHeads)x\(hd) \(sequences) sequences step \(i)", expected,
                    cpu.attention(qc, layout: layout, cache: cacheC, layer: 0, batch: cpu.prepare(batch), scale: scale, slidingWindow: nil),
                    gpu.attention(qg, layout: layout, cache: cacheG, layer: 0, batch: gpu.prepare(batch), scale: scale, slidingWindow: nil))
            }
        }

        // Prefill attention kernels side by side (16-bit): the register-accumulator kernel of
        // flash_prefill.cu (8 and 4 warps a block) and the WMMA kernel, each against the float64
        // reference (the CPU backend's error reported once a step), on steps
        // of several sequences with chunk lengths off the tiles, a chunk after a cached prefix, a
        // decode inside a mixed step, a small step split over the keys, GQA groups 1/4/8, head sizes
        // 64/128, and sliding windows.
        if dtype != .float32 {
            let chosen = gpu.flashPrefillWarps
            defer { gpu.flashPrefillWarps = chosen }
            for (heads, kvHeads, hd, window) in [
                (8, 8, 64, 0), (8, 2, 64, 0), (16, 2, 64, 0), (8, 8, 128, 0), (32, 8, 128, 0), (32, 4, 128, 0),
                (16, 4, 128, 50), (16, 2, 64, 100),
            ] {
                let layout = QKVLayout(numHeads: heads, numKVHeads: kvHeads, headDim: hd)
                let shape = KVCacheShape(numLayers: 1, numBlocks: 64, blockSize: 16, numKVHeads: kvHeads, headDim: hd)
                let cacheC = cpu.makeKVCache(shape), cacheG = gpu.makeKVCache(shape)
                // Blocks out of order: sequences of 250, 38, 200 and 77 tokens.
                var blocks = (0..<Int32(64)).shuffled(using: &rng)[...]
                func table(_ tokens: Int) -> [Int32] {
                    let n = (tokens + 15) / 16
                    defer { blocks = blocks.dropFirst(n) }
                    return Array(blocks.prefix(n))
                }
                let tables = [table(250), table(38), table(200), table(77)]
                // The sequence (index into `tables`) of each chunk of each step below, for the reference's history.
                let sequenceIDs = [[0, 1, 2], [0, 1, 3], [0, 2]]
                var history = Float64Reference.AttentionHistory()
                let steps: [[SequenceChunk]] = [
                    [
                        SequenceChunk(tokenIDs: Array(repeating: 1, count: 100), numCached: 0, blockTable: tables[0]),
                        SequenceChunk(tokenIDs: Array(repeating: 1, count: 37), numCached: 0, blockTable: tables[1]),
                        SequenceChunk(tokenIDs: Array(repeating: 1, count: 200), numCached: 0, blockTable: tables[2]),
                    ],
                    [
                        SequenceChunk(tokenIDs: Array(repeating: 1, count: 150), numCached: 100, blockTable: tables[0]),
                        SequenceChunk(tokenIDs: [1], numCached: 37, blockTable: tables[1]),
                        SequenceChunk(tokenIDs: Array(repeating: 1, count: 77), numCached: 0, blockTable: tables[3]),
                    ],
                    // A small mixed step: split-KV (few blocks), partials merged by attention_combine.
                    [
                        SequenceChunk(tokenIDs: Array(repeating: 1, count: 3), numCached: 250, blockTable: tables[0]),
                        SequenceChunk(tokenIDs: [1], numCached: 200, blockTable: tables[2]),
                    ],
                ]
                let kernels = [(8, "flash_prefill w8"), (4, "flash_prefill w4"), (0, "flash_attention")].filter {
                    $0.0 == 0 || gpu.hasFlashPrefill(headDim: hd, warps: $0.0)
                }
                for (i, chunks) in steps.enumerated() {
                    let batch = ForwardBatch(chunks: chunks, blockSize: 16)
                    let bc = cpu.prepare(batch), bg = gpu.prepare(batch)
                    let qkvValues = random(batch.numTokens * layout.width, scale: 2)
                    let (qc, qg) = try pair(qkvValues, [batch.numTokens, layout.width])
                    let scale = 1 / Float(hd).squareRoot()
                    let w: Int? = window > 0 ? window : nil
                    let name = "h\(heads)/\(kvHeads)x\(hd)\(window > 0 ? " window \(window)" : "") step \(i)"
                    let expected = Float64Reference.attention(
                        doubles(qkvValues), layout: layout, batch: batch, sequences: sequenceIDs[i], history: &history,
                        scale: Double(scale), slidingWindow: w)
                    let cpuOut = cpu.attention(qc, layout: layout, cache: cacheC, layer: 0, batch: bc, scale: scale, slidingWindow: w)
                    results.append(("prefill_attention \(name) cpu-vs-f64", Float64Reference.relativeError(cpuOut.toArray(), expected)))
                    for (warps, kernel) in kernels {
                        gpu.flashPrefillWarps = warps
                        check(
                            "\(kernel) \(name)", expected, nil,
                            gpu.attention(qg, layout: layout, cache: cacheG, layer: 0, batch: bg, scale: scale, slidingWindow: w))
                    }
                }
            }

            // Llama-3.1-8B's prefill attention in a step of 8192 tokens (8 sequences of 1024, 32
            // heads, 8 kv heads, head size 128): causal FLOPs 4 x heads x hd x sum of L^2 / 2 over the
            // median time (which includes the step's cache write), and the kernels against the WMMA one.
            let layout = QKVLayout(numHeads: 32, numKVHeads: 8, headDim: 128)
            let (sequences, length) = (8, 1024)
            let blocksPerSequence = length / 16
            let shape = KVCacheShape(
                numLayers: 1, numBlocks: sequences * blocksPerSequence, blockSize: 16, numKVHeads: 8, headDim: 128)
            let cache = gpu.makeKVCache(shape)
            let chunks = (0..<sequences).map { s in
                SequenceChunk(
                    tokenIDs: Array(repeating: 1, count: length), numCached: 0,
                    blockTable: (0..<Int32(blocksPerSequence)).map { Int32(s * blocksPerSequence) + $0 })
            }
            let batch = ForwardBatch(chunks: chunks, blockSize: 16)
            let tokens = batch.numTokens
            // A cheap pattern instead of 50M random draws: values in [-2, 2) on a 1/256 grid.
            let qkv = try gpu.upload(
                (0..<(tokens * layout.width)).map { round(Float(($0 &* 2_654_435_761) >> 7 & 1023) / 256 - 2) },
                shape: [tokens, layout.width])
            let flops = 4.0 * 32 * 128 * Double(sequences) * Double(length * length) / 2
            let scale = 1 / Float(128).squareRoot()
            var reference: [Float] = []
            for (warps, kernel) in [(0, "flash_attention"), (4, "flash_prefill w4"), (8, "flash_prefill w8")]
            where warps == 0 || gpu.hasFlashPrefill(headDim: 128, warps: warps) {
                gpu.flashPrefillWarps = warps
                let step = gpu.prepare(batch)
                let out = gpu.toHost(
                    gpu.attention(qkv, layout: layout, cache: cache, layer: 0, batch: step, scale: scale, slidingWindow: nil))
                if warps == 0 {
                    reference = out
                } else {
                    var diff = 0.0, norm = 0.0
                    for (x, y) in zip(reference, out) {
                        let d = Double(y) - Double(x)
                        diff += d.isNaN ? .infinity : d * d
                        norm += Double(x) * Double(x)
                    }
                    results.append(("\(kernel) vs flash_attention 8x1024 h32/8x128", (diff / max(norm, 1e-30)).squareRoot()))
                }
                let ms = gpu.timeMilliseconds {
                    _ = gpu.attention(qkv, layout: layout, cache: cache, layer: 0, batch: step, scale: scale, slidingWindow: nil)
                }
                timings["prefill attention \(kernel) 8x1024 h32/8x128 TFLOP/s"] = flops / (ms / 1000) / 1e12
            }
        }

        // Sampling on the device against the host sampler's arithmetic; each value scaled so that
        // its limit lands on the tolerance, like the relative errors above.
        var samplingCheck = SamplingCheck(gpu: gpu, round: round)
        let sampling = try samplingCheck.run()
        for (name, value, limit) in sampling {
            results.append((name, value <= limit ? value / max(limit, 1e-30) * tolerance : .infinity))
        }

        var expertsCheck = MixtureOfExpertsCheck(gpu: gpu, cpu: cpu, round: round)
        results += try expertsCheck.run()
        var familyCheck = FamilyOperationsCheck(gpu: gpu, cpu: cpu, round: round)
        results += try familyCheck.run()
        var quantizedCheck = QuantizedLinearCheck(gpu: gpu, cpu: cpu, round: round)
        results += try quantizedCheck.run()
        if dtype != .float32 { timings.merge(try quantizedCheck.timings()) { a, _ in a } }
        var ggmlCheck = GGMLLinearCheck(gpu: gpu, cpu: cpu, round: round)
        results += try ggmlCheck.run()
        if dtype != .float32 { timings.merge(try ggmlCheck.timings()) { a, _ in a } }
        var fp8CacheCheck = FP8KVCacheCheck(gpu: gpu, cpu: cpu, round: round)
        results += try fp8CacheCheck.run()

        // Embedding and logit rows.
        let batch = ForwardBatch(
            chunks: [
                SequenceChunk(tokenIDs: [5, 0, 99, 17], numCached: 0, blockTable: [0]),
                SequenceChunk(tokenIDs: [3, 3], numCached: 0, blockTable: [1]),
            ], blockSize: 16)
        let tableValues = random(100 * 64)
        let (tc, tg) = try pair(tableValues, [100, 64])
        let bc = cpu.prepare(batch), bg = gpu.prepare(batch)
        let ec = cpu.embedding(tc, bc), eg = gpu.embedding(tg, bg)
        let embedded = Float64Reference.embedding(doubles(tableValues), columns: 64, tokenIDs: batch.tokenIDs)
        check("embedding", embedded, ec, eg)
        check(
            "gather_logit_rows", Float64Reference.gatherRows(embedded, columns: 64, indices: batch.logitIndices),
            cpu.gatherLogitRows(ec, batch: bc), gpu.gatherLogitRows(eg, batch: bg))

        let failed = results.filter { !($0.1 <= tolerance) }
        if json {
            var object: [String: Any] = [
                "dtype": dtype.rawValue, "device": gpu.deviceName, "tolerance": tolerance, "architecture": gpu.architecture,
                "compiled_kernels": gpu.compiledKernels, "start_seconds": startSeconds, "driver_version": gpu.driverVersion,
                "timings": timings,
            ]
            object["errors"] = Dictionary(uniqueKeysWithValues: results.map { ($0.0, $0.1) })
            object["failed"] = failed.map(\.0)
            object["sampling"] = Dictionary(
                uniqueKeysWithValues: sampling.map {
                    ($0.0, ["value": $0.1, "limit": $0.2, "ok": $0.1 <= $0.2] as [String: Any])
                })
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            for (name, error) in results where !sampling.contains(where: { $0.0 == name }) {
                print(String(format: "%-64@ %.3e %@", name as NSString, error, error <= tolerance ? "ok" : "FAIL"))
            }
            for (name, value, limit) in sampling {
                print(String(format: "%-60@ %.4g (limit %.4g) %@", name as NSString, value, limit, value <= limit ? "ok" : "FAIL"))
            }
            for (name, value) in timings.sorted(by: { $0.key < $1.key }) {
                print(String(format: "%-60@ %.1f", name as NSString, value))
            }
        }
        if !failed.isEmpty { throw ExitCode(1) }
    }
}
