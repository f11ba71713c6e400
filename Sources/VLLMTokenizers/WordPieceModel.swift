/// BERT's WordPiece: greedy longest-match-first inside each word, continuation pieces carrying
/// the `##` prefix; a word with any unmatched remainder becomes a single `unk`.
final class WordPieceModel: TokenizerModel {
    let idToTokenTable: [String?]
    let vocabularySize: Int
    private let vocabBytes: ByteStringTable
    private let unkID: Int
    private let prefix: [UInt8]
    private let maxInputCharsPerWord: Int

    var acceptsUnmappedByteLevel: Bool { false }

    init(json: JSONReader) throws {
        let entries = try json.vocabulary("vocab")
        let maxID = entries.map { $0.1 }.max() ?? -1
        var vb = ByteStringTable(capacity: entries.count)
        var table = [String?](repeating: nil, count: maxID + 1)
        for (k, id) in entries {
            vb.insert(Array(k.utf8), value: Int32(id))
            table[id] = k
        }
        idToTokenTable = table
        vocabularySize = maxID + 1
        vocabBytes = vb
        let unk = try json.optionalString("unk_token") ?? "[UNK]"
        guard let (us, _) = vb.find(Array(unk.utf8)[...]) else { throw json.fail("unk_token", "'\(unk)' is not in the vocabulary") }
        unkID = Int(vb.valueArena[us])
        prefix = Array((try json.optionalString("continuing_subword_prefix") ?? "##").utf8)
        maxInputCharsPerWord = try json.optionalInt("max_input_chars_per_word") ?? 100
    }

    func tokenToID(_ token: String) -> Int? { vocabBytes.find(Array(token.utf8)[...]).map { Int(vocabBytes.valueArena[$0.0]) } }
    func idToToken(_ id: Int) -> String? { id >= 0 && id < idToTokenTable.count ? idToTokenTable[id] : nil }

    func tokenize(_ word: ArraySlice<UInt8>, byteLevel: Bool, scratch: inout ModelScratch, into ids: inout [Int]) {
        if word.isEmpty { return }
        let (_, offsets) = UnicodeSupport.decode(word)
        let charCount = offsets.count - 1
        if charCount > maxInputCharsPerWord { ids.append(unkID); return }
        let base = word.startIndex
        var pieces: [Int] = []
        var startChar = 0
        var key: [UInt8] = []
        while startChar < charCount {
            var endChar = charCount
            var found: Int? = nil
            while startChar < endChar {
                key.removeAll(keepingCapacity: true)
                if startChar > 0 { key.append(contentsOf: prefix) }
                key.append(contentsOf: word[(base + offsets[startChar])..<(base + offsets[endChar])])
                if let (s, _) = vocabBytes.find(key[...]) { found = Int(vocabBytes.valueArena[s]); break }
                endChar -= 1
            }
            guard let id = found else { ids.append(unkID); return }
            pieces.append(id)
            startChar = endChar
        }
        ids.append(contentsOf: pieces)
    }
}
