/// Gives each request the KV cache blocks it needs, reusing cached full blocks of earlier
/// requests with the same prefix (automatic prefix caching).
final class KVCacheManager {
    let blockSize: Int
    let prefixCaching: Bool
    private let pool: BlockPool
    private var blocksOfRequest: [String: [Int]] = [:]
    /// Hashes of each request's full blocks, computed once as the blocks fill.
    private var hashesOfRequest: [String: [BlockHash]] = [:]
    /// Blocks of each request already registered in the prefix cache.
    private var numCachedBlocksOfRequest: [String: Int] = [:]
    /// Prompt tokens looked up in the prefix cache, and how many were found.
    private(set) var prefixCacheQueries = 0
    private(set) var prefixCacheHits = 0

    /// How full blocks are hashed.
    let hashAlgorithm: PrefixCachingHashAlgorithm
    /// The parent of first blocks under sha256_cbor.
    private let cborRoot: [UInt8]

    init(
        numBlocks: Int, blockSize: Int, prefixCaching: Bool, hashAlgorithm: PrefixCachingHashAlgorithm = .builtin,
        hashSeed: String? = nil, recordsEvents: Bool = false
    ) {
        self.blockSize = blockSize
        self.prefixCaching = prefixCaching
        self.hashAlgorithm = hashAlgorithm
        cborRoot = hashAlgorithm == .sha256CBOR ? BlockHash.cborRoot(seed: hashSeed) : []
        pool = BlockPool(numBlocks: numBlocks, blockSize: blockSize, recordsEvents: recordsEvents)
    }

    /// KV cache events since the last call.
    func takeEvents() -> [KVCacheEvent] { pool.takeEvents() }

    /// Forgets every cached prefix (vLLM's `reset_prefix_cache`), only while no request holds a
    /// block; returns whether it did.
    func resetPrefixCache() -> Bool {
        guard pool.numFreeBlocks == pool.numBlocks else { return false }
        pool.resetPrefixCache()
        return true
    }

    var numBlocks: Int { pool.numBlocks }
    var numFreeBlocks: Int { pool.numFreeBlocks }
    /// Share of blocks in use by requests (0...1).
    var usage: Double { 1 - Double(pool.numFreeBlocks) / Double(max(1, pool.numBlocks)) }

    /// The request's block table.
    func blocks(of request: Request) -> [Int] { blocksOfRequest[request.id] ?? [] }

    /// Cached blocks holding a prefix of the request's tokens, and how many tokens they cover. At
    /// least one token is always left to compute, so the last position's logits exist.
    func cachedPrefix(of request: Request) -> (blocks: [Int], numTokens: Int) {
        // Prompt logprobs need the logits of every prompt position, so nothing may be skipped.
        guard prefixCaching, request.params.promptLogprobs == nil else { return ([], 0) }
        let hashes = blockHashes(of: request)
        let usable = (request.numTokens - 1) / blockSize
        var found: [Int] = []
        for hash in hashes.prefix(usable) {
            guard let block = pool.cachedBlock(hash) else { break }
            found.append(block)
        }
        prefixCacheQueries += request.numTokens
        prefixCacheHits += found.count * blockSize
        return (found, found.count * blockSize)
    }

    /// Makes room for `numNewTokens` more tokens of the request (after taking `cachedBlocks`, found by
    /// `cachedPrefix`, when it is first scheduled). Returns false, changing nothing, when the pool
    /// has too few free blocks.
    func allocateSlots(for request: Request, numNewTokens: Int, cachedBlocks: [Int] = []) -> Bool {
        let existing = blocksOfRequest[request.id] ?? []
        let numComputed = request.numComputedTokens + cachedBlocks.count * blockSize
        let needed = (numComputed + numNewTokens + blockSize - 1) / blockSize
        let missing = max(0, needed - existing.count - cachedBlocks.count)
        // Cached blocks that sit in the free queue are not free for this request's new blocks.
        let cachedButFree = cachedBlocks.filter { pool.referenceCounts[$0] == 0 }.count
        guard missing + cachedButFree <= pool.numFreeBlocks else { return false }
        cachedBlocks.forEach(pool.touch)
        let fresh = pool.allocate(missing) ?? []
        blocksOfRequest[request.id] = existing + cachedBlocks + fresh
        if prefixCaching {
            numCachedBlocksOfRequest[request.id, default: 0] += cachedBlocks.count
            cacheFullBlocks(of: request, numTokens: numComputed + numNewTokens)
        }
        return true
    }

    /// Registers the request's blocks that will be full once `numTokens` tokens are computed.
    private func cacheFullBlocks(of request: Request, numTokens: Int) {
        let blocks = blocksOfRequest[request.id] ?? []
        let hashes = blockHashes(of: request)
        let full = min(numTokens / blockSize, hashes.count)
        var done = numCachedBlocksOfRequest[request.id] ?? 0
        while done < full {
            pool.cache(blocks[done], hash: hashes[done], salt: request.cacheSalt)
            done += 1
        }
        numCachedBlocksOfRequest[request.id] = done
    }

    /// Hashes of the request's full blocks, extended as its tokens grow.
    private func blockHashes(of request: Request) -> [BlockHash] {
        var hashes = hashesOfRequest[request.id] ?? []
        let tokens = request.tokenIDs
        while (hashes.count + 1) * blockSize <= request.numTokens {
            let start = hashes.count * blockSize
            let blockTokens = tokens[start..<(start + blockSize)]
            hashes.append(
                hashAlgorithm == .sha256CBOR
                    ? BlockHash(sha256CBORParent: hashes.last, root: cborRoot, tokens: blockTokens, salt: request.cacheSalt)
                    : BlockHash(parent: hashes.last, tokens: blockTokens, salt: request.cacheSalt))
        }
        hashesOfRequest[request.id] = hashes
        return hashes
    }

    /// Returns the blocks beyond those that `numTokens` tokens fill to the pool: the slots of
    /// rejected draft tokens. Such blocks hold no full block of known tokens, so none is cached.
    func trim(_ request: Request, toTokens numTokens: Int) {
        guard var blocks = blocksOfRequest[request.id] else { return }
        let needed = (numTokens + blockSize - 1) / blockSize
        guard blocks.count > needed else { return }
        pool.free(Array(blocks[needed...].reversed()))
        blocks.removeLast(blocks.count - needed)
        blocksOfRequest[request.id] = blocks
        numCachedBlocksOfRequest[request.id] = min(numCachedBlocksOfRequest[request.id] ?? 0, needed)
    }

    /// Returns the request's blocks to the pool (they stay cached until evicted).
    func free(_ request: Request) {
        if let blocks = blocksOfRequest.removeValue(forKey: request.id) { pool.free(blocks.reversed()) }
        numCachedBlocksOfRequest[request.id] = nil
    }

    /// Forgets a finished request's hashes too.
    func forget(_ request: Request) {
        free(request)
        hashesOfRequest[request.id] = nil
    }
}
