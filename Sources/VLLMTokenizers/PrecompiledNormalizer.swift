import Foundation

/// SentencePiece's precompiled character map (T5, ALBERT, XLNet and other Unigram models).
///
/// The blob holds a darts-clone double-array trie over UTF-8 byte strings whose values point
/// into a table of NUL-terminated replacement strings. `tokenizers` looks up each grapheme
/// (when short) and otherwise each scalar; the first (shortest) prefix hit wins.
struct PrecompiledNormalizer: Normalizer {
    let units: [UInt32]
    let normalized: [UInt8]

    init(json: JSONReader) throws {
        // Converters write null or "" when the SentencePiece model has no normalization rules;
        // the normalizer is then the identity.
        let b64 = try json.optionalString("precompiled_charsmap") ?? ""
        if b64.isEmpty {
            units = []
            normalized = []
            return
        }
        guard let data = Data(base64Encoded: b64), data.count >= 4 else {
            throw json.fail("precompiled_charsmap", "not valid base64 of a charsmap")
        }
        let bytes = [UInt8](data)
        let trieSize = Int(UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24)
        guard trieSize % 4 == 0, 4 + trieSize <= bytes.count else {
            throw json.fail("precompiled_charsmap", "trie size \(trieSize) exceeds the blob")
        }
        var units: [UInt32] = []
        units.reserveCapacity(trieSize / 4)
        var i = 4
        while i < 4 + trieSize {
            units.append(UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24)
            i += 4
        }
        self.units = units
        self.normalized = Array(bytes[(4 + trieSize)...])
    }

    private func firstPrefixValue(_ key: ArraySlice<UInt8>) -> Int? {
        guard !units.isEmpty else { return nil }
        @inline(__always) func offset(_ u: UInt32) -> Int { Int((u >> 10) << ((u & (1 << 9)) >> 6)) }
        var pos = offset(units[0])
        for c in key {
            if c == 0 { break }
            pos ^= Int(c)
            guard pos < units.count else { return nil }
            let u = units[pos]
            if (u & ((1 << 31) | 0xFF)) != UInt32(c) { return nil }
            pos ^= offset(u)
            if (u >> 8) & 1 == 1 {
                guard pos < units.count else { return nil }
                return Int(units[pos] & ((1 << 31) - 1))
            }
        }
        return nil
    }

    private func transform(_ chunk: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        guard let start = firstPrefixValue(chunk), start < normalized.count else { return nil }
        var end = start
        while end < normalized.count && normalized[end] != 0 { end += 1 }
        return normalized[start..<end]
    }

    func normalize(_ text: [UInt8]) -> [UInt8] {
        if units.isEmpty { return text }
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        let s = String(decoding: text, as: UTF8.self)
        for ch in s {
            let g = Array(ch.utf8)
            if g.count < 6, let t = transform(g[...]) {
                out.append(contentsOf: t)
                continue
            }
            var i = 0
            while i < g.count {
                let n = UnicodeSupport.sequenceLength(g[i])
                let part = g[i..<min(i + n, g.count)]
                if let t = transform(part) { out.append(contentsOf: t) } else { out.append(contentsOf: part) }
                i += n
            }
        }
        return out
    }
}
