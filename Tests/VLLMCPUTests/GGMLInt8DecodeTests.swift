import Foundation
import Testing
import VLLMCPU
import VLLMCore
import VLLMTestSupport

/// `--quantized-activations int8`: prompt and decode steps multiply GGUF blocks with activations
/// quantized to 8 bits per 32 values, as llama.cpp does. Its products are held to a float64
/// reference that quantizes the activations the same way (a scale of max|x|/127 per block, rounded
/// to nearest even) and multiplies them with the dequantized weights, on every block type of the
/// GGUF fixture, and a token's products must not depend on the step it is in.
@Suite(.enabled(if: CPUBackend(quantizedActivations: .int8).quantizedActivations == .int8, "int8 GGUF activations need x86-64"))
struct GGMLInt8DecodeTests {
    /// The fixture's linear layers of block types: (name, rows, inputs).
    static let layers = [
        ("model.layers.0.self_attn.q_proj", 256, 256), ("model.layers.0.self_attn.k_proj", 128, 256),
        ("model.layers.0.self_attn.v_proj", 128, 256), ("model.layers.0.self_attn.o_proj", 256, 256),
        ("model.layers.0.mlp.gate_proj", 256, 256), ("model.layers.0.mlp.up_proj", 256, 256),
        ("model.layers.0.mlp.down_proj", 256, 256), ("model.layers.1.self_attn.q_proj", 256, 256),
        ("model.layers.1.self_attn.v_proj", 128, 256), ("model.layers.1.mlp.down_proj", 256, 256),
    ]

    /// Activations quantized as the mode does, dequantized again.
    static func quantized(_ x: [Float]) -> [Double] {
        stride(from: 0, to: x.count, by: 32).flatMap { start -> [Double] in
            let block = x[start..<(start + 32)]
            let amax = block.map(abs).max()!
            guard amax > 0 else { return [Double](repeating: 0, count: 32) }
            let (scale, inverse) = (amax / 127, 127 / amax)
            return block.map { Double(scale) * Double(($0 * inverse).rounded(.toNearestOrEven)) }
        }
    }

    /// 1, 2 and 3 tokens (the decode path) and 4, 7 and 37 (prompt tiles: whole tiles of four
    /// tokens and a partial one) through every block type, with an all-zero token.
    @Test func productsEqualTheQuantizedActivationsReference() throws {
        let weights = try ModelFolder(path: GGUFFixtureModelTests.path).weights(format: .auto)
        let backend = CPUBackend(keepsBFloat16: false, quantizedActivations: .int8)
        var random = SplitMixRandom(seed: 11)
        var types: Set<String> = []
        for (name, out, inputs) in Self.layers {
            let host = try weights.linear(name, out: out, in: inputs)
            types.insert("\(host.format)")
            let dense = DecodedWeights.decode(host)
            let weight = try backend.linearWeight([host])
            for T in [1, 2, 3, 4, 7, 37] {
                var x = (0..<(T * inputs)).map { _ in Float.random(in: -2...2, using: &random) }
                if T >= 3 { for k in 0..<inputs { x[2 * inputs + k] = 0 } }
                let input = try backend.weight([HostTensor(shape: [T, inputs], values: x)])
                let result = backend.toHost(backend.linear(input, weight, bias: nil))
                for t in 0..<T {
                    let xq = Self.quantized(Array(x[(t * inputs)..<((t + 1) * inputs)]))
                    for n in 0..<out {
                        let row = dense[(n * inputs)..<((n + 1) * inputs)]
                        let want = zip(row, xq).reduce(0.0) { $0 + Double($1.0) * $1.1 }
                        let magnitude = zip(row, xq).reduce(0.0) { $0 + abs(Double($1.0) * $1.1) }
                        let got = Double(result[t * out + n])
                        #expect(abs(got - want) <= 1e-5 * magnitude + 1e-30, "\(name) T=\(T) token \(t) row \(n): \(got) vs \(want)")
                    }
                }
            }
        }
        #expect(types.count == 8, "block types covered: \(types.sorted())")
    }

