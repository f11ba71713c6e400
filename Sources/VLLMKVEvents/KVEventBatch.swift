import VLLMEngine

/// One step's KV cache events in vLLM's wire form: an array `[ts, events, data_parallel_rank]`
/// whose events are maps tagged by `type`, field names as vLLM's `BlockStored`, `BlockRemoved` and
/// `AllBlocksCleared` structs declare them (vLLM encodes events as maps since its PR 42892).
struct KVEventBatch {
    var timestamp: Double
    var events: [KVCacheEvent]
    /// Where the blocks live, as vLLM names its device cache.
    static let medium = "GPU"

    var messagePack: MessagePack {
        .array([.double(timestamp), .array(events.map(Self.encode)), .int(0)])
    }

    private static func encode(_ event: KVCacheEvent) -> MessagePack {
        switch event {
        case .blockStored(let hash, let parent, let tokens, let blockSize, let salt):
            .map([
                ("type", .string("BlockStored")),
                ("block_hashes", .array([.uint(hash)])),
                ("parent_block_hash", parent.map(MessagePack.uint) ?? .null),
                ("token_ids", .array(tokens.map { .int(Int64($0)) })),
                ("block_size", .int(Int64(blockSize))),
                ("lora_id", .null),
                ("medium", .string(medium)),
                ("lora_name", .null),
                ("extra_keys", .array([salt.map { .array([.string($0)]) } ?? .null])),
                ("group_idx", .int(0)),
                ("kv_cache_spec_kind", .string("full_attention")),
            ])
        case .blockRemoved(let hash):
            .map([
                ("type", .string("BlockRemoved")), ("block_hashes", .array([.uint(hash)])), ("medium", .string(medium)),
                ("group_idx", .int(0)),
            ])
        case .allBlocksCleared:
            .map([("type", .string("AllBlocksCleared"))])
        }
    }
}
