import CVLLMSupport
import Foundation
import VLLMCore

/// The CPU backend: float32 compute with Swift SIMD on all cores. It is the reference for
/// correctness and runs everywhere, CI included.
///
/// Weights stored as bfloat16 stay bfloat16 (half the memory traffic of a decode step; widened to
/// float32 in the kernels); float16 and float32 weights become float32.
public final class CPUBackend: Backend {
    /// A tensor in host memory.
    public typealias Tensor = CPUTensor
    /// A step's batch, as the host already has it.
    public typealias Batch = CPUBatch
    /// The paged KV cache in host memory.
    public typealias KVCache = CPUKVCache

    /// `"cpu"`.
    public let name = "cpu"

    /// Whether bfloat16 weights are kept as bfloat16 (true) or widened to float32 at load time.
    public let keepsBFloat16: Bool

    /// The tensor-parallel group and this backend's rank in it (nil for a single rank).
    public let group: InProcessGroup?
    /// This backend's rank in `group` (0 for a single rank).
    public let rank: Int
    /// Batch-invariant mode (`--batch-invariant`). The dense kernels already compute a token's result
    /// in an order of its own; quantized weights give up their decode kernels for the dequantized
    /// tiles that larger steps take (docs/deterministic-mode.md).
    public let batchInvariant: Bool
    /// What GGUF blocks and packed integers (GPTQ, AWQ, compressed-tensors) meet: float32
    /// activations, or 8-bit ones in every step (`GGMLInt8Decode`, `PackedInt8Decode`), whose sums
    /// for a token do not depend on the step, so also with `batchInvariant`.
    public let quantizedActivations: ActivationPrecision

    /// A backend of one rank, or rank `rank` of `group`; `keepsBFloat16` keeps bfloat16 matrices as
    /// bfloat16; `batchInvariant` sends quantized weights' decode steps through the tiles;
    /// `quantizedActivations` picks the GGUF and packed-integer kernels (int8 only where
    /// `GGMLInt8Decode.available`).
    public init(
        keepsBFloat16: Bool = true, group: InProcessGroup? = nil, rank: Int = 0, batchInvariant: Bool = false,
        quantizedActivations: ActivationPrecision = .float32
    ) {
        // Activations are allocated and freed every step; above glibc's default 128 KiB threshold
        // each one would be a fresh mmap whose pages the kernel zeroes again (a tenth of a decode
        // step in a profile). Keeping them in the heap reuses the same pages.
        vllm_keep_large_allocations_in_heap()
        self.keepsBFloat16 = keepsBFloat16
        self.group = group
        self.rank = rank
        self.batchInvariant = batchInvariant
        self.quantizedActivations = GGMLInt8Decode.available ? quantizedActivations : .float32
    }

    /// Copies the parts into one tensor stacked along the first dimension: bfloat16 matrices stay bfloat16 when `keepsBFloat16`, everything
    /// else becomes float32.
    public func weight(_ parts: [HostTensor]) throws -> CPUTensor {
        let first = parts[0]
        let rows = parts.reduce(0) { $0 + ($1.shape.first ?? 1) }
        let shape = first.shape.count <= 1 ? [parts.reduce(0) { $0 + $1.count }] : [rows] + first.shape.dropFirst()
        let allBF16 = parts.allSatisfy { $0.dtype == .bfloat16 }
        if keepsBFloat16 && allBF16 && shape.count == 2 {
            let tensor = CPUTensor(shape: shape, dtype: .bfloat16)
            var at = tensor.bfloat16Bits
            for part in parts {
                at.update(from: part.bytes.assumingMemoryBound(to: UInt16.self), count: part.count)
                at += part.count
            }
            return tensor
        }
        let tensor = CPUTensor(shape: shape)
        var at = tensor.floats
        for part in parts {
            part.convert(to: at)
            at += part.count
        }
        return tensor
    }

    /// A zeroed cache in the shape's format (float32, or FP8 codes with scales).
    public func makeKVCache(_ shape: KVCacheShape) -> CPUKVCache { CPUKVCache(shape) }

    /// Keys and values of one block over all layers, in bytes of the cache's element type.
    public func kvCacheBytesPerBlock(_ shape: KVCacheShape) -> Int {
        2 * shape.numLayers * shape.blockSize * shape.numKVHeads * shape.headDim * CPUKVCache.elementSize(shape.format)
    }

    /// float32 (`auto`) and FP8 e4m3 codes with per-layer scales.
    public var kvCacheDTypes: [KVCacheDType] { [.auto, .fp8] }

    /// Wraps the batch; the host reads it where it is.
    public func prepare(_ batch: ForwardBatch) -> CPUBatch { CPUBatch(batch) }

