import Foundation
import Hummingbird
import NIOCore
import VLLMCore
import VLLMEngine

/// The body of `POST /v1/embeddings` (OpenAI's fields and vLLM's `add_special_tokens`, `normalize`).
public struct EmbeddingRequest: Decodable, Sendable {
    /// `model`: the model asked for; a name the server does not serve is a 400 error.
    public var model: String?
    /// A string, a list of strings, a list of token ids or a list of lists of token ids.
    public var input: PromptInput
    /// "float" (default) or "base64" (the float32 values, little-endian, base64-encoded).
    public var encodingFormat: String?
    /// A Matryoshka model's leading dimensions.
    public var dimensions: Int?
    /// `user`: the end user's id; accepted and ignored.
    public var user: String?
    /// `add_special_tokens`: add the tokenizer's special tokens when encoding text inputs (default true).
    public var addSpecialTokens: Bool?
    /// Overrides whether the pooled vector is normalized (the model folder decides by default).
    public var normalize: Bool?

    enum CodingKeys: String, CodingKey {
        case model, input, dimensions, user, normalize
        case encodingFormat = "encoding_format"
        case addSpecialTokens = "add_special_tokens"
    }
}

/// One embedding of the response: a list of floats or a base64 string.
public struct EmbeddingData: Encodable, Sendable {
    /// `index`: the input's position in the request.
    public var index: Int
    /// `object`: always `embedding`.
    public var object = "embedding"
    /// `embedding`: the vector.
    public var embedding: EmbeddingValue
}

/// `embedding` as `encoding_format` asks.
public enum EmbeddingValue: Encodable, Sendable {
    case float([Float])
    case base64(String)

    /// Encodes a list of numbers or a base64 string.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .float(let values): try c.encode(values)
        case .base64(let text): try c.encode(text)
        }
    }

    /// The little-endian float32 bytes of `values` in base64, as OpenAI's API encodes them.
    static func base64(of values: [Float]) -> String {
        var bytes = Data(capacity: values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        return bytes.base64EncodedString()
    }
}

/// The response of `POST /v1/embeddings`.
public struct EmbeddingResponse: Encodable, Sendable {
    /// `id`: `embd-` and a random id.
    public var id: String
    /// `object`: always `list`.
    public var object = "list"
    /// `created`: when the request was answered, in Unix seconds.
    public var created: Int
    /// `model`: the served model's name.
    public var model: String
    /// `data`: one embedding per input, in input order.
    public var data: [EmbeddingData]
    /// `usage`: the input tokens (`completion_tokens` is 0).
    public var usage: Usage
}

extension OpenAIServing {
    /// `POST /v1/embeddings`: every input runs through the engine's scheduler at once (they are
    /// batched together as the token budget allows), pooled as the model folder says.
    func embeddings(_ body: EmbeddingRequest) async throws -> Response {
        try checkModel(body.model)
        let format = body.encodingFormat ?? "float"
        guard format == "float" || format == "base64" else {
            throw APIError.invalid("encoding_format", "encoding_format must be 'float' or 'base64', got '\(format)'")
        }
        guard let folder = engine.folder else { throw APIError.invalid("model", "the served model has no folder to read its pooling from") }
        let settings = try EmbeddingSettings(folder: folder.path, config: folder.config)
        var pooling = settings.pooling
        if let normalize = body.normalize { pooling.normalize = normalize }
        if let dimensions = body.dimensions {
            guard settings.matryoshka else {
                throw APIError.invalid(
                    "dimensions",
                    "Model \"\(servedName)\" does not support matryoshka representation, changing output dimensions will lead to poor results."
                )
            }
            guard (1...folder.config.hiddenSize).contains(dimensions) else {
                throw APIError.invalid("dimensions", "dimensions must be in 1...\(folder.config.hiddenSize), got \(dimensions)")
            }
            pooling.dimensions = dimensions
        }
        let inputs = try embeddingInputs(body)
        try admit(inputs.count)
        defer { release(inputs.count) }
        let (id, engine, params) = (newID("embd"), engine, pooling)
        let vectors = try await withThrowingTaskGroup(of: (Int, [Float]).self) { group in
            for (i, tokens) in inputs.enumerated() {
                group.addTask { (i, try await engine.embed(requestID: "\(id)-\(i)", promptTokenIDs: tokens, pooling: params)) }
            }
            var vectors = [[Float]](repeating: [], count: inputs.count)
            for try await (i, vector) in group { vectors[i] = vector }
            return vectors
        }
        let data = vectors.enumerated().map { i, v in
            EmbeddingData(index: i, embedding: format == "base64" ? .base64(EmbeddingValue.base64(of: v)) : .float(v))
        }
        let promptTokens = inputs.reduce(0) { $0 + $1.count }
        return jsonResponse(
            EmbeddingResponse(
                id: id, created: Int(Date().timeIntervalSince1970), model: servedName, data: data,
                usage: Usage(promptTokens: promptTokens, completionTokens: 0)))
    }

    /// The token ids of each input, checked: not empty, in the vocabulary, within the context length.
    private func embeddingInputs(_ body: EmbeddingRequest) throws -> [[Int]] {
        guard body.input.count > 0 else { throw APIError.invalid("input", "the input list is empty") }
        let inputs: [[Int]] =
            switch body.input {
            case .texts(let texts): try texts.map { try requireTokenizer().encode($0, addSpecialTokens: body.addSpecialTokens ?? true) }
            case .tokens(let lists): lists
            }
        for (i, tokens) in inputs.enumerated() {
            let param = inputs.count == 1 ? "input" : "input[\(i)]"
            guard !tokens.isEmpty else { throw APIError.invalid(param, "the input is empty") }
            if let bad = tokens.first(where: { $0 < 0 || $0 >= vocabularySize }) {
                throw APIError.invalid(param, "token id \(bad) is out of vocabulary (size \(vocabularySize))")
            }
            let limit = min(maxModelLength, engine.config.scheduler.maxNumBatchedTokens)
            guard tokens.count <= limit else {
                throw APIError.invalid(
                    param,
                    "This model's maximum context length is \(limit) tokens. However, you requested \(tokens.count) tokens in the input for embedding generation. Please reduce the length of the input."
                )
            }
        }
        return inputs
    }
}
