/// The parts of a fused `WeightFormat.packedInt` weight (q, k and v; gate and up) in natural
/// input order, as the stacked rows of one product: part after part, their rows fill consecutive
/// columns of the output. The decode kernels take them in one parallel pass, so that a decode
/// step quantizes or reorders the activations once and waits for the threads once per fused
/// weight, not once per part (a layer of a decode step went from seven waits to four).
struct PackedIntParts {
    /// One part: codes `[rows, K·bits/32]`, scales and zeros `[rows, K/groupSize]` (or the codes
    /// and offsets that `PackedInt8Decode.prepare` made of them, for that kernel).
    struct Part {
        let packed: UnsafePointer<UInt32>, scales: UnsafePointer<Float>, zeros: UnsafePointer<Float>
        let rows: Int
    }

    let parts: [Part]

    /// Rows of all the parts.
    var rows: Int { parts.reduce(0) { $0 + $1.rows } }

    /// Runs `body` on each part's share of `range`, a range of the stacked rows: the part, its
    /// own rows, and the stacked row (output column) where the part starts.
    @inline(__always)
    func forEach(in range: Range<Int>, _ body: (Part, Range<Int>, Int) -> Void) {
        var first = 0
        for part in parts {
            let (lower, upper) = (max(range.lowerBound, first), min(range.upperBound, first + part.rows))
            if lower < upper { body(part, (lower - first)..<(upper - first), first) }
            first += part.rows
        }
    }
}
