/// A grammar compiled to a pushdown automaton over bytes: each rule becomes a small automaton
/// whose nodes have byte edges, rule calls (push the return node, go to the callee's start) and
/// a flag saying the rule may end there (pop).
///
/// Nodes of all rules share one numbering; edges are stored flat for fast stepping.
struct Automaton: Sendable {
    /// One byte edge: a byte in `lo...hi` moves to `target`.
    struct ByteEdge: Sendable { var lo: UInt8; var hi: UInt8; var target: Int32 }
    /// One call: run `rule`, then continue at `returnNode`; `tail` when the return node can
    /// only end its rule, so the call replaces the frame instead of pushing (keeps right
    /// recursion from growing the stack).
    struct Call: Sendable { var rule: Int32; var returnNode: Int32; var tail: Bool }

    var byteEdgeStart: [Int32] = [0]
    var byteEdges: [ByteEdge] = []
    var callStart: [Int32] = [0]
    var calls: [Call] = []
    var isFinal: [Bool] = []
    var ruleStart: [Int32] = []
    var ruleNames: [String] = []
    /// The rule each node belongs to.
    var ruleOfNode: [Int32] = []
    /// For each rule, the nodes its callers return to: what may follow the rule anywhere in the
    /// grammar (mask precomputation looks there to reject tokens that no context accepts).
    var returnNodesOfRule: [[Int32]] = []

    var nodeCount: Int { isFinal.count }
    func hasByteEdges(_ n: Int32) -> Bool { byteEdgeStart[Int(n)] != byteEdgeStart[Int(n) + 1] }

    /// The most automaton states a grammar may unroll to (bounded repetitions are copied out),
    /// so that `a{999999999}` or a huge `maxLength` is an error instead of the memory of a machine.
    static let maxStates = 1_000_000

    /// Compiles every rule; throws for left recursion, which a pushdown automaton cannot run, and
    /// for a grammar too large to unroll.
    init(_ grammar: Grammar) throws {
        let states = grammar.bodies.reduce(0) { $0.addingReportingOverflow(Self.states($1)).overflow ? Int.max : $0 + Self.states($1) }
        if states > Self.maxStates {
            throw StructuredOutputError(
                "the grammar unrolls to more than \(Self.maxStates) states (lower the repetition counts, lengths or item counts)")
        }
        ruleNames = grammar.names
        var ruleOfNode: [Int32] = []
        for (r, body) in grammar.bodies.enumerated() {
            var nfa = RuleNFA()
            let end = nfa.build(body, from: 0)
            let (nodes, start) = nfa.eliminateEpsilons(end: end)
            let base = Int32(isFinal.count)
            ruleStart.append(base + start)
            for n in nodes {
                for e in n.edges { byteEdges.append(ByteEdge(lo: e.0.lowerBound, hi: e.0.upperBound, target: base + e.1)) }
                byteEdgeStart.append(Int32(byteEdges.count))
                for c in n.calls {
                    guard c.0 >= 0 && c.0 < grammar.bodies.count else {
                        throw StructuredOutputError("grammar rule \(grammar.names[r]) refers to an undefined rule")
                    }
                    calls.append(Call(rule: Int32(c.0), returnNode: base + c.1, tail: false))
                }
                callStart.append(Int32(calls.count))
                isFinal.append(n.isFinal)
                ruleOfNode.append(Int32(r))
            }
        }
        self.ruleOfNode = ruleOfNode
        returnNodesOfRule = .init(repeating: [], count: ruleStart.count)
        for c in calls where !returnNodesOfRule[Int(c.rule)].contains(c.returnNode) { returnNodesOfRule[Int(c.rule)].append(c.returnNode) }
        for i in calls.indices {
            let ret = calls[i].returnNode
            calls[i].tail = isFinal[Int(ret)] && !hasByteEdges(ret) && callStart[Int(ret)] == callStart[Int(ret) + 1]
        }
        try checkLeftRecursion()
    }

    /// How many states `e` unrolls to, saturating.
    private static func states(_ e: GrammarExpr) -> Int {
        switch e {
        case .bytes, .rule: return 1
        case .sequence(let parts), .choice(let parts):
            return parts.reduce(1) { a, p in
                let (s, o) = a.addingReportingOverflow(states(p)); return o ? Int.max : s
            }
        case .repeated(let x, let lo, let hi):
            let copies = max(lo, hi ?? lo) + 1
            let (s, o) = copies.multipliedReportingOverflow(by: states(x))
            return o ? Int.max : s
        }
    }

    /// Rules that can match the empty string.
    private func nullableRules() -> [Bool] {
        var nullable = [Bool](repeating: false, count: ruleStart.count)
        var changed = true
        while changed {
            changed = false
            for r in ruleStart.indices where !nullable[r] && reachesEndEmpty(ruleStart[r], nullable) {
                nullable[r] = true
                changed = true
            }
        }
        return nullable
    }

