import Foundation

/// The configuration of an EAGLE-3 draft head (config.json of its folder), as vLLM's
/// `Eagle3LlamaForCausalLM` reads it: a Llama decoder layer's sizes, plus the draft vocabulary and
/// the target layers whose hidden states the head reads.
public struct Eagle3HeadConfig: Sendable {
    /// The architecture names of EAGLE-3 Llama heads.
    public static let architectures: Set = ["LlamaForCausalLMEagle3", "Eagle3LlamaForCausalLM"]

    /// The head's sizes as a Llama model's (`vocabSize` is the target's vocabulary).
    public var model: ModelConfig
    /// Tokens of the head's own output layer (`draft_vocab_size`; the target's vocabulary when absent).
    public var draftVocabSize: Int
    /// Width of one target hidden state (`target_hidden_size`; `hidden_size` when absent).
    public var targetHiddenSize: Int
    /// Target layers whose input hidden states the head reads (`eagle_aux_hidden_state_layer_ids`,
    /// at the top level or in `eagle_config`); nil: vLLM's default for the target's depth.
    public var auxiliaryLayers: [Int]?
    /// The folder.
    public var path: String

    /// Whether the folder's config.json names an EAGLE-3 architecture (false when it cannot be read).
    public static func isEagle3(folder: String) -> Bool {
        guard let json = try? readJSONObject(path: folder + "/config.json"),
            let names = json["architectures"] as? [String], let first = names.first
        else { return false }
        return architectures.contains(first)
    }

    /// Reads and checks `folder/config.json`: an EAGLE-3 architecture with one decoder layer.
    public init(folder: String) throws {
        let path = folder + "/config.json"
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ModelLoadError.missingFile(path: folder + " (EAGLE-3 head folder)")
        }
        let json = try readJSONObject(path: path)
        model = try ModelConfig(json: json, path: path)
        guard Self.architectures.contains(model.architecture) else {
            throw ModelLoadError.invalidConfig(
                path: path, field: "architectures",
                detail:
                    "'\(model.architecture)' is not an EAGLE-3 head (\(Self.architectures.sorted().joined(separator: ", ")))")
        }
        guard model.numLayers == 1 else {
            throw ModelLoadError.invalidConfig(
                path: path, field: "num_hidden_layers", detail: "\(model.numLayers): EAGLE-3 heads of one layer are supported")
        }
        let nested = json["eagle_config"] as? [String: Any]
        // Variants after the published head: the residual taken after hidden_norm, or no fused
        // target layers (the head reads the target's last hidden state alone).
        if json["norm_before_residual"] as? Bool == true {
            throw ModelLoadError.invalidConfig(
                path: path, field: "norm_before_residual",
                detail: "true is not supported (the published head adds the hidden state before its norm)")
        }
        if nested?["use_aux_hidden_state"] as? Bool == false {
            throw ModelLoadError.invalidConfig(
                path: path, field: "eagle_config.use_aux_hidden_state",
                detail: "false is not supported (heads that fuse target layers through fc are)")
        }
        let reader = ConfigReader(json: json, path: path)
        draftVocabSize = try reader.positiveInt("draft_vocab_size", default: model.vocabSize)
        targetHiddenSize = try reader.positiveInt("target_hidden_size", default: model.hiddenSize)
        let ids = json["eagle_aux_hidden_state_layer_ids"] ?? nested?["eagle_aux_hidden_state_layer_ids"]
        if let ids, !(ids is NSNull) {
            guard let list = ids as? [Int], !list.isEmpty else {
                throw ModelLoadError.invalidConfig(
                    path: path, field: "eagle_aux_hidden_state_layer_ids", detail: "expected a list of layer numbers, found \(ids)")
            }
            auxiliaryLayers = list
        }
        self.path = folder
    }

    /// The target layers read for a target of `numLayers` layers, checked to exist: the configured
    /// ones, else vLLM's default (2, numLayers / 2, numLayers - 3).
    public func targetLayers(numLayers: Int) throws -> [Int] {
        let layers = auxiliaryLayers ?? [2, numLayers / 2, numLayers - 3]
        guard layers.allSatisfy({ (0..<numLayers).contains($0) }) else {
            throw ModelLoadError.invalidConfig(
                path: path + "/config.json", field: "eagle_aux_hidden_state_layer_ids",
                detail: "\(layers) for a target of \(numLayers) layers (each must be in 0..<\(numLayers))")
        }
        return layers
    }
}
