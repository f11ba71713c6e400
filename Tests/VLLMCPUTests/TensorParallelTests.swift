import Testing
import VLLMCPU
import VLLMCore

/// A model split over 2 and 4 in-process ranks gives the logits of one rank (to float32 round-off)
/// and the same greedy tokens, for every variant of the Llama family.
@Suite struct TensorParallelTests {
    /// Configurations in the shapes of each variant, small, with an odd vocabulary (uneven split).
    nonisolated(unsafe) static let variants: [(String, [String: Any])] = [
        ("llama2", ["architectures": ["LlamaForCausalLM"], "num_key_value_heads": 8]),
        (
            "llama3",
            [
                "architectures": ["LlamaForCausalLM"], "num_key_value_heads": 2, "tie_word_embeddings": true,
                "rope_theta": 500000.0,
                "rope_scaling": [
                    "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                    "original_max_position_embeddings": 64,
                ],
            ]
        ),
        ("mistral", ["architectures": ["MistralForCausalLM"], "num_key_value_heads": 4, "sliding_window": 24]),
        ("qwen2", ["architectures": ["Qwen2ForCausalLM"], "num_key_value_heads": 2, "tie_word_embeddings": true]),
        ("qwen3", ["architectures": ["Qwen3ForCausalLM"], "num_key_value_heads": 1, "head_dim": 12]),
    ]

    static func config(_ extra: [String: Any]) throws -> ModelConfig {
        var json: [String: Any] = [
            "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 8,
            "vocab_size": 301, "rms_norm_eps": 1e-6, "max_position_embeddings": 128,
        ]
        json.merge(extra) { $1 }
        return try ModelConfig(json: json, path: "test")
    }

    static func prefill(_ model: any ModelExecutor, _ prompt: [Int]) -> [Float] {
        var batch = ForwardBatch(
            chunks: [SequenceChunk(tokenIDs: prompt.map(Int32.init), numCached: 0, blockTable: [0, 1, 2, 3])], blockSize: 16)
        batch.logitIndices = (0..<prompt.count).map(Int32.init)
        return model.execute(batch)
    }

    static func greedy(_ model: any ModelExecutor, _ prompt: [Int], count: Int) -> [Int] {
        var tokens = prompt, cached = 0, out: [Int] = []
        for _ in 0..<count {
            let logits = model.execute(
                ForwardBatch(
                    chunks: [SequenceChunk(tokenIDs: tokens[cached...].map(Int32.init), numCached: cached, blockTable: [0, 1, 2, 3])],
                    blockSize: 16))
            cached = tokens.count
            let next = logits.indices.max { logits[$0] < logits[$1] }!
            out.append(next)
            tokens.append(next)
        }
        return out
    }

    static func load(
        _ config: ModelConfig, ranks: Int, weights: any WeightStore = DummyWeights(dtype: .float32, seed: 11, scale: 0.25)
    ) throws -> any ModelExecutor {
        let model: any ModelExecutor
        if ranks == 1 {
            model = try ModelRegistry.load(config: config, weights: weights, backend: CPUBackend(), maxPositions: 128)
        } else {
            let group = InProcessGroup(worldSize: ranks)
            model = TensorParallelExecutor(
                ranks: try (0..<ranks).map {
                    try ModelRegistry.load(
                        config: config, weights: weights, backend: CPUBackend(group: group, rank: $0), maxPositions: 128,
                        shard: TensorParallelShard(rank: $0, worldSize: ranks))
                })
        }
        model.allocateKVCache(numBlocks: 4, blockSize: 16)
        return model
    }

    @Test(arguments: [2, 4])
    func shardedMatchesOneRank(ranks: Int) throws {
        let prompt = (0..<40).map { 3 + ($0 * 37) % 290 }
        for (name, extra) in Self.variants {
            let config = try Self.config(extra)
            let whole = try Self.load(config, ranks: 1)
            let split = try Self.load(config, ranks: ranks)
            let expected = Self.prefill(whole, prompt), got = Self.prefill(split, prompt)
            let scale = expected.map(abs).max()!
            let error = zip(got, expected).map { abs($0 - $1) }.max()! / scale
            #expect(error < 1e-5, "\(name) at \(ranks) ranks: relative logit error \(error)")
            #expect(Self.greedy(split, prompt, count: 16) == Self.greedy(whole, prompt, count: 16), "\(name) at \(ranks) ranks")
        }
    }

    @Test func indivisibleHeadsAreAClearError() throws {
        let config = try Self.config(["architectures": ["LlamaForCausalLM"], "num_attention_heads": 6, "num_key_value_heads": 6])
        #expect(
            throws: ModelLoadError.invalidConfig(
                path: "config.json", field: "tensor_parallel_size",
                detail: "num_attention_heads 6 is not divisible by tensor_parallel_size 4")
        ) {
            try Self.load(config, ranks: 4)
        }
    }
}
