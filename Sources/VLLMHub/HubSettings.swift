import Foundation

/// Where the Hub and its cache are, read from the environment as `huggingface_hub` reads it, so
/// that both share one cache: `HF_ENDPOINT`, `HF_HOME`, `HF_HUB_CACHE` (or the older
/// `HUGGINGFACE_HUB_CACHE`), `XDG_CACHE_HOME`, `HF_TOKEN`, `HF_TOKEN_PATH` and `HF_HUB_OFFLINE`.
public struct HubSettings: Sendable, Equatable {
    /// The Hub's address, without a trailing slash.
    public var endpoint: String
    /// The cache folder holding `models--org--name` folders.
    public var cacheDirectory: String
    /// The access token, if any.
    public var token: String?
    /// Use the cache only.
    public var offline: Bool

    /// Settings from `environment` (the process's by default); `downloadDirectory` (vLLM's
    /// `--download-dir`) replaces the cache folder.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment, downloadDirectory: String? = nil) {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        let home = value("HOME") ?? NSHomeDirectory()
        func expand(_ path: String) -> String { path.hasPrefix("~") ? home + path.dropFirst() : path }
        endpoint = (value("HF_ENDPOINT") ?? "https://huggingface.co").trimmingSuffix("/")
        let hfHome = expand(value("HF_HOME") ?? (value("XDG_CACHE_HOME") ?? home + "/.cache") + "/huggingface")
        cacheDirectory = expand(downloadDirectory ?? value("HF_HUB_CACHE") ?? value("HUGGINGFACE_HUB_CACHE") ?? hfHome + "/hub")
        let tokenFile = expand(value("HF_TOKEN_PATH") ?? hfHome + "/token")
        token =
            value("HF_TOKEN") ?? value("HUGGING_FACE_HUB_TOKEN")
            ?? (try? String(contentsOfFile: tokenFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        if token?.isEmpty == true { token = nil }
        let truthy: Set = ["1", "on", "yes", "true"]
        offline = [value("HF_HUB_OFFLINE"), value("TRANSFORMERS_OFFLINE")].contains { $0.map { truthy.contains($0.lowercased()) } ?? false }
    }
}

extension String {
    func trimmingSuffix(_ suffix: Character) -> String {
        var s = self
        while s.last == suffix { s.removeLast() }
        return s
    }
}
