import Foundation

/// JSON helpers for the `vllm tokenize` / `vllm detokenize` commands, which read and write one
/// JSON value per line. The parser is the tokenizer's own, which keeps every character exactly
/// (Foundation's drops U+FEFF on Linux).
public enum TokenizerJSONLines {
    /// A line that is not the expected JSON value.
    public struct LineError: Error, CustomStringConvertible {
        /// Why the line was rejected.
        public let description: String
    }

    /// Parses a line holding one JSON string.
    public static func parseString(_ line: String) throws -> String {
        let v: JSONValue
        do { v = try JSONParser.parse(Data(line.utf8)) } catch let e as JSONParseError {
            throw LineError(description: "invalid JSON: \(e.message) at byte \(e.offset)")
        }
        guard let s = v.stringValue else { throw LineError(description: "expected a JSON string") }
        return s
    }

    /// Parses a line holding one JSON array of non-negative integer ids.
    public static func parseIDs(_ line: String) throws -> [Int] {
        let v: JSONValue
        do { v = try JSONParser.parse(Data(line.utf8)) } catch let e as JSONParseError {
            throw LineError(description: "invalid JSON: \(e.message) at byte \(e.offset)")
        }
        guard let a = v.arrayValue else { throw LineError(description: "expected a JSON array of token ids") }
        return try a.enumerated().map { i, x in
            guard let n = x.intValue, n >= 0 else { throw LineError(description: "element \(i) is not a non-negative integer id") }
            return n
        }
    }

    /// Writes a string as JSON, leaving non-ASCII characters as they are but for DEL and U+2028/U+2029,
    /// written as `\u` escapes so that each value stays one visible line.
    public static func encodeString(_ s: String) -> String {
        JSONEscape.quoted(s, alsoEscaping: { $0.value == 0x7F || $0.value == 0x2028 || $0.value == 0x2029 })
    }

    /// Writes ids as a compact JSON array.
    public static func encodeIDs(_ ids: [Int]) -> String {
        "[" + ids.map(String.init).joined(separator: ",") + "]"
    }
}
