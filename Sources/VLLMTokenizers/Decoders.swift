import Foundation

/// A `tokenizer.json` decoder: turns the token strings of ids back into text. Like
/// `tokenizers`, each decoder maps a list of strings to a list of strings (so that chains such
/// as Replace → ByteFallback → Fuse → Strip compose) and the final list is concatenated.
protocol Decoder: Sendable {
    func decodeChain(_ tokens: [String]) -> [String]
}

enum DecoderFactory {
    static func make(_ json: JSONReader) throws -> Decoder {
        let type = try json.string("type")
        switch type {
        case "Sequence": return SequenceDecoder(items: try json.objects("decoders").map { try make($0) })
        case "ByteLevel": return ByteLevelDecoder()
        case "Metaspace":
            let replacement = try json.optionalString("replacement") ?? "▁"
            var prepend = true
            if let s = try json.optionalString("prepend_scheme") {
                prepend = s != "never"
            } else if json.has("add_prefix_space") {
                prepend = try json.bool("add_prefix_space", default: true)
            }
            return MetaspaceDecoder(replacement: replacement.unicodeScalars.first ?? "▁", prepend: prepend)
        case "ByteFallback": return ByteFallbackDecoder()
        case "Fuse": return FuseDecoder()
        case "Strip":
            return StripDecoder(
                content: (try json.string("content")).unicodeScalars.first ?? " ",
                start: try json.optionalInt("start") ?? 0, stop: try json.optionalInt("stop") ?? 0)
        case "Replace":
            return ReplaceDecoder(pattern: try PatternSpec.parse(json.object("pattern")), content: Array(try json.string("content").utf8))
        case "WordPiece":
            return WordPieceDecoder(prefix: try json.optionalString("prefix") ?? "##", cleanup: try json.bool("cleanup", default: true))
        case "BPEDecoder":
            return BPEDecoder(suffix: try json.optionalString("suffix") ?? "</w>")
        case "CTC":
            return CTCDecoder(
                pad: try json.optionalString("pad_token") ?? "<pad>",
                delimiter: try json.optionalString("word_delimiter_token") ?? "|",
                cleanup: try json.bool("cleanup", default: true))
        default:
            throw TokenizerError.unsupported(file: json.file, component: "decoder", type: type)
        }
    }
}

struct SequenceDecoder: Decoder {
    let items: [Decoder]
    func decodeChain(_ tokens: [String]) -> [String] { items.reduce(tokens) { $1.decodeChain($0) } }
}

/// Maps byte-level characters back to bytes over the whole list, then decodes UTF-8 lossily.
struct ByteLevelDecoder: Decoder {
    func decodeChain(_ tokens: [String]) -> [String] {
        var bytes: [UInt8] = []
        for t in tokens {
            if let b = ByteLevelAlphabet.decode(t) { bytes.append(contentsOf: b) } else { bytes.append(contentsOf: t.utf8) }
        }
        return [String(decoding: bytes, as: UTF8.self)]
    }
}

/// `▁` back to spaces; the first token loses its `▁`s when a prefix space was added on encode.
struct MetaspaceDecoder: Decoder {
    let replacement: Unicode.Scalar
    let prepend: Bool
    func decodeChain(_ tokens: [String]) -> [String] {
        tokens.enumerated().map { i, t in
            var out = String.UnicodeScalarView()
            for s in t.unicodeScalars {
                if s == replacement {
                    if !(i == 0 && prepend) { out.append(" ") }
                } else {
                    out.append(s)
                }
            }
            return String(out)
        }
    }
}

/// `<0xNN>` tokens back to bytes; a run that is not valid UTF-8 becomes one U+FFFD per byte.
struct ByteFallbackDecoder: Decoder {
    static func byteValue(_ t: String) -> UInt8? {
        let u = Array(t.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x41...0x46: return c - 0x41 + 10
            case 0x61...0x66: return c - 0x61 + 10
            default: return nil
            }
        }
        guard let h = hex(u[3]), let l = hex(u[4]) else { return nil }
        return h << 4 | l
    }

    func decodeChain(_ tokens: [String]) -> [String] {
        var out: [String] = []
        out.reserveCapacity(tokens.count)
        var pending: [UInt8] = []
        func flush() {
            guard !pending.isEmpty else { return }
            if let s = String(validatingUTF8Bytes: pending) {
                out.append(s)
            } else {
                for _ in pending { out.append("\u{FFFD}") }
            }
            pending.removeAll()
        }
        for t in tokens {
            if let b = ByteFallbackDecoder.byteValue(t) {
                pending.append(b)
            } else {
                flush()
                out.append(t)
            }
        }
        flush()
        return out
    }
}

