/// One entry of a parse stack: the automaton node reached in the innermost rule, and the frame
/// below it (the caller, whose node is where to return), -1 at the bottom.
///
/// Frames live in an append-only arena and are never changed, so stacks that share a bottom
/// share its frames: the nondeterministic parser's many stacks form a tree, as in xgrammar's
/// persistent stack.
struct Frame: Sendable, Equatable {
    var node: Int32
    var parent: Int32
}

extension Automaton {
    /// Adds to `out` the frames with byte edges reachable from frame `f` without consuming a
    /// byte (entering called rules, returning from finished ones). Returns whether the bottom
    /// of the stack finished (the whole grammar, or at mask precomputation the node's rule).
    /// `visited` holds the frames already expanded in this step, so each is expanded once.
    func close(_ f: Int32, _ arena: inout [Frame], _ out: inout [Int32], _ visited: inout [Frame]) -> Bool {
        let frame = arena[Int(f)]
        for v in visited where v == frame { return false }
        visited.append(frame)
        let n = Int(frame.node)
        if byteEdgeStart[n] != byteEdgeStart[n + 1] { out.append(f) }
        var finished = false
        for c in Int(callStart[n])..<Int(callStart[n + 1]) {
            let call = calls[c]
            var parent = frame.parent
            if !call.tail {
                arena.append(Frame(node: call.returnNode, parent: parent))
                parent = Int32(arena.count - 1)
            }
            arena.append(Frame(node: ruleStart[Int(call.rule)], parent: parent))
            if close(Int32(arena.count - 1), &arena, &out, &visited) { finished = true }
        }
        if isFinal[n] {
            if frame.parent < 0 {
                finished = true
            } else if close(frame.parent, &arena, &out, &visited) {
                finished = true
            }
        }
        return finished
    }

    /// Moves every frame of the state `buffer[from..<to]` over `byte` and closes the results,
    /// appending them to `buffer`; returns whether the bottom of some stack finished.
    func step(_ buffer: inout [Int32], from: Int, to: Int, _ byte: UInt8, _ arena: inout [Frame], _ visited: inout [Frame]) -> Bool {
        visited.removeAll(keepingCapacity: true)
        var finished = false
        for i in from..<to {
            let frame = arena[Int(buffer[i])]
            let n = Int(frame.node)
            for e in Int(byteEdgeStart[n])..<Int(byteEdgeStart[n + 1]) {
                let edge = byteEdges[e]
                if byte >= edge.lo && byte <= edge.hi {
                    arena.append(Frame(node: edge.target, parent: frame.parent))
                    if close(Int32(arena.count - 1), &arena, &buffer, &visited) { finished = true }
                }
            }
        }
        return finished
    }

    /// The closed start state of a fresh parse: the start rule's frame and what it enters.
    func startState(_ arena: inout [Frame]) -> (state: [Int32], canEnd: Bool) {
        var out: [Int32] = []
        var visited: [Frame] = []
        arena.append(Frame(node: ruleStart[0], parent: -1))
        let finished = close(Int32(arena.count - 1), &arena, &out, &visited)
        return (out, finished)
    }
}
