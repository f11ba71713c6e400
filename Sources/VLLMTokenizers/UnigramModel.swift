import Foundation

/// SentencePiece's Unigram model: the segmentation with the highest total log-probability
/// (Viterbi over every vocabulary piece that starts at each character), unknown characters
/// scored `min_score - 10` and consecutive unknowns fused.
final class UnigramModel: TokenizerModel {
    let pieces: [String]
    let scores: [Double]
    let vocabularySize: Int
    private let vocabBytes: ByteStringTable
    private let maxPieceBytes: Int
    private let unkID: Int?
    private let byteFallback: Bool
    private let byteFallbackIDs: [Int]
    private let minScore: Double

    var acceptsUnmappedByteLevel: Bool { false }

    init(json: JSONReader) throws {
        let list = try json.array("vocab")
        var pieces: [String] = []
        var scores: [Double] = []
        var vb = ByteStringTable(capacity: list.count)
        var maxLen = 1
        var minScore = Double.infinity
        for (i, e) in list.enumerated() {
            guard let pair = e.arrayValue, pair.count == 2, let piece = pair[0].stringValue, let score = pair[1].doubleValue else {
                throw json.fail("vocab[\(i)]", "expected [piece, score]")
            }
            pieces.append(piece)
            scores.append(score)
            maxLen = max(maxLen, piece.utf8.count)
            minScore = min(minScore, score)
        }
        // A piece listed twice maps to its last id, as in `tokenizers`' token-to-id map.
        for i in pieces.indices.reversed() { vb.insert(Array(pieces[i].utf8), value: Int32(i)) }
        self.pieces = pieces
        self.scores = scores
        vocabularySize = pieces.count
        vocabBytes = vb
        maxPieceBytes = maxLen
        self.minScore = minScore.isFinite ? minScore : 0
        unkID = try json.optionalInt("unk_id")
        if let u = unkID, u < 0 || u >= pieces.count { throw json.fail("unk_id", "\(u) is outside the vocabulary") }
        byteFallback = try json.bool("byte_fallback", default: false)
        byteFallbackIDs = (0..<256).map { b in
            vb.find(Array(String(format: "<0x%02X>", b).utf8)[...]).map { Int(vb.valueArena[$0.0]) } ?? -1
        }
    }

    func tokenToID(_ token: String) -> Int? { vocabBytes.find(Array(token.utf8)[...]).map { Int(vocabBytes.valueArena[$0.0]) } }
    func idToToken(_ id: Int) -> String? { id >= 0 && id < pieces.count ? pieces[id] : nil }

    func tokenize(_ word: ArraySlice<UInt8>, byteLevel: Bool, scratch: inout ModelScratch, into ids: inout [Int]) {
        if word.isEmpty { return }
        let bytes = Array(word)
        let n = bytes.count
        let unkScore = minScore - 10.0
        var bestScore = [Double](repeating: 0, count: n + 1)
        var startsAt = [Int](repeating: -1, count: n + 1)
        var nodeID = [Int](repeating: -1, count: n + 1)
        bytes.withUnsafeBufferPointer { p in
            var s = 0
            while s < n {
                let here = bestScore[s]
                let mblen = min(UnicodeSupport.sequenceLength(p[s]), n - s)
                var hasSingle = false
                var len = 1
                while len <= maxPieceBytes && s + len <= n {
                    let sub = UnsafeBufferPointer(rebasing: p[s..<(s + len)])
                    if let (vs, _) = vocabBytes.find(sub, hash: ByteStringTable.hash(sub)) {
                        let id = Int(vocabBytes.valueArena[vs])
                        let cand = scores[id] + here
                        let e = s + len
                        if startsAt[e] < 0 || cand > bestScore[e] {
                            bestScore[e] = cand; startsAt[e] = s; nodeID[e] = id
                        }
                        if len == mblen { hasSingle = true }
                    }
                    len += 1
                }
                if !hasSingle {
                    let e = s + mblen
                    let cand = unkScore + here
                    if startsAt[e] < 0 || cand > bestScore[e] {
                        bestScore[e] = cand; startsAt[e] = s; nodeID[e] = unkID ?? -1
                    }
                }
                s += mblen
            }
        }
        // Walk back, fusing runs of unknown pieces into one string.
        var segments: [Range<Int>] = []
        var e = n
        var unkEnd = -1
        while e > 0 {
            let s = startsAt[e]
            if s < 0 { break }
            if let u = unkID, nodeID[e] == u {
                if unkEnd < 0 { unkEnd = e }
            } else {
                if unkEnd >= 0 { segments.append(e..<unkEnd); unkEnd = -1 }
                segments.append(s..<e)
            }
            e = s
        }
        if unkEnd >= 0 { segments.append(e..<unkEnd) }
        for r in segments.reversed() {
            let sub = bytes[r]
            if let (vs, _) = vocabBytes.find(sub) {
                ids.append(Int(vocabBytes.valueArena[vs]))
            } else if byteFallback, sub.allSatisfy({ byteFallbackIDs[Int($0)] >= 0 }) {
                for b in sub { ids.append(byteFallbackIDs[Int(b)]) }
            } else if let u = unkID {
                ids.append(u)
            }
        }
    }
}
