import Foundation
import Testing
import VLLMCPU
import VLLMCore
import VLLMTestSupport

/// `--quantized-activations int8` on packed integers (GPTQ, AWQ, compressed-tensors): the codes
/// meet activations quantized to 8 bits per 32 values (`PackedInt8Decode`). Products are held to
/// a float64 product of the dequantized weights with the same quantized activations, and, more
/// loosely, to the exact product with the float activations; layouts without a kernel keep the
/// float path.
@Suite(.enabled(if: CPUBackend(quantizedActivations: .int8).quantizedActivations == .int8, "int8 activations need x86-64"))
struct PackedInt8DecodeTests {
    /// (bits, group, K, act-order): groups of 32, 64, 128 and per channel, odd and even numbers
    /// of sub-blocks of 32, whole groups of eight sub-blocks and partial ones.
    static let layouts = [
        (4, 32, 96, false), (4, 64, 192, false), (4, 128, 384, false), (4, 160, 160, false), (4, 576, 576, false),
        (4, 32, 160, true), (8, 32, 96, false), (8, 64, 192, false), (8, 128, 384, true), (8, 160, 160, false),
        (8, 576, 576, false),
    ]

    /// The float64 product of the dequantized weights with the activations quantized as the kernels
    /// quantize them (in stored order, which act-order permutes), and the bound of its distance to
    /// the exact product: each value moves by at most half a step, `max|x|/254` of its block.
    static func references(_ packed: PackedDecodeTests.Packed, x: [Float], K: Int, N: Int)
        -> (quantized: [Double], exact: [Double], bound: [Double], magnitude: [Double])
    {
        let order: [Int] =
            if packed.weight.tensors.count == 4 {
                (0..<K).map { Int(packed.weight.tensors[3].bytes.load(fromByteOffset: 4 * $0, as: Int32.self)) }
            } else {
                Array(0..<K)
            }
        let stored = order.map { x[$0] }
        let xq = GGMLInt8DecodeTests.quantized(stored)
        let steps = stride(from: 0, to: K, by: 32).flatMap { b in
            [Double](repeating: Double(stored[b..<(b + 32)].map(abs).max()!) / 254, count: 32)
        }
        var (quantized, exact, bound, magnitude) = ([Double](), [Double](), [Double](), [Double]())
        for n in 0..<N {
            let w = order.map { packed.dense[n * K + $0] }
            quantized.append(zip(w, xq).reduce(0) { $0 + $1.0 * $1.1 })
            exact.append(zip(w, stored).reduce(0) { $0 + $1.0 * Double($1.1) })
            bound.append(zip(w, steps).reduce(0) { $0 + abs($1.0) * $1.1 })
            magnitude.append(zip(w, xq).reduce(0) { $0 + abs($1.0 * $1.1) })
        }
        return (quantized, exact, bound, magnitude)
    }

