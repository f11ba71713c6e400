/// Which part of a model one rank of a tensor-parallel group holds (Megatron-LM's split, as vLLM
/// does it): a share of the attention heads and of the MLP's columns, the matching rows of the
/// output projections, and a share of the vocabulary.
public struct TensorParallelShard: Sendable, Equatable {
    /// This shard's rank, 0 to `worldSize - 1`.
    public let rank: Int
    /// Ranks in the group.
    public let worldSize: Int

    /// The single rank of an unsplit model.
    public static let whole = TensorParallelShard(rank: 0, worldSize: 1)

    /// Rank `rank` of `worldSize` ranks (a rank outside the group traps).
    public init(rank: Int, worldSize: Int) {
        precondition(worldSize >= 1 && (0..<worldSize).contains(rank))
        self.rank = rank
        self.worldSize = worldSize
    }

    /// This rank's part of `0..<count` split into `worldSize` even parts.
    public func evenPart(of count: Int) -> Range<Int> {
        let size = count / worldSize
        return (rank * size)..<((rank + 1) * size)
    }

    /// This rank's part of the vocabulary: parts of ceil(vocab / worldSize), the last one shorter.
    public func vocabularyPart(of vocabSize: Int) -> Range<Int> {
        let size = (vocabSize + worldSize - 1) / worldSize
        return min(vocabSize, rank * size)..<min(vocabSize, (rank + 1) * size)
    }

    /// This rank's KV heads. With fewer KV heads than ranks, each is replicated on
    /// `worldSize / numKVHeads` consecutive ranks, whose query heads all read it.
    public func kvHeads(of numKVHeads: Int) -> Range<Int> {
        if numKVHeads >= worldSize { return evenPart(of: numKVHeads) }
        let head = rank / (worldSize / numKVHeads)
        return head..<(head + 1)
    }

    /// Checks that `config` can be split over `worldSize` ranks; the error says what does not divide.
    public func validate(_ config: ModelConfig) throws {
        func fail(_ detail: String) -> ModelLoadError {
            .invalidConfig(path: "config.json", field: "tensor_parallel_size", detail: detail)
        }
        guard config.numHeads % worldSize == 0 else {
            throw fail("num_attention_heads \(config.numHeads) is not divisible by tensor_parallel_size \(worldSize)")
        }
        guard config.numKVHeads % worldSize == 0 || worldSize % config.numKVHeads == 0 else {
            throw fail("num_key_value_heads \(config.numKVHeads) and tensor_parallel_size \(worldSize): one must divide the other")
        }
        guard config.intermediateSize % worldSize == 0 else {
            throw fail("intermediate_size \(config.intermediateSize) is not divisible by tensor_parallel_size \(worldSize)")
        }
        if let moe = config.moe {
            for (field, rows) in [
                ("moe_intermediate_size", moe.expertIntermediateSize),
                ("shared_expert_intermediate_size", moe.sharedExpertIntermediateSize ?? 0),
            ]
            where rows % worldSize != 0 {
                throw fail("\(field) \(rows) is not divisible by tensor_parallel_size \(worldSize)")
            }
        }
    }
}
