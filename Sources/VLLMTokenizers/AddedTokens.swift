import Foundation

/// One entry of `added_tokens` in tokenizer.json.
public struct AddedToken: Sendable, Hashable {
    /// The token id.
    public let id: Int
    /// The exact text of the token.
    public let content: String
    /// Special tokens are dropped by `decode(skipSpecialTokens: true)`.
    public let special: Bool
    /// Only match when not inside a word.
    public let singleWord: Bool
    /// Swallow the whitespace on the left of a match.
    public let lstrip: Bool
    /// Swallow the whitespace on the right of a match.
    public let rstrip: Bool
    /// Match against the normalized text instead of the raw input.
    public let normalized: Bool

    init(json: JSONReader) throws {
        id = try json.tokenID("id")
        content = try json.string("content")
        special = try json.bool("special", default: false)
        singleWord = try json.bool("single_word", default: false)
        lstrip = try json.bool("lstrip", default: false)
        rstrip = try json.bool("rstrip", default: false)
        normalized = try json.bool("normalized", default: !special)
    }
}

/// A piece of input after added-token extraction: either an added token or text for the model.
struct TextSegment {
    var range: Range<Int>
    var tokenID: Int?
}

/// Finds added tokens in text, leftmost-longest like the Aho-Corasick automaton of `tokenizers`,
/// then applies `single_word`, `lstrip` and `rstrip`.
struct AddedTokenMatcher: Sendable {
    private struct Node: Sendable {
        var children: [UInt8: Int32] = [:]
        var token: Int32 = -1  // index into `tokens`
    }
    private var nodes: [Node] = [Node()]
    private var rootFirst = [Bool](repeating: false, count: 256)
    private var tokens: [AddedToken] = []
    /// The distinct first bytes of the patterns; with a single one (GPT-2's `<`) the scan
    /// becomes a `memchr`.
    private var firstBytes: [UInt8] = []

    var isEmpty: Bool { tokens.isEmpty }

    /// `patterns` pairs each token with the text to look for (its content, or its normalized
    /// content for `normalized` tokens).
    init(_ patterns: [(AddedToken, [UInt8])]) {
        for (tok, bytes) in patterns where !bytes.isEmpty {
            let ti = Int32(tokens.count)
            tokens.append(tok)
            var n = 0
            for b in bytes {
                if let c = nodes[n].children[b] {
                    n = Int(c)
                } else {
                    nodes.append(Node())
                    let c = nodes.count - 1
                    nodes[n].children[b] = Int32(c)
                    n = c
                }
            }
            if nodes[n].token < 0 { nodes[n].token = ti }
            rootFirst[Int(bytes[0])] = true
        }
        firstBytes = (0..<256).filter { rootFirst[$0] }.map { UInt8($0) }
    }

    /// The leftmost, then longest, match at or after `from`.
    private func nextMatch(_ p: UnsafeBufferPointer<UInt8>, from: Int, end: Int) -> (Int, Int, AddedToken)? {
        var i = from
        while i < end {
            if firstBytes.count == 1 {
                guard let base = p.baseAddress, let hit = memchr(base + i, Int32(firstBytes[0]), end - i) else { return nil }
                i = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            }
            if rootFirst[Int(p[i])] {
                var n = 0
                var j = i
                var best: (Int, Int32)? = nil
                while j < end, let c = nodes[n].children[p[j]] {
                    n = Int(c)
                    j += 1
                    if nodes[n].token >= 0 { best = (j, nodes[n].token) }
                }
                if let (e, t) = best { return (i, e, tokens[Int(t)]) }
            }
            i += 1
        }
        return nil
    }

    /// Splits `range` of `bytes` into text and added-token segments.
    func split(_ bytes: [UInt8], range: Range<Int>) -> [TextSegment] {
        if tokens.isEmpty || range.isEmpty { return [TextSegment(range: range, tokenID: nil)] }
        var out: [TextSegment] = []
        bytes.withUnsafeBufferPointer { p in
            var startOffset = range.lowerBound
            var searchFrom = range.lowerBound
            while let (ms, me, tok) = nextMatch(p, from: searchFrom, end: range.upperBound) {
                searchFrom = me
                var start = ms
                var stop = me
                if tok.singleWord {
                    let startSpace = start == range.lowerBound || !endsWithWordChar(p, range.lowerBound, start)
                    let stopSpace = stop == range.upperBound || !startsWithWordChar(p, stop, range.upperBound)
                    if !startSpace || !stopSpace { continue }
                }
                if tok.lstrip {
                    start = max(leftmostSpaceAtEnd(p, range.lowerBound, start), startOffset)
                }
                if tok.rstrip {
                    stop = rightmostSpaceAtStart(p, stop, range.upperBound)
                }
                if startOffset < start { out.append(TextSegment(range: startOffset..<start, tokenID: nil)) }
                out.append(TextSegment(range: start..<stop, tokenID: tok.id))
                startOffset = stop
                // A match never starts inside the whitespace an rstrip just consumed.
                searchFrom = max(searchFrom, stop)
            }
            if startOffset < range.upperBound { out.append(TextSegment(range: startOffset..<range.upperBound, tokenID: nil)) }
        }
        return out
    }

    private func lastScalar(_ p: UnsafeBufferPointer<UInt8>, _ lo: Int, _ hi: Int) -> (UInt32, Int)? {
        guard hi > lo else { return nil }
        var s = hi - 1
        while s > lo && (p[s] & 0xC0) == 0x80 { s -= 1 }
        let (sc, _) = UnicodeSupport.decode(UnsafeBufferPointer(rebasing: p[s..<hi]).map { $0 }[...])
        return sc.first.map { ($0, s) }
    }

    private func firstScalar(_ p: UnsafeBufferPointer<UInt8>, _ lo: Int, _ hi: Int) -> (UInt32, Int)? {
        guard hi > lo else { return nil }
        let len = min(UnicodeSupport.sequenceLength(p[lo]), hi - lo)
        let (sc, _) = UnicodeSupport.decode(UnsafeBufferPointer(rebasing: p[lo..<(lo + len)]).map { $0 }[...])
        return sc.first.map { ($0, lo + len) }
    }

    private func endsWithWordChar(_ p: UnsafeBufferPointer<UInt8>, _ lo: Int, _ hi: Int) -> Bool {
        guard let (v, _) = lastScalar(p, lo, hi) else { return false }
        return UnicodeSupport.isWordCharacter(v)
    }

    private func startsWithWordChar(_ p: UnsafeBufferPointer<UInt8>, _ lo: Int, _ hi: Int) -> Bool {
        guard let (v, _) = firstScalar(p, lo, hi) else { return false }
        return UnicodeSupport.isWordCharacter(v)
    }

    /// Start of the whitespace run that ends at `hi`.
    private func leftmostSpaceAtEnd(_ p: UnsafeBufferPointer<UInt8>, _ lo: Int, _ hi: Int) -> Int {
        var e = hi
        while let (v, s) = lastScalar(p, lo, e), UnicodeSupport.isWhitespace(v) { e = s }
        return e
    }

    /// End of the whitespace run that starts at `lo`.
    private func rightmostSpaceAtStart(_ p: UnsafeBufferPointer<UInt8>, _ lo: Int, _ hi: Int) -> Int {
        var s = lo
        while let (v, e) = firstScalar(p, s, hi), UnicodeSupport.isWhitespace(v) { s = e }
        return s
    }
}
