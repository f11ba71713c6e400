import Foundation

/// A `tokenizer.json` normalizer: rewrites the text of a piece before pre-tokenization.
///
/// Text travels as UTF-8 bytes through the whole pipeline so that the common normalizers of real
/// models (Prepend and Replace of SentencePiece-style BPE) never build Swift Strings.
protocol Normalizer: Sendable {
    func normalize(_ text: [UInt8]) -> [UInt8]
}

/// Builds normalizers from their JSON description.
enum NormalizerFactory {
    static func make(_ json: JSONReader) throws -> Normalizer {
        let type = try json.string("type")
        switch type {
        case "Sequence":
            let items = try json.objects("normalizers").map { try make($0) }
            return SequenceNormalizer(normalizers: items)
        case "NFC": return UnicodeFormNormalizer(form: .nfc)
        case "NFD": return UnicodeFormNormalizer(form: .nfd)
        case "NFKC": return UnicodeFormNormalizer(form: .nfkc)
        case "NFKD": return UnicodeFormNormalizer(form: .nfkd)
        case "Lowercase": return LowercaseNormalizer()
        case "Prepend": return PrependNormalizer(prepend: Array(try json.string("prepend").utf8))
        case "Replace":
            let pattern = try PatternSpec.parse(json.object("pattern"))
            return try ReplaceNormalizer(pattern: pattern, content: json.string("content"))
        case "Strip":
            return StripNormalizer(left: try json.bool("strip_left", default: true), right: try json.bool("strip_right", default: true))
        case "StripAccents": return StripAccentsNormalizer()
        case "BertNormalizer":
            let lowercase = try json.bool("lowercase", default: true)
            let stripAccents: Bool
            if json.has("strip_accents") {
                stripAccents = try json.bool("strip_accents", default: lowercase)
            } else {
                stripAccents = lowercase
            }
            return BertNormalizer(
                cleanText: try json.bool("clean_text", default: true),
                handleChineseChars: try json.bool("handle_chinese_chars", default: true),
                stripAccents: stripAccents, lowercase: lowercase)
        case "ByteLevel": return ByteLevelNormalizer()
        case "Nmt": return NmtNormalizer()
        case "Precompiled":
            return try PrecompiledNormalizer(json: json)
        default:
            throw TokenizerError.unsupported(file: json.file, component: "normalizer", type: type)
        }
    }
}

struct SequenceNormalizer: Normalizer {
    let normalizers: [Normalizer]
    func normalize(_ text: [UInt8]) -> [UInt8] {
        var t = text
        for n in normalizers { t = n.normalize(t) }
        return t
    }
}

struct UnicodeFormNormalizer: Normalizer {
    enum Form: Sendable { case nfc, nfd, nfkc, nfkd }
    let form: Form
    func normalize(_ text: [UInt8]) -> [UInt8] {
        // ASCII is invariant under every normalization form; skip Foundation for it.
        if text.allSatisfy({ $0 < 0x80 }) { return text }
        let s = String(decoding: text, as: UTF8.self)
        let r: String
        switch form {
        case .nfc: r = s.precomposedStringWithCanonicalMapping
        case .nfd: r = s.decomposedStringWithCanonicalMapping
        case .nfkc: r = s.precomposedStringWithCompatibilityMapping
        case .nfkd: r = s.decomposedStringWithCompatibilityMapping
        }
        return Array(r.utf8)
    }
}

struct LowercaseNormalizer: Normalizer {
    func normalize(_ text: [UInt8]) -> [UInt8] {
        if text.allSatisfy({ $0 < 0x80 }) {
            return text.map { ($0 >= 0x41 && $0 <= 0x5A) ? $0 + 32 : $0 }
        }
        return Array(String(decoding: text, as: UTF8.self).lowercased().utf8)
    }
}

/// Prepends a string to every non-empty piece (the `▁` of SentencePiece-style tokenizers).
struct PrependNormalizer: Normalizer {
    let prepend: [UInt8]
    func normalize(_ text: [UInt8]) -> [UInt8] {
        if text.isEmpty { return text }
        return prepend + text
    }
}

