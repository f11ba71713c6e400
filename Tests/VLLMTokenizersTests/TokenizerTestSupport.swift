import Foundation
import Testing
import VLLMTestSupport

@testable import VLLMTokenizers

/// Paths of the test data, all inside the repository (`RepositoryFiles`).
enum TestPaths {
    static let fixtures = RepositoryFiles.url("Tests/VLLMTokenizersTests/Fixtures/tokenizers")

    /// A file or folder of the real-world test data copied into Tests/Fixtures/data (see its
    /// SOURCES.md), e.g. "tokenizers/gpt2".
    static func data(_ relativePath: String) -> URL { RepositoryFiles.url("Tests/Fixtures/data/" + relativePath) }

    /// The folder of a fixture's tokenizer: a real one under Tests/Fixtures/data, the built-in
    /// model, or a tiny trained one committed next to the fixtures.
    static func folder(forFixture folder: String) -> URL {
        if folder.hasPrefix("fixture:") { return fixtures.appendingPathComponent(String(folder.dropFirst(8))) }
        if folder.hasPrefix("Models/") { return RepositoryFiles.url(folder) }
        return data(folder)
    }
}

/// Loaded tokenizers are shared between tests: loading the big vocabularies dominates otherwise.
final class TokenizerCache: @unchecked Sendable {
    static let shared = TokenizerCache()
    private let lock = NSLock()
    private var cache: [String: Tokenizer] = [:]

    func get(_ url: URL) throws -> Tokenizer {
        lock.lock()
        defer { lock.unlock() }
        if let t = cache[url.path] { return t }
        let t = try Tokenizer.load(folder: url)
        cache[url.path] = t
        return t
    }
}

/// One text of a fixture. The file leaves out values that repeat another (see the script);
/// the accessors fill them back in.
struct FixtureCase: Decodable {
    let text: String
    let ids: [Int]
    private let ids_no_special: [Int]?
    private let decoded: String?
    private let decoded_skip: String?

    var idsNoSpecial: [Int] { ids_no_special ?? ids }
    var decodedText: String { decoded ?? text }
    var decodedSkip: String { decoded_skip ?? decodedText }
}

struct DecodeCase: Decodable {
    let ids: [Int]
    let decoded: String
    let decoded_skip: String
}

struct Fixture: Decodable {
    let tokenizer: String
    let folder: String
    let vocab_size: Int
    let cases: [FixtureCase]
    let decode_only: [DecodeCase]

    static func load(_ name: String) throws -> Fixture {
        let data = try Data(contentsOf: TestPaths.fixtures.appendingPathComponent("\(name).json"))
        return try JSONDecoder().decode(Fixture.self, from: data)
    }
}

/// Exact comparison: Swift's `==` on strings treats canonically equivalent text as equal.
func sameScalars(_ a: String, _ b: String) -> Bool {
    Array(a.unicodeScalars) == Array(b.unicodeScalars)
}

func debugString(_ s: String) -> String {
    s.unicodeScalars.map { $0.value < 0x80 && $0.value >= 0x20 ? String($0) : String(format: "\\u{%X}", $0.value) }.joined()
}
