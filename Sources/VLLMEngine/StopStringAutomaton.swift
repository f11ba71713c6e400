/// The stop strings of one request as an Aho-Corasick automaton over UTF-8 bytes: text is matched
/// against all of them at once, in time proportional to the text and independent of how many stop
/// strings there are (checking them one by one let a request with 200,000 of them stall the engine
/// thread for every other request). Matching on bytes finds what Python's `str.find` finds on code
/// points, since a valid UTF-8 needle can only match at code point boundaries.
///
/// Immutable once built, so the samples of one request share it; each keeps its own `State`.
public final class StopStringAutomaton: Sendable {
    /// The stop strings, in the order the request gave them.
    public let patterns: [String]
    private let patternLengths: [Int]
    /// Child of a node by byte, keyed `node << 8 | byte`.
    private let children: [Int: Int32]
    /// Longest proper suffix of a node's string that is also a node (the failure link).
    private let failure: [Int32]
    /// Depth of each node: the length in bytes of the prefix it stands for.
    private let depth: [Int32]
    /// The longest pattern that ends at a node (itself or through failure links), or -1.
    private let longestMatch: [Int32]

    /// Builds the automaton; empty strings are ignored (they would match everywhere).
    public init(_ patterns: [String]) {
        self.patterns = patterns
        patternLengths = patterns.map(\.utf8.count)
        var children: [Int: Int32] = [:]
        var ownMatch: [Int32] = [-1]
        for (index, pattern) in patterns.enumerated() where !pattern.isEmpty {
            var node = 0
            for byte in pattern.utf8 {
                let key = node << 8 | Int(byte)
                if let next = children[key] {
                    node = Int(next)
                } else {
                    node = ownMatch.count
                    children[key] = Int32(node)
                    ownMatch.append(-1)
                }
            }
            // The first of equal patterns is the one reported, as a search in list order would.
            if ownMatch[node] < 0 { ownMatch[node] = Int32(index) }
        }
        (failure, depth, longestMatch) = Self.links(children: children, ownMatch: ownMatch)
        self.children = children
    }

    /// Failure links, depths and longest matches, computed breadth first from the trie.
    private static func links(children: [Int: Int32], ownMatch: [Int32]) -> ([Int32], [Int32], [Int32]) {
        let nodeCount = ownMatch.count
        var byParent = [[(byte: Int, child: Int)]](repeating: [], count: nodeCount)
        for (key, child) in children { byParent[key >> 8].append((key & 0xFF, Int(child))) }
        var failure = [Int32](repeating: 0, count: nodeCount)
        var depth = [Int32](repeating: 0, count: nodeCount)
        var longest = ownMatch
        var queue = [0]
        var head = 0
        while head < queue.count {
            let node = queue[head]
            head += 1
            for (byte, child) in byParent[node] {
                depth[child] = depth[node] + 1
                if node != 0 {
                    var f = Int(failure[node])
                    while f != 0, children[f << 8 | byte] == nil { f = Int(failure[f]) }
                    failure[child] = children[f << 8 | byte] ?? 0
                }
                if longest[child] < 0 { longest[child] = longest[Int(failure[child])] }
                queue.append(child)
            }
        }
        return (failure, depth, longest)
    }

    /// Where one sequence's text stands in the automaton.
    public struct State: Sendable {
        var node = 0
        /// Bytes fed so far.
        public fileprivate(set) var offset = 0

        /// The state before any text.
        public init() {}
    }

    /// A stop string found in the text: which one, and its byte range in everything fed so far.
    public struct Match: Equatable, Sendable {
        /// The index of the stop string in the list the automaton was built from.
        public var patternIndex: Int
        /// The byte offset where the match starts.
        public var start: Int
        /// The byte offset just past the match's end.
        public var end: Int
    }

    /// Feeds `bytes` and returns the match that starts earliest among those ending in them (ties:
    /// the first in the request's list), or nil. Only the longest match ending at a byte can start
    /// earliest, so each byte costs amortized constant time.
    public func feed(_ bytes: some Sequence<UInt8>, _ state: inout State) -> Match? {
        var best: Match?
        for byte in bytes {
            var node = state.node
            while node != 0, children[node << 8 | Int(byte)] == nil { node = Int(failure[node]) }
            node = Int(children[node << 8 | Int(byte)] ?? 0)
            state.node = node
            state.offset += 1
            let found = Int(longestMatch[node])
            guard found >= 0 else { continue }
            let match = Match(patternIndex: found, start: state.offset - patternLengths[found], end: state.offset)
            if best == nil || match.start < best!.start || (match.start == best!.start && found < best!.patternIndex) {
                best = match
            }
        }
        return best
    }

    /// Bytes at the end of the text fed so far that could still begin a stop string: the depth of
    /// the state. Text before them can be released; no stop string can reach back into it.
    public func pendingBytes(_ state: State) -> Int { Int(depth[state.node]) }
}