extension String {
    /// Strict UTF-8 decoding: nil for any invalid sequence.
    init?(validatingUTF8Bytes bytes: [UInt8]) {
        var it = bytes.makeIterator()
        var decoder = UTF8()
        var scalars = String.UnicodeScalarView()
        loop: while true {
            switch decoder.decode(&it) {
            case .scalarValue(let s): scalars.append(s)
            case .emptyInput: break loop
            case .error: return nil
            }
        }
        self = String(scalars)
    }
}

struct FuseDecoder: Decoder {
    func decodeChain(_ tokens: [String]) -> [String] { [tokens.joined()] }
}

/// Removes up to `start` leading and `stop` trailing occurrences of `content` from each token.
struct StripDecoder: Decoder {
    let content: Unicode.Scalar
    let start: Int
    let stop: Int
    func decodeChain(_ tokens: [String]) -> [String] {
        tokens.map { t in
            let scalars = Array(t.unicodeScalars)
            var a = 0
            while a < start && a < scalars.count && scalars[a] == content { a += 1 }
            var b = scalars.count
            var removed = 0
            while removed < stop && b > a && scalars[b - 1] == content { b -= 1; removed += 1 }
            if a == 0 && b == scalars.count { return t }
            return String(String.UnicodeScalarView(scalars[a..<b]))
        }
    }
}

struct ReplaceDecoder: Decoder {
    let pattern: PatternSpec
    let content: [UInt8]
    func decodeChain(_ tokens: [String]) -> [String] {
        tokens.map { t in
            let bytes = Array(t.utf8)
            let ranges = pattern.matches(in: bytes[...])
            if ranges.isEmpty { return t }
            var out: [UInt8] = []
            var s = 0
            for r in ranges {
                out.append(contentsOf: bytes[s..<r.lowerBound])
                out.append(contentsOf: content)
                s = r.upperBound
            }
            out.append(contentsOf: bytes[s...])
            return String(decoding: out, as: UTF8.self)
        }
    }
}

/// The tokenization-space cleanup of `transformers` (" ." → "." and so on), used by the
/// WordPiece and CTC decoders.
enum Cleanup {
    static func apply(_ s: String) -> String {
        var r = s
        for (a, b) in [
            (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
            (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
        ] {
            r = Cleanup.replace(r, a, b)
        }
        return r
    }

    /// Literal, byte-wise replacement (Foundation's may match canonically equivalent text).
    static func replace(_ s: String, _ a: String, _ b: String) -> String {
        String(decoding: UnicodeSupport.replace(Array(a.utf8), with: Array(b.utf8), in: Array(s.utf8)), as: UTF8.self)
    }
}

struct WordPieceDecoder: Decoder {
    let prefix: String
    let cleanup: Bool
    func decodeChain(_ tokens: [String]) -> [String] {
        // Byte-wise prefix test: `hasPrefix` compares Characters, and "##" followed by a
        // combining mark is not a Character-level prefix.
        let p = Array(prefix.utf8)
        return tokens.enumerated().map { i, t in
            var s = t
            if i != 0 {
                let u = Array(t.utf8)
                if u.starts(with: p) { s = String(decoding: u[p.count...], as: UTF8.self) } else { s = " " + s }
            }
            return cleanup ? Cleanup.apply(s) : s
        }
    }
}

struct BPEDecoder: Decoder {
    let suffix: String
    func decodeChain(_ tokens: [String]) -> [String] {
        tokens.enumerated().map { i, t in
            Cleanup.replace(t, suffix, i == tokens.count - 1 ? "" : " ")
        }
    }
}

struct CTCDecoder: Decoder {
    let pad: String
    let delimiter: String
    let cleanup: Bool
    func decodeChain(_ tokens: [String]) -> [String] {
        var deduped: [String] = []
        for t in tokens where deduped.last != t { deduped.append(t) }
        return deduped.compactMap { t in
            var s = Cleanup.replace(t, pad, "")
            if cleanup { s = Cleanup.replace(Cleanup.apply(s), delimiter, " ") }
            return s.isEmpty ? nil : s
        }
    }
}
