import Testing

@testable import VLLMCPU

/// The dense matrix kernels: products held to float64, and each token's output bitwise the same
/// whatever the number of tokens beside it (decode tiles, prefill groups of four, K taken in slices
/// and tokens in blocks all sum a (row, token) pair in one order).
@Suite struct MatMulTests {
    /// (tokens, rows, inputs): odd row counts, K below, at and past a slice with a tail of
    /// K mod 8, and token counts past a token block with a remainder of four.
    static let shapes = [(5, 7, 13), (4, 2, 8), (9, 33, 264), (70, 17, 517), (133, 18, 300), (8, 5, 1040)]

    /// Deterministic values in [-1, 1).
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int(state >> 40) % 2001 - 1000) / 1000
        }
    }

    static func product<W: WeightElement>(_ x: [Float], _ w: [W], T: Int, N: Int, K: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: T * N)
        x.withUnsafeBufferPointer { x in
            w.withUnsafeBufferPointer { w in
                out.withUnsafeMutableBufferPointer { out in
                    MatMul.multiply(x: x.baseAddress!, w: w.baseAddress!, out: out.baseAddress!, T: T, N: N, K: K)
                }
            }
        }
        return out
    }

    static func check<W: WeightElement>(_ weights: [W], widened: [Float], T: Int, N: Int, K: Int) {
        let x = values(T * K, seed: 1)
        let out = product(x, weights, T: T, N: N, K: K)
        for t in 0..<T {
            for n in 0..<N {
                var exact = 0.0, magnitude = 0.0
                for k in 0..<K {
                    exact += Double(x[t * K + k]) * Double(widened[n * K + k])
                    magnitude += abs(Double(x[t * K + k]) * Double(widened[n * K + k]))
                }
                #expect(abs(Double(out[t * N + n]) - exact) <= 1e-6 * magnitude + 1e-12, "t \(t) n \(n) of \(T)×\(N)×\(K)")
            }
        }
        // Each token alone gives the same bits as in the whole batch.
        for t in [0, T / 2, T - 1] {
            let alone = product(Array(x[(t * K)..<((t + 1) * K)]), weights, T: 1, N: N, K: K)
            #expect(alone == Array(out[(t * N)..<((t + 1) * N)]), "token \(t) of \(T)×\(N)×\(K)")
        }
    }

    @Test(arguments: shapes)
    func float32MatchesFloat64AndIsBatchInvariant(shape: (Int, Int, Int)) {
        let (T, N, K) = shape
        let w = Self.values(N * K, seed: 2)
        Self.check(w, widened: w, T: T, N: N, K: K)
    }

    @Test(arguments: shapes)
    func bfloat16MatchesFloat64AndIsBatchInvariant(shape: (Int, Int, Int)) {
        let (T, N, K) = shape
        let w = Self.values(N * K, seed: 3).map { BFloat16Bits(bits: UInt16($0.bitPattern >> 16)) }
        Self.check(w, widened: w.map { Float(bitPattern: UInt32($0.bits) << 16) }, T: T, N: N, K: K)
    }
}