    /// A token's products are bitwise the same alone (a decode step), beside two others, and inside
    /// steps of 7 and 37 tokens (prompt tiles), at any place in them, for every block type.
    @Test func aTokensProductsDoNotDependOnItsStep() throws {
        let weights = try ModelFolder(path: GGUFFixtureModelTests.path).weights(format: .auto)
        let backend = CPUBackend(keepsBFloat16: false, quantizedActivations: .int8)
        var random = SplitMixRandom(seed: 12)
        for (name, out, inputs) in Self.layers {
            let weight = try backend.linearWeight([try weights.linear(name, out: out, in: inputs)])
            let x = (0..<(37 * inputs)).map { _ in Float.random(in: -2...2, using: &random) }
            func products(_ tokens: Range<Int>) throws -> [UInt32] {
                let input = try backend.weight([
                    HostTensor(
                        shape: [tokens.count, inputs], values: Array(x[(tokens.lowerBound * inputs)..<(tokens.upperBound * inputs)]))
                ])
                return backend.toHost(backend.linear(input, weight, bias: nil)).map(\.bitPattern)
            }
            let all = try products(0..<37)
            func expected(_ tokens: Range<Int>) -> [UInt32] { Array(all[(tokens.lowerBound * out)..<(tokens.upperBound * out)]) }
            for tokens in [0..<1, 5..<6, 36..<37, 3..<6, 30..<37, 2..<9] {
                #expect(try products(tokens) == expected(tokens), "\(name): tokens \(tokens) alone differ from the same tokens among 37")
            }
        }
    }

    /// The default (`auto`, what the CPU platform gets without `--quantized-activations`): GGUF
    /// blocks take 8-bit activations as llama.cpp and vLLM's GGUF kernels do, so their logits are
    /// bitwise `int8`'s; packed GPTQ weights keep float ones, bitwise `float32`'s.
    @Test func autoTakesInt8ForGGUFBlocksOnly() throws {
        let options = ModelLoadOptions(maxModelLength: 64, maxNumBatchedTokens: 64)
        #expect(options.quantizedActivations == .auto)
        let prompt = [1, 40, 72, 9, 31, 45, 28, 101, 7]
        for (model, same) in [
            (GGUFFixtureModelTests.path, ActivationPrecision.int8), (QuantizedModelTests.root + "/gptq-int4-actorder", .float32),
        ] {
            let config = try ModelFolder(path: model).config
            let auto = try #require(try CPUPlatform().makeBackends(config: config, options).first)
            #expect(auto.quantizedActivations == .auto)
            func logits(_ backend: CPUBackend) throws -> [Float] {
                try DirectRunner(folder: model, maxSequences: 1, maxLength: 64, backend: backend).secondStepLogits(prompt)
            }
            let (got, other) = (try logits(auto), try logits(CPUBackend(quantizedActivations: same == .int8 ? .float32 : .int8)))
            #expect(try got == logits(CPUBackend(quantizedActivations: same)), "\(model): auto differs from \(same)")
            #expect(got != other, "\(model): the two precisions gave the same logits")
        }
    }

    /// The fixture model runs with int8 activations close to float32 ones: each step's logits
    /// within 2% of their scale.
    @Test func modelLogitsStayCloseToFloat32() throws {
        let folder = try ModelFolder(path: GGUFFixtureModelTests.path)
        func run(_ activations: ActivationPrecision) throws -> [Float] {
            let model = try ModelRegistry.load(
                config: folder.config, weights: try folder.weights(format: .auto),
                backend: CPUBackend(keepsBFloat16: false, quantizedActivations: activations), maxPositions: 64)
            model.allocateKVCache(numBlocks: 2, blockSize: 16)
            let prompt: [Int32] = [1, 403, 72, 9, 311, 450, 28, 101, 7]
            _ = model.execute(
                ForwardBatch(chunks: [SequenceChunk(tokenIDs: Array(prompt.dropLast()), numCached: 0, blockTable: [0])], blockSize: 16))
            // A decode token after the prompt: both steps take the int8 kernels.
            let chunk = SequenceChunk(tokenIDs: [prompt.last!], numCached: prompt.count - 1, blockTable: [0])
            return model.execute(ForwardBatch(chunks: [chunk], blockSize: 16))
        }
        let (got, want) = (try run(.int8), try run(.float32))
        let scale = want.map(abs).max()!
        let error = zip(got, want).map { abs($0 - $1) }.max()!
        #expect(error > 0, "the int8 kernels were not taken")
        #expect(error <= 0.02 * scale, "error \(error) at scale \(scale)")
    }
}
