/// A plain vocabulary lookup per word, `unk` for anything else.
final class WordLevelModel: TokenizerModel {
    let vocab: [[UInt8]: Int]
    let idToTokenTable: [String?]
    let vocabularySize: Int
    private let unkID: Int?
    var acceptsUnmappedByteLevel: Bool { false }

    init(json: JSONReader) throws {
        let entries = try json.vocabulary("vocab")
        var vocab: [[UInt8]: Int] = [:]
        for (k, v) in entries where vocab[Array(k.utf8)] == nil { vocab[Array(k.utf8)] = v }
        self.vocab = vocab
        let maxID = entries.map { $0.1 }.max() ?? -1
        var table = [String?](repeating: nil, count: maxID + 1)
        for (k, v) in entries { table[v] = k }
        idToTokenTable = table
        vocabularySize = maxID + 1
        unkID = try json.optionalString("unk_token").flatMap { vocab[Array($0.utf8)] }
    }

    func tokenToID(_ token: String) -> Int? { vocab[Array(token.utf8)] }
    func idToToken(_ id: Int) -> String? { id >= 0 && id < idToTokenTable.count ? idToTokenTable[id] : nil }

    func tokenize(_ word: ArraySlice<UInt8>, byteLevel: Bool, scratch: inout ModelScratch, into ids: inout [Int]) {
        if word.isEmpty { return }
        if let id = vocab[Array(word)] { ids.append(id) } else if let u = unkID { ids.append(u) }
    }
}
