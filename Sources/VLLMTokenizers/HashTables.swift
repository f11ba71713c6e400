import Foundation

/// Open-addressing map from a pair of token ids to a merge (rank and resulting id).
///
/// BPE merging does one lookup per adjacent pair; a flat table with a multiplicative hash is
/// several times faster than `Dictionary` with its per-process seeded SipHash.
struct PairTable: Sendable {
    private var keys: [UInt64]
    private var values: [UInt64]  // rank << 32 | newID
    private let mask: Int
    private static let empty = UInt64.max

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        keys = [UInt64](repeating: PairTable.empty, count: size)
        values = [UInt64](repeating: 0, count: size)
        mask = size - 1
    }

    @inline(__always) static func key(_ a: Int32, _ b: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
    }

    @inline(__always) private func slot(_ k: UInt64) -> Int {
        Int(truncatingIfNeeded: (k &* 0x9E37_79B9_7F4A_7C15) >> 40) & mask
    }

    /// A pair listed twice keeps its last rank: `tokenizers` collects the merges into a hash map,
    /// where later entries overwrite earlier ones.
    mutating func insert(_ a: Int32, _ b: Int32, rank: Int32, newID: Int32) {
        let k = PairTable.key(a, b)
        var s = slot(k)
        while keys[s] != PairTable.empty {
            if keys[s] == k { break }
            s = (s + 1) & mask
        }
        keys[s] = k
        values[s] = UInt64(UInt32(rank)) << 32 | UInt64(UInt32(bitPattern: newID))
    }

    /// The merge for a pair as `rank << 32 | newID`, or `UInt64.max` when the pair never merges.
    @inline(__always) func lookup(_ a: Int32, _ b: Int32) -> UInt64 {
        let k = PairTable.key(a, b)
        return keys.withUnsafeBufferPointer { kp in
            var s = slot(k)
            while true {
                let e = kp[s]
                if e == k { return values[s] }
                if e == PairTable.empty { return UInt64.max }
                s = (s + 1) & mask
            }
        }
    }
}

/// Open-addressing map from byte strings to short arrays of ids.
///
/// Used for the vocabulary (one id per key) and for the per-call word cache of BPE (many ids
/// per key). Keys and values live in two arenas so inserting never allocates per entry.
struct ByteStringTable {
    private var slots: [Int32]
    private var entryHash: [UInt64] = []
    private var keyStart: [Int32] = []
    private var keyLen: [Int32] = []
    private var valueStart: [Int32] = []
    private var valueLen: [Int32] = []
    private var keyArena: [UInt8] = []
    private(set) var valueArena: [Int32] = []
    private var mask: Int

    /// Number of stored keys.
    var count: Int { keyStart.count }
    /// Bytes held, to bound a cache's memory.
    var footprint: Int { keyArena.count + valueArena.count * 4 + slots.count * 4 + count * 32 }

    init(capacity: Int = 64) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [Int32](repeating: -1, count: size)
        mask = size - 1
    }

    @inline(__always) static func hash(_ p: UnsafeBufferPointer<UInt8>) -> UInt64 {
        // FNV-1a with a final mix; words are short, so a simple byte loop is fastest.
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in p { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h ^ (h >> 29)
    }

    /// Finds the values stored for a key: (start, count) in `valueArena`.
    @inline(__always) func find(_ p: UnsafeBufferPointer<UInt8>, hash h: UInt64) -> (Int, Int)? {
        var s = Int(truncatingIfNeeded: h) & mask
        while true {
            let e = Int(slots[s])
            if e < 0 { return nil }
            if entryHash[e] == h && Int(keyLen[e]) == p.count {
                let ks = Int(keyStart[e])
                var same = true
                keyArena.withUnsafeBufferPointer { ka in
                    for i in 0..<p.count where ka[ks + i] != p[i] { same = false; break }
                }
                if same { return (Int(valueStart[e]), Int(valueLen[e])) }
            }
            s = (s + 1) & mask
        }
    }

    func find(_ bytes: ArraySlice<UInt8>) -> (Int, Int)? {
        bytes.withUnsafeBufferPointer { p in find(p, hash: ByteStringTable.hash(p)) }
    }

    /// Inserts a key that is not present yet.
    mutating func insert(_ p: UnsafeBufferPointer<UInt8>, hash h: UInt64, values: UnsafeBufferPointer<Int32>) {
        if (count + 1) * 2 > slots.count { grow() }
        let e = Int32(count)
        entryHash.append(h)
        keyStart.append(Int32(keyArena.count))
        keyLen.append(Int32(p.count))
        valueStart.append(Int32(valueArena.count))
        valueLen.append(Int32(values.count))
        keyArena.append(contentsOf: p)
        valueArena.append(contentsOf: values)
        var s = Int(truncatingIfNeeded: h) & mask
        while slots[s] >= 0 { s = (s + 1) & mask }
        slots[s] = e
    }

    mutating func insert(_ key: [UInt8], value: Int32) {
        key.withUnsafeBufferPointer { kp in
            let h = ByteStringTable.hash(kp)
            if find(kp, hash: h) != nil { return }
            withUnsafePointer(to: value) { vp in
                insert(kp, hash: h, values: UnsafeBufferPointer(start: vp, count: 1))
            }
        }
    }

    private mutating func grow() {
        let size = slots.count * 2
        slots = [Int32](repeating: -1, count: size)
        mask = size - 1
        for e in 0..<count {
            var s = Int(truncatingIfNeeded: entryHash[e]) & mask
            while slots[s] >= 0 { s = (s + 1) & mask }
            slots[s] = Int32(e)
        }
    }

    mutating func removeAll() {
        self = ByteStringTable(capacity: 64)
    }
}

/// The BPE word cache shared by all calls on one tokenizer, behind a lock.
///
/// Each `encode` first consults its own lock-free cache; only a word's first occurrence in a
/// call reaches this one, so the lock is taken once per distinct word, and a server keeps the
/// merges of common words across requests (as `tokenizers` does with its model-wide cache).
final class SharedWordCache: @unchecked Sendable {
    private let lock = NSLock()
    /// Held through a pointer rather than a stored `var`: class properties get a dynamic
    /// exclusivity check on every access, which showed up at several percent of encode time.
    /// The lock provides the exclusion.
    private let table: UnsafeMutablePointer<ByteStringTable>
    private let maxFootprint: Int

    init(maxFootprint: Int = 32 << 20) {
        self.maxFootprint = maxFootprint
        table = UnsafeMutablePointer<ByteStringTable>.allocate(capacity: 1)
        table.initialize(to: ByteStringTable(capacity: 4096))
    }

    deinit {
        table.deinitialize(count: 1)
        table.deallocate()
    }

    /// Appends the cached ids of a word to `ids`; false when the word is not cached.
    func lookup(_ p: UnsafeBufferPointer<UInt8>, hash: UInt64, into ids: inout [Int]) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard let (start, count) = table.pointee.find(p, hash: hash) else { return false }
        table.pointee.valueArena.withUnsafeBufferPointer { v in
            for k in start..<(start + count) { ids.append(Int(v[k])) }
        }
        return true
    }

    func insert(_ p: UnsafeBufferPointer<UInt8>, hash: UInt64, values: UnsafeBufferPointer<Int32>) {
        lock.lock()
        defer { lock.unlock() }
        if table.pointee.find(p, hash: hash) != nil { return }
        if table.pointee.footprint > maxFootprint { table.pointee.removeAll() }
        table.pointee.insert(p, hash: hash, values: values)
    }
}
