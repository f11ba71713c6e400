import Testing
import VLLMCPU
import VLLMCore
import VLLMTestSupport

/// The committed GGUF model (`Tests/Fixtures/gguf/tiny-llama-mixed.gguf`, random weights, written
/// by scripts/make_gguf_model_fixture.py): every block type in one model, fused q/k/v and gate/up
/// of several types. The GPU mode `gguf` of scripts/gpu/run_gpu_checks.sh compares CUDA with the
/// CPU on it; here the CPU's products of the stored blocks are held to the same model with every
/// linear layer decoded to float32 first. Also the dummy Q4_K_M layout of GPU benchmarks.
@Suite struct GGUFFixtureModelTests {
    static let path = RepositoryFiles.path("Tests/Fixtures/gguf/tiny-llama-mixed.gguf")

    /// Fused parts of different types stay apart, dense float parts among them.
    @Test func fusedPartsKeepTheirTypes() throws {
        let weights = try ModelFolder(path: Self.path).weights(format: .auto)
        let backend = CPUBackend(keepsBFloat16: false)
        func fused(_ layer: Int, _ names: [String], out: [Int]) throws -> WeightFormat {
            try backend.linearWeight(
                zip(names, out).map { try weights.linear("model.layers.\(layer).\($0)", out: $1, in: 256) }
            ).format
        }
        let qkv = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"]
        #expect(try fused(0, qkv, out: [256, 128, 128]) == .stacked([.ggml(.q4_0), .ggml(.q4_1), .ggml(.q5_0)]))
        #expect(try fused(1, qkv, out: [256, 128, 128]) == .stacked([.ggml(.q6_K), .ggml(.f32), .ggml(.q8_0)]))
        #expect(try fused(0, ["mlp.gate_proj", "mlp.up_proj"], out: [256, 256]) == .stacked([.ggml(.q8_0), .ggml(.q4_K)]))
        #expect(try fused(1, ["mlp.gate_proj", "mlp.up_proj"], out: [256, 256]) == .dense)
    }

    /// A prompt and four greedy decode steps: the logits of the model as stored equal those of the
    /// model with its blocks decoded to float32 (the tile and block-by-block products of every type).
    @Test func blocksMultiplyAsTheirDecodedWeights() throws {
        let folder = try ModelFolder(path: Self.path)
        let stored = try folder.weights(format: .auto)
        func run(_ weights: any WeightStore) throws -> [[Float]] {
            let model = try ModelRegistry.load(
                config: folder.config, weights: weights, backend: CPUBackend(keepsBFloat16: false), maxPositions: 64)
            model.allocateKVCache(numBlocks: 2, blockSize: 16)
            let prompt: [Int32] = [1, 403, 72, 9, 311, 450, 28, 101, 7]
            var steps = [
                model.execute(ForwardBatch(chunks: [SequenceChunk(tokenIDs: prompt, numCached: 0, blockTable: [0])], blockSize: 16))
            ]
            for step in 0..<4 {
                let next = steps.last!.indices.max { steps.last![$0] < steps.last![$1] }!
                let chunk = SequenceChunk(tokenIDs: [Int32(next)], numCached: prompt.count + step, blockTable: [0])
                steps.append(model.execute(ForwardBatch(chunks: [chunk], blockSize: 16)))
            }
            return steps
        }
        let (got, want) = (try run(stored), try run(DecodedWeights(base: stored)))
        for (step, (g, w)) in zip(got, want).enumerated() {
            let scale = w.map(abs).max()!
            let error = zip(g, w).map { abs($0 - $1) }.max()!
            #expect(error <= 1e-4 * scale, "step \(step): error \(error) at scale \(scale)")
            #expect(g.indices.max { g[$0] < g[$1] } == w.indices.max { w[$0] < w[$1] }, "step \(step): greedy token differs")
        }
    }

    /// `--load-format dummy --quantization gguf`: llama.cpp's Q4_K_M types (Q6_K for the output
    /// and half of the v and down projections), random blocks whose values stay within ±scale.
    @Test func dummyQ4KMLayout() throws {
        let layers = 32
        let moreBits = (0..<layers).filter { DummyGGUFWeights.q4KMType("model.layers.\($0).self_attn.v_proj", layers: layers) == .q6_K }
        #expect(moreBits.count == 16 && moreBits.prefix(5) == [0, 1, 2, 3, 6])
        #expect(DummyGGUFWeights.q4KMType("model.layers.5.mlp.down_proj", layers: layers) == .q4_K)
        #expect(DummyGGUFWeights.q4KMType("model.layers.6.mlp.down_proj", layers: layers) == .q6_K)
        #expect(DummyGGUFWeights.q4KMType("model.layers.6.mlp.gate_proj", layers: layers) == .q4_K)
        #expect(DummyGGUFWeights.q4KMType("lm_head", layers: layers) == .q6_K)
        let store = DummyGGUFWeights(base: DummyWeights(), layers: layers)
        for (prefix, type) in [("model.layers.0.self_attn.v_proj", GGMLType.q6_K), ("model.layers.4.self_attn.v_proj", .q4_K)] {
            let weight = try store.linear(prefix, out: 24, in: 512)
            #expect(weight.format == .ggml(type) && weight.tensors[0].shape == [24, type.rowBytes(512)])
            let values = DecodedWeights.decode(weight)
            #expect(values.allSatisfy { $0.isFinite && abs($0) <= 0.0201 } && values.contains { abs($0) > 0.005 })
        }
        #expect(try store.linear("model.layers.4.self_attn.v_proj", out: 24, in: 96).format == .ggml(.q5_0))
    }
}

/// A GGUF model's weights with every block-format linear layer decoded to float32 (`GGMLType.dequantize`).
struct DecodedWeights: WeightStore {
    let base: any WeightStore

    func tensor(_ name: String, shape: [Int]) throws -> HostTensor { try base.tensor(name, shape: shape) }

    func contains(_ name: String) -> Bool { base.contains(name) }

    func linear(_ prefix: String, out: Int, in inFeatures: Int) throws -> HostLinearWeight {
        let weight = try base.linear(prefix, out: out, in: inFeatures)
        guard case .ggml = weight.format else { return weight }
        return .dense(HostTensor(shape: [out, inFeatures], values: Self.decode(weight)))
    }

    /// The rows of a `.ggml` weight as float32 values.
    static func decode(_ weight: HostLinearWeight) -> [Float] {
        guard case .ggml(let type) = weight.format else { preconditionFailure("not GGUF blocks") }
        let (out, k) = (weight.outFeatures, weight.inFeatures)
        var values = [Float](repeating: 0, count: out * k)
        values.withUnsafeMutableBufferPointer { target in
            for n in 0..<out {
                type.dequantize(weight.tensors[0].bytes + n * type.rowBytes(k), count: k, to: target.baseAddress! + n * k)
            }
        }
        return values
    }
}
