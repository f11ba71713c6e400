import Testing
import VLLMCore

@testable import VLLMEngine

/// `KVCacheManager` alone, with blocks of 4 tokens: block tables, prefix hits over chained
/// hashes, salts, sharing and eviction (one behaviour per test, as vLLM's test_prefix_caching.py).
@Suite struct KVCacheManagerTests {
    static let blockSize = 4

    func manager(blocks: Int = 8, prefixCaching: Bool = true) -> KVCacheManager {
        KVCacheManager(numBlocks: blocks, blockSize: Self.blockSize, prefixCaching: prefixCaching)
    }

    /// Allocates the request's whole prompt (after its cached prefix) as the scheduler does when
    /// it first schedules it; returns the number of cached tokens.
    @discardableResult
    func admit(_ request: Request, to cache: KVCacheManager) -> Int {
        let (blocks, numCached) = cache.cachedPrefix(of: request)
        #expect(cache.allocateSlots(for: request, numNewTokens: request.numTokens - numCached, cachedBlocks: blocks))
        request.numComputedTokens = request.numTokens
        return numCached
    }

    @Test func aPromptGetsOneBlockPerStartedBlockOfTokens() {
        let cache = manager()
        let request = makeRequest("a", tokens: Array(1...10))
        #expect(cache.allocateSlots(for: request, numNewTokens: 10))
        #expect(cache.blocks(of: request).count == 3)
        #expect(cache.numFreeBlocks == 5)
    }

    @Test func decodingAllocatesANewBlockOnlyAtABlockBoundary() {
        let cache = manager()
        let request = makeRequest("a", tokens: Array(1...8))
        admit(request, to: cache)
        #expect(cache.blocks(of: request).count == 2)
        request.append(100)
        #expect(cache.allocateSlots(for: request, numNewTokens: 1))
        #expect(cache.blocks(of: request).count == 3)
        request.numComputedTokens += 1
        request.append(101)
        #expect(cache.allocateSlots(for: request, numNewTokens: 1))
        #expect(cache.blocks(of: request).count == 3)
    }

    @Test func allocationThatDoesNotFitFailsAndChangesNothing() {
        let cache = manager(blocks: 2)
        let request = makeRequest("a", tokens: Array(1...12))
        #expect(!cache.allocateSlots(for: request, numNewTokens: 12))
        #expect(cache.blocks(of: request).isEmpty)
        #expect(cache.numFreeBlocks == 2)
    }

    @Test func freeReturnsEveryBlockOfTheRequest() {
        let cache = manager()
        let request = makeRequest("a", tokens: Array(1...10))
        admit(request, to: cache)
        cache.free(request)
        #expect(cache.blocks(of: request).isEmpty)
        #expect(cache.numFreeBlocks == 8)
        #expect(cache.usage == 0)
    }

    @Test func aSharedPrefixIsFoundInFullBlocks() {
        let cache = manager()
        let first = makeRequest("a", tokens: Array(1...10))
        admit(first, to: cache)
        let firstBlocks = cache.blocks(of: first)
        cache.free(first)
        let second = makeRequest("b", tokens: Array(1...9) + [50, 51])
        let (blocks, numCached) = cache.cachedPrefix(of: second)
        #expect(numCached == 8)
        #expect(blocks == Array(firstBlocks.prefix(2)))
    }

    @Test func theLastPromptTokenIsAlwaysComputed() {
        let cache = manager()
        let prompt = Array(1...8)
        admit(makeRequest("a", tokens: prompt), to: cache)
        // Both full blocks are cached, but the last token's logits are needed: one block is reused.
        #expect(cache.cachedPrefix(of: makeRequest("b", tokens: prompt)).numTokens == 4)
    }

    @Test func aBlockHitNeedsTheWholePrefixBeforeIt() {
        let cache = manager()
        admit(makeRequest("a", tokens: [1, 2, 3, 4, 5, 6, 7, 8, 9]), to: cache)
        // Same second block, different first block: the chained hash of block 2 differs.
        let other = makeRequest("b", tokens: [9, 9, 9, 9, 5, 6, 7, 8, 9])
        #expect(cache.cachedPrefix(of: other).numTokens == 0)
    }

