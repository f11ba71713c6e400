/// Decimal integers within bounds as grammar expressions (JSON Schema minimum and maximum on
/// integers): the range is split into runs of equal digit count and each run into digit classes.
enum IntegerRanges {
    static let digit = GrammarExpr.bytes([0x30...0x39])
    static let nonZero = GrammarExpr.bytes([0x31...0x39])

    /// Integers in `lo...hi` (nil: unbounded on that side), written as JSON writes them.
    static func expr(lo: Int?, hi: Int?) throws -> GrammarExpr {
        if let lo, let hi, lo > hi { throw StructuredOutputError("integer schema has minimum above maximum") }
        var alts: [GrammarExpr] = []
        // Negative part: "-" and a positive range.
        if lo.map({ $0 < 0 }) ?? true {
            let negHi = hi.map { min($0, -1) } ?? -1
            let positive = try nonNegative(lo: -negHi, hi: lo.map { -$0 })
            alts.append(.sequence([.literal("-"), positive]))
        }
        if hi.map({ $0 >= 0 }) ?? true {
            alts.append(try nonNegative(lo: max(lo ?? 0, 0), hi: hi))
        }
        return alts.count == 1 ? alts[0] : .choice(alts)
    }

    /// Non-negative integers in `lo...hi` (hi nil: unbounded).
    private static func nonNegative(lo: Int, hi: Int?) throws -> GrammarExpr {
        var alts: [GrammarExpr] = []
        var a = lo
        let digitsLo = String(lo).count
        let finalHi = hi ?? (Int(String(repeating: "9", count: digitsLo)) ?? Int.max)
        while a <= finalHi {
            let n = String(a).count
            let top = min(finalHi, n >= 18 ? Int.max : Int(String(repeating: "9", count: n))!)
            alts.append(sameLength(Array(String(a).utf8), Array(String(top).utf8)))
            if top == Int.max { break }
            a = top + 1
        }
        if hi == nil {
            // Every number with more digits than `lo`'s largest run.
            alts.append(.sequence([nonZero, .repeated(digit, min: digitsLo, max: nil)]))
        }
        return alts.count == 1 ? alts[0] : .choice(alts)
    }

    /// Digit strings of one length between `lo` and `hi` (equal length, no leading zeros).
    private static func sameLength(_ lo: [UInt8], _ hi: [UInt8]) -> GrammarExpr {
        if lo.count == 1 { return .bytes([lo[0]...hi[0]]) }
        if lo[0] == hi[0] { return .sequence([.literal([lo[0]]), sameLength(Array(lo.dropFirst()), Array(hi.dropFirst()))]) }
        let rest = lo.count - 1
        let nines = [UInt8](repeating: 0x39, count: rest), zeros = [UInt8](repeating: 0x30, count: rest)
        var alts: [GrammarExpr] = [.sequence([.literal([lo[0]]), sameLength(Array(lo.dropFirst()), nines)])]
        if hi[0] - lo[0] > 1 { alts.append(.sequence([.bytes([(lo[0] + 1)...(hi[0] - 1)]), .repeated(digit, min: rest, max: rest)])) }
        alts.append(.sequence([.literal([hi[0]]), sameLength(zeros, Array(hi.dropFirst()))]))
        return .choice(alts)
    }
}
