/// The KV cache blocks: all made up front, free ones in a least-recently-used queue, each with a
/// reference count and, once full and cached, the hash of its contents.
///
/// A freed block that holds a cached prefix stays findable by its hash until it is taken for new
/// data; taking blocks from the front of the queue evicts the least recently used first.
final class BlockPool {
    /// Number of blocks.
    let numBlocks: Int
    private(set) var referenceCounts: [Int]
    private(set) var hashes: [BlockHash?]
    private var cached: [BlockHash: Int] = [:]
    private var freeQueue: FreeBlockQueue
    /// Events since the last `takeEvents()`, when they are recorded.
    private var events: [KVCacheEvent]?
    private let blockSize: Int

    /// A pool of `numBlocks` blocks of `blockSize` tokens; `recordsEvents` keeps KV cache events.
    init(numBlocks: Int, blockSize: Int = 16, recordsEvents: Bool = false) {
        self.blockSize = blockSize
        events = recordsEvents ? [] : nil
        self.numBlocks = numBlocks
        referenceCounts = [Int](repeating: 0, count: numBlocks)
        hashes = [BlockHash?](repeating: nil, count: numBlocks)
        freeQueue = FreeBlockQueue(count: numBlocks)
    }

    /// Blocks that can be taken now (free, cached or not).
    var numFreeBlocks: Int { freeQueue.count }

    /// Takes `count` blocks off the free queue, evicting their cached contents; nil if too few are free.
    func allocate(_ count: Int) -> [Int]? {
        guard count <= freeQueue.count else { return nil }
        return (0..<count).map { _ in
            let block = freeQueue.popFirst()
            if let hash = hashes[block] {
                cached[hash] = nil
                hashes[block] = nil
                events?.append(.blockRemoved(hash: hash.value))
            }
            referenceCounts[block] = 1
            return block
        }
    }

    /// The cached block holding `hash`, if any.
    func cachedBlock(_ hash: BlockHash) -> Int? { cached[hash] }

    /// Takes one more reference to a cached block, removing it from the free queue if it was free.
    func touch(_ block: Int) {
        if referenceCounts[block] == 0 { freeQueue.remove(block) }
        referenceCounts[block] += 1
    }

    /// Records that full block `block` holds `hash`, so later requests can reuse it.
    func cache(_ block: Int, hash: BlockHash, salt: String? = nil) {
        guard hashes[block] == nil, cached[hash] == nil else { return }
        hashes[block] = hash
        cached[hash] = block
        events?.append(
            .blockStored(
                hash: hash.value, parentHash: hash.parent, tokenIDs: hash.tokens, blockSize: blockSize,
                salt: hash.parent == nil ? salt : nil))
    }

    /// The events recorded since the last call, oldest first.
    func takeEvents() -> [KVCacheEvent] {
        defer { if events != nil { events = [] } }
        return events ?? []
    }

    /// Drops one reference from each block; blocks that reach zero join the back of the free queue
    /// in the order given (so pass a request's blocks last-first: its tail is evicted first).
    func free(_ blocks: [Int]) {
        for block in blocks {
            referenceCounts[block] -= 1
            precondition(referenceCounts[block] >= 0, "block \(block) freed twice")
            if referenceCounts[block] == 0 { freeQueue.append(block) }
        }
    }

    /// Forgets every cached hash (the blocks themselves stay as they are).
    func resetPrefixCache() {
        cached.removeAll()
        hashes = [BlockHash?](repeating: nil, count: numBlocks)
        events?.append(.allBlocksCleared)
    }
}

/// A doubly linked queue of block ids with O(1) removal from the middle (when a cached free
/// block is reused).
struct FreeBlockQueue {
    private var next: [Int]
    private var previous: [Int]
    private var inQueue: [Bool]
    private var head = -1
    private var tail = -1
    private(set) var count = 0

    /// A queue holding blocks `0..<count` in order.
    init(count: Int) {
        next = [Int](repeating: -1, count: count)
        previous = [Int](repeating: -1, count: count)
        inQueue = [Bool](repeating: false, count: count)
        for block in 0..<count { append(block) }
    }

    mutating func append(_ block: Int) {
        precondition(!inQueue[block])
        previous[block] = tail
        next[block] = -1
        if tail >= 0 { next[tail] = block } else { head = block }
        tail = block
        inQueue[block] = true
        count += 1
    }

    mutating func popFirst() -> Int {
        let block = head
        remove(block)
        return block
    }

    mutating func remove(_ block: Int) {
        precondition(inQueue[block])
        let (p, n) = (previous[block], next[block])
        if p >= 0 { next[p] = n } else { head = n }
        if n >= 0 { previous[n] = p } else { tail = p }
        inQueue[block] = false
        count -= 1
    }
}
