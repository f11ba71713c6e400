import Foundation

/// Byte-pair encoding as `tokenizers` implements it, for both families of real models:
/// byte-level (GPT-2, SmolLM, Llama-3, Qwen) and SentencePiece-style with `▁`, `byte_fallback`
/// and `fuse_unk` (Llama-2, Mistral, Phi-3).
final class BPEModel: TokenizerModel {
    let idToTokenTable: [String?]
    let vocabularySize: Int
    /// Token UTF-8 bytes to id, for lookups straight from the input buffer.
    private let vocabBytes: ByteStringTable
    /// For byte-level vocabularies: raw bytes to id (the token mapped back out of the byte
    /// alphabet), so that `ignore_merges` can look whole words up without mapping them.
    private let rawByteVocab: ByteStringTable?
    private let merges: PairTable
    /// Id of each byte's byte-level character, or -1.
    private let byteLevelIDs: [Int32]
    /// Id of `<0xNN>` for each byte, or -1.
    private let byteFallbackIDs: [Int32]
    /// Id of each ASCII character as a token of its own, or -1.
    private let asciiIDs: [Int32]
    private let unkID: Int32?
    private let fuseUnk: Bool
    private let byteFallback: Bool
    private let ignoreMerges: Bool
    private let prefix: [UInt8]?
    private let suffix: [UInt8]?
    /// Words longer than this (in bytes) are not cached: SentencePiece models without a
    /// pre-tokenizer see whole paragraphs as one word.
    private let cacheableLength = 256
    private let maxCacheFootprint = 64 << 20
    private let sharedCache = SharedWordCache()

    var acceptsUnmappedByteLevel: Bool { prefix == nil && suffix == nil }
    /// True when no token has a `▁` right after another character (checked on the vocabulary
    /// at load; holds for Llama-2, Mistral and Phi-3). Then no merge can join the text on both
    /// sides of such a `▁`, so SentencePiece-style input, which has no pre-tokenizer and reaches
    /// the model as one long word, can be cut there without changing the result.
    private let splitsAtMetaspace: Bool

    init(json: JSONReader) throws {
        let entries = try json.vocabulary("vocab")
        let maxID = entries.map { $0.1 }.max() ?? -1
        var table = [String?](repeating: nil, count: maxID + 1)
        var vb = ByteStringTable(capacity: entries.count)
        var raw = ByteStringTable(capacity: entries.count)
        for (k, v) in entries {
            table[v] = k
            vb.insert(Array(k.utf8), value: Int32(v))
            if let bytes = ByteLevelAlphabet.decode(k) { raw.insert(bytes, value: Int32(v)) }
        }
        idToTokenTable = table
        vocabularySize = maxID + 1
        var separable = true
        for (k, _) in entries where separable {
            var previous: Unicode.Scalar? = nil
            for sc in k.unicodeScalars {
                if sc == "\u{2581}", let p = previous, p != "\u{2581}" { separable = false; break }
                previous = sc
            }
        }
        vocabBytes = vb
        rawByteVocab = raw
        func lookup(_ s: String) -> Int? { vb.find(Array(s.utf8)[...]).map { Int(vb.valueArena[$0.0]) } }

        var bl = [Int32](repeating: -1, count: 256)
        var bf = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            if let id = lookup(String(Character(Unicode.Scalar(ByteLevelAlphabet.byteToScalar[b])!))) { bl[b] = Int32(id) }
            if let id = lookup(String(format: "<0x%02X>", b)) { bf[b] = Int32(id) }
        }
        byteLevelIDs = bl
        byteFallbackIDs = bf
        var ascii = [Int32](repeating: -1, count: 128)
        for b in 0..<128 { if let id = lookup(String(Character(Unicode.Scalar(UInt8(b))))) { ascii[b] = Int32(id) } }
        asciiIDs = ascii

        if let unk = try json.optionalString("unk_token") {
            guard let id = lookup(unk) else { throw json.fail("unk_token", "'\(unk)' is not in the vocabulary") }
            unkID = Int32(id)
        } else {
            unkID = nil
        }
        fuseUnk = try json.bool("fuse_unk", default: false)
        byteFallback = try json.bool("byte_fallback", default: false)
        ignoreMerges = try json.bool("ignore_merges", default: false)
        let p = try json.optionalString("continuing_subword_prefix") ?? ""
        let s = try json.optionalString("end_of_word_suffix") ?? ""
        prefix = p.isEmpty ? nil : Array(p.utf8)
        suffix = s.isEmpty ? nil : Array(s.utf8)
        splitsAtMetaspace = separable && prefix == nil && suffix == nil

