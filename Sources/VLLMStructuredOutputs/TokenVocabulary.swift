import VLLMTokenizers

/// The model's vocabulary as a grammar sees it: each token's bytes, sorted so that tokens with
/// a common prefix are neighbours (a walk over them reuses the parse state of the prefix).
public struct TokenVocabulary: Sendable {
    /// Number of ids (the width of the mask).
    public let size: Int
    /// Ids that end generation; allowed exactly when the grammar can end.
    public let stopTokenIDs: [Int32]
    /// Ids in byte order of their tokens; special and empty tokens are left out (never allowed).
    let sortedIDs: [Int32]
    /// The position of each id in `sortedIDs`, -1 for ids left out.
    let sortedPosition: [Int32]
    /// Where each sorted token's bytes start in `bytes` (one more entry at the end).
    let offsets: [Int32]
    let bytes: [UInt8]
    /// Length of the prefix each sorted token shares with the one before it.
    let lcp: [Int32]
    /// For each first byte, the end of its run of sorted tokens.
    let firstByteEnd: [Int32]
    let maxTokenLength: Int

    /// A vocabulary from each id's bytes (nil: the id can never be produced under a grammar).
    /// `excludedIDs` (special tokens) are never allowed; `stopTokenIDs` are allowed at the end.
    public init(tokenBytes: [[UInt8]?], stopTokenIDs: [Int], excludedIDs: Set<Int> = []) {
        size = tokenBytes.count
        self.stopTokenIDs = stopTokenIDs.filter { $0 >= 0 && $0 < tokenBytes.count }.map { Int32($0) }
        let stops = Set(stopTokenIDs)
        var ids = tokenBytes.indices.filter { i in
            guard let b = tokenBytes[i], !b.isEmpty else { return false }
            return !excludedIDs.contains(i) && !stops.contains(i)
        }
        ids.sort { tokenBytes[$0]!.lexicographicallyPrecedes(tokenBytes[$1]!) }
        sortedIDs = ids.map { Int32($0) }
        var position = [Int32](repeating: -1, count: tokenBytes.count)
        for (k, id) in ids.enumerated() { position[id] = Int32(k) }
        sortedPosition = position
        var offsets: [Int32] = [0]
        var bytes: [UInt8] = []
        var lcp: [Int32] = []
        var previous: [UInt8] = []
        var firstByteCount = [Int32](repeating: 0, count: 256)
        for id in ids {
            let b = tokenBytes[id]!
            bytes += b
            offsets.append(Int32(bytes.count))
            var l = 0
            while l < b.count && l < previous.count && b[l] == previous[l] { l += 1 }
            lcp.append(Int32(l))
            previous = b
            firstByteCount[Int(b[0])] += 1
        }
        var firstByteEnd = [Int32](repeating: 0, count: 256)
        var total: Int32 = 0
        for i in 0..<256 {
            total += firstByteCount[i]
            firstByteEnd[i] = total
        }
        self.offsets = offsets
        self.bytes = bytes
        self.lcp = lcp
        self.firstByteEnd = firstByteEnd
        maxTokenLength = zip(offsets.dropFirst(), offsets).map { Int($0 - $1) }.max() ?? 0
    }

    /// The vocabulary of a tokenizer: special tokens excluded, `stopTokenIDs` (default: the
    /// tokenizer's EOS) allowed at the end.
    public init(tokenizer: Tokenizer, stopTokenIDs: [Int]? = nil) {
        let bytes = (0..<tokenizer.vocabularySize).map { tokenizer.tokenBytes(forID: $0) }
        self.init(
            tokenBytes: bytes, stopTokenIDs: stopTokenIDs ?? tokenizer.eosTokenID.map { [$0] } ?? [], excludedIDs: tokenizer.specialTokenIDs
        )
    }

    /// The bytes of an id, nil for ids that are never allowed (special, empty or stop tokens).
    public func bytes(of id: Int) -> [UInt8]? {
        guard id >= 0 && id < size, sortedPosition[id] >= 0 else { return nil }
        let p = Int(sortedPosition[id])
        return Array(bytes[Int(offsets[p])..<Int(offsets[p + 1])])
    }

    /// Number of mask words (32 ids each).
    public var maskWords: Int { (size + 31) / 32 }
}
