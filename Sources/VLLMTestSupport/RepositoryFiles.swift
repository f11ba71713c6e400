import Foundation

/// The files of this repository that tests read. Every test path goes through here, so that the
/// suite passes in a fresh clone with nothing beside it: a path that leaves the repository (such
/// as `../shared`) is refused instead of read.
public enum RepositoryFiles {
    /// A test path that resolves outside the repository root.
    public struct OutsideRepository: Error, CustomStringConvertible {
        /// The path as the test asked for it.
        public let relativePath: String
        /// Where it resolved to.
        public let resolved: String
        /// Names the path, where it leads and what to do instead.
        public var description: String {
            "test path '\(relativePath)' resolves to \(resolved), outside the repository \(RepositoryFiles.root.path); "
                + "copy the data under Tests/Fixtures instead"
        }
    }

    /// The repository root, two folders above this source file (Sources/VLLMTestSupport/).
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().standardizedFileURL

    /// `relativePath` (e.g. "Tests/Fixtures/models/qwen2") under the root, or `OutsideRepository`
    /// when `..` components or an absolute path lead out of it.
    public static func resolve(_ relativePath: String) throws -> URL {
        let url =
            relativePath.hasPrefix("/")
            ? URL(fileURLWithPath: relativePath).standardizedFileURL
            : root.appendingPathComponent(relativePath).standardizedFileURL
        let rootPath = root.path.hasSuffix("/") ? root.path : root.path + "/"
        guard url.path == root.path || url.path.hasPrefix(rootPath) else {
            throw OutsideRepository(relativePath: relativePath, resolved: url.path)
        }
        return url
    }

    /// `resolve(relativePath)` for paths written in the test sources; a path outside the
    /// repository is a mistake in the test and stops the run with `OutsideRepository`'s message.
    public static func url(_ relativePath: String) -> URL {
        do { return try resolve(relativePath) } catch { preconditionFailure("\(error)") }
    }

    /// `url(relativePath).path`.
    public static func path(_ relativePath: String) -> String { url(relativePath).path }

    /// The one exception to "inside the repository": large data that a script of the repository
    /// downloads (`fetchedBy`, e.g. "scripts/fetch_gguf_models.sh") into `$environmentVariable`,
    /// else `~/.cache/swift-vllm/<name>`. Tests that read it must skip when it is absent, so that
    /// a fresh clone passes without it.
    public static func fetchedData(_ name: String, environmentVariable: String, fetchedBy script: String) -> String {
        precondition(FileManager.default.fileExists(atPath: path(script)), "\(script), which fetches \(name), is missing")
        return ProcessInfo.processInfo.environment[environmentVariable]
            ?? FileManager.default.homeDirectoryForCurrentUser.path + "/.cache/swift-vllm/" + name
    }
}
