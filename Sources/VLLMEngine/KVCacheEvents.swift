import VLLMCore

/// How the prefix cache names full blocks (`--prefix-caching-hash-algo`).
public enum PrefixCachingHashAlgorithm: String, Sendable, CaseIterable {
    /// A fast 64-bit chained hash, private to this process.
    case builtin
    /// vLLM's `sha256_cbor`: SHA-256 of the canonical CBOR of (parent hash, token ids, extra keys),
    /// the first parent being the hash of `PYTHONHASHSEED`, so that a router can compute the
    /// hashes of a prompt's blocks from its token ids, as for vLLM replicas.
    case sha256CBOR = "sha256_cbor"
}

/// A change to the set of cached blocks, as vLLM's KV cache events report it to routers.
public enum KVCacheEvent: Sendable, Equatable {
    /// A full block's keys and values are cached under `hash` (vLLM's 64-bit external form),
    /// chained from `parentHash`.
    case blockStored(hash: UInt64, parentHash: UInt64?, tokenIDs: [Int], blockSize: Int, salt: String?)
    /// The cached block `hash` was evicted.
    case blockRemoved(hash: UInt64)
    /// Every cached block was forgotten (`reset_prefix_cache`).
    case allBlocksCleared
}

/// The identity of a full block's contents: a hash chained from the parent block's hash, the
/// block's token ids and an optional per-request salt.
struct BlockHash: Hashable {
    /// The 64-bit hash: the chain itself (builtin), or the digest's last 8 bytes read big-endian,
    /// which is what vLLM publishes to routers (sha256_cbor).
    let value: UInt64
    /// The full SHA-256 digest that the next block chains from (sha256_cbor), else empty.
    let digest: [UInt8]
    /// The parent's `value`, nil for a first block.
    let parent: UInt64?
    /// The token ids, kept so that a hash collision can never hand out another prompt's cache.
    let tokens: [Int]

    /// The builtin hash.
    init(parent: BlockHash?, tokens: ArraySlice<Int>, salt: String?) {
        var h: UInt64 = parent?.value ?? 0x243F_6A88_85A3_08D3
        func mix(_ x: UInt64) {
            h ^= x &+ 0x9E37_79B9_7F4A_7C15 &+ (h << 6) &+ (h >> 2)
            h = (h ^ (h >> 31)) &* 0x7FB5_D329_728E_A185
        }
        if let salt, parent == nil { for byte in salt.utf8 { mix(UInt64(byte) | 0x1_0000_0000) } }
        for token in tokens { mix(UInt64(bitPattern: Int64(token))) }
        value = h
        digest = []
        self.parent = parent?.value
        self.tokens = Array(tokens)
    }

    /// vLLM's `sha256_cbor` hash; `root` is the parent of a first block (`BlockHash.cborRoot`). A
    /// salt enters the first block's extra keys, as vLLM puts `cache_salt` there.
    init(sha256CBORParent parent: BlockHash?, root: [UInt8], tokens: ArraySlice<Int>, salt: String?) {
        var cbor = CBOR()
        cbor.arrayHeader(3)
        cbor.bytes(parent?.digest ?? root)
        cbor.arrayHeader(tokens.count)
        for token in tokens { cbor.integer(token) }
        if let salt, parent == nil {
            cbor.arrayHeader(1)
            cbor.text(salt)
        } else {
            cbor.null()
        }
        digest = SHA256.hash(cbor.bytes)
        value = digest[24...].reduce(0) { $0 << 8 | UInt64($1) }
        self.parent = parent?.value
        self.tokens = Array(tokens)
    }

    /// The parent of every first block under sha256_cbor: the hash of the CBOR text
    /// `PYTHONHASHSEED` (as vLLM's `NONE_HASH`), or 32 random bytes when the variable is unset.
    static func cborRoot(seed: String?) -> [UInt8] {
        guard let seed else {
            var random = SystemRandomNumberGenerator()
            return (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }
        }
        var cbor = CBOR()
        cbor.text(seed)
        return SHA256.hash(cbor.bytes)
    }
}

/// The canonical CBOR (RFC 8949) of the few types block hashes are made of: arrays, integers,
/// byte strings, text and null, each length in its shortest form, as Python's
/// `cbor2.dumps(..., canonical=True)` writes them.
struct CBOR {
    private(set) var bytes: [UInt8] = []

    private mutating func head(_ major: UInt8, _ value: UInt64) {
        let type = major << 5
        switch value {
        case 0..<24: bytes.append(type | UInt8(value))
        case 24..<0x100: bytes += [type | 24, UInt8(value)]
        case 0x100..<0x1_0000: bytes += [type | 25] + (0..<2).map { UInt8(truncatingIfNeeded: value >> (8 - 8 * UInt64($0))) }
        case 0x1_0000..<0x1_0000_0000: bytes += [type | 26] + (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * UInt64($0))) }
        default: bytes += [type | 27] + (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * UInt64($0))) }
        }
    }

    mutating func integer(_ value: Int) {
        value >= 0 ? head(0, UInt64(value)) : head(1, UInt64(-1 - value))
    }

    mutating func bytes(_ value: [UInt8]) {
        head(2, UInt64(value.count))
        bytes += value
    }

    mutating func text(_ value: String) {
        head(3, UInt64(value.utf8.count))
        bytes += Array(value.utf8)
    }

    mutating func arrayHeader(_ count: Int) { head(4, UInt64(count)) }

    mutating func null() { bytes.append(0xF6) }
}
