import Foundation

/// A GGUF model: one `.gguf` file, or the `-0000N-of-0000M.gguf` files of a split model (the
/// metadata in the first, the tensors spread over all), named by any of its files or by a folder
/// that holds exactly one model.
public final class GGUFCheckpoint: @unchecked Sendable {
    /// The files, in split order.
    public let files: [GGUFFile]
    /// The metadata of the first file.
    public var metadata: [String: GGUFValue] { files[0].metadata }
    /// The path that names the model in errors (its first file).
    public var path: String { files[0].path }
    private let located: [String: (file: GGUFFile, info: GGUFTensorInfo)]

    /// Whether `path` names a GGUF model: a `.gguf` file, or a folder with a `.gguf` file and no config.json.
    public static func isGGUF(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return false }
        if !isDirectory.boolValue { return path.hasSuffix(".gguf") }
        if FileManager.default.fileExists(atPath: path + "/config.json") { return false }
        return (try? FileManager.default.contentsOfDirectory(atPath: path))?.contains { $0.hasSuffix(".gguf") } ?? false
    }

    /// Opens the model that `path` (a file or a folder) names, all its split files included.
    public init(path: String) throws {
        files = try Self.modelFiles(path).map { try GGUFFile(path: $0) }
        var located: [String: (GGUFFile, GGUFTensorInfo)] = [:]
        for file in files {
            for info in file.tensors {
                guard located[info.name] == nil else {
                    throw ModelLoadError.invalidGGUF(
                        path: file.path, detail: "tensor '\(info.name)' is also in \(located[info.name]!.0.path)")
                }
                located[info.name] = (file, info)
            }
        }
        self.located = located
        if let count = metadata["split.count"]?.int, count != files.count {
            throw ModelLoadError.invalidGGUF(path: self.path, detail: "split.count says \(count) files, \(files.count) found")
        }
    }

    /// The files of the model `path` names, in split order.
    static func modelFiles(_ path: String) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ModelLoadError.missingFile(path: path)
        }
        guard isDirectory.boolValue else { return try splitFiles(of: path) }
        let names = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".gguf") }.sorted()
        let models = Set(names.map { splitPattern(of: $0)?.stem ?? $0 })
        guard models.count == 1, let first = names.first else {
            let found = models.isEmpty ? "none" : models.sorted().joined(separator: ", ")
            throw ModelLoadError.invalidGGUF(path: path, detail: "the folder must hold exactly one GGUF model; found \(found)")
        }
        return try splitFiles(of: path + "/" + first)
    }

    /// `file` alone, or all the files of its split set when its name ends in `-0000N-of-0000M.gguf`.
    static func splitFiles(of file: String) throws -> [String] {
        let url = URL(fileURLWithPath: file)
        guard let split = splitPattern(of: url.lastPathComponent) else { return [file] }
        let folder = url.deletingLastPathComponent().path
        return try (1...split.count).map { index in
            let name = folder + "/" + split.stem + String(format: "-%05d-of-%05d.gguf", index, split.count)
            guard FileManager.default.fileExists(atPath: name) else {
                throw ModelLoadError.missingFile(path: name + " (part \(index) of the split GGUF model)")
            }
            return name
        }
    }

    /// The stem and the number of files of a split file name (`model-00001-of-00003.gguf`).
    static func splitPattern(of name: String) -> (stem: String, count: Int)? {
        guard name.hasSuffix(".gguf") else { return nil }
        let base = name.dropLast(5)
        let parts = base.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[parts.count - 2] == "of",
            let count = Int(parts[parts.count - 1]), Int(parts[parts.count - 3]) != nil, count >= 1
        else { return nil }
        return (parts.dropLast(3).joined(separator: "-"), count)
    }

    /// The tensor called `name` (llama.cpp's name) and the file that holds it.
    public func tensor(_ name: String) -> (file: GGUFFile, info: GGUFTensorInfo)? { located[name] }

    /// The names of all tensors.
    public var tensorNames: [String] { Array(located.keys) }

    /// The metadata value `key`, or an error naming the file and the key.
    public func required(_ key: String) throws -> GGUFValue {
        guard let value = metadata[key] else { throw ModelLoadError.invalidGGUF(path: path, detail: "metadata '\(key)' is missing") }
        return value
    }
}
