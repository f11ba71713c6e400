import CVLLMSupport

#if arch(x86_64)
    import _Builtin_intrinsics.intel
#endif

/// A weight element type that the matrix kernels read eight at a time as float32.
protocol WeightElement {
    static func load8(_ p: UnsafePointer<Self>) -> SIMD8<Float>
    static func load1(_ p: UnsafePointer<Self>) -> Float
}

extension Float: WeightElement {
    @inline(__always) static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }
    @inline(__always) static func load1(_ p: UnsafePointer<Float>) -> Float { p.pointee }
}

/// bfloat16 bits; widening to float32 is a shift, cheap next to the memory traffic it saves.
struct BFloat16Bits: WeightElement {
    var bits: UInt16
    @inline(__always) static func load8(_ p: UnsafePointer<BFloat16Bits>) -> SIMD8<Float> {
        #if arch(x86_64)
            // The widening in one instruction: the generic SIMD conversion is left as a call when
            // the optimizer's inlining shifts (it halved the bf16 decode once).
            let narrow = _mm_loadu_si128(UnsafeRawPointer(p).assumingMemoryBound(to: __m128i.self))
            return unsafeBitCast(_mm256_slli_epi32(_mm256_cvtepu16_epi32(narrow), 16), to: SIMD8<Float>.self)
        #else
            let narrow = UnsafeRawPointer(p).loadUnaligned(as: SIMD8<UInt16>.self)
            return unsafeBitCast(SIMD8<UInt32>(truncatingIfNeeded: narrow) &<< 16, to: SIMD8<Float>.self)
        #endif
    }
    @inline(__always) static func load1(_ p: UnsafePointer<BFloat16Bits>) -> Float {
        Float(bitPattern: UInt32(p.pointee.bits) << 16)
    }
}

/// `out[t, n] = Σ_k x[t, k] · w[n, k]` for row-major `x [T, K]` and `w [N, K]` (the layout of a
/// Hugging Face linear weight), parallel over the rows of `w`.
///
/// Register tiles of 2 weight rows × 4 tokens keep the FMA units busy for prefill; decode (few
/// tokens) uses 4 weight rows × 1 token, where the weight stream from memory is the limit. Weight
/// rows are taken in blocks that stay in L2 while every group of tokens passes over them.
///
/// Every kernel sums a (row, token) pair the same way: eight lanes, lane `j` taking `k ≡ j (mod 8)`
/// in order, then the lanes' sum, then the last `K mod 8` products one by one. So a token's output
/// does not depend on how many tokens share its step (the CPU's `--batch-invariant` mode).
public enum MatMul {
    @_specialize(where W == Float)
    @_specialize(where W == BFloat16Bits)
    static func multiply<W: WeightElement>(
        x: UnsafePointer<Float>, w: UnsafePointer<W>, out: UnsafeMutablePointer<Float>, T: Int, N: Int, K: Int
    ) {
        let rowBlock = max(8, (192 * 1024) / max(1, K * MemoryLayout<W>.stride) & ~7)
        ParallelFor.run((N + 7) / 8, costPerItem: 8 * K * T) { range in
            let nStart = range.lowerBound * 8
            let nEnd = min(N, range.upperBound * 8)
            var block = nStart
            while block < nEnd {
                let blockEnd = min(nEnd, block + rowBlock)
                multiplyBlock(x: x, w: w, out: out, T: T, N: N, K: K, rows: block..<blockEnd)
                block = blockEnd
            }
        }
    }

    /// Rows `rows` of `out` (stride `N`) from the same rows of `w`, for every token.
    @inline(__always)
    static func multiplyBlock<W: WeightElement>(
        x: UnsafePointer<Float>, w: UnsafePointer<W>, out: UnsafeMutablePointer<Float>, T: Int, N: Int, K: Int,
        rows: Range<Int>
    ) {
        let grouped = T & ~3
        if grouped > 0 { multiplyGroups(x: x, w: w, out: out, T: grouped, N: N, K: K, rows: rows) }
        for t in grouped..<T {
            var n = rows.lowerBound
            while n + 4 <= rows.upperBound {
                tile4x1(x: x + t * K, w: w + n * K, out: out + t * N + n, K: K)
                n += 4
            }
            while n < rows.upperBound {
                out[t * N + n] = dot(x + t * K, w + n * K, K)
                n += 1
            }
        }
    }

