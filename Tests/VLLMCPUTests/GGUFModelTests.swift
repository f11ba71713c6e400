import Foundation
import Testing
import VLLMCPU
import VLLMTestSupport

@testable import VLLMCore

/// The real GGUF models that scripts/fetch_gguf_models.sh caches (skipped when they are absent),
/// against what transformers computed from the same files (scripts/gguf_reference.py).
enum GGUFModels {
    static let folder = RepositoryFiles.fetchedData(
        "gguf", environmentVariable: "SWIFT_VLLM_GGUF_DIR", fetchedBy: "scripts/fetch_gguf_models.sh")
    static let files = [
        "smollm2": "SmolLM2-135M-Instruct.Q4_1.gguf", "qwen2.5-coder": "Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf",
    ]

    static func path(_ model: String) -> String { folder + "/" + files[model]! }
    static func available(_ model: String) -> Bool { FileManager.default.fileExists(atPath: path(model)) }

    struct Reference {
        struct Chat { let prompt: [Int]; let greedy: [Int] }
        let chats: [Chat]
        let perplexityIDs: [Int]
        let perplexity: Double

        init(_ model: String) throws {
            let url = RepositoryFiles.url("Tests/Fixtures/gguf/reference-\(model).json")
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
            chats = (json["chat"] as! [[String: Any]]).map { Chat(prompt: $0["prompt_ids"] as! [Int], greedy: $0["greedy_ids"] as! [Int]) }
            let perplexity = json["perplexity"] as! [String: Any]
            perplexityIDs = perplexity["ids"] as! [Int]
            self.perplexity = perplexity["perplexity"] as! Double
        }
    }
}

@Suite(.serialized) struct GGUFModelTests {
    /// Greedy tokens of each chat prompt, decoded together, equal transformers' 64.
    @Test(arguments: GGUFModels.files.keys.sorted().filter(GGUFModels.available))
    func greedyMatchesTransformers(model: String) throws {
        let reference = try GGUFModels.Reference(model)
        let runner = try DirectRunner(folder: GGUFModels.path(model), maxSequences: reference.chats.count, maxLength: 256)
        let outputs = runner.greedyBatch(reference.chats.map(\.prompt), count: reference.chats[0].greedy.count)
        for (tokens, chat) in zip(outputs, reference.chats) {
            let agree = zip(tokens, chat.greedy).prefix { $0 == $1 }.count
            #expect(tokens == chat.greedy, "\(model): first \(agree) of \(chat.greedy.count) tokens agree")
        }
    }

    /// `--quantized-activations int8` (llama.cpp's 8-bit activations, prompt and decode steps) on
    /// the real models: a decode step's logits after the chat's prompt (every layer and the LM head
    /// through the int8 kernels) stay within 5% of their scale of the float32 ones for each chat
    /// (measured: Qwen2.5-Coder up to 1.6%, SmolLM2 up to 3.2%, whose hidden states have a few
    /// large channels that coarsen their blocks' scales). Greedy tokens are not exact in this mode
    /// (SmolLM2's first chat has two logits 0.08 apart); how far they follow transformers' is printed.
    @Test(arguments: GGUFModels.files.keys.sorted().filter(GGUFModels.available))
    func int8ActivationsStayCloseToFloat32(model: String) throws {
        let reference = try GGUFModels.Reference(model)
        func runner(_ activations: ActivationPrecision) throws -> DirectRunner {
            try DirectRunner(
                folder: GGUFModels.path(model), maxSequences: reference.chats.count, maxLength: 256,
                backend: CPUBackend(quantizedActivations: activations))
        }
        let (int8, float32) = (try runner(.int8), try runner(.float32))
        for chat in reference.chats {
            let tokens = chat.prompt + [chat.greedy[0]]
            let (got, want) = (int8.secondStepLogits(tokens), float32.secondStepLogits(tokens))
            let scale = want.map(abs).max()!
            let error = zip(got, want).map { abs($0 - $1) }.max()!
            print("\(model), int8 activations: decode-step logits differ from float32 by \(error) at scale \(scale)")
            #expect(error > 0 && error <= 0.05 * scale, "\(model): error \(error) at scale \(scale)")
        }
        let outputs = int8.greedyBatch(reference.chats.map(\.prompt), count: reference.chats[0].greedy.count)
        let agree = zip(outputs, reference.chats).map { tokens, chat in zip(tokens, chat.greedy).prefix { $0 == $1 }.count }
        print(
            "\(model), int8 activations: leading greedy tokens equal to transformers' per chat: \(agree) of \(reference.chats[0].greedy.count)"
        )
    }

    /// SmolLM2's hyperparameters from the metadata (its config.json says the same).
    @Test(.enabled(if: GGUFModels.available("smollm2")))
    func smollm2Config() throws {
        let c = try ModelFolder(path: GGUFModels.path("smollm2")).config
        #expect(c.architecture == "LlamaForCausalLM" && c.hiddenSize == 576 && c.intermediateSize == 1536)
        #expect(c.numLayers == 30 && c.numHeads == 9 && c.numKVHeads == 3 && c.headDim == 64 && c.vocabSize == 49152)
        #expect(c.tieWordEmbeddings && !c.qkvBias && c.ropeTheta == 100_000 && c.rmsNormEps == 1e-5)
        #expect(c.maxPositionEmbeddings == 8192 && c.eosTokenIDs == [2] && c.bosTokenID == 1)
    }

    /// Perplexity of a tinyshakespeare excerpt within 0.1% of transformers'.
    @Test(arguments: GGUFModels.files.keys.sorted().filter(GGUFModels.available))
    func perplexityMatchesTransformers(model: String) throws {
        let reference = try GGUFModels.Reference(model)
        let perplexity = try Self.perplexity(model, reference.perplexityIDs)
        print("\(model): perplexity \(perplexity), transformers \(reference.perplexity)")
        #expect(abs(perplexity / reference.perplexity - 1) < 0.001)
    }

