import Foundation
import SwiftVLLM
import Testing

@testable import VLLMEngine

/// sha256_cbor block hashes equal vLLM's (vectors from Python's `cbor2` and `hashlib`), and the
/// events an engine records account for every cached block.
@Suite struct KVCacheEventTests {
    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test func sha256CBORHashesAreVLLMs() {
        // NONE_HASH for PYTHONHASHSEED=123: sha256(cbor2.dumps("123", canonical=True)).
        let root = BlockHash.cborRoot(seed: "123")
        #expect(Self.hex(root) == "9bf5bb3e4bd40e48b2a893d8928a13c0289f9a74404437ffc44070135c95f290")
        let first = BlockHash(sha256CBORParent: nil, root: root, tokens: Array(1...16)[...], salt: nil)
        #expect(Self.hex(first.digest) == "3b5e986c4fc2e89ac26564af5a8017fa8e139f63ecfaf263a461d72a50de3074")
        #expect(first.value == 11_844_985_071_706_452_084)
        let second = BlockHash(sha256CBORParent: first, root: root, tokens: [Int](repeating: 300, count: 16)[...], salt: nil)
        #expect(second.value == 15_255_276_353_675_694_442 && second.parent == first.value)
        let salted = BlockHash(sha256CBORParent: nil, root: root, tokens: Array(1...16)[...], salt: "tenant")
        #expect(Self.hex(salted.digest) == "412781240525cd4f64897d36d22e04f4826879cb8bf95466bf49cb8e287d5961")
        var cbor = CBOR()
        cbor.arrayHeader(3)
        cbor.bytes(root)
        cbor.arrayHeader(5)
        for t in [1, 2, 300, -5, 70000] { cbor.integer(t) }
        cbor.null()
        #expect(Self.hex(cbor.bytes) == "8358209bf5bb3e4bd40e48b2a893d8928a13c0289f9a74404437ffc44070135c95f29085010219012c241a00011170f6")
    }

    /// Every block stored is removed by eviction, still cached, or cleared by reset_prefix_cache;
    /// removals only name stored blocks; parents are stored before their children.
    @Test func eventsAccountForEveryCachedBlock() throws {
        let llm = try makeLLM {
            $0.recordsKVCacheEvents = true
            $0.prefixCachingHashAlgorithm = .sha256CBOR
            $0.numGPUBlocksOverride = 12
            $0.maxModelLength = 96
            $0.blockSize = 8
        }
        let shared = Array(mixedPrompts(count: 1, seed: 3, maxLength: 40)[0].prefix(30))
        let prompts = (0..<12).map { i in shared + mixedPrompts(count: 1, seed: UInt64(50 + i), maxLength: 12)[0] }
        _ = try llm.generate(prompts.map(Prompt.tokens), greedyParams(20), showProgress: false)
        var cached = Set<UInt64>()
        var stored = 0
        var removed = 0
        func apply(_ events: [KVCacheEvent]) {
            for event in events {
                switch event {
                case .blockStored(let hash, let parent, let tokens, let blockSize, _):
                    #expect(parent.map(cached.contains) ?? true)
                    #expect(tokens.count == blockSize && !cached.contains(hash))
                    cached.insert(hash)
                    stored += 1
                case .blockRemoved(let hash):
                    #expect(cached.remove(hash) != nil)
                    removed += 1
                case .allBlocksCleared:
                    cached.removeAll()
                }
            }
        }
        apply(llm.engine.takeKVCacheEvents())
        #expect(stored > 12 && removed > 0)
        #expect(llm.engine.stats.numPreemptions > 0 || removed > 0)
        #expect(llm.engine.resetPrefixCache())
        apply(llm.engine.takeKVCacheEvents())
        #expect(cached.isEmpty)
        #expect(llm.engine.takeKVCacheEvents().isEmpty)
    }
}
