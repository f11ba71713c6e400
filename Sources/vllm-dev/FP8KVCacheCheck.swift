import VLLMCPU
import VLLMCUDA
import VLLMCore
import VLLMTestSupport

/// The FP8 KV cache part of `vllm-dev kernel-check` (`--kv-cache-dtype fp8`), on steps of four
/// sequences (prefill chunks, a chunk after cached tokens, decodes in a mixed step, a small step
/// split over the keys, then decodes only) in several layouts, and in 16-bit compute on a decode
/// step of enough sequences for the unsplit decode kernel:
/// - the cache writes (write_kv_cache_fp8 after `rotary`, and rotary_write_kv_fp8) must store the
///   very codes the CPU cache stores for the same keys and values (the GPU's, read back), written
///   here as the count of differing codes (0, or the check fails);
/// - each attention kernel over that cache (flash_prefill w8/w4, decode_attention, paged_attention)
///   against float64 attention whose keys and values are the GPU cache's codes times the scales;
/// - soft-capped attention (Gemma 2) with partial rotary (Phi-3), through rotary_write_kv_fp8: the
///   keys' unrotated part is written as codes too.
struct FP8KVCacheCheck {
    let gpu: CUDABackend
    let cpu: CPUBackend
    let round: (Float) -> Float
    var rng = SplitMixRandom(seed: 83)
    /// Scales off the powers of two, so that the inverse each backend multiplies by must agree.
    static let scales = KVCacheScales(key: 0.37, value: 0.021)

    /// (name, error) of each case: relative errors of the attention, differing codes of the writes.
    mutating func run() throws -> [(String, Double)] {
        var results: [(String, Double)] = []
        let chosen = (gpu.flashPrefillWarps, gpu.useDecodeAttention)
        defer { (gpu.flashPrefillWarps, gpu.useDecodeAttention) = chosen }
        for (heads, kvHeads, hd, window) in [(8, 2, 64, 0), (32, 8, 128, 0), (16, 4, 128, 50), (4, 2, 12, 0)] {
            results += try layoutCases(QKVLayout(numHeads: heads, numKVHeads: kvHeads, headDim: hd), window: window)
        }
        for (heads, kvHeads, hd, window, rotaryDim) in [(8, 2, 64, 0, 32), (16, 4, 128, 50, 96)] {
            results += try layoutCases(
                QKVLayout(numHeads: heads, numKVHeads: kvHeads, headDim: hd), window: window, rotaryDim: rotaryDim, cap: 3)
        }
        if gpu.computeDType != .float32 {
            for (heads, kvHeads, hd) in [(32, 8, 128), (8, 2, 64)] {
                results += try manySequencesCases(QKVLayout(numHeads: heads, numKVHeads: kvHeads, headDim: hd))
            }
        }
        return results
    }

