import Testing

@testable import VLLMEngine

/// `BlockPool` alone: allocation, reference counts, the least-recently-used free queue and the
/// hash index of cached blocks (one behaviour per test, as vLLM's test_prefix_caching.py).
@Suite struct BlockPoolTests {
    func hash(_ tokens: [Int], parent: BlockHash? = nil) -> BlockHash {
        BlockHash(parent: parent, tokens: tokens[...], salt: nil)
    }

    @Test func allocateTakesFreeBlocksInOrderWithOneReference() throws {
        let pool = BlockPool(numBlocks: 4)
        #expect(pool.allocate(3) == [0, 1, 2])
        #expect(pool.referenceCounts == [1, 1, 1, 0])
        #expect(pool.numFreeBlocks == 1)
    }

    @Test func allocatingMoreThanIsFreeFailsAndChangesNothing() {
        let pool = BlockPool(numBlocks: 4)
        _ = pool.allocate(2)
        #expect(pool.allocate(3) == nil)
        #expect(pool.numFreeBlocks == 2)
        #expect(pool.allocate(2) == [2, 3])
    }

    @Test func freedBlocksJoinTheBackOfTheQueueInTheOrderGiven() {
        let pool = BlockPool(numBlocks: 4)
        _ = pool.allocate(4)
        pool.free([2, 0])
        #expect(pool.numFreeBlocks == 2)
        #expect(pool.referenceCounts == [0, 1, 0, 1])
        #expect(pool.allocate(2) == [2, 0])
    }

    @Test func aSharedBlockIsFreeOnlyAfterItsLastReference() {
        let pool = BlockPool(numBlocks: 4)
        let block = pool.allocate(1)![0]
        pool.touch(block)
        #expect(pool.referenceCounts[block] == 2)
        pool.free([block])
        #expect(pool.referenceCounts[block] == 1)
        #expect(pool.numFreeBlocks == 3)
        pool.free([block])
        #expect(pool.numFreeBlocks == 4)
    }

    @Test func cachedBlockIsFoundByItsHashAfterBeingFreed() {
        let pool = BlockPool(numBlocks: 4)
        let block = pool.allocate(1)![0]
        let h = hash([1, 2, 3, 4])
        pool.cache(block, hash: h)
        pool.free([block])
        #expect(pool.cachedBlock(h) == block)
        #expect(pool.hashes[block] == h)
    }

    @Test func leastRecentlyFreedBlockIsEvictedFirst() {
        let pool = BlockPool(numBlocks: 3)
        let blocks = pool.allocate(3)!
        let hashes = (0..<3).map { hash([$0, $0, $0, $0]) }
        for (block, h) in zip(blocks, hashes) { pool.cache(block, hash: h) }
        pool.free([1])
        pool.free([0])
        pool.free([2])
        #expect(pool.allocate(1) == [1])
        #expect(pool.cachedBlock(hashes[1]) == nil)
        #expect(pool.hashes[1] == nil)
        #expect(pool.cachedBlock(hashes[0]) == 0)
        #expect(pool.cachedBlock(hashes[2]) == 2)
        #expect(pool.allocate(1) == [0])
    }

    @Test func touchingAFreeCachedBlockTakesItOffTheFreeQueue() {
        let pool = BlockPool(numBlocks: 4)
        _ = pool.allocate(2)
        pool.cache(0, hash: hash([9, 9, 9, 9]))
        pool.free([0, 1])
        pool.touch(0)
        #expect(pool.referenceCounts[0] == 1)
        #expect(pool.numFreeBlocks == 3)
        #expect(pool.allocate(3) == [2, 3, 1])
        #expect(pool.cachedBlock(hash([9, 9, 9, 9])) == 0)
    }

    @Test func aHashKeepsTheFirstBlockCachedUnderIt() {
        let pool = BlockPool(numBlocks: 4)
        _ = pool.allocate(2)
        let h = hash([5, 6, 7, 8])
        pool.cache(0, hash: h)
        pool.cache(1, hash: h)
        #expect(pool.cachedBlock(h) == 0)
        #expect(pool.hashes[1] == nil)
    }

    @Test func chainedHashesDependOnTheParent() {
        let tokens = [1, 2, 3, 4]
        let first = hash([7, 7, 7, 7]), other = hash([8, 8, 8, 8])
        #expect(hash(tokens, parent: first) != hash(tokens, parent: other))
        #expect(hash(tokens, parent: first) == hash(tokens, parent: first))
        #expect(hash(tokens, parent: first).parent == first.value)
    }

    @Test func saltChangesOnlyTheFirstBlockHash() {
        let tokens = [1, 2, 3, 4][...]
        let plain = BlockHash(parent: nil, tokens: tokens, salt: nil)
        let salted = BlockHash(parent: nil, tokens: tokens, salt: "tenant-a")
        #expect(plain != salted)
        #expect(salted != BlockHash(parent: nil, tokens: tokens, salt: "tenant-b"))
        // Below the first block the salt is carried by the parent, not mixed in again.
        #expect(BlockHash(parent: plain, tokens: tokens, salt: "tenant-a") == BlockHash(parent: plain, tokens: tokens, salt: nil))
    }

    @Test func resetForgetsEveryCachedHash() {
        let pool = BlockPool(numBlocks: 2)
        _ = pool.allocate(1)
        let h = hash([1, 1, 1, 1])
        pool.cache(0, hash: h)
        pool.free([0])
        pool.resetPrefixCache()
        #expect(pool.cachedBlock(h) == nil)
        #expect(pool.hashes == [nil, nil])
        #expect(pool.numFreeBlocks == 2)
    }
}
