/// The parse state of one generation under a compiled grammar: gives the mask of tokens that
/// may come next and advances with each accepted token.
///
/// Not thread-safe: one per sequence (a request with n > 1 has one per sample).
public struct GrammarMatcher: Sendable {
    /// The grammar being followed.
    public let grammar: CompiledGrammar
    private var arena: [Frame] = []
    /// Ids of the frames of every live stack (each with byte edges at its top).
    private var state: [Int32]
    /// Whether the grammar may end here (a stop token is allowed).
    public private(set) var canEnd: Bool
    /// Whether a stop token was accepted: generation is over.
    public private(set) var isTerminated = false
    private var walker = TokenWalker()
    private var buffer: [Int32] = []
    private var visited: [Frame] = []

    /// A matcher at the start of the grammar.
    public init(grammar: CompiledGrammar) {
        self.grammar = grammar
        let start = grammar.automaton.startState(&arena)
        state = start.state
        canEnd = start.canEnd
    }

    /// Whether nothing but a stop token (or nothing at all) can follow.
    public var isCompleted: Bool { state.isEmpty }

    /// Writes the allowed ids of the next token as bits (id i is bit i % 32 of word i / 32,
    /// xgrammar's layout) into `mask`, which must hold `vocabulary.maskWords` words.
    public mutating func fillNextTokenBitmask(_ mask: inout [UInt32]) {
        let v = grammar.vocabulary
        precondition(mask.count >= v.maskWords, "mask too small")
        if isTerminated {
            for i in 0..<v.maskWords { mask[i] = 0 }
            return
        }
        // The first node with a bitmask writes the mask; the others add to it.
        var written = false
        for f in state {
            guard let bits = grammar.nodeMasks[Int(arena[Int(f)].node)]?.acceptedBits else { continue }
            bits.withUnsafeBufferPointer { src in
                if written {
                    for i in 0..<v.maskWords { mask[i] |= src[i] }
                } else {
                    for i in 0..<v.maskWords { mask[i] = src[i] }
                }
            }
            written = true
        }
        if !written { for i in 0..<v.maskWords { mask[i] = 0 } }
        for f in state {
            guard let m = grammar.nodeMasks[Int(arena[Int(f)].node)] else { continue }
            for id in m.acceptedIDs { mask[Int(id) >> 5] |= 1 << (UInt32(id) & 31) }
        }
        for f in state {
            guard let m = grammar.nodeMasks[Int(arena[Int(f)].node)], !m.uncertain.isEmpty else { continue }
            walker.walk(
                grammar.automaton, &arena, start: f, vocabulary: v, positions: m.uncertain, lcps: m.uncertainLCP, expandContext: false
            ) { p, cls in
                if cls == .accepted {
                    let id = v.sortedIDs[p]
                    mask[Int(id) >> 5] |= 1 << (UInt32(id) & 31)
                }
            }
        }
        if canEnd {
            for id in v.stopTokenIDs { mask[Int(id) >> 5] |= 1 << (UInt32(id) & 31) }
        }
    }

    /// The allowed ids as a fresh mask.
    public mutating func nextTokenBitmask() -> [UInt32] {
        var mask = [UInt32](repeating: 0, count: grammar.vocabulary.maskWords)
        fillNextTokenBitmask(&mask)
        return mask
    }

    /// Advances over token `id`; returns false (and changes nothing) when the grammar does not
    /// allow it. A stop token is accepted when the grammar can end, and terminates the matcher.
    @discardableResult
    public mutating func acceptToken(_ id: Int) -> Bool {
        if isTerminated { return false }
        let v = grammar.vocabulary
        if v.stopTokenIDs.contains(Int32(id)) {
            guard canEnd else { return false }
            isTerminated = true
            return true
        }
        guard id >= 0 && id < v.size, v.sortedPosition[id] >= 0 else { return false }
        let p = Int(v.sortedPosition[id])
        return acceptBytes(Array(v.bytes[Int(v.offsets[p])..<Int(v.offsets[p + 1])]))
    }

    /// Advances over raw bytes (text forced into the output); false and no change when the
    /// grammar does not allow them.
    @discardableResult
    public mutating func acceptBytes(_ bytes: [UInt8]) -> Bool {
        if isTerminated { return false }
        let mark = arena.count
        buffer = state
        var from = 0, to = buffer.count
        var finished = canEnd
        for b in bytes {
            if from == to { arena.removeSubrange(mark...); return false }
            finished = grammar.automaton.step(&buffer, from: from, to: to, b, &arena, &visited).contains(.finished)
            from = to
            to = buffer.count
        }
        if from == to && !finished { arena.removeSubrange(mark...); return false }
        state = Array(buffer[from..<to])
        canEnd = finished
        if arena.count > 1 << 16 { compactArena() }
        return true
    }

    /// Advances over a string's UTF-8.
    @discardableResult
    public mutating func acceptString(_ text: String) -> Bool { acceptBytes(Array(text.utf8)) }

    /// Copies the frames reachable from the live stacks into a fresh arena, dropping the rest.
    private mutating func compactArena() {
        var remap: [Int32: Int32] = [:]
        var fresh: [Frame] = []
        func copy(_ f: Int32) -> Int32 {
            if f < 0 { return -1 }
            if let r = remap[f] { return r }
            let frame = arena[Int(f)]
            let parent = copy(frame.parent)
            fresh.append(Frame(node: frame.node, parent: parent))
            remap[f] = Int32(fresh.count - 1)
            return Int32(fresh.count - 1)
        }
        state = state.map(copy)
        arena = fresh
    }
}