    private func reachesEndEmpty(_ start: Int32, _ nullable: [Bool]) -> Bool {
        var seen: Set<Int32> = [start]
        var todo = [start]
        while let n = todo.popLast() {
            if isFinal[Int(n)] { return true }
            for c in calls[Int(callStart[Int(n)])..<Int(callStart[Int(n) + 1])]
            where nullable[Int(c.rule)] && seen.insert(c.returnNode).inserted {
                todo.append(c.returnNode)
            }
        }
        return false
    }

    /// A rule that can call itself before consuming a byte would make the automaton push forever.
    private func checkLeftRecursion() throws {
        let nullable = nullableRules()
        var firstCalls: [[Int]] = []
        for r in ruleStart.indices {
            var callees: Set<Int> = []
            var seen: Set<Int32> = [ruleStart[r]]
            var todo = [ruleStart[r]]
            while let n = todo.popLast() {
                for c in calls[Int(callStart[Int(n)])..<Int(callStart[Int(n) + 1])] {
                    callees.insert(Int(c.rule))
                    if nullable[Int(c.rule)] && seen.insert(c.returnNode).inserted { todo.append(c.returnNode) }
                }
            }
            firstCalls.append(Array(callees))
        }
        var state = [UInt8](repeating: 0, count: ruleStart.count)  // 0 new, 1 on path, 2 done
        func visit(_ r: Int) throws {
            state[r] = 1
            for c in firstCalls[r] {
                if state[c] == 1 { throw StructuredOutputError("grammar rule \(ruleNames[c]) is left-recursive, which is not supported") }
                if state[c] == 0 { try visit(c) }
            }
            state[r] = 2
        }
        for r in ruleStart.indices where state[r] == 0 { try visit(r) }
    }
}

/// Thompson construction of one rule's body, then removal of the empty moves.
private struct RuleNFA {
    var edges: [[(ClosedRange<UInt8>, Int)]] = [[]]
    var calls: [[(Int, Int)]] = [[]]
    var eps: [[Int]] = [[]]

    mutating func node() -> Int {
        edges.append([]); calls.append([]); eps.append([])
        return edges.count - 1
    }

    /// Adds paths for `e` from `s` and returns the node where they end.
    mutating func build(_ e: GrammarExpr, from s: Int) -> Int {
        switch e {
        case .bytes(let ranges):
            let t = node()
            for r in ranges { edges[s].append((r, t)) }
            return t
        case .sequence(let parts):
            var cur = s
            for p in parts { cur = build(p, from: cur) }
            return cur
        case .choice(let alts):
            let t = node()
            for a in alts {
                let entry = node()
                eps[s].append(entry)
                eps[build(a, from: entry)].append(t)
            }
            return t
        case .rule(let r):
            let t = node()
            calls[s].append((r, t))
            return t
        case .repeated(let x, let lo, let hi):
            var cur = s
            for _ in 0..<lo { cur = build(x, from: cur) }
            guard let hi else {
                let loop = node()
                eps[cur].append(loop)
                eps[build(x, from: loop)].append(loop)
                return loop
            }
            let exit = node()
            for _ in lo..<max(lo, hi) {
                eps[cur].append(exit)
                let entry = node()
                eps[cur].append(entry)
                cur = build(x, from: entry)
            }
            eps[cur].append(exit)
            return exit
        }
    }

    /// Keeps the start node and every node entered by a byte or a return; each takes the edges
    /// and the final flag of the nodes it reaches by empty moves. Returns the nodes and the start's new index.
    func eliminateEpsilons(end: Int) -> ([(edges: [(ClosedRange<UInt8>, Int32)], calls: [(Int, Int32)], isFinal: Bool)], Int32) {
        var keep: [Int] = [0]
        for n in edges.indices {
            for e in edges[n] { keep.append(e.1) }
            for c in calls[n] { keep.append(c.1) }
        }
        var index: [Int: Int32] = [:]
        var ordered: [Int] = []
        for k in keep where index[k] == nil { index[k] = Int32(ordered.count); ordered.append(k) }
        let result = ordered.map { k -> (edges: [(ClosedRange<UInt8>, Int32)], calls: [(Int, Int32)], isFinal: Bool) in
            var seen: Set<Int> = [k]
            var todo = [k]
            var out: (edges: [(ClosedRange<UInt8>, Int32)], calls: [(Int, Int32)], isFinal: Bool) = ([], [], false)
            while let n = todo.popLast() {
                if n == end { out.isFinal = true }
                for e in edges[n] { out.edges.append((e.0, index[e.1]!)) }
                for c in calls[n] { out.calls.append((c.0, index[c.1]!)) }
                for m in eps[n] where seen.insert(m).inserted { todo.append(m) }
            }
            return out
        }
        return (result, 0)
    }
}
