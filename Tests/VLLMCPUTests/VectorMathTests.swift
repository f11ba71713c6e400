import Foundation
import Testing

@testable import VLLMCPU

/// The vector `exp` and SiLU against the C library's `expf`, over the whole float range.
@Suite struct VectorMathTests {
    /// Distance in units in the last place between two non-negative floats.
    static func ulps(_ a: Float, _ b: Float) -> Int { abs(Int(a.bitPattern) - Int(b.bitPattern)) }

    static func vectorExp(_ values: [Float]) -> [Float] {
        stride(from: 0, to: values.count, by: 8).flatMap { start -> [Float] in
            var v = SIMD8<Float>()
            for j in 0..<8 { v[j] = values[start + j] }
            let e = VectorMath.exp(v)
            return (0..<8).map { e[$0] }
        }
    }

    /// `product(gate, up)` over whole rows (their lengths leave a tail of fewer than 8).
    static func gated(
        _ product: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void, gate: [Float],
        up: [Float]
    ) -> [Float] {
        var out = [Float](repeating: .nan, count: gate.count)
        product(gate, up, &out, gate.count)
        return out
    }

    @Test func expIsWithinTwoUlpsOfExpf() {
        var inputs = stride(from: Float(-110), to: 95, by: 0.0037).map { $0 }
        inputs += [0, -0, 1, -1, 88.72, 88.73, 89.5, -87.33, -87.34, -103.9, -103.98, -104.5, 1e-8, -1e-8]
        while inputs.count % 8 != 0 { inputs.append(0.5) }
        for (x, e) in zip(inputs, Self.vectorExp(inputs)) {
            #expect(Self.ulps(e, expf(x)) <= 2, "exp(\(x)) = \(e), expf \(expf(x))")
        }
    }

    @Test func expOfInfinitiesAndBeyondTheRange() {
        let e = Self.vectorExp([.infinity, -.infinity, 1000, -1000, 0, 0, 0, 0])
        #expect(e[0] == .infinity && e[1] == 0 && e[2] == .infinity && e[3] == 0)
    }

    @Test func exponentiateShiftsAndSumsInOrder() {
        for count in [1, 7, 8, 13] {
            var x = (0..<count).map { Float($0) * 0.9 - 4 }
            let original = x
            let total = VectorMath.exponentiate(&x, count: count, minus: 1.5)
            var expected: Float = 0
            for (i, value) in original.enumerated() {
                #expect(Self.ulps(x[i], expf(value - 1.5)) <= 2)
                expected += x[i]
            }
            #expect(total == expected)
        }
    }

    @Test func geluTanhAndMulMatchesPyTorchsFormula() {
        let gate = (0..<45).map { Float($0 - 22) * 0.37 }, up = (0..<45).map { Float($0) * 0.1 - 2 }
        let out = Self.gated(VectorMath.geluTanhAndMul, gate: gate, up: up)
        for i in gate.indices {
            let g = Double(gate[i])
            // 0.5·g·(1 + tanh y) as g·σ(2y): the same value, without the cancellation that makes
            // float64's 1 + tanh y exactly 0 for large negative g. There the float32 input's
            // rounding alone moves the tiny result by a few parts per million, hence the floor.
            let y = (2 / Double.pi).squareRoot() * (g + 0.044715 * g * g * g)
            let exact = g / (1 + Foundation.exp(-2 * y)) * Double(up[i])
            #expect(abs(exact - 0.5 * g * (1 + tanh(y)) * Double(up[i])) <= 1e-12)
            #expect(abs(Double(out[i]) - exact) <= 1e-6 * abs(exact) + 1e-9, "\(i)")
        }
    }

    @Test func siluPropagatesNaN() {
        let s = VectorMath.silu(SIMD8(repeating: .nan))
        #expect((0..<8).allSatisfy { s[$0].isNaN })
    }

    @Test func siluAndMulMatchesTheScalarFormulaInEveryLaneAndTail() {
        let gate = (0..<21).map { Float($0 - 10) * 1.7 }, up = (0..<21).map { Float($0) * 0.25 - 1 }
        let out = Self.gated(VectorMath.siluAndMul, gate: gate, up: up)
        for i in gate.indices {
            let exact = Double(gate[i]) / (1 + Foundation.exp(-Double(gate[i]))) * Double(up[i])
            #expect(abs(Double(out[i]) - exact) <= 4e-7 * abs(exact) + 1e-30, "\(i)")
        }
    }
}
