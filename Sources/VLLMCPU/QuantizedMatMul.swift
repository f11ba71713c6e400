import VLLMCore

/// `out[t, n] = Σ_k x[t, k] · w[n, k]` for a weight whose rows are ggml blocks (a GGUF tensor),
/// parallel over the rows of `w`, without the weight ever being expanded in memory.
///
/// Few tokens (decode): block types are decoded in registers (`GGMLDecode`); plain float rows
/// (F32/F16/BF16 tensors of a GGUF file) go value by value. Many tokens (prefill): a tile of rows is
/// decoded into a per-thread float32 buffer and the dense tile kernels of `MatMul` pass every
/// token over it, so the decoding is paid once per row for all tokens. With 8-bit activations
/// (`--quantized-activations int8`) block types take `GGMLInt8Decode` in steps of every size.
enum QuantizedMatMul {
    /// Rows decoded at a time for prefill.
    static let tileRows = 16
    /// Token counts from which prefill tiles pay for themselves.
    static let tileTokens = 4

    /// Writes columns `0..<N` of `out` (whose rows are `outStride` apart) for the `T` rows of `x`
    /// (`K` columns) and the `N` rows of `w`, each `type.rowBytes(K)` bytes; block types meet 8-bit
    /// activations in every step when `int8Activations` (`GGMLInt8Decode`). Otherwise, without
    /// `decodeKernels` (batch-invariant mode) every step takes the tiles, whose sums for a token
    /// are the same whatever the step's size.
    static func multiply(
        x: UnsafePointer<Float>, w: UnsafeRawPointer, type: GGMLType, out: UnsafeMutablePointer<Float>, outStride: Int,
        T: Int, N: Int, K: Int, int8Activations: Bool = false, decodeKernels: Bool = true
    ) {
        let rowBytes = type.rowBytes(K)
        let decode = decodeKernels && T < tileTokens
        // The 8-bit path gives a token the same sums whatever the step's size, so it serves every step.
        if int8Activations && type.floatDType == nil {
            GGMLInt8Decode.multiply(x: x, w: w, type: type, out: out, outStride: outStride, T: T, N: N, K: K)
            return
        }
        if decode && type.floatDType == nil {
            GGMLDecode.multiply(x: x, w: w, type: type, out: out, outStride: outStride, T: T, N: N, K: K)
            return
        }
        if decode {
            ParallelFor.run(N, costPerItem: K * T * 2) { rows in
                // The switch on the type is outside the row loop, so each loop is specialised.
                switch type {
                case .f32: dotRows(rows, .f32, x: x, w: w, rowBytes: rowBytes, out: out, outStride: outStride, T: T, K: K)
                case .f16: dotRows(rows, .f16, x: x, w: w, rowBytes: rowBytes, out: out, outStride: outStride, T: T, K: K)
                default: dotRows(rows, .bf16, x: x, w: w, rowBytes: rowBytes, out: out, outStride: outStride, T: T, K: K)
                }
            }
            return
        }
        ParallelFor.run((N + tileRows - 1) / tileRows, costPerItem: tileRows * K * T * 2) { tiles in
            let tile = MatMul.tileBuffer(tileRows * K)
            defer { tile.deallocate() }
            for index in tiles {
                let first = index * tileRows
                let count = min(tileRows, N - first)
                for r in 0..<count { type.dequantize(w + (first + r) * rowBytes, count: K, to: tile + r * K) }
                MatMul.multiplyBlock(x: x, w: UnsafePointer(tile), out: out + first, T: T, N: outStride, K: K, rows: 0..<count)
            }
        }
    }

    /// Rows `rows` of `out` as dot products of each row with each token, block by block (used for
    /// the plain float types).
    @inline(__always)
    static func dotRows(
        _ rows: Range<Int>, _ type: GGMLType, x: UnsafePointer<Float>, w: UnsafeRawPointer, rowBytes: Int,
        out: UnsafeMutablePointer<Float>, outStride: Int, T: Int, K: Int
    ) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 256) { buffer in
            let block = buffer.baseAddress!
            let (size, bytes) = (type.blockSize, type.blockBytes)
            for n in rows {
                var sums = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
                let row = w + n * rowBytes
                var k = 0
                while k < K {
                    type.decodeBlock(row + (k / size) * bytes, to: block)
                    if size == 1 {
                        // Plain floats: one value per "block".
                        sums.0[0] += x[k] * block[0]
                        if T > 1 { sums.1[0] += x[K + k] * block[0] }
                        if T > 2 { sums.2[0] += x[2 * K + k] * block[0] }
                        k += 1
                        continue
                    }
                    var i = 0
                    while i < size {
                        let v = UnsafeRawPointer(block + i).loadUnaligned(as: SIMD8<Float>.self)
                        sums.0.addProduct(Float.load8(x + k + i), v)
                        if T > 1 { sums.1.addProduct(Float.load8(x + K + k + i), v) }
                        if T > 2 { sums.2.addProduct(Float.load8(x + 2 * K + k + i), v) }
                        i += 8
                    }
                    k += size
                }
                out[n] = sums.0.sum()
                if T > 1 { out[outStride + n] = sums.1.sum() }
                if T > 2 { out[2 * outStride + n] = sums.2.sum() }
            }
        }
    }
}
