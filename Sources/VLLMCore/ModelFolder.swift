import Foundation

/// How weights are obtained (`--load-format`).
public enum LoadFormat: String, Sendable, CaseIterable {
    /// The folder's safetensors files.
    case auto
    /// The folder's safetensors files.
    case safetensors
    /// Random weights from config.json alone, for benchmarks at real shapes.
    case dummy
}

/// A Hugging Face model folder: config.json, generation_config.json and the weights, checked up
/// front so that a broken folder fails with one clear error before anything is loaded. A GGUF
/// model (a `.gguf` file, its split files, or a folder holding them) is one too: its metadata
/// gives the configuration.
public struct ModelFolder: Sendable {
    /// The folder's path (for a GGUF model, the path it was named by).
    public let path: String
    /// The GGUF model, when the path names one.
    public let gguf: GGUFCheckpoint?
    /// config.json.
    public let config: ModelConfig
    /// generation_config.json (empty when the folder has none).
    public let generationConfig: GenerationConfig

    /// Reads the folder's configuration files and checks that its architecture is supported.
    public init(path: String) throws {
        if GGUFCheckpoint.isGGUF(path) {
            self.path = path
            let checkpoint = try GGUFCheckpoint(path: path)
            gguf = checkpoint
            config = try checkpoint.modelConfig()
            _ = try ModelRegistry.architecture(of: config, path: checkpoint.path)
            generationConfig = GenerationConfig()
            return
        }
        gguf = nil
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ModelLoadError.missingFile(path: path + " (model folder)")
        }
        self.path = path
        let configPath = path + "/config.json"
        config = try ModelConfig(contentsOf: configPath)
        _ = try ModelRegistry.architecture(of: config, path: configPath)
        generationConfig = try GenerationConfig(contentsOf: path + "/generation_config.json")
    }

    /// End-of-sequence ids: generation_config.json's, else config.json's.
    public var eosTokenIDs: [Int] {
        generationConfig.eosTokenIDs.isEmpty ? config.eosTokenIDs : generationConfig.eosTokenIDs
    }

    /// The weights, as `format` says; quantized as config.json says, or as `quantization`
    /// (`--quantization`) asks.
    public func weights(format: LoadFormat, dummyDType: DType? = nil, quantization: String? = nil) throws -> WeightStore {
        if let gguf, format != .dummy {
            guard format == .auto else {
                throw ModelLoadError.invalidConfig(
                    path: path, field: "load_format", detail: "'\(format.rawValue)' cannot read a GGUF model (use auto)")
            }
            guard quantization == nil || quantization == "gguf" else {
                throw ModelLoadError.invalidConfig(
                    path: path, field: "quantization",
                    detail: "a GGUF model is quantized by its file; --quantization '\(quantization!)' does not apply")
            }
            return GGUFWeights(gguf, config: config)
        }
        if format == .dummy {
            return try dummyWeights(dense: DummyWeights(dtype: dummyDType ?? config.dtype ?? .bfloat16), quantization: quantization)
        }
        let store = try SafetensorsWeights(folder: path)
        guard let method = try resolvedQuantization(quantization) else { return store }
        return QuantizedWeights(base: store, quantization: method, path: path + "/config.json")
    }

    /// Random weights over a dense dummy store, linear layers laid out as the quantization asks:
    /// `gguf` gives llama.cpp's Q4_K_M blocks (`DummyGGUFWeights`), a checkpoint method (config.json's
    /// or `quantization`) its stored layout (`DummyQuantizedWeights`), none the dense store itself.
    public func dummyWeights(dense: any WeightStore, quantization: String?) throws -> WeightStore {
        if quantization == "gguf" { return DummyGGUFWeights(base: dense, layers: config.numLayers) }
        guard let method = try resolvedQuantization(quantization) else { return dense }
        return DummyQuantizedWeights(base: dense, quantization: method)
    }

    /// The checkpoint's quantization, checked against `--quantization`: a method that names the
    /// checkpoint's own is accepted, `fp8` on a float checkpoint quantizes at load, anything else
    /// is an error naming the flag.
    public func resolvedQuantization(_ requested: String?) throws -> QuantizationConfig? {
        let stored = config.quantization
        guard let requested else { return stored }
        func fail(_ detail: String) -> PlatformError { .unsupported(field: "--quantization", detail: detail) }
        if requested == "gguf" {
            throw fail(
                "'gguf' is a GGUF file's own (--model FILE.gguf); on a config.json folder it needs --load-format dummy (random Q4_K_M blocks)"
            )
        }
        guard QuantizationConfig.methods.contains(requested) else {
            throw fail("'\(requested)' is not one of \(QuantizationConfig.methods.joined(separator: ", "))")
        }
        guard let stored else {
            if requested == "fp8" { return .onlineFP8 }
            if requested == "squeezellm" { throw fail("'squeezellm' needs the folder's quant_config.json (with wbits)") }
            throw fail("'\(requested)' needs a checkpoint quantized with it; only fp8 quantizes a float checkpoint at load")
        }
        let matches =
            switch (requested, stored) {
            case ("gptq", .gptq), ("awq", .awq), ("fp8", .fp8), ("compressed-tensors", .fp8), ("compressed-tensors", .packedInt4),
                ("squeezellm", .squeezeLLM):
                true
            default: false
            }
        guard matches else { throw fail("'\(requested)' does not match the checkpoint's quantization_config (\(stored))") }
        return stored
    }
}