        let mergeList = json.has("merges") ? try json.array("merges") : []
        var pairs = PairTable(capacity: mergeList.count)
        let prefixLen = p.count
        for (rank, m) in mergeList.enumerated() {
            let a: String
            let b: String
            if let str = m.stringValue {
                // "a b": the separator is the first space; tokens never contain a plain space.
                guard let sp = str.firstIndex(of: " ") else {
                    throw json.fail("merges[\(rank)]", "'\(str)' is not two tokens separated by a space")
                }
                a = String(str[..<sp])
                b = String(str[str.index(after: sp)...])
            } else if let arr = m.arrayValue, arr.count == 2, let x = arr[0].stringValue, let y = arr[1].stringValue {
                a = x
                b = y
            } else {
                throw json.fail("merges[\(rank)]", "expected \"a b\" or [a, b]")
            }
            guard let ia = lookup(a) else { throw json.fail("merges[\(rank)]", "token '\(a)' is not in the vocabulary") }
            guard let ib = lookup(b) else { throw json.fail("merges[\(rank)]", "token '\(b)' is not in the vocabulary") }
            let pb = Array(p.utf8)
            let bb = Array(b.utf8)
            let merged = Array(a.utf8) + (prefixLen > 0 && bb.starts(with: pb) ? Array(bb[pb.count...]) : bb)
            guard let (ms, _) = vb.find(merged[...]) else {
                throw json.fail("merges[\(rank)]", "merged token '\(String(decoding: merged, as: UTF8.self))' is not in the vocabulary")
            }
            pairs.insert(Int32(ia), Int32(ib), rank: Int32(rank), newID: vb.valueArena[ms])
        }
        merges = pairs
    }

    func tokenToID(_ token: String) -> Int? { vocabBytes.find(Array(token.utf8)[...]).map { Int(vocabBytes.valueArena[$0.0]) } }
    func idToToken(_ id: Int) -> String? { id >= 0 && id < idToTokenTable.count ? idToTokenTable[id] : nil }

    func tokenize(_ word: ArraySlice<UInt8>, byteLevel: Bool, scratch: inout ModelScratch, into ids: inout [Int]) {
        word.withUnsafeBufferPointer { p in tokenize(bytes: p, byteLevel: byteLevel, scratch: &scratch, into: &ids) }
    }

    func tokenize(bytes word: UnsafeBufferPointer<UInt8>, byteLevel: Bool, scratch: inout ModelScratch, into ids: inout [Int]) {
        if word.isEmpty { return }
        if splitsAtMetaspace && !byteLevel && word.count > cacheableLength / 2 {
            // See `splitsAtMetaspace`: cutting before each `▁` that follows another character
            // gives the same ids, and turns a paragraph into short, cacheable words.
            let end = word.count
            var start = 0
            var i = 1
            while i + 2 < end {
                if word[i] == 0xE2 && word[i + 1] == 0x96 && word[i + 2] == 0x81
                    && !(i - 3 >= start && word[i - 3] == 0xE2 && word[i - 2] == 0x96 && word[i - 1] == 0x81)
                {
                    tokenizeWord(UnsafeBufferPointer(rebasing: word[start..<i]), byteLevel: false, scratch: &scratch, into: &ids)
                    start = i
                    i += 3
                } else {
                    i += 1
                }
            }
            tokenizeWord(UnsafeBufferPointer(rebasing: word[start..<end]), byteLevel: false, scratch: &scratch, into: &ids)
            return
        }
        tokenizeWord(word, byteLevel: byteLevel, scratch: &scratch, into: &ids)
    }

    private func tokenizeWord(_ p: UnsafeBufferPointer<UInt8>, byteLevel: Bool, scratch: inout ModelScratch, into ids: inout [Int]) {
        do {
            let cacheable = p.count <= cacheableLength
            var h: UInt64 = 0
            if cacheable {
                h = ByteStringTable.hash(p)
                if scratch.useLocalCache, let (start, count) = scratch.cache.find(p, hash: h) {
                    scratch.cache.valueArena.withUnsafeBufferPointer { v in
                        for k in start..<(start + count) { ids.append(Int(v[k])) }
                    }
                    return
                }
                let before = ids.count
                if sharedCache.lookup(p, hash: h, into: &ids) {
                    if scratch.useLocalCache {
                        scratch.symbols.removeAll(keepingCapacity: true)
                        for k in before..<ids.count { scratch.symbols.append(Int32(truncatingIfNeeded: ids[k])) }
                        scratch.symbols.withUnsafeBufferPointer { sp in scratch.cache.insert(p, hash: h, values: sp) }
                    }
                    return
                }
            }
            if ignoreMerges {
                let table = byteLevel ? rawByteVocab : vocabBytes
                if let (start, _) = table?.find(p, hash: ByteStringTable.hash(p)) {
                    ids.append(Int(table!.valueArena[start]))
                    return
                }
            }
            initialSymbols(p, byteLevel: byteLevel, into: &scratch.symbols)
            if scratch.symbols.count > 64 {
                mergeWithHeap(&scratch)
            } else {
                mergeSmall(&scratch)
            }
            for s in scratch.symbols { ids.append(Int(s)) }
            if cacheable {
                if scratch.cache.footprint > maxCacheFootprint { scratch.cache.removeAll() }
                scratch.symbols.withUnsafeBufferPointer { sp in
                    if scratch.useLocalCache { scratch.cache.insert(p, hash: h, values: sp) }
                    sharedCache.insert(p, hash: h, values: sp)
                }
            }
        }
    }

    /// One symbol per character (per byte for byte-level words), with the unknown-character
    /// handling of `tokenizers`: byte fallback first, then `unk` (fused when `fuse_unk`).
    private func initialSymbols(_ p: UnsafeBufferPointer<UInt8>, byteLevel: Bool, into symbols: inout [Int32]) {
        symbols.removeAll(keepingCapacity: true)
        if byteLevel {
            for b in p {
                let id = byteLevelIDs[Int(b)]
                if id >= 0 { symbols.append(id) } else if let u = unkID { symbols.append(u) }
            }
            return
        }
        var pendingUnk = false
        var i = 0
        let n = p.count
        var buffer: [UInt8] = []
        while i < n {
            let len = min(UnicodeSupport.sequenceLength(p[i]), n - i)
            let isFirst = i == 0
            let isLast = i + len == n
            var id: Int32 = -1
            if len == 1 && prefix == nil && suffix == nil {
                id = asciiIDs[Int(p[i]) & 0x7F]
                if p[i] >= 0x80 { id = -1 }
            } else if prefix == nil && suffix == nil {
                if let (s, _) = vocabBytes.find(
                    UnsafeBufferPointer(rebasing: p[i..<(i + len)]),
                    hash: ByteStringTable.hash(UnsafeBufferPointer(rebasing: p[i..<(i + len)])))
                {
                    id = vocabBytes.valueArena[s]
                }
            } else {
                buffer.removeAll(keepingCapacity: true)
                if !isFirst, let pre = prefix { buffer.append(contentsOf: pre) }
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: p[i..<(i + len)]))
                if isLast, let suf = suffix { buffer.append(contentsOf: suf) }
                if let (s, _) = vocabBytes.find(buffer[...]) { id = vocabBytes.valueArena[s] }
            }
            if id >= 0 {
                if pendingUnk, let u = unkID { symbols.append(u); pendingUnk = false }
                symbols.append(id)
            } else {
                var handled = false
                if byteFallback {
                    // `tokenizers` falls back on the bytes of the lookup string, prefix and suffix
                    // included; models that use byte fallback have neither.
                    var all = true
                    for k in i..<(i + len) where byteFallbackIDs[Int(p[k])] < 0 { all = false; break }
                    if all {
                        for k in i..<(i + len) { symbols.append(byteFallbackIDs[Int(p[k])]) }
                        handled = true
                    }
                }
                if !handled, let u = unkID {
                    if pendingUnk && !fuseUnk { symbols.append(u) }
                    pendingUnk = true
                }
            }
            i += len
        }
        if pendingUnk, let u = unkID { symbols.append(u) }
    }

    /// Repeatedly merges the lowest-ranked adjacent pair (leftmost on ties); quadratic but with
    /// tiny constants, which suits the short words of pre-tokenized text.
    private func mergeSmall(_ scratch: inout ModelScratch) {
        var n = scratch.symbols.count
        if n < 2 { return }
        let merges = self.merges
        scratch.ranks.removeAll(keepingCapacity: true)
        for k in 0..<(n - 1) { scratch.ranks.append(merges.lookup(scratch.symbols[k], scratch.symbols[k + 1])) }
        scratch.symbols.withUnsafeMutableBufferPointer { sym in
            scratch.ranks.withUnsafeMutableBufferPointer { ranks in
                while n > 1 {
                    var best = UInt64.max
                    var pos = -1
                    for k in 0..<(n - 1) where ranks[k] < best {
                        best = ranks[k]
                        pos = k
                    }
                    if pos < 0 { break }
                    sym[pos] = Int32(truncatingIfNeeded: best & 0xFFFF_FFFF)
                    var k = pos + 1
                    while k < n - 1 {
                        sym[k] = sym[k + 1]
                        ranks[k] = ranks[k + 1]
                        k += 1
                    }
                    n -= 1
                    ranks[pos] = pos + 1 < n ? merges.lookup(sym[pos], sym[pos + 1]) : UInt64.max
                    if pos > 0 { ranks[pos - 1] = merges.lookup(sym[pos - 1], sym[pos]) }
                }
            }
        }
        scratch.symbols.removeLast(scratch.symbols.count - n)
    }

    /// The same merge order with a priority queue of (rank, position) over a linked list of
    /// symbols, for long words where rescanning would be quadratic.
    private func mergeWithHeap(_ scratch: inout ModelScratch) {
        let n = scratch.symbols.count
        let merges = self.merges
        scratch.prev.removeAll(keepingCapacity: true)
        scratch.next.removeAll(keepingCapacity: true)
        scratch.heap.removeAll(keepingCapacity: true)
        for k in 0..<n {
            scratch.prev.append(Int32(k - 1))
            scratch.next.append(k + 1 < n ? Int32(k + 1) : -1)
        }
        var alive = [Bool](repeating: true, count: n)
        var heap = scratch.heap
        @inline(__always) func push(_ v: UInt64) {
            heap.append(v)
            var c = heap.count - 1
            while c > 0 {
                let parent = (c - 1) >> 1
                if heap[parent] <= heap[c] { break }
                heap.swapAt(parent, c)
                c = parent
            }
        }
        @inline(__always) func pop() -> UInt64 {
            let top = heap[0]
            let last = heap.removeLast()
            if !heap.isEmpty {
                heap[0] = last
                var c = 0
                let m = heap.count
                while true {
                    let l = 2 * c + 1
                    if l >= m { break }
                    var s = l
                    if l + 1 < m && heap[l + 1] < heap[l] { s = l + 1 }
                    if heap[c] <= heap[s] { break }
                    heap.swapAt(c, s)
                    c = s
                }
            }
            return top
        }
        var sym = scratch.symbols
        var prev = scratch.prev
        var next = scratch.next
        for k in 0..<(n - 1) {
            let r = merges.lookup(sym[k], sym[k + 1])
            if r != UInt64.max { push((r >> 32) << 32 | UInt64(k)) }
        }
        while !heap.isEmpty {
            let top = pop()
            let pos = Int(top & 0xFFFF_FFFF)
            let rank = top >> 32
            guard alive[pos] else { continue }
            let nx = Int(next[pos])
            if nx < 0 { continue }
            let r = merges.lookup(sym[pos], sym[nx])
            if r == UInt64.max || r >> 32 != rank { continue }
            sym[pos] = Int32(truncatingIfNeeded: r & 0xFFFF_FFFF)
            alive[nx] = false
            let nn = next[nx]
            next[pos] = nn
            if nn >= 0 { prev[Int(nn)] = Int32(pos) }
            let pv = Int(prev[pos])
            if pv >= 0 {
                let r2 = merges.lookup(sym[pv], sym[pos])
                if r2 != UInt64.max { push((r2 >> 32) << 32 | UInt64(pv)) }
            }
            if nn >= 0 {
                let r3 = merges.lookup(sym[pos], sym[Int(nn)])
                if r3 != UInt64.max { push((r3 >> 32) << 32 | UInt64(pos)) }
            }
        }
        var out: [Int32] = []
        out.reserveCapacity(n)
        var k = 0
        while k >= 0 && k < n {
            out.append(sym[k])
            k = Int(next[k])
        }
        scratch.symbols = out
        scratch.prev = prev
        scratch.next = next
        scratch.heap = heap
    }
}