    /// The steps over one layout; with `cap`, only the fused write, every kernel soft-capped.
    private mutating func layoutCases(
        _ layout: QKVLayout, window: Int, rotaryDim: Int? = nil, cap: Float? = nil
    ) throws -> [(String, Double)] {
        var results: [(String, Double)] = []
        let hd = layout.headDim
        let format = KVCacheFormat(dtype: .fp8, scales: [Self.scales])
        let shape = KVCacheShape(numLayers: 1, numBlocks: 64, blockSize: 16, numKVHeads: layout.numKVHeads, headDim: hd, format: format)
        // One cache per write path (apart, rotated on the way in, q/k-normed and rotated), on each backend.
        let caches = (0..<3).map { _ in gpu.makeKVCache(shape) }
        let cpuCaches = (0..<3).map { _ in cpu.makeKVCache(shape) }
        var histories = Array(repeating: Float64Reference.AttentionHistory(), count: 3)
        let headNorm = HeadNorm(
            q: try gpu.upload(random(hd, scale: 1).map { 1 + $0 / 4 }, shape: [hd]),
            k: try gpu.upload(random(hd, scale: 1).map { 1 + $0 / 4 }, shape: [hd]), eps: 1e-6)
        let rotaryDim = rotaryDim ?? hd
        let ropeValues = RotaryEmbedding.table(headDim: rotaryDim, theta: 10000, scaling: .none, positions: 512).floats().map(round)
        let rope = try gpu.upload(ropeValues, shape: [512, rotaryDim])
        // Sequences of 253, 38, 201 and 78 tokens in blocks out of order.
        var blocks = (0..<Int32(64)).shuffled(using: &rng)[...]
        func table(_ tokens: Int) -> [Int32] {
            let n = (tokens + 15) / 16
            defer { blocks = blocks.dropFirst(n) }
            return Array(blocks.prefix(n))
        }
        let tables = [table(253), table(38), table(201), table(78)]
        func chunk(_ s: Int, _ count: Int, after cached: Int) -> SequenceChunk {
            SequenceChunk(tokenIDs: Array(repeating: 1, count: count), numCached: cached, blockTable: tables[s])
        }
        let steps: [(sequences: [Int], chunks: [SequenceChunk])] = [
            ([0, 1, 2], [chunk(0, 100, after: 0), chunk(1, 37, after: 0), chunk(2, 200, after: 0)]),
            ([0, 1, 3], [chunk(0, 150, after: 100), chunk(1, 1, after: 37), chunk(3, 77, after: 0)]),
            ([0, 2], [chunk(0, 3, after: 250), chunk(2, 1, after: 200)]),
            ([0, 1, 2, 3], [chunk(0, 1, after: 253), chunk(1, 1, after: 38), chunk(2, 1, after: 201), chunk(3, 1, after: 77)]),
        ]
        let scale = 1 / Float(hd).squareRoot()
        let w: Int? = window > 0 ? window : nil
        for (i, step) in steps.enumerated() {
            let batch = ForwardBatch(chunks: step.chunks, blockSize: 16)
            let bg = gpu.prepare(batch)
            var qkvValues = random(batch.numTokens * layout.width, scale: 2)
            if i == 0 { addSpecials(&qkvValues, layout: layout, tokens: batch.numTokens) }
            let name =
                "h\(layout.numHeads)/\(layout.numKVHeads)x\(hd)" + (rotaryDim < hd ? " rotary \(rotaryDim)" : "")
                + (window > 0 ? " window \(window)" : "") + (cap.map { " softcap \(Int($0))" } ?? "") + " step \(i)"
            let paths = [("write_kv_cache_fp8", 0), ("rotary_write_kv_fp8", 1), ("rotary_norm_write_kv_fp8", 2)].filter {
                cap == nil || $0.1 > 0
            }
            for (path, at) in paths {
                let (cache, fused) = (caches[at], at > 0)
                var qkv = try gpu.upload(qkvValues, shape: [batch.numTokens, layout.width])
                var outputs: [(String, CUDATensor)] = []
                var codes: (keys: [UInt8], values: [UInt8]) = ([], [])
                for (kernel, warps, decode) in kernels(layout, decodeOnly: batch.isDecodeOnly) {
                    (gpu.flashPrefillWarps, gpu.useDecodeAttention) = (warps, decode)
                    if !outputs.isEmpty, cap == nil {
                        // The rotated keys and values again, through write_kv_cache_fp8: the same codes.
                        outputs.append(
                            (kernel, gpu.attention(qkv, layout: layout, cache: cache, layer: 0, batch: bg, scale: scale, slidingWindow: w)))
                        continue
                    }
                    if fused {
                        // Soft-capped, each kernel rotates a fresh copy (attention takes no cap); its keys
                        // and values go to the same slots again, as the same codes.
                        if !outputs.isEmpty { qkv = try gpu.upload(qkvValues, shape: [batch.numTokens, layout.width]) }
                        let out =
                            at == 2
                            ? gpu.normedRotaryAttention(
                                qkv, layout: layout, headNorm: headNorm, rope: rope, cache: cache, layer: 0, batch: bg, scale: scale,
                                slidingWindow: w, logitSoftCap: cap)
                            : gpu.rotaryAttention(
                                qkv, layout: layout, rope: rope, cache: cache, layer: 0, batch: bg, scale: scale, slidingWindow: w,
                                logitSoftCap: cap)
                        outputs.append((kernel, out))
                    } else {
                        gpu.rotary(qkv, layout: layout, rope: rope, batch: bg)
                        outputs.append(
                            (kernel, gpu.attention(qkv, layout: layout, cache: cache, layer: 0, batch: bg, scale: scale, slidingWindow: w)))
                    }
                    codes = gpu.kvCacheBytes(cache, layer: 0)
                }
                // The keys and values the GPU wrote (its rotation, read back), through the CPU cache.
                let rotated = gpu.toHost(qkv)
                let cpuQKV = try cpu.weight([HostTensor(shape: [batch.numTokens, layout.width], values: rotated)])
                _ = cpu.attention(
                    cpuQKV, layout: layout, cache: cpuCaches[at], layer: 0, batch: cpu.prepare(batch), scale: scale,
                    slidingWindow: w)
                let cpuCodes = cpuCaches[at].bytes(layer: 0)
                let written = writtenIndices(batch, layout: layout)
                let differing = written.filter { codes.keys[$0] != cpuCodes.keys[$0] || codes.values[$0] != cpuCodes.values[$0] }
                results.append(("\(path) codes vs cpu \(name)", Double(differing.count)))
                // Float64 attention over the GPU's codes times the scales.
                let expected = Float64Reference.attention(
                    codesReference(rotated, codes: codes, batch: batch, layout: layout), layout: layout, batch: batch,
                    sequences: step.sequences, history: &histories[at],
                    scale: Double(scale), slidingWindow: w, softCap: cap.map(Double.init))
                for (kernel, out) in outputs {
                    results.append(
                        (
                            "\(kernel) fp8 cache \(["", "rotary ", "rotary norm "][at])\(name)",
                            Float64Reference.relativeError(gpu.toHost(out), expected)
                        ))
                }
            }
        }
        return results
    }