    /// The whole vocabulary: `embedding(table, batch, firstTokenID: 0)`.
    public func embedding(_ table: CPUTensor, _ batch: CPUBatch) -> CPUTensor {
        embedding(table, batch, firstTokenID: 0)
    }

    /// Rows for the ids in this rank's range, zeros for the others; a placeholder id traps (the model resolves them first).
    public func embedding(_ table: CPUTensor, _ batch: CPUBatch, firstTokenID: Int) -> CPUTensor {
        let hidden = table.columns
        let ids = batch.batch.tokenIDs
        let out = CPUTensor(shape: [ids.count, hidden])
        for (t, id) in ids.enumerated() {
            precondition(id >= 0, "a placeholder token id reached the CPU backend (the model resolves them)")
            let destination = out.floats + t * hidden
            let local = Int(id) - firstTokenID
            guard (0..<table.rows).contains(local) else {
                destination.initialize(repeating: 0, count: hidden)
                continue
            }
            let row = local * hidden
            if table.dtype == .bfloat16 {
                for i in 0..<hidden { destination[i] = FloatBits.bfloat16ToFloat(table.bfloat16Bits[row + i]) }
            } else {
                destination.update(from: table.floats + row, count: hidden)
            }
        }
        return out
    }

    /// RMSNorm of each row, rows spread over the cores.
    public func rmsNorm(_ x: CPUTensor, weight: CPUTensor, eps: Float) -> CPUTensor {
        let out = CPUTensor(shape: x.shape)
        let n = x.columns
        ParallelFor.run(x.rows, costPerItem: n * 4) { rows in
            for r in rows { Self.normalize(x.floats + r * n, weight.floats, out.floats + r * n, n, eps) }
        }
        return out
    }

    /// Adds `x` into `residual` in place and returns the RMSNorm of the sum, row by row.
    public func addRMSNorm(_ x: CPUTensor, residual: CPUTensor, weight: CPUTensor, eps: Float) -> CPUTensor {
        let out = CPUTensor(shape: x.shape)
        let n = x.columns
        ParallelFor.run(x.rows, costPerItem: n * 4) { rows in
            for r in rows {
                let res = residual.floats + r * n, input = x.floats + r * n
                for i in 0..<n { res[i] += input[i] }
                Self.normalize(res, weight.floats, out.floats + r * n, n, eps)
            }
        }
        return out
    }

    /// One row of RMSNorm, in the order transformers computes it: mean of squares, rsqrt, scale, weight.
    @inline(__always)
    static func normalize(
        _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int, _ eps: Float
    ) {
        var squares: Float = 0
        for i in 0..<n { squares += x[i] * x[i] }
        let inverse = 1 / (squares / Float(n) + eps).squareRoot()
        for i in 0..<n { out[i] = w[i] * (x[i] * inverse) }
    }

    /// The product over all cores, then the bias.
    public func linear(_ x: CPUTensor, weight: CPUTensor, bias: CPUTensor?) -> CPUTensor {
        let (T, K, N) = (x.rows, x.columns, weight.shape[0])
        precondition(weight.columns == K, "linear: input has \(K) columns, weight \(weight.shape)")
        let out = CPUTensor(shape: [T, N])
        multiply(x.floats, tokens: T, weight, rows: 0..<N, into: out.floats)
        if let bias { Self.addBias(bias, to: out) }
        return out
    }

    /// Adds `bias` to every row of `out`.
    static func addBias(_ bias: CPUTensor, to out: CPUTensor) {
        let n = out.columns
        for t in 0..<out.rows {
            let row = out.floats + t * n
            for i in 0..<n { row[i] += bias.floats[i] }
        }
    }

    /// `out = x · weight[rows]ᵀ` for `tokens` rows of `x`: a product with some rows of a
    /// weight (all of them for `linear`, one expert's for a stacked mixture of experts).
    func multiply(
        _ x: UnsafePointer<Float>, tokens: Int, _ weight: CPUTensor, rows: Range<Int>, into out: UnsafeMutablePointer<Float>
    ) {
        let k = weight.columns
        if weight.dtype == .bfloat16 {
            weight.storage.withMemoryRebound(to: BFloat16Bits.self, capacity: weight.count) { w in
                MatMul.multiply(x: x, w: w + rows.lowerBound * k, out: out, T: tokens, N: rows.count, K: k)
            }
        } else {
            MatMul.multiply(x: x, w: weight.floats + rows.lowerBound * k, out: out, T: tokens, N: rows.count, K: k)
        }
    }

