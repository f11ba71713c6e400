import VLLMCore

/// `out[t, n] = Σ_k x[t, k] · w[n, k]` for weights that stay packed in memory (4- and 8-bit
/// integers, FP8, lookup tables) and more tokens than `PackedDecode` takes: each thread
/// dequantizes a few weight rows into a small float32 tile that stays in cache, then runs the
/// dense register tiles of `MatMul` over it for every token.
enum PackedMatMul {
    /// `dequantize(n, row)` writes the `K` float32 weights of output row `n` into `row`; results
    /// go to columns `0..<N` of `out`, whose rows are `outStride` apart.
    static func multiply(
        x: UnsafePointer<Float>, T: Int, K: Int, N: Int, out: UnsafeMutablePointer<Float>, outStride: Int,
        dequantize: (Int, UnsafeMutablePointer<Float>) -> Void
    ) {
        // Enough rows to amortise the tile over the tokens, few enough to stay in L2.
        let rowsPerTile = max(2, min(32, (64 * 1024) / max(1, K * 4)) & ~1)
        ParallelFor.run((N + 7) / 8, costPerItem: 8 * K * max(T, 4)) { range in
            let tile = MatMul.tileBuffer(rowsPerTile * K)
            defer { tile.deallocate() }
            var n = range.lowerBound * 8
            let end = min(N, range.upperBound * 8)
            while n < end {
                let rows = min(rowsPerTile, end - n)
                for r in 0..<rows { dequantize(n + r, tile + r * K) }
                MatMul.multiplyBlock(x: x, w: UnsafePointer(tile), out: out + n, T: T, N: outStride, K: K, rows: 0..<rows)
                n += rows
            }
        }
    }

    /// Row `n` of a `WeightFormat.packedInt` matrix: `(q - zero) · scale` per group.
    @inline(__always)
    static func dequantizePackedInt(
        row n: Int, packed: UnsafePointer<UInt32>, scales: UnsafePointer<Float>, zeros: UnsafePointer<Float>,
        bits: Int, groupSize: Int, K: Int, into out: UnsafeMutablePointer<Float>
    ) {
        let perWord = 32 / bits, mask = UInt32((1 << bits) - 1), groups = K / groupSize
        let words = packed + n * (K / perWord)
        for g in 0..<groups {
            let scale = scales[n * groups + g], zero = zeros[n * groups + g]
            var k = g * groupSize
            let end = k + groupSize
            while k + 8 <= end {
                let w = (floats(unpack(words, k, bits: bits)) - zero) * scale
                UnsafeMutableRawPointer(out + k).storeBytes(of: w, as: SIMD8<Float>.self)
                k += 8
            }
            while k < end {
                let q = (words[k / perWord] >> UInt32((k % perWord) * bits)) & mask
                out[k] = (Float(q) - zero) * scale
                k += 1
            }
        }
    }

    /// Row `n` of a `WeightFormat.fp8` matrix: the e4m3 value times its block's scale.
    @inline(__always)
    static func dequantizeFP8(
        row n: Int, codes: UnsafePointer<UInt8>, scales: UnsafePointer<Float>, blockColumns: Int, K: Int,
        table: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>
    ) {
        let blocks = (K + blockColumns - 1) / blockColumns
        let row = codes + n * K
        for b in 0..<blocks {
            let scale = scales[n * blocks + b]
            var k = b * blockColumns
            let end = min(K, k + blockColumns)
            while k + 8 <= end {
                UnsafeMutableRawPointer(out + k).storeBytes(of: FP8Rows.decode(row + k) * scale, as: SIMD8<Float>.self)
                k += 8
            }
            while k < end {
                out[k] = table[Int(row[k])] * scale
                k += 1
            }
        }
    }

    /// A `WeightFormat.lookupTable` matrix of 4-bit indices: rows dequantized in the interleaved
    /// order of `LookupRows` (8 values per five instructions), the activations reordered once to match.
    static func multiplyLookup(
        x: UnsafePointer<Float>, T: Int, K: Int, N: Int, packed: UnsafePointer<UInt32>, table: UnsafePointer<Float>,
        out: UnsafeMutablePointer<Float>, outStride: Int
    ) {
        precondition(K % 8 == 0)
        let weights = LookupRows(packed: packed, table: table, K: K)
        weights.withInterleaved(x, T: T) { x in
            multiply(x: x, T: T, K: weights.width, N: N, out: out, outStride: outStride) { n, row in
                weights.dequantize(row: n, into: row)
            }
        }
    }
}
