import Foundation

/// The Hugging Face cache layout, as `huggingface_hub` writes and reads it:
/// `models--org--name/blobs/<etag>` holds each file once, `snapshots/<commit>/<path>` links to
/// its blob, `refs/<branch or tag>` names the commit, and `.locks/models--org--name/<etag>.lock`
/// keeps two processes from downloading one blob at once.
public struct HubCache: Sendable {
    /// The cache folder (`HF_HUB_CACHE`).
    public let root: String

    /// The cache in `root`.
    public init(root: String) { self.root = root }

    /// `models--org--name`.
    static func folderName(_ repo: String) -> String { "models--" + repo.replacingOccurrences(of: "/", with: "--") }

    /// The repository's folder.
    public func repositoryFolder(_ repo: String) -> String { root + "/" + Self.folderName(repo) }

    /// The snapshot folder of a commit.
    public func snapshotFolder(_ repo: String, commit: String) -> String { repositoryFolder(repo) + "/snapshots/" + commit }

    /// The blob of an ETag.
    func blobPath(_ repo: String, etag: String) -> String { repositoryFolder(repo) + "/blobs/" + etag }

    /// The lock file of a blob.
    func lockPath(_ repo: String, etag: String) -> String { root + "/.locks/" + Self.folderName(repo) + "/" + etag + ".lock" }

    /// Whether `revision` is written as a full commit hash.
    static func isCommitHash(_ revision: String) -> Bool {
        revision.count == 40 && revision.allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }

    /// The commit a revision names in the cache: a commit hash as it is, a branch or tag through
    /// `refs/`; nil when the cache has no record of it.
    public func commit(_ repo: String, revision: String) -> String? {
        if Self.isCommitHash(revision) { return revision }
        let ref = repositoryFolder(repo) + "/refs/" + revision
        return (try? String(contentsOfFile: ref, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Records that `revision` (a branch or tag) is at `commit`.
    func writeRef(_ repo: String, revision: String, commit: String) throws {
        guard revision != commit else { return }
        let path = repositoryFolder(repo) + "/refs/" + revision
        try createFolder((path as NSString).deletingLastPathComponent)
        try write(Data(commit.utf8), to: path)
    }

    /// Whether the snapshot of `commit` has `file` and it resolves to a file.
    func hasFile(_ repo: String, commit: String, file: String) -> Bool {
        FileManager.default.fileExists(atPath: snapshotFolder(repo, commit: commit) + "/" + file)
    }

    /// Links `file` of the snapshot to its blob, with a relative link as `huggingface_hub` makes it.
    func link(_ repo: String, commit: String, file: String, etag: String) throws {
        let path = snapshotFolder(repo, commit: commit) + "/" + file
        try createFolder((path as NSString).deletingLastPathComponent)
        let depth = file.split(separator: "/").count + 1
        let target = String(repeating: "../", count: depth) + "blobs/" + etag
        try? FileManager.default.removeItem(atPath: path)
        do {
            try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target)
        } catch {
            throw HubError.cacheWrite(path: path, detail: "\(error.localizedDescription)")
        }
    }

    func createFolder(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw HubError.cacheWrite(path: path, detail: error.localizedDescription)
        }
    }

    func write(_ data: Data, to path: String) throws {
        do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw HubError.cacheWrite(path: path, detail: error.localizedDescription)
        }
    }
}
