import Foundation
import VLLMTestSupport

@testable import VLLMStructuredOutputs

/// Fixture paths, from this file's location.
enum GrammarTestPaths {
    static let repoRoot = RepositoryFiles.root
    static let fixtures = repoRoot.appendingPathComponent("Tests/VLLMStructuredOutputsTests/Fixtures")
}

/// The recorded xgrammar walks (scripts/compare_grammar_masks.py fixture): a 1,212-token slice of
/// GPT-2's vocabulary, and per walk the case, the token path and xgrammar's mask before each step.
struct XGrammarFixture {
    struct Walk {
        var name: String
        var spec: StructuredOutputSpec
        var path: [Int]
        var masks: [[UInt32]]
    }

    let vocabulary: TokenVocabulary
    let walks: [Walk]

    static let shared: XGrammarFixture = {
        let data = try! Data(contentsOf: GrammarTestPaths.fixtures.appendingPathComponent("xgrammar_masks.json"))
        let doc = try! JSONSerialization.jsonObject(with: data) as! [String: Any]
        let bytes = (doc["vocab_hex"] as! [String]).map(hexBytes)
        let vocabulary = TokenVocabulary(tokenBytes: bytes, stopTokenIDs: doc["stop_token_ids"] as! [Int])
        let walks = (doc["cases"] as! [[String: Any]]).map { c in
            Walk(
                name: c["name"] as! String, spec: spec(c), path: c["path"] as! [Int],
                masks: (c["masks"] as! [String]).map { words(hexBytes($0), count: vocabulary.maskWords) })
        }
        return XGrammarFixture(vocabulary: vocabulary, walks: walks)
    }()

    /// The cases of structured_output_cases.json, by name.
    static let cases: [String: StructuredOutputSpec] = {
        let data = try! Data(contentsOf: GrammarTestPaths.fixtures.appendingPathComponent("structured_output_cases.json"))
        let doc = try! JSONSerialization.jsonObject(with: data) as! [String: Any]
        var out: [String: StructuredOutputSpec] = [:]
        for c in doc["cases"] as! [[String: Any]] { out[c["name"] as! String] = spec(c) }
        return out
    }()

    static func spec(_ c: [String: Any]) -> StructuredOutputSpec {
        switch c["kind"] as! String {
        case "json": return .jsonSchema(c["spec"] as! String)
        case "json_object": return .jsonObject
        case "regex": return .regex(c["spec"] as! String)
        case "choice": return .choice(c["spec"] as! [String])
        default: return .grammar(c["spec"] as! String)
        }
    }

    static func hexBytes(_ h: String) -> [UInt8] {
        let u = Array(h.utf8)
        return stride(from: 0, to: u.count, by: 2).map { UInt8(String(decoding: u[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
    }

    /// Little-endian 32-bit words, as numpy writes an int32 row.
    static func words(_ b: [UInt8], count: Int) -> [UInt32] {
        (0..<count).map { w in (0..<4).reduce(UInt32(0)) { $0 | UInt32(b[w * 4 + $1]) << (8 * UInt32($1)) } }
    }
}

/// Ids whose bit is set, below `size`.
func allowedIDs(_ mask: [UInt32], size: Int) -> Set<Int> {
    var out: Set<Int> = []
    for (w, word) in mask.enumerated() where word != 0 {
        for b in 0..<32 where word >> UInt32(b) & 1 == 1 && w * 32 + b < size { out.insert(w * 32 + b) }
    }
    return out
}
