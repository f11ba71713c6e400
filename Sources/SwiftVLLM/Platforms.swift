import VLLMCPU
import VLLMCUDA
@_exported import VLLMCore
@_exported import VLLMEngine
import VLLMHub

/// The platforms this package builds, in the order "auto" tries them: a usable GPU first, then
/// the CPU, which runs everywhere. This is the one place that knows the concrete backends; the
/// engine takes whatever list it is given.
public enum Platforms {
    /// Every platform built in.
    public static let builtIn: [any Platform] = [CUDAPlatform(), CPUPlatform()]

    /// The names `--device` takes: "auto" and each platform's.
    public static var deviceNames: [String] { ["auto"] + builtIn.map(\.name) }
}

extension LLM {
    /// Loads `args.model` (the built-in model when nil) and its tokenizer on the built-in
    /// platforms; `progress` hears of each layer loaded (done, total).
    public convenience init(args: EngineArgs = EngineArgs(), progress: ((Int, Int) -> Void)? = nil) throws {
        try self.init(args: args.resolvingHubModel(), platforms: Platforms.builtIn, progress: progress)
    }
}

extension AsyncEngine {
    /// Loads the model of `args` with its tokenizer on the built-in platforms and starts the step loop.
    public convenience init(args: EngineArgs, progress: ((Int, Int) -> Void)? = nil) throws {
        try self.init(args: args.resolvingHubModel(), platforms: Platforms.builtIn, progress: progress)
    }
}

extension LoadedModel {
    /// Loads the model of `args` on the built-in platforms.
    public init(_ args: EngineArgs, progress: ((Int, Int) -> Void)? = nil) throws {
        try self.init(args.resolvingHubModel(), platforms: Platforms.builtIn, progress: progress)
    }
}

extension EngineArgs {
    /// These arguments with Hub ids in `model` and `tokenizer` replaced by their folders in the
    /// Hugging Face cache (downloaded as needed, at `revision` and `tokenizerRevision`).
    public func resolvingHubModel() throws -> EngineArgs {
        var resolved = self
        if let model { resolved.model = try HubModel.localFolder(model, revision: revision, downloadDirectory: downloadDir) }
        if let draft = speculative?.model {
            resolved.speculative?.model = try HubModel.localFolder(
                draft, revision: speculative?.revision, downloadDirectory: downloadDir)
        }
        if let tokenizer {
            resolved.tokenizer = try HubModel.localFolder(
                tokenizer, revision: tokenizerRevision, downloadDirectory: downloadDir, weights: false)
        }
        return resolved
    }
}
