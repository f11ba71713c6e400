import CVLLMSupport

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
        let narrow = UnsafeRawPointer(p).loadUnaligned(as: SIMD8<UInt16>.self)
        return unsafeBitCast(SIMD8<UInt32>(truncatingIfNeeded: narrow) &<< 16, to: SIMD8<Float>.self)
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
enum MatMul {
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
        var t = 0
        while t + 4 <= T {
            var n = rows.lowerBound
            while n + 2 <= rows.upperBound {
                tile2x4(x: x + t * K, w: w + n * K, out: out + t * N + n, N: N, K: K)
                n += 2
            }
            if n < rows.upperBound {
                for dt in 0..<4 { out[(t + dt) * N + n] = dot(x + (t + dt) * K, w + n * K, K) }
            }
            t += 4
        }
        while t < T {
            var n = rows.lowerBound
            while n + 4 <= rows.upperBound {
                tile4x1(x: x + t * K, w: w + n * K, out: out + t * N + n, K: K)
                n += 4
            }
            while n < rows.upperBound {
                out[t * N + n] = dot(x + t * K, w + n * K, K)
                n += 1
            }
            t += 1
        }
    }

    @inline(__always)
    private static func tile2x4<W: WeightElement>(
        x: UnsafePointer<Float>, w: UnsafePointer<W>, out: UnsafeMutablePointer<Float>, N: Int, K: Int
    ) {
        var a00 = SIMD8<Float>(), a01 = SIMD8<Float>(), a10 = SIMD8<Float>(), a11 = SIMD8<Float>()
        var a20 = SIMD8<Float>(), a21 = SIMD8<Float>(), a30 = SIMD8<Float>(), a31 = SIMD8<Float>()
        let w1 = w + K
        let x1 = x + K, x2 = x + 2 * K, x3 = x + 3 * K
        var k = 0
        while k + 8 <= K {
            let v0 = W.load8(w + k), v1 = W.load8(w1 + k)
            let u0 = Float.load8(x + k), u1 = Float.load8(x1 + k)
            let u2 = Float.load8(x2 + k), u3 = Float.load8(x3 + k)
            a00.addProduct(u0, v0); a01.addProduct(u0, v1)
            a10.addProduct(u1, v0); a11.addProduct(u1, v1)
            a20.addProduct(u2, v0); a21.addProduct(u2, v1)
            a30.addProduct(u3, v0); a31.addProduct(u3, v1)
            k += 8
        }
        var s = (a00.sum(), a01.sum(), a10.sum(), a11.sum(), a20.sum(), a21.sum(), a30.sum(), a31.sum())
        while k < K {
            let v0 = W.load1(w + k), v1 = W.load1(w1 + k)
            s.0 += x[k] * v0; s.1 += x[k] * v1
            s.2 += x1[k] * v0; s.3 += x1[k] * v1
            s.4 += x2[k] * v0; s.5 += x2[k] * v1
            s.6 += x3[k] * v0; s.7 += x3[k] * v1
            k += 1
        }
        out[0] = s.0; out[1] = s.1
        out[N] = s.2; out[N + 1] = s.3
        out[2 * N] = s.4; out[2 * N + 1] = s.5
        out[3 * N] = s.6; out[3 * N + 1] = s.7
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
        var s = (a0.sum(), a1.sum(), a2.sum(), a3.sum())
        while k < K {
            s.0 += x[k] * W.load1(w + k)
            s.1 += x[k] * W.load1(w1 + k)
            s.2 += x[k] * W.load1(w2 + k)
            s.3 += x[k] * W.load1(w3 + k)
            k += 1
        }
        out[0] = s.0; out[1] = s.1; out[2] = s.2; out[3] = s.3
    }

    @inline(__always)
    static func dot<W: WeightElement>(_ x: UnsafePointer<Float>, _ w: UnsafePointer<W>, _ K: Int) -> Float {
        var a = SIMD8<Float>()
        var k = 0
        while k + 8 <= K {
            a.addProduct(Float.load8(x + k), W.load8(w + k))
            k += 8
        }
        var s = a.sum()
        while k < K {
            s += x[k] * W.load1(w + k)
            k += 1
        }
        return s
    }
}

extension SIMD8 where Scalar == Float {
    /// `self += a * b` as one fused multiply-add per lane.
    @inline(__always)
    mutating func addProduct(_ a: SIMD8<Float>, _ b: SIMD8<Float>) {
        self = self.addingProduct(a, b)
    }
}
