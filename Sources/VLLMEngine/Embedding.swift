import Foundation
import VLLMCore

/// The embedding of one input (vLLM's `EmbeddingRequestOutput`).
public struct EmbeddingOutput: Sendable, Equatable {
    /// The request's id.
    public var requestID: String
    /// The input's token ids.
    public var promptTokenIDs: [Int]
    /// The pooled vector.
    public var embedding: [Float]
}

extension LLM {
    /// The model folder's embedding defaults (pooling, whether `dimensions` is allowed).
    public func embeddingSettings() throws -> EmbeddingSettings {
        try EmbeddingSettings(folder: folder.path, config: folder.config)
    }

    /// The embeddings of `prompts`, in order, through the engine's scheduler: each input runs
    /// whole in one step (inputs are batched together as the token budget allows) and keeps no
    /// KV cache afterwards. `pooling` defaults to the folder's (`embeddingSettings`);
    /// `dimensions` needs a Matryoshka model. All inputs are checked before any runs.
    public func embed(_ prompts: [Prompt], pooling: PoolingParams? = nil, dimensions: Int? = nil) throws -> [EmbeddingOutput] {
        let settings = try embeddingSettings()
        var params = pooling ?? settings.pooling
        if let dimensions {
            guard settings.matryoshka else {
                throw EngineError.invalidPrompt(
                    "\(folder.config.architecture) does not support matryoshka representation: 'dimensions' cannot be set")
            }
            params.dimensions = dimensions
        }
        let tokenized = try prompts.map(tokens)
        var ids: [String] = []
        do {
            for input in tokenized {
                let id = "embd-\(ids.count)-\(UUID().uuidString)"
                try engine.addEmbeddingRequest(id: id, promptTokenIDs: input, pooling: params)
                ids.append(id)
            }
        } catch {
            for id in ids { engine.abort(id) }
            throw error
        }
        var vectors: [String: [Float]] = [:]
        while engine.hasUnfinishedRequests {
            for update in engine.step() { if let vector = update.embedding { vectors[update.requestID] = vector } }
        }
        return zip(ids, tokenized).map { EmbeddingOutput(requestID: $0, promptTokenIDs: $1, embedding: vectors[$0]!) }
    }
}
