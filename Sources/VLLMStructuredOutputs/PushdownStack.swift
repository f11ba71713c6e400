/// One entry of a parse stack: the automaton node reached in the innermost rule, and the frame
/// below it (the caller, whose node is where to return), -1 at the bottom.
///
/// Frames live in an append-only arena and are never changed, so stacks that share a bottom
/// share its frames: the nondeterministic parser's many stacks form a tree, as in xgrammar's
/// persistent stack.
///
/// Mask precomputation starts from a lone frame and, when its rule finishes, goes on in every
/// place the rule can return to: those frames are `context` frames (their bottom is -1 too).
struct Frame: Sendable, Equatable {
    var node: Int32
    var parent: Int32
    var context = false
}

/// What a closure or step saw happen at the bottom of the stacks.
struct BottomEvents: OptionSet {
    let rawValue: UInt8
    /// A stack's own bottom rule finished (the grammar, or the precomputed node's rule).
    static let finished = BottomEvents(rawValue: 1)
    /// A context stack finished the start rule: the grammar could end there.
    static let contextEnded = BottomEvents(rawValue: 2)
}

extension Automaton {
    /// Adds to `out` the frames with byte edges reachable from frame `f` without consuming a
    /// byte (entering called rules, returning from finished ones) and reports what finished at
    /// the bottom. With `expandContext`, a finished bottom rule continues at every return node of
    /// its callers (as context frames). `visited` holds the frames already expanded in this
    /// step, so each is expanded once.
    func close(_ f: Int32, _ arena: inout [Frame], _ out: inout [Int32], _ visited: inout [Frame], expandContext: Bool) -> BottomEvents {
        let frame = arena[Int(f)]
        for v in visited where v == frame { return [] }
        visited.append(frame)
        let n = Int(frame.node)
        if byteEdgeStart[n] != byteEdgeStart[n + 1] { out.append(f) }
        var events: BottomEvents = []
        for c in Int(callStart[n])..<Int(callStart[n + 1]) {
            let call = calls[c]
            var parent = frame.parent
            if !call.tail {
                arena.append(Frame(node: call.returnNode, parent: parent, context: frame.context))
                parent = Int32(arena.count - 1)
            }
            arena.append(Frame(node: ruleStart[Int(call.rule)], parent: parent, context: frame.context))
            events.formUnion(close(Int32(arena.count - 1), &arena, &out, &visited, expandContext: expandContext))
        }
        guard isFinal[n] else { return events }
        if frame.parent >= 0 { return events.union(close(frame.parent, &arena, &out, &visited, expandContext: expandContext)) }
        let rule = Int(ruleOfNode[n])
        if !frame.context { events.insert(.finished) } else if rule == 0 { events.insert(.contextEnded) }
        if expandContext {
            for r in returnNodesOfRule[rule] {
                arena.append(Frame(node: r, parent: -1, context: true))
                events.formUnion(close(Int32(arena.count - 1), &arena, &out, &visited, expandContext: true))
            }
        }
        return events
    }

    /// Moves every frame of the state `buffer[from..<to]` over `byte` and closes the results,
    /// appending them to `buffer`; reports what finished at the bottom.
    func step(
        _ buffer: inout [Int32], from: Int, to: Int, _ byte: UInt8, _ arena: inout [Frame], _ visited: inout [Frame],
        expandContext: Bool = false
    ) -> BottomEvents {
        visited.removeAll(keepingCapacity: true)
        var events: BottomEvents = []
        for i in from..<to {
            let frame = arena[Int(buffer[i])]
            let n = Int(frame.node)
            for e in Int(byteEdgeStart[n])..<Int(byteEdgeStart[n + 1]) {
                let edge = byteEdges[e]
                if byte >= edge.lo && byte <= edge.hi {
                    arena.append(Frame(node: edge.target, parent: frame.parent, context: frame.context))
                    events.formUnion(close(Int32(arena.count - 1), &arena, &buffer, &visited, expandContext: expandContext))
                }
            }
        }
        return events
    }

    /// The closed start state of a fresh parse: the start rule's frame and what it enters.
    func startState(_ arena: inout [Frame]) -> (state: [Int32], canEnd: Bool) {
        var out: [Int32] = []
        var visited: [Frame] = []
        arena.append(Frame(node: ruleStart[0], parent: -1))
        let events = close(Int32(arena.count - 1), &arena, &out, &visited, expandContext: false)
        return (out, events.contains(.finished))
    }
}
