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

    /// The weights, as `format` says.
    public func weights(format: LoadFormat, dummyDType: DType? = nil) throws -> WeightStore {
        if let gguf, format != .dummy {
            guard format == .auto else {
                throw ModelLoadError.invalidConfig(path: path, field: "load_format", detail: "'\(format.rawValue)' cannot read a GGUF model (use auto)")
            }
            return GGUFWeights(gguf, config: config)
        }
        return switch format {
        case .auto, .safetensors: try SafetensorsWeights(folder: path)
        case .dummy: DummyWeights(dtype: dummyDType ?? config.dtype ?? .bfloat16)
        }
    }
}