    @Test func aDifferentSaltMissesAndTheSameSaltHits() {
        let cache = manager()
        let prompt = Array(1...9)
        admit(makeRequest("a", tokens: prompt, salt: "tenant-a"), to: cache)
        #expect(cache.cachedPrefix(of: makeRequest("b", tokens: prompt, salt: "tenant-b")).numTokens == 0)
        #expect(cache.cachedPrefix(of: makeRequest("c", tokens: prompt)).numTokens == 0)
        #expect(cache.cachedPrefix(of: makeRequest("d", tokens: prompt, salt: "tenant-a")).numTokens == 8)
    }

    @Test func withoutPrefixCachingNothingIsFound() {
        let cache = manager(prefixCaching: false)
        let prompt = Array(1...9)
        admit(makeRequest("a", tokens: prompt), to: cache)
        #expect(cache.cachedPrefix(of: makeRequest("b", tokens: prompt)).numTokens == 0)
    }

    @Test func promptLogprobsSkipTheCache() {
        let cache = manager()
        let prompt = Array(1...9)
        admit(makeRequest("a", tokens: prompt), to: cache)
        var params = SamplingParams.greedy(maxTokens: 4)
        params.promptLogprobs = 1
        #expect(cache.cachedPrefix(of: makeRequest("b", tokens: prompt, params: params)).numTokens == 0)
    }

    @Test func cachedBlocksAreSharedWithTheRunningRequest() {
        let cache = manager()
        let first = makeRequest("a", tokens: Array(1...9))
        admit(first, to: cache)
        let second = makeRequest("b", tokens: Array(1...8) + [60, 61, 62])
        #expect(admit(second, to: cache) == 8)
        #expect(Array(cache.blocks(of: second).prefix(2)) == Array(cache.blocks(of: first).prefix(2)))
        // 3 blocks for the first request, 1 more for the second: the shared two are counted once.
        #expect(cache.numFreeBlocks == 4)
        cache.free(first)
        #expect(cache.numFreeBlocks == 5)
    }

    @Test func hitCountersCountPromptTokens() {
        let cache = manager()
        admit(makeRequest("a", tokens: Array(1...9)), to: cache)
        #expect(cache.prefixCacheQueries == 9)
        #expect(cache.prefixCacheHits == 0)
        admit(makeRequest("b", tokens: Array(1...10)), to: cache)
        #expect(cache.prefixCacheQueries == 19)
        #expect(cache.prefixCacheHits == 8)
    }

    @Test func anEvictedPrefixIsNoLongerFound() {
        let cache = manager(blocks: 3)
        let first = makeRequest("a", tokens: Array(1...9))
        admit(first, to: cache)
        cache.forget(first)
        admit(makeRequest("b", tokens: Array(100...111)), to: cache)
        #expect(cache.cachedPrefix(of: makeRequest("c", tokens: Array(1...9))).numTokens == 0)
    }

    @Test func trimReturnsBlocksBeyondTheKeptTokens() {
        let cache = manager()
        let request = makeRequest("a", tokens: Array(1...5))
        #expect(cache.allocateSlots(for: request, numNewTokens: 12))
        #expect(cache.blocks(of: request).count == 3)
        cache.trim(request, toTokens: 5)
        #expect(cache.blocks(of: request).count == 2)
        #expect(cache.numFreeBlocks == 6)
    }

    @Test func resetIsRefusedWhileARequestHoldsBlocks() {
        let cache = manager()
        let request = makeRequest("a", tokens: Array(1...9))
        admit(request, to: cache)
        #expect(!cache.resetPrefixCache())
        cache.free(request)
        #expect(cache.resetPrefixCache())
        #expect(cache.cachedPrefix(of: makeRequest("b", tokens: Array(1...9))).numTokens == 0)
    }
}

/// A request of the given prompt with greedy sampling and a context of 1024.
func makeRequest(
    _ id: String, tokens: [Int], salt: String? = nil, priority: Int = 0, arrival: Int = 0,
    params: SamplingParams = .greedy(maxTokens: 16)
) -> Request {
    Request(id: id, promptTokenIDs: tokens, params: params, arrival: arrival, priority: priority, cacheSalt: salt, maxModelLength: 1024)
}
