import Foundation

/// Models named by Hugging Face id (`org/name`) wherever a model folder is taken: the id resolves to
/// a snapshot folder of the cache, downloading what the engine reads and nothing else.
public enum HubModel {
    /// Whether `model` is a repository id rather than a folder: no such path exists and it reads
    /// `org/name` (or `name`).
    public static func isRepositoryID(_ model: String) -> Bool {
        guard !FileManager.default.fileExists(atPath: model), !model.hasPrefix("/"), !model.hasPrefix(".") else { return false }
        let parts = model.split(separator: "/", omittingEmptySubsequences: false)
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
        return (1...2).contains(parts.count)
            && parts.allSatisfy {
                !$0.isEmpty && $0.count <= 96 && $0.unicodeScalars.allSatisfy(allowed.contains) && !$0.hasPrefix(".")
            }
    }

    /// The files of a repository the engine reads: configuration, tokenizer, chat template and the
    /// safetensors weights (other weight formats are not read, so not fetched).
    public static func engineFiles(_ files: [String]) -> [String] {
        let named: Set = [
            "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
            "chat_template.jinja", "chat_template.json", "model.safetensors.index.json", "quant_config.json",
        ]
        return files.filter { named.contains($0) || ($0.hasSuffix(".safetensors") && !$0.contains("/")) }
    }

    /// The folder for `model`: the path itself when it is one, else the cache's snapshot of the
    /// repository at `revision` (downloaded as needed unless offline).
    public static func localFolder(
        _ model: String, revision: String? = nil, downloadDirectory: String? = nil, weights: Bool = true
    ) throws -> String {
        guard isRepositoryID(model) else { return model }
        let downloader = HubDownloader(settings: HubSettings(downloadDirectory: downloadDirectory))
        let revision = revision ?? "main"
        return try downloader.snapshotBlocking(model, revision: revision) { files in
            let wanted = engineFiles(files)
            if weights, !files.isEmpty, !wanted.contains(where: { $0.hasSuffix(".safetensors") }) {
                throw HubError.noSafetensors(repo: model, revision: revision)
            }
            return weights ? wanted : wanted.filter { !$0.hasSuffix(".safetensors") && $0 != "model.safetensors.index.json" }
        }
    }
}