    /// 1 to 4 tokens (decode steps) and 7 and 37 (prompt tiles), with an all-zero token.
    @Test(arguments: layouts.indices)
    func productsEqualTheQuantizedActivationsReference(layout: Int) throws {
        let (bits, group, K, permuted) = Self.layouts[layout]
        var random = SplitMixRandom(seed: 23 + UInt64(layout))
        let N = 37
        let packed = PackedDecodeTests.packedInt(bits: bits, group: group, permuted: permuted, N: N, K: K, &random)
        let backend = CPUBackend(keepsBFloat16: false, quantizedActivations: .int8)
        let weight = try backend.linearWeight([packed.weight])
        var worst = (quantized: 0.0, exact: 0.0)
        for T in [1, 2, 3, 4, 7, 37] {
            var x = (0..<(T * K)).map { _ in Float.random(in: -2...2, using: &random) }
            if T >= 3 { for k in 0..<K { x[2 * K + k] = 0 } }
            let input = try backend.weight([HostTensor(shape: [T, K], values: x)])
            let result = backend.toHost(backend.linear(input, weight, bias: nil))
            for t in 0..<T {
                let reference = Self.references(packed, x: Array(x[(t * K)..<((t + 1) * K)]), K: K, N: N)
                for n in 0..<N {
                    let got = Double(result[t * N + n])
                    let (tight, loose) = (1e-5 * reference.magnitude[n] + 1e-30, reference.bound[n] + 1e-5 * reference.magnitude[n])
                    worst.quantized = max(worst.quantized, abs(got - reference.quantized[n]) / tight)
                    worst.exact = max(worst.exact, abs(got - reference.exact[n]) / loose)
                    #expect(
                        abs(got - reference.quantized[n]) <= tight,
                        "int\(bits) g\(group) K \(K) T \(T) token \(t) row \(n): \(got) vs \(reference.quantized[n])")
                    #expect(
                        abs(got - reference.exact[n]) <= loose,
                        "int\(bits) g\(group) K \(K) T \(T) token \(t) row \(n): \(got) vs exact \(reference.exact[n])")
                }
            }
        }
        print("int\(bits) g\(group) K \(K): worst error \(worst.quantized) of 1e-5·Σ|w·x̃|, \(worst.exact) of the rounding bound")
    }

    /// A token's products are bitwise the same alone, beside two others and inside a prompt step.
    @Test(arguments: [4, 8])
    func aTokensProductsDoNotDependOnItsStep(bits: Int) throws {
        var random = SplitMixRandom(seed: 31)
        let K = 192
        let packed = PackedDecodeTests.packedInt(bits: bits, group: 64, permuted: false, N: 41, K: K, &random)
        let backend = CPUBackend(keepsBFloat16: false, quantizedActivations: .int8)
        let weight = try backend.linearWeight([packed.weight])
        let x = (0..<(37 * K)).map { _ in Float.random(in: -2...2, using: &random) }
        func products(_ tokens: Range<Int>) throws -> [UInt32] {
            let values = Array(x[(tokens.lowerBound * K)..<(tokens.upperBound * K)])
            let input = try backend.weight([HostTensor(shape: [tokens.count, K], values: values)])
            return backend.toHost(backend.linear(input, weight, bias: nil)).map(\.bitPattern)
        }
        let all = try products(0..<37)
        for tokens in [0..<1, 36..<37, 3..<6, 30..<37] {
            #expect(try products(tokens) == Array(all[(tokens.lowerBound * 41)..<(tokens.upperBound * 41)]), "tokens \(tokens)")
        }
    }

    /// Groups that are not 32·2ⁿ inputs nor the whole row, and rows not of whole sub-blocks of
    /// 32, keep the float path: bitwise the products of a float32 backend.
    @Test(arguments: [(8, 16, 144), (4, 96, 192), (8, 100, 100), (4, 40, 120)])
    func otherLayoutsKeepTheFloatPath(bits: Int, group: Int, K: Int) throws {
        #expect(!PackedInt8Decode.supports(bits: bits, groupSize: group, K: K))
        var random = SplitMixRandom(seed: 37)
        let packed = PackedDecodeTests.packedInt(bits: bits, group: group, permuted: false, N: 19, K: K, &random)
        let (int8, float) = (CPUBackend(quantizedActivations: .int8), CPUBackend())
        for T in [1, 3, 6] {
            let x = HostTensor(shape: [T, K], values: (0..<(T * K)).map { _ in Float.random(in: -1...1, using: &random) })
            func run(_ backend: CPUBackend) throws -> [UInt32] {
                let weight = try backend.linearWeight([packed.weight])
                return backend.toHost(backend.linear(try backend.weight([x]), weight, bias: nil)).map(\.bitPattern)
            }
            #expect(try run(int8) == run(float), "int\(bits) g\(group) K \(K) T \(T)")
        }
    }

    /// The packed-integer fixtures run with int8 activations (prompt and decode steps) close to
    /// float32 ones: a decode step's logits within 8% of their scale (these random-weight models of
    /// 96 hidden values move 4–6%), the token int8 picks within twice that error of float32's best,
    /// and the greedy tokens' agreement printed (their margins are often smaller than the error).
    @Test(arguments: ["gptq-int4-actorder", "gptq-int8-channel", "awq-int4", "ct-int4-group"])
    func fixtureModelsStayCloseToFloat32(fixture: String) throws {
        let reference = try TransformersReferenceTests.Reference(QuantizedModelTests.root + "/" + fixture)
        func runner(_ activations: ActivationPrecision) throws -> DirectRunner {
            try DirectRunner(
                folder: QuantizedModelTests.root + "/" + fixture, maxLength: 64,
                backend: CPUBackend(quantizedActivations: activations))
        }
        let (int8, float) = (try runner(.int8), try runner(.float32))
        let (got, want) = (int8.secondStepLogits(reference.prompt), float.secondStepLogits(reference.prompt))
        let scale = want.map(abs).max()!
        let error = zip(got, want).map { abs($0 - $1) }.max()!
        #expect(error > 0, "\(fixture): the int8 kernels were not taken")
        #expect(error <= 0.08 * scale, "\(fixture): error \(error) at scale \(scale)")
        let picked = want[got.indices.max { got[$0] < got[$1] }!]
        #expect(picked >= want.max()! - 2 * error, "\(fixture): int8's token has float32 logit \(picked), the best \(want.max()!)")
        let count = 8
        let (tokens8, tokens32) = (int8.greedy(reference.prompt, count: count), float.greedy(reference.prompt, count: count))
        let agree = zip(tokens8, tokens32).prefix { $0 == $1 }.count
        let sorted = want.sorted(by: >)
        print(
            "\(fixture): logits error \(error / scale) of scale, float32 top-2 margin \((sorted[0] - sorted[1]) / scale);"
                + " greedy tokens agree for \(agree) of \(count)")
    }
}