    /// A buffer for `count` floats that a tile kernel reads: 64-byte aligned, so that no 8-float
    /// load of a row starting at a multiple of 8 straddles two cache lines (the allocator's 16-byte
    /// alignment split every other one). Deallocate it with `deallocate()`.
    static func tileBuffer(_ count: Int) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.stride, alignment: 64)
            .bindMemory(to: Float.self, capacity: count)
    }

    /// Rows of weights whose slice stays in L1 while every token group passes over it.
    static let sliceRows = 16
    /// Columns per slice: 16 float32 rows of 256 are 16 KB, four tokens' slices 4 KB more.
    static let sliceColumns = 256
    /// Tokens whose running sums are kept at a time (16 rows × 64 tokens × 32 bytes = 32 KB).
    static let tokenBlock = 64

    /// Prefill for `T` tokens (a multiple of four). K is taken a slice at a time, so that both
    /// operands of the register tile come from L1 (a whole row of 4864 values and four tokens' rows
    /// do not fit); between slices each (row, token) pair keeps its eight lanes in `sums`, which
    /// continues each lane's chain exactly where the slice before left it.
    private static func multiplyGroups<W: WeightElement>(
        x: UnsafePointer<Float>, w: UnsafePointer<W>, out: UnsafeMutablePointer<Float>, T: Int, N: Int, K: Int,
        rows: Range<Int>
    ) {
        let vectorK = K & ~7
        withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: sliceRows * tokenBlock) { buffer in
            let sums = buffer.baseAddress!
            var r0 = rows.lowerBound
            while rows.upperBound - r0 >= 2 {
                let rowCount = min(sliceRows, rows.upperBound - r0) & ~1
                var t0 = 0
                while t0 < T {
                    let tokens = min(tokenBlock, T - t0)
                    sums.update(repeating: SIMD8(), count: sliceRows * tokens)
                    var k0 = 0
                    while k0 < vectorK {
                        let k1 = min(vectorK, k0 + sliceColumns)
                        for t in stride(from: 0, to: tokens, by: 4) {
                            for r in stride(from: 0, to: rowCount, by: 2) {
                                tile2x4(
                                    x: x + (t0 + t) * K, w: w + (r0 + r) * K, K: K, columns: k0..<k1,
                                    sums: sums + t * sliceRows + r)
                            }
                        }
                        k0 = k1
                    }
                    for t in 0..<tokens {
                        for r in 0..<rowCount {
                            out[(t0 + t) * N + r0 + r] = total(
                                sums[t * sliceRows + r], x + (t0 + t) * K, w + (r0 + r) * K, from: vectorK, to: K)
                        }
                    }
                    t0 += tokens
                }
                r0 += rowCount
            }
            if r0 < rows.upperBound {
                for t in 0..<T { out[t * N + r0] = dot(x + t * K, w + r0 * K, K) }
            }
        }
    }

    /// Two weight rows × four tokens over `columns` (multiples of 8), continuing the running sums
    /// at `sums` (token `t`, row `r` at `t · sliceRows + r`).
    @inline(__always)
    private static func tile2x4<W: WeightElement>(
        x: UnsafePointer<Float>, w: UnsafePointer<W>, K: Int, columns: Range<Int>, sums: UnsafeMutablePointer<SIMD8<Float>>
    ) {
        let (s0, s1, s2, s3) = (sums, sums + sliceRows, sums + 2 * sliceRows, sums + 3 * sliceRows)
        var a00 = s0[0], a01 = s0[1], a10 = s1[0], a11 = s1[1]
        var a20 = s2[0], a21 = s2[1], a30 = s3[0], a31 = s3[1]
        let w1 = w + K
        let x1 = x + K, x2 = x + 2 * K, x3 = x + 3 * K
        var k = columns.lowerBound
        while k < columns.upperBound {
            let v0 = W.load8(w + k), v1 = W.load8(w1 + k)
            let u0 = Float.load8(x + k), u1 = Float.load8(x1 + k)
            let u2 = Float.load8(x2 + k), u3 = Float.load8(x3 + k)
            a00.addProduct(u0, v0); a01.addProduct(u0, v1)
            a10.addProduct(u1, v0); a11.addProduct(u1, v1)
            a20.addProduct(u2, v0); a21.addProduct(u2, v1)
            a30.addProduct(u3, v0); a31.addProduct(u3, v1)
            k += 8
        }
        s0[0] = a00; s0[1] = a01; s1[0] = a10; s1[1] = a11
        s2[0] = a20; s2[1] = a21; s3[0] = a30; s3[1] = a31
    }

    /// Decode's tile: four weight rows, one token. Rows of a few KB (an LM head's 576 or 896
    /// inputs) end before the hardware prefetcher has ramped up, so each iteration asks for the
    /// next tile's line as far ahead as this one reads (the four rows are contiguous).
    @inline(__always)
    private static func tile4x1<W: WeightElement>(
        x: UnsafePointer<Float>, w: UnsafePointer<W>, out: UnsafeMutablePointer<Float>, K: Int
    ) {
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        let w1 = w + K, w2 = w + 2 * K, w3 = w + 3 * K
        // The next tile is 4·K elements; an iteration moves 8 along K, so 32 elements of it.
        let (ahead, step) = (UnsafeRawPointer(w + 4 * K), 32 * MemoryLayout<W>.stride)
        var k = 0
        while k + 8 <= K {
            let next = ahead + (k / 8) * step
            vllm_prefetch(next)
            if step > 64 { vllm_prefetch(next + 64) }
            let u = Float.load8(x + k)
            a0.addProduct(u, W.load8(w + k))
            a1.addProduct(u, W.load8(w1 + k))
            a2.addProduct(u, W.load8(w2 + k))
            a3.addProduct(u, W.load8(w3 + k))
            k += 8
        }
        out[0] = total(a0, x, w, from: k, to: K)
        out[1] = total(a1, x, w1, from: k, to: K)
        out[2] = total(a2, x, w2, from: k, to: K)
        out[3] = total(a3, x, w3, from: k, to: K)
    }

    @inline(__always)
    static func dot<W: WeightElement>(_ x: UnsafePointer<Float>, _ w: UnsafePointer<W>, _ K: Int) -> Float {
        var a = SIMD8<Float>()
        var k = 0
        while k + 8 <= K {
            a.addProduct(Float.load8(x + k), W.load8(w + k))
            k += 8
        }
        return total(a, x, w, from: k, to: K)
    }

    /// A (row, token) pair's output from its eight running lanes: their sum, then the products of
    /// columns `from..<K` one by one. Every kernel ends through here, which is what keeps a token's
    /// output the same whichever tile computed it.
    @inline(__always)
    static func total<W: WeightElement>(
        _ lanes: SIMD8<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<W>, from start: Int, to K: Int
    ) -> Float {
        var s = lanes.sum()
        for k in start..<K { s += x[k] * W.load1(w + k) }
        return s
    }
}