    /// `--quantized-activations int8` covers prompt steps too, so perplexity moves a little from
    /// float32's: within 2% of it (measured: Qwen2.5-Coder +0.06%, SmolLM2 +0.5%), and not equal,
    /// which would mean the prompt took the float32 tiles.
    @Test(arguments: GGUFModels.files.keys.sorted().filter(GGUFModels.available))
    func int8ActivationsPerplexityStaysClose(model: String) throws {
        let ids = try GGUFModels.Reference(model).perplexityIDs
        let (int8, float32) = (try Self.perplexity(model, ids, .int8), try Self.perplexity(model, ids, .float32))
        print("\(model): perplexity with int8 activations \(int8), float32 \(float32)")
        #expect(int8 != float32 && abs(int8 / float32 - 1) < 0.02)
    }

    /// The perplexity of `ids` from one prompt step.
    static func perplexity(_ model: String, _ ids: [Int], _ activations: ActivationPrecision = .float32) throws -> Double {
        let runner = try DirectRunner(
            folder: GGUFModels.path(model), maxSequences: 1, maxLength: ids.count + 16,
            backend: CPUBackend(quantizedActivations: activations))
        let logits = runner.promptLogits(ids)
        var nll = 0.0
        for position in 0..<(ids.count - 1) {
            let row = logits[position].map(Double.init)
            let top = row.max()!
            let logSum = log(row.reduce(0) { $0 + exp($1 - top) }) + top
            nll += logSum - row[ids[position + 1]]
        }
        return exp(nll / Double(ids.count - 1))
    }
}

/// The CPU's products of quantized weights (block by block for decode, decoded tiles for prefill)
/// against the same weights decoded to float32.
@Suite struct QuantizedLinearTests {
    static let fixture = RepositoryFiles.path("Tests/Fixtures/gguf/blocks.gguf")

    @Test(arguments: ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K-random", "Q5_K-random", "Q6_K-qwen", "BF16"])
    func quantizedProductEqualsDecodedProduct(name: String) throws {
        let file = try GGUFFile(path: Self.fixture)
        let info = try #require(file.tensors.first { $0.name == name + ".raw" })
        let expected = try #require(file.tensors.first { $0.name == name + ".expected" })
        // Rows of 256 values (a K-quant tensor of one row of 1024 is read as 4 rows of 256).
        let (k, n) = (256, info.count / 256)
        let blocks = HostTensor(dtype: .uint8, shape: [n, info.type.rowBytes(k)], bytes: file.data(info), owner: file.owner)
        let dense = HostTensor(dtype: .float32, shape: [n, k], bytes: file.data(expected), owner: file.owner)
        let backend = CPUBackend(keepsBFloat16: false)
        let quantized = try backend.linearWeight([
            HostLinearWeight(format: .ggml(info.type), outFeatures: n, inFeatures: k, tensors: [blocks])
        ])
        let reference = try backend.linearWeight([.dense(dense)])
        for tokens in [1, 2, 3, 7] {
            var state: UInt64 = 7
            let x = backend.weightlessInput(
                (0..<(tokens * k)).map { _ in Float(splitMix(&state) >> 40) / Float(1 << 24) - 0.5 }, [tokens, k])
            let got = backend.linear(x, quantized, bias: nil).toArray()
            let want = backend.linear(x, reference, bias: nil).toArray()
            let scale = want.map(abs).max()!
            let error = zip(got, want).map { abs($0 - $1) }.max()!
            #expect(error <= scale * 1e-5, "\(name), \(tokens) tokens: error \(error) at scale \(scale)")
        }
    }

    /// q, k and v stored in different types are kept apart and multiplied each in its own.
    @Test func mixedTypesStack() throws {
        let file = try GGUFFile(path: Self.fixture)
        let backend = CPUBackend(keepsBFloat16: false)
        var quantizedParts: [HostLinearWeight] = []
        var denseParts: [HostLinearWeight] = []
        for name in ["Q5_0", "Q8_0", "Q4_1"] {
            let info = file.tensors.first { $0.name == name + ".raw" }!
            let expected = file.tensors.first { $0.name == name + ".expected" }!
            let blocks = HostTensor(dtype: .uint8, shape: [3, info.type.rowBytes(256)], bytes: file.data(info), owner: file.owner)
            quantizedParts.append(HostLinearWeight(format: .ggml(info.type), outFeatures: 3, inFeatures: 256, tensors: [blocks]))
            denseParts.append(.dense(HostTensor(dtype: .float32, shape: [3, 256], bytes: file.data(expected), owner: file.owner)))
        }
        let quantized = try backend.linearWeight(quantizedParts)
        #expect(quantized.format == .stacked([.ggml(.q5_0), .ggml(.q8_0), .ggml(.q4_1)]))
        let x = backend.weightlessInput((0..<512).map { Float($0 % 17) / 17 - 0.5 }, [2, 256])
        let got = backend.linear(x, quantized, bias: nil).toArray()
        let want = backend.linear(x, try backend.linearWeight(denseParts), bias: nil).toArray()
        #expect(zip(got, want).allSatisfy { abs($0 - $1) <= 1e-3 * max(1, abs($1)) }, "\(got) vs \(want)")
    }
}

extension CPUBackend {
    /// An activation tensor holding `values`.
    func weightlessInput(_ values: [Float], _ shape: [Int]) -> CPUTensor {
        try! weight([HostTensor(shape: shape, values: values)])
    }
}
