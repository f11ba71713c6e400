/// Sets of Unicode scalars as byte-level grammar expressions over their UTF-8 encodings.
enum UTF8Ranges {
    /// Sorted, disjoint scalar ranges, surrogates removed.
    typealias ScalarRanges = [ClosedRange<UInt32>]

    static let maxScalar: UInt32 = 0x10FFFF

    /// Sorts, merges and removes surrogates.
    static func normalize(_ ranges: ScalarRanges) -> ScalarRanges {
        var out: ScalarRanges = []
        for r in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = out.last, r.lowerBound <= last.upperBound &+ 1 {
                out[out.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
            } else {
                out.append(r)
            }
        }
        var cut: ScalarRanges = []
        for r in out {
            if r.upperBound < 0xD800 || r.lowerBound > 0xDFFF { cut.append(r); continue }
            if r.lowerBound < 0xD800 { cut.append(r.lowerBound...0xD7FF) }
            if r.upperBound > 0xDFFF { cut.append(0xE000...r.upperBound) }
        }
        return cut
    }

    /// Every scalar not in `ranges`.
    static func complement(_ ranges: ScalarRanges) -> ScalarRanges {
        var out: ScalarRanges = []
        var next: UInt32 = 0
        for r in normalize(ranges) {
            if r.lowerBound > next { out.append(next...(r.lowerBound - 1)) }
            next = r.upperBound + 1
        }
        if next <= maxScalar { out.append(next...maxScalar) }
        return normalize(out)
    }

    /// One scalar from the set, as UTF-8 bytes.
    static func expr(_ ranges: ScalarRanges) -> GrammarExpr {
        var ascii: [ClosedRange<UInt8>] = []
        var multi: [GrammarExpr] = []
        for r in normalize(ranges) {
            for piece in splitByLength(r) {
                for seq in byteSequences(piece.lowerBound, piece.upperBound) {
                    if seq.count == 1 { ascii.append(seq[0]) } else { multi.append(.sequence(seq.map { .bytes([$0]) })) }
                }
            }
        }
        var alts: [GrammarExpr] = []
        if !ascii.isEmpty { alts.append(.bytes(ascii)) }
        alts += multi
        return alts.count == 1 ? alts[0] : .choice(alts)
    }

    private static func splitByLength(_ r: ClosedRange<UInt32>) -> [ClosedRange<UInt32>] {
        var out: [ClosedRange<UInt32>] = []
        var lo = r.lowerBound
        for bound: UInt32 in [0x7F, 0x7FF, 0xFFFF, 0x10FFFF] where lo <= r.upperBound && lo <= bound {
            let hi = min(bound, r.upperBound)
            out.append(lo...hi)
            lo = hi + 1
        }
        return out
    }

    private static func encode(_ v: UInt32) -> [UInt8] {
        switch v {
        case 0..<0x80: return [UInt8(v)]
        case 0x80..<0x800: return [UInt8(0xC0 | v >> 6), UInt8(0x80 | v & 0x3F)]
        case 0x800..<0x10000: return [UInt8(0xE0 | v >> 12), UInt8(0x80 | (v >> 6) & 0x3F), UInt8(0x80 | v & 0x3F)]
        default: return [UInt8(0xF0 | v >> 18), UInt8(0x80 | (v >> 12) & 0x3F), UInt8(0x80 | (v >> 6) & 0x3F), UInt8(0x80 | v & 0x3F)]
        }
    }

    /// Splits a range of scalars of one encoded length into runs whose encodings are byte-wise
    /// ranges (the classic UTF-8 range construction).
    private static func byteSequences(_ lo: UInt32, _ hi: UInt32) -> [[ClosedRange<UInt8>]] {
        let n = encode(lo).count
        if n > 1 {
            for i in 1..<n {
                let m: UInt32 = (1 << (6 * UInt32(i))) - 1
                if lo & ~m != hi & ~m {
                    if lo & m != 0 { return byteSequences(lo, lo | m) + byteSequences((lo | m) + 1, hi) }
                    if hi & m != m { return byteSequences(lo, (hi & ~m) - 1) + byteSequences(hi & ~m, hi) }
                }
            }
        }
        let a = encode(lo), b = encode(hi)
        return [zip(a, b).map { $0...$1 }]
    }
}