extension MatMul {
    /// Runs twelve independent chains of 8-lane fused multiply-adds on this thread (enough to
    /// cover the FMA latency on two pipes) and returns the floating-point operations done: what
    /// `vllm-dev bench-kernels` times as the ceiling of the matrix kernels on this core.
    public static func measureFMAPeak(iterations: Int = 50_000_000) -> Double {
        let (a, b) = (SIMD8<Float>(repeating: 0.999_999), SIMD8<Float>(repeating: 1e-7))
        var c = [SIMD8<Float>](repeating: SIMD8(), count: 12)
        c.withUnsafeMutableBufferPointer { c in
            var (c0, c1, c2, c3, c4, c5) = (c[0], c[1], c[2], c[3], c[4], c[5])
            var (c6, c7, c8, c9, c10, c11) = (c[6], c[7], c[8], c[9], c[10], c[11])
            for _ in 0..<iterations {
                c0.addProduct(a, b); c1.addProduct(a, b); c2.addProduct(a, b); c3.addProduct(a, b)
                c4.addProduct(a, b); c5.addProduct(a, b); c6.addProduct(a, b); c7.addProduct(a, b)
                c8.addProduct(a, b); c9.addProduct(a, b); c10.addProduct(a, b); c11.addProduct(a, b)
            }
            // Stored, so that the chains are not optimised away.
            (c[0], c[1], c[2], c[3], c[4], c[5]) = (c0, c1, c2, c3, c4, c5)
            (c[6], c[7], c[8], c[9], c[10], c[11]) = (c6, c7, c8, c9, c10, c11)
        }
        return 2.0 * 8 * 12 * Double(iterations) + (c.reduce(0) { $0 + $1.sum() } == .infinity ? 1 : 0)
    }
}

extension SIMD8 where Scalar == Float {
    /// `self += a * b` as one fused multiply-add per lane.
    @inline(__always)
    mutating func addProduct(_ a: SIMD8<Float>, _ b: SIMD8<Float>) {
        self = self.addingProduct(a, b)
    }
}