    /// In place: RMSNorm over each query head with `qWeight` and each key head with `kWeight`.
    public func headRMSNorm(_ qkv: CPUTensor, layout: QKVLayout, qWeight: CPUTensor, kWeight: CPUTensor, eps: Float) {
        let hd = layout.headDim
        for t in 0..<qkv.rows {
            let row = qkv.floats + t * layout.width
            for h in 0..<layout.numHeads { Self.normalize(row + h * hd, qWeight.floats, row + h * hd, hd, eps) }
            for g in 0..<layout.numKVHeads {
                let head = row + layout.keyOffset + g * hd
                Self.normalize(head, kWeight.floats, head, hd, eps)
            }
        }
    }

    /// In place: rotates q and k by their positions; a table narrower than a head rotates only its first dimensions (partial rotary).
    public func rotary(_ qkv: CPUTensor, layout: QKVLayout, rope: CPUTensor, batch: CPUBatch) {
        // The table's width is the rotary dimension: narrower than the head for partial rotary.
        let hd = layout.headDim, rotaryDim = rope.columns, half = rotaryDim / 2
        precondition(rotaryDim <= hd, "rotary table wider (\(rotaryDim)) than a head (\(hd))")
        let positions = batch.batch.positions
        precondition(Int(positions.max() ?? 0) < rope.rows, "position beyond the rotary table (\(rope.rows))")
        for t in 0..<qkv.rows {
            let row = qkv.floats + t * layout.width
            let table = rope.floats + Int(positions[t]) * rotaryDim
            for head in 0..<(layout.numHeads + layout.numKVHeads) {
                let x = row + head * hd
                for i in 0..<half {
                    let (c, s) = (table[i], table[half + i])
                    let (x1, x2) = (x[i], x[half + i])
                    x[i] = x1 * c - x2 * s
                    x[half + i] = x2 * c + x1 * s
                }
            }
        }
    }

    /// Writes the keys and values into the cache, then causal attention over the cached sequence (no soft cap).
    public func attention(
        _ qkv: CPUTensor, layout: QKVLayout, cache: CPUKVCache, layer: Int, batch: CPUBatch, scale: Float,
        slidingWindow: Int?
    ) -> CPUTensor {
        attention(qkv, layout: layout, cache: cache, layer: layer, batch: batch, scale: scale, slidingWindow: slidingWindow, softCap: nil)
    }

    /// `attention` with the scores soft-capped when `softCap` is set.
    func attention(
        _ qkv: CPUTensor, layout: QKVLayout, cache: CPUKVCache, layer: Int, batch: CPUBatch, scale: Float,
        slidingWindow: Int?, softCap: Float?
    ) -> CPUTensor {
        PagedAttention.writeCache(qkv: qkv.floats, layout: layout, cache: cache, layer: layer, batch: batch.batch)
        let out = CPUTensor(shape: [qkv.rows, layout.numHeads * layout.headDim])
        PagedAttention.attend(
            qkv: qkv.floats, layout: layout, cache: cache, layer: layer, batch: batch, scale: scale,
            slidingWindow: slidingWindow, softCap: softCap, out: out.floats)
        return out
    }

    /// SiLU of the first half of each row times its second half.
    public func siluAndMul(_ x: CPUTensor) -> CPUTensor {
        let n = x.columns / 2
        let out = CPUTensor(shape: [x.rows, n])
        ParallelFor.run(x.rows, costPerItem: n * 8) { rows in
            for r in rows {
                let gate = x.floats + r * 2 * n, up = gate + n, o = out.floats + r * n
                VectorMath.siluAndMul(gate: gate, up: up, out: o, count: n)
            }
        }
        return out
    }

    /// Copies the rows named by the batch's `logitIndices`.
    public func gatherLogitRows(_ x: CPUTensor, batch: CPUBatch) -> CPUTensor {
        let n = x.columns
        let indices = batch.batch.logitIndices
        let out = CPUTensor(shape: [indices.count, n])
        for (i, row) in indices.enumerated() { (out.floats + i * n).update(from: x.floats + Int(row) * n, count: n) }
        return out
    }

    /// The tensor's float32 values, row-major.
    public func toHost(_ x: CPUTensor) -> [Float] { x.toArray() }

    /// Sums `x` over the group's ranks in place; nothing for a single rank.
    public func allReduce(_ x: CPUTensor) {
        group?.allReduce(rank: rank, x.floats, count: x.count)
    }

    /// Every rank's columns side by side in rank order; `x` itself for a single rank.
    public func allGatherColumns(_ x: CPUTensor, totalColumns: Int) -> CPUTensor {
        guard let group else { return x }
        let out = CPUTensor(shape: [x.rows, totalColumns])
        group.allGatherColumns(
            rank: rank, x.floats, rows: x.rows, columns: x.columns, into: out.floats, totalColumns: totalColumns)
        return out
    }
}