struct ReplaceNormalizer: Normalizer {
    let pattern: PatternSpec
    let content: [UInt8]
    let contentString: String
    init(pattern: PatternSpec, content: String) throws {
        self.pattern = pattern
        self.content = Array(content.utf8)
        self.contentString = content
    }
    func normalize(_ text: [UInt8]) -> [UInt8] {
        switch pattern {
        case .string(let s):
            return UnicodeSupport.replace(s, with: content, in: text)
        case .regex(let matcher):
            let ranges = matcher.matches(in: text[...])
            if ranges.isEmpty { return text }
            var out: [UInt8] = []
            var start = 0
            for r in ranges {
                out.append(contentsOf: text[start..<r.lowerBound])
                out.append(contentsOf: content)
                start = r.upperBound
            }
            out.append(contentsOf: text[start...])
            return out
        }
    }
}

/// Removes leading and/or trailing whitespace (Unicode White_Space, as Rust's `trim`).
struct StripNormalizer: Normalizer {
    let left: Bool
    let right: Bool
    func normalize(_ text: [UInt8]) -> [UInt8] {
        let (scalars, offsets) = UnicodeSupport.decode(text)
        var a = 0
        var b = scalars.count
        if left { while a < b && UnicodeSupport.isWhitespace(scalars[a]) { a += 1 } }
        if right { while b > a && UnicodeSupport.isWhitespace(scalars[b - 1]) { b -= 1 } }
        return Array(text[offsets[a]..<offsets[b]])
    }
}

/// Drops combining marks (Mn, Mc and Me, as `tokenizers` does); models pair it with NFD so
/// accents become separable marks first.
struct StripAccentsNormalizer: Normalizer {
    func normalize(_ text: [UInt8]) -> [UInt8] {
        if text.allSatisfy({ $0 < 0x80 }) { return text }
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        for s in String(decoding: text, as: UTF8.self).unicodeScalars {
            switch s.properties.generalCategory {
            case .nonspacingMark, .spacingMark, .enclosingMark: continue
            default: break
            }
            UnicodeSupport.appendUTF8(s.value, to: &out)
        }
        return out
    }
}

/// BERT's normalizer: control-character cleanup, spacing around CJK ideographs, accent
/// stripping and lowercasing, in that order.
struct BertNormalizer: Normalizer {
    let cleanText: Bool
    let handleChineseChars: Bool
    let stripAccents: Bool
    let lowercase: Bool

    static func isChinese(_ v: UInt32) -> Bool {
        switch v {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
            0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default: return false
        }
    }

    static func isControl(_ s: Unicode.Scalar) -> Bool {
        if s == "\t" || s == "\n" || s == "\r" { return false }
        switch s.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned: return true
        default: return false
        }
    }

    func normalize(_ text: [UInt8]) -> [UInt8] {
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(text.count)
        for s in String(decoding: text, as: UTF8.self).unicodeScalars {
            if cleanText {
                if s.value == 0 || s.value == 0xFFFD || BertNormalizer.isControl(s) { continue }
                if s == "\t" || s == "\n" || s == "\r" || s.properties.isWhitespace {
                    scalars.append(" "); continue
                }
            }
            if handleChineseChars && BertNormalizer.isChinese(s.value) {
                scalars.append(" "); scalars.append(s); scalars.append(" ")
            } else {
                scalars.append(s)
            }
        }
        var str = String(String.UnicodeScalarView(scalars))
        if stripAccents {
            let decomposed = str.decomposedStringWithCanonicalMapping
            str = String(String.UnicodeScalarView(decomposed.unicodeScalars.filter { $0.properties.generalCategory != .nonspacingMark }))
        }
        if lowercase { str = str.lowercased() }
        return Array(str.utf8)
    }
}

/// Maps every byte to its printable GPT-2 byte-level character.
struct ByteLevelNormalizer: Normalizer {
    func normalize(_ text: [UInt8]) -> [UInt8] { ByteLevelAlphabet.encode(text[...]) }
}

/// SentencePiece's NMT normalization: drops some control characters and maps others to spaces.
struct NmtNormalizer: Normalizer {
    func normalize(_ text: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        for s in String(decoding: text, as: UTF8.self).unicodeScalars {
            let v = s.value
            switch v {
            case 0x0001...0x0008, 0x000B, 0x000E...0x001F, 0x007F, 0x008F, 0x009F: continue
            case 0x0009, 0x000A, 0x000C, 0x000D, 0x1680, 0x200B...0x200F, 0x2028, 0x2029, 0x2581, 0xFEFF, 0xFFFD:
                out.append(0x20)
            default:
                UnicodeSupport.appendUTF8(v, to: &out)
            }
        }
        return out
    }
}
