import Dispatch

/// What is known about the tokens from one automaton node before any stack exists: the ids
/// accepted whatever lies below (as a list, or as a ready bitmask when that is smaller), and
/// the uncertain tokens, left to check at run time against the real stack.
struct NodeTokenMask: Sendable {
    /// Accepted ids when few; empty when `acceptedBits` holds them.
    var acceptedIDs: [Int32]
    /// Accepted ids as mask words when many (a copy or an OR per step instead of a loop over ids).
    var acceptedBits: [UInt32]?
    /// Uncertain tokens as sorted-vocabulary positions, ascending, with shared-prefix lengths.
    var uncertain: [Int32]
    var uncertainLCP: [Int32]
}

/// A grammar compiled against one vocabulary: the automaton and, for each node with byte
/// edges, its precomputed token mask. Immutable and shared by every request that uses it.
public final class CompiledGrammar: Sendable {
    let automaton: Automaton
    /// The vocabulary the masks are for.
    public let vocabulary: TokenVocabulary
    let nodeMasks: [NodeTokenMask?]
    /// Number of automaton nodes (for reports).
    public var nodeCount: Int { automaton.nodeCount }

    /// Compiles `grammar` and precomputes the masks of its nodes, spread over `threads` threads.
    public init(_ grammar: Grammar, vocabulary: TokenVocabulary, threads: Int = 1) throws {
        let automaton = try Automaton(grammar)
        self.automaton = automaton
        self.vocabulary = vocabulary
        let nodes = (0..<automaton.nodeCount).filter { automaton.hasByteEdges(Int32($0)) }
        let results = UnsafeSendableBox([NodeTokenMask?](repeating: nil, count: automaton.nodeCount))
        let workers = max(1, min(threads, nodes.count))
        let lock = NSLockish()
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var walker = TokenWalker()
            var classes = [TokenClass](repeating: .rejected, count: vocabulary.sortedIDs.count)
            var local: [(Int, NodeTokenMask)] = []
            for i in stride(from: w, to: nodes.count, by: workers) {
                local.append((nodes[i], CompiledGrammar.precompute(node: Int32(nodes[i]), automaton, vocabulary, &walker, &classes)))
            }
            lock.withLock { for (n, m) in local { results.value[n] = m } }
        }
        nodeMasks = results.value
    }

    private static func precompute(
        node: Int32, _ a: Automaton, _ v: TokenVocabulary, _ walker: inout TokenWalker, _ classes: inout [TokenClass]
    ) -> NodeTokenMask {
        var arena = [Frame(node: node, parent: -1)]
        var accepted: [Int32] = []
        var uncertain: [Int32] = []
        for i in classes.indices { classes[i] = .rejected }
        walker.walk(a, &arena, start: 0, vocabulary: v, positions: nil, lcps: nil, expandContext: true) { p, cls in
            classes[p] = cls
            if cls == .accepted { accepted.append(v.sortedIDs[p]) } else { uncertain.append(Int32(p)) }
        }
        var lcps: [Int32] = []
        var previous = -1
        for p in uncertain.map(Int.init) {
            lcps.append(previous < 0 ? 0 : sharedPrefix(v, previous, p))
            previous = p
        }
        guard accepted.count > v.maskWords else {
            return NodeTokenMask(acceptedIDs: accepted, acceptedBits: nil, uncertain: uncertain, uncertainLCP: lcps)
        }
        var bits = [UInt32](repeating: 0, count: v.maskWords)
        for id in accepted { bits[Int(id) >> 5] |= 1 << (UInt32(id) & 31) }
        return NodeTokenMask(acceptedIDs: [], acceptedBits: bits, uncertain: uncertain, uncertainLCP: lcps)
    }

    private static func sharedPrefix(_ v: TokenVocabulary, _ a: Int, _ b: Int) -> Int32 {
        let a0 = Int(v.offsets[a]), a1 = Int(v.offsets[a + 1]), b0 = Int(v.offsets[b]), b1 = Int(v.offsets[b + 1])
        var l = 0
        while a0 + l < a1 && b0 + l < b1 && v.bytes[a0 + l] == v.bytes[b0 + l] { l += 1 }
        return Int32(l)
    }

    /// Counts over all nodes: ids accepted, rejected and uncertain (for reports and tests).
    public var maskStatistics: (nodes: Int, accepted: Int, uncertain: Int) {
        var acc = 0, unc = 0, n = 0
        for m in nodeMasks.compactMap({ $0 }) {
            n += 1
            acc += m.acceptedBits.map { $0.reduce(0) { $0 + $1.nonzeroBitCount } } ?? m.acceptedIDs.count
            unc += m.uncertain.count
        }
        return (n, acc, unc)
    }
}

/// A value handed to concurrent workers that write disjoint parts under a lock.
final class UnsafeSendableBox<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

/// A minimal lock (Foundation-free, so the module stays light).
final class NSLockish: @unchecked Sendable {
    private let semaphore = DispatchSemaphore(value: 1)
    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        semaphore.wait()
        defer { semaphore.signal() }
        return try body()
    }
}
