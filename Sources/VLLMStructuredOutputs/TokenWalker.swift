/// How a token fares from one parse stack.
enum TokenClass: UInt8 {
    /// Some stack consumes all its bytes.
    case accepted
    /// No stack consumes it on its own, but one of the places its bottom rule can return to
    /// does: the answer depends on what lies below the bottom.
    case uncertain
    /// Every stack fails on some byte.
    case rejected
}

/// Walks sorted tokens from one start frame byte by byte, keeping the parse state of every
/// prefix depth so that a token reuses the states of the prefix it shares with the one before.
///
/// Used twice with the same code: at compile time from a lone frame of one node (`expandContext`:
/// when the node's rule finishes, the walk goes on in every place the rule returns to, as
/// context frames; a token consumed only there is uncertain), and at run time from a real stack
/// (no context: the bottom is the grammar's end).
struct TokenWalker {
    private var buffer: [Int32] = []
    private var stateEnd: [Int] = []
    private var arenaMark: [Int] = []
    private var finishedAt: [Bool] = []
    private var contextEndedAt: [Bool] = []
    private var visited: [Frame] = []

    /// Classifies `positions` (indices into the vocabulary's sorted order, ascending, with
    /// `lcps` their shared prefix with the previous listed token) from frame `start`; calls
    /// `emit` for tokens not rejected. Temporary frames are removed from the arena afterwards.
    /// When `positions` is nil, the walk covers the whole vocabulary and skips a first byte's
    /// run of tokens at once when that byte is rejected.
    mutating func walk(
        _ a: Automaton, _ arena: inout [Frame], start: Int32, vocabulary v: TokenVocabulary,
        positions: [Int32]?, lcps: [Int32]?, expandContext: Bool, emit: (Int, TokenClass) -> Void
    ) {
        let arenaBase = arena.count
        let depthCount = v.maxTokenLength + 1
        if stateEnd.count < depthCount + 1 {
            stateEnd = .init(repeating: 0, count: depthCount + 1)
            arenaMark = .init(repeating: 0, count: depthCount + 1)
            finishedAt = .init(repeating: false, count: depthCount + 1)
            contextEndedAt = .init(repeating: false, count: depthCount + 1)
        }
        buffer.removeAll(keepingCapacity: true)
        buffer.append(start)
        stateEnd[0] = 1
        arenaMark[0] = arenaBase
        finishedAt[0] = false
        contextEndedAt[0] = false
        var computed = 0
        let count = positions?.count ?? v.sortedIDs.count
        var k = 0
        v.bytes.withUnsafeBufferPointer { bytes in
            while k < count {
                let p = Int(positions?[k] ?? Int32(k))
                let shared = Int(lcps?[k] ?? v.lcp[p])
                let lo = Int(v.offsets[p]), len = Int(v.offsets[p + 1]) - lo
                var d = min(shared, computed)
                while d < len && stateSize(d) > 0 {
                    buffer.removeLast(buffer.count - stateEnd[d])
                    arena.removeLast(arena.count - arenaMark[d])
                    let from = d == 0 ? 0 : stateEnd[d - 1]
                    let events = a.step(&buffer, from: from, to: stateEnd[d], bytes[lo + d], &arena, &visited, expandContext: expandContext)
                    d += 1
                    stateEnd[d] = buffer.count
                    arenaMark[d] = arena.count
                    finishedAt[d] = events.contains(.finished)
                    contextEndedAt[d] = events.contains(.contextEnded)
                }
                computed = d
                let cls: TokenClass
                if d < len {
                    cls = .rejected
                } else if finishedAt[len] || hasOwnFrame(len, arena) {
                    cls = .accepted
                } else if stateSize(len) > 0 || contextEndedAt[len] {
                    cls = .uncertain
                } else {
                    cls = .rejected
                }
                if cls != .rejected { emit(p, cls) }
                if positions == nil && d == 1 && cls == .rejected && stateSize(1) == 0 {
                    // The first byte already fails: so does every token that starts with it.
                    let next = Int(v.firstByteEnd[Int(bytes[lo])])
                    k = max(k + 1, next)
                    computed = 0
                    continue
                }
                k += 1
            }
        }
        arena.removeLast(arena.count - arenaBase)
    }

    /// Whether the state at depth `d` holds a frame that is not a context frame.
    private func hasOwnFrame(_ d: Int, _ arena: [Frame]) -> Bool {
        for i in (d == 0 ? 0 : stateEnd[d - 1])..<stateEnd[d] where !arena[Int(buffer[i])].context { return true }
        return false
    }

    private func stateSize(_ d: Int) -> Int { d == 0 ? stateEnd[0] : stateEnd[d] - stateEnd[d - 1] }
}