    /// Steps of enough sequences that decode_attention runs unsplit (on the tensor cores for head
    /// sizes 64 and 128), which the four-sequence steps never reach: a prefill of every sequence,
    /// then one decode each, over an FP8 cache, against float64 attention over the written codes.
    private mutating func manySequencesCases(_ layout: QKVLayout) throws -> [(String, Double)] {
        let hd = layout.headDim
        let sequences = 4 * gpu.multiprocessors / layout.numKVHeads + 3
        let lengths = (0..<sequences).map { _ in Int.random(in: 1...70, using: &rng) }
        let perSequence = 5
        let format = KVCacheFormat(dtype: .fp8, scales: [Self.scales])
        let shape = KVCacheShape(
            numLayers: 1, numBlocks: sequences * perSequence, blockSize: 16, numKVHeads: layout.numKVHeads, headDim: hd, format: format)
        let cache = gpu.makeKVCache(shape)
        let tables = (0..<sequences).map { s in (0..<perSequence).map { Int32(s * perSequence + $0) } }
        let steps = [
            zip(lengths, tables).map { SequenceChunk(tokenIDs: Array(repeating: 1, count: $0), numCached: 0, blockTable: $1) },
            zip(lengths, tables).map { SequenceChunk(tokenIDs: [1], numCached: $0, blockTable: $1) },
        ]
        var history = Float64Reference.AttentionHistory()
        var results: [(String, Double)] = []
        let scale = 1 / Float(hd).squareRoot()
        gpu.useDecodeAttention = true
        for (i, chunks) in steps.enumerated() {
            let batch = ForwardBatch(chunks: chunks, blockSize: 16)
            let values = random(batch.numTokens * layout.width, scale: 2)
            let out = gpu.attention(
                try gpu.upload(values, shape: [batch.numTokens, layout.width]), layout: layout, cache: cache, layer: 0,
                batch: gpu.prepare(batch), scale: scale, slidingWindow: nil)
            let expected = Float64Reference.attention(
                codesReference(values, codes: gpu.kvCacheBytes(cache, layer: 0), batch: batch, layout: layout), layout: layout,
                batch: batch, sequences: Array(0..<sequences), history: &history, scale: Double(scale), slidingWindow: nil)
            let kernel = batch.isDecodeOnly ? "decode_attention" : "prefill attention"
            results.append(
                (
                    "\(kernel) fp8 cache h\(layout.numHeads)/\(layout.numKVHeads)x\(hd) \(sequences) sequences step \(i)",
                    Float64Reference.relativeError(gpu.toHost(out), expected)
                ))
        }
        return results
    }

