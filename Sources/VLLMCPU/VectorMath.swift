#if arch(x86_64)
    import _Builtin_intrinsics.intel
#endif

/// Elementwise functions eight lanes at a time, for the kernels whose scalar `expf` calls were a
/// visible share of a step (SiLU: 4% of a Qwen2.5 prompt). On x86-64 written with AVX2 intrinsics:
/// the same arithmetic on `SIMD8<Float>` compiled to half-scalar code (a blend and a conversion
/// per lane). Elsewhere the C library's `expf`, lane by lane.
enum VectorMath {
    #if arch(x86_64)
        /// `eˣ` per lane (NaN gives an unspecified value), within 2 ulp of `expf` from the overflow
        /// threshold down to the subnormals:
        /// `x = n·ln 2 + r` with `|r| ≤ ln 2 / 2` (ln 2 in two parts, so `r` is exact to float
        /// precision), `eʳ` by its Taylor polynomial of degree 7 (error below 1e-8), and `2ⁿ` put
        /// into the exponent bits in two factors, so that `n` from −150 to 128 stays a product of
        /// normal floats.
        @inline(__always)
        static func exp(_ v: SIMD8<Float>) -> SIMD8<Float> {
            let x: __m256 = v
            let low = _mm256_set1_ps(-104), high = _mm256_set1_ps(89)
            let clamped = _mm256_min_ps(_mm256_max_ps(x, low), high)
            // Adding 1.5·2²³ rounds to an integer, which then sits in the low mantissa bits.
            let shifter = _mm256_set1_ps(12_582_912)
            let shifted = _mm256_fmadd_ps(clamped, _mm256_set1_ps(1.442_695_04), shifter)
            let n = _mm256_sub_ps(shifted, shifter)
            let k = _mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_castps_si256(shifter))
            var r = _mm256_fmadd_ps(n, _mm256_set1_ps(-0.693_145_751_953_125), clamped)
            r = _mm256_fmadd_ps(n, _mm256_set1_ps(-1.428_606_765_330_187e-6), r)
            var p = _mm256_fmadd_ps(_mm256_set1_ps(1.0 / 5040), r, _mm256_set1_ps(1.0 / 720))
            p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0 / 120))
            p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0 / 24))
            p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0 / 6))
            p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5))
            p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1))
            p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1))
            let half = _mm256_srai_epi32(k, 1)
            let bias = _mm256_set1_epi32(127)
            let first = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(half, bias), 23))
            let second = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(k, half), bias), 23))
            // At the clamps the result is already 0 (e⁻¹⁰⁴ rounds to it) and ∞.
            return _mm256_mul_ps(_mm256_mul_ps(p, first), second)
        }
    #else
        /// `eˣ` per lane (`expf`).
        @inline(__always)
        static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
            var e = SIMD8<Float>()
            for i in 0..<8 { e[i] = expf(x[i]) }
            return e
        }
    #endif

    /// `x · σ(x)`, the SiLU, per lane.
    @inline(__always)
    static func silu(_ x: SIMD8<Float>) -> SIMD8<Float> { x / (1 + exp(-x)) }

    /// Replaces each of `count` values `x` by `e^(x − shift)` and returns their sum, added in
    /// index order (softmax numerators; the tail through the same vector formula).
    static func exponentiate(_ x: UnsafeMutablePointer<Float>, count: Int, minus shift: Float) -> Float {
        let offset = SIMD8<Float>(repeating: shift)
        for i in stride(from: 0, to: count, by: 8) {
            let lanes = min(8, count - i)
            store(exp(load(x + i, lanes) - offset), x + i, lanes)
        }
        var total: Float = 0
        for j in 0..<count { total += x[j] }
        return total
    }

    /// `gelu_pytorch_tanh(x) = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))` per lane, written as
    /// `x · σ(2y)` (the same function: `(1 + tanh y) / 2 = σ(2y)`), which needs one `exp` and has
    /// no cancellation near `1 + tanh y = 0`.
    @inline(__always)
    static func geluTanh(_ x: SIMD8<Float>) -> SIMD8<Float> {
        let y = x * (1 + 0.044_715 * x * x) * (2 * 0.797_884_560_802_865_4)
        return x / (1 + exp(-y))
    }

    /// `silu(gate) · up` for `count` values.
    static func siluAndMul(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, count: Int) {
        gatedProduct(gate: gate, up: up, out: out, count: count, silu)
    }

    /// `geluTanh(gate) · up` for `count` values.
    static func geluTanhAndMul(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, count: Int
    ) {
        gatedProduct(gate: gate, up: up, out: out, count: count, geluTanh)
    }

    /// `activation(gate) · up` for `count` values (the tail through the same vector formula, so
    /// that a value does not depend on where it sits in the row).
    @inline(__always)
    private static func gatedProduct(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, count: Int,
        _ activation: (SIMD8<Float>) -> SIMD8<Float>
    ) {
        for i in stride(from: 0, to: count, by: 8) {
            let lanes = min(8, count - i)
            store(activation(load(gate + i, lanes)) * load(up + i, lanes), out + i, lanes)
        }
    }

    /// The `lanes` values at `p` (the rest zero): a whole vector, or a row's tail.
    @inline(__always)
    private static func load(_ p: UnsafePointer<Float>, _ lanes: Int) -> SIMD8<Float> {
        if lanes == 8 { return UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }
        var v = SIMD8<Float>()
        for j in 0..<lanes { v[j] = p[j] }
        return v
    }

    /// Writes the first `lanes` values of `v` to `p`.
    @inline(__always)
    private static func store(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ lanes: Int) {
        if lanes == 8 { return UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self) }
        for j in 0..<lanes { p[j] = v[j] }
    }
}