    /// The step's qkv rows (float64) with its keys and values replaced by the codes the GPU wrote
    /// for them, times the scales.
    private func codesReference(
        _ values: [Float], codes: (keys: [UInt8], values: [UInt8]), batch: ForwardBatch, layout: QKVLayout
    ) -> [Double] {
        var reference = values.map(Double.init)
        for (t, slot) in batch.slotMapping.enumerated() where slot >= 0 {
            for g in 0..<layout.numKVHeads {
                for d in 0..<layout.headDim {
                    let at = cacheIndex(Int(slot), head: g, dim: d, layout: layout)
                    let row = t * layout.width + g * layout.headDim + d
                    reference[row + layout.keyOffset] = Double(FloatBits.float8E4M3ToFloat(codes.keys[at])) * Double(Self.scales.key)
                    reference[row + layout.valueOffset] =
                        Double(FloatBits.float8E4M3ToFloat(codes.values[at])) * Double(Self.scales.value)
                }
            }
        }
        return reference
    }

    /// The attention kernels a step takes over an FP8 cache: (label, flashPrefillWarps, useDecodeAttention).
    private func kernels(_ layout: QKVLayout, decodeOnly: Bool) -> [(String, Int, Bool)] {
        let hd = layout.headDim, group = layout.numHeads / layout.numKVHeads
        let sixteenBit = gpu.computeDType != .float32
        var list: [(String, Int, Bool)] = []
        if sixteenBit, decodeOnly, [64, 128].contains(hd), group <= 8 { list.append(("decode_attention", 4, true)) }
        if sixteenBit, !decodeOnly {
            for warps in [8, 4] where gpu.hasFlashPrefill(headDim: hd, warps: warps) && group <= 16 * warps {
                list.append(("flash_prefill w\(warps)", warps, true))
            }
        }
        // Neither: flash_attention has no FP8 twin, so paged_attention serves the step.
        list.append(("paged_attention", 0, false))
        return list
    }

    /// Byte index of (slot, kv head, dimension) in a layer of the cache ([block, head, slot, dim], one byte a code).
    private func cacheIndex(_ slot: Int, head: Int, dim: Int, layout: QKVLayout) -> Int {
        ((slot / 16 * layout.numKVHeads + head) * 16 + slot % 16) * layout.headDim + dim
    }

    /// The byte indices of every code the batch writes.
    private func writtenIndices(_ batch: ForwardBatch, layout: QKVLayout) -> [Int] {
        batch.slotMapping.filter { $0 >= 0 }.flatMap { slot in
            (0..<layout.numKVHeads).flatMap { g in
                (0..<layout.headDim).map { cacheIndex(Int(slot), head: g, dim: $0, layout: layout) }
            }
        }
    }

    /// Values in ±`scale`, rounded to the compute dtype.
    private mutating func random(_ count: Int, scale: Float) -> [Float] {
        (0..<count).map { _ in round(Float.random(in: -1...1, using: &rng) * scale) }
    }

    /// One key and one value element of each token and kv head made special: one that saturates
    /// (±600), is tiny (an e4m3 subnormal or zero after the scale) or is ±0. One a row keeps the
    /// scores within float32's reach of the reference.
    private func addSpecials(_ qkv: inout [Float], layout: QKVLayout, tokens: Int) {
        let special: [Float] = [600, -600, 2e-4, -3e-5, 0, -0.0, 1e-7]
        for t in 0..<tokens {
            for g in 0..<layout.numKVHeads {
                let row = t * layout.width + g * layout.headDim
                qkv[row + layout.keyOffset + t % layout.headDim] = round(special[(t + g) % special.count])
                qkv[row + layout.valueOffset + (t + 1) % layout.headDim] = round(special[(t + g + 3) % special.count])
            }
        }
    }
}
