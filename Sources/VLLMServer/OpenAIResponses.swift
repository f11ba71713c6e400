import Foundation
import VLLMEngine

// Response bodies of the OpenAI API. Fields that OpenAI sends as `null` rather than leaving out
// (finish_reason, logprobs, ...) are encoded by hand, because clients look for them.

/// Token counts of a request.
public struct Usage: Codable, Sendable, Equatable {
    public var promptTokens: Int
    public var completionTokens: Int
    public var totalTokens: Int

    public init(promptTokens: Int, completionTokens: Int) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        totalTokens = promptTokens + completionTokens
    }

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens"
        case completionTokens = "completion_tokens"
        case totalTokens = "total_tokens"
    }
}

/// vLLM's `stop_reason`: the stop token id, the stop string, or null (EOS or length).
public enum StopReasonValue: Encodable, Sendable, Equatable {
    case token(Int)
    case string(String)

    init?(_ reason: StopReason?) {
        switch reason {
        case .token(let id): self = .token(id)
        case .string(let s): self = .string(s)
        case nil: return nil
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .token(let id): try c.encode(id)
        case .string(let s): try c.encode(s)
        }
    }
}

/// Log-probabilities of a completion choice, in the legacy completions format.
public struct CompletionLogprobs: Encodable, Sendable, Equatable {
    public var textOffset: [Int] = []
    public var tokenLogprobs: [Double?] = []
    public var tokens: [String] = []
    public var topLogprobs: [[String: Double]?] = []

    enum CodingKeys: String, CodingKey {
        case textOffset = "text_offset"
        case tokenLogprobs = "token_logprobs"
        case tokens
        case topLogprobs = "top_logprobs"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(textOffset, forKey: .textOffset)
        try c.encode(tokenLogprobs, forKey: .tokenLogprobs)
        try c.encode(tokens, forKey: .tokens)
        try c.encode(topLogprobs, forKey: .topLogprobs)
    }
}

/// One choice of a completion (whole or a streamed chunk).
public struct CompletionChoice: Encodable, Sendable {
    public var index: Int
    public var text: String
    public var logprobs: CompletionLogprobs?
    public var finishReason: String?
    public var stopReason: StopReasonValue?

    enum CodingKeys: String, CodingKey {
        case index, text, logprobs
        case finishReason = "finish_reason"
        case stopReason = "stop_reason"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(index, forKey: .index)
        try c.encode(text, forKey: .text)
        try c.encode(logprobs, forKey: .logprobs)
        try c.encode(finishReason, forKey: .finishReason)
        try c.encode(stopReason, forKey: .stopReason)
    }
}

/// The body of a `/v1/completions` response, and of each of its stream chunks.
public struct CompletionResponse: Encodable, Sendable {
    public var id: String
    public var object = "text_completion"
    public var created: Int
    public var model: String
    public var choices: [CompletionChoice]
    public var usage: Usage?
}

/// One token's log-probability in the chat format.
public struct ChatTokenLogprob: Encodable, Sendable, Equatable {
    public var token: String
    public var logprob: Double
    public var bytes: [UInt8]?
}

/// A generated token with its top alternatives in the chat format.
public struct ChatLogprobEntry: Encodable, Sendable, Equatable {
    public var token: String
    public var logprob: Double
    public var bytes: [UInt8]?
    public var topLogprobs: [ChatTokenLogprob]

    enum CodingKeys: String, CodingKey {
        case token, logprob, bytes
        case topLogprobs = "top_logprobs"
    }
}

/// `logprobs` of a chat choice.
public struct ChatLogprobs: Encodable, Sendable, Equatable {
    public var content: [ChatLogprobEntry]?
}

/// A tool call in a chat response (`message.tool_calls`), or a piece of one in a stream
/// (`delta.tool_calls`: `index` always; `id`, `type` and `name` on a call's first piece only).
public struct ResponseToolCall: Encodable, Sendable, Equatable {
    /// The function's name and its arguments' JSON text (a fragment of it in a stream).
    public struct Function: Encodable, Sendable, Equatable {
        public var name: String?
        public var arguments: String
    }

    /// The call's position among the choice's calls (streams only).
    public var index: Int?
    public var id: String?
    public var type: String?
    public var function: Function
}

/// The assistant's message in a chat response.
public struct ChatResponseMessage: Encodable, Sendable {
    public var role = "assistant"
    /// The text for the user; null when the model only called tools.
    public var content: String?
    /// The reasoning block, when the server runs with `--reasoning-parser` and there was one
    /// (sent as `reasoning_content` and as vLLM's newer `reasoning`).
    public var reasoning: String?
    public var toolCalls: [ResponseToolCall] = []

    enum CodingKeys: String, CodingKey {
        case role, content
        case reasoningContent = "reasoning_content"
        case reasoning
        case toolCalls = "tool_calls"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(role, forKey: .role)
        try c.encode(content, forKey: .content)
        if let reasoning {
            try c.encode(reasoning, forKey: .reasoningContent)
            try c.encode(reasoning, forKey: .reasoning)
        }
        try c.encode(toolCalls, forKey: .toolCalls)
    }
}

/// One choice of a chat completion.
public struct ChatChoice: Encodable, Sendable {
    public var index: Int
    public var message: ChatResponseMessage
    public var logprobs: ChatLogprobs?
    public var finishReason: String?
    public var stopReason: StopReasonValue?

    enum CodingKeys: String, CodingKey {
        case index, message, logprobs
        case finishReason = "finish_reason"
        case stopReason = "stop_reason"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(index, forKey: .index)
        try c.encode(message, forKey: .message)
        try c.encode(logprobs, forKey: .logprobs)
        try c.encode(finishReason, forKey: .finishReason)
        try c.encode(stopReason, forKey: .stopReason)
    }
}

/// The body of a `/v1/chat/completions` response.
public struct ChatCompletionResponse: Encodable, Sendable {
    public var id: String
    public var object = "chat.completion"
    public var created: Int
    public var model: String
    public var choices: [ChatChoice]
    public var usage: Usage
}

/// The `delta` of a streamed chat choice: the role first, then content, reasoning (as
/// `reasoning_content` and `reasoning`) and tool-call pieces; parts with nothing new are left out.
public struct ChatDelta: Encodable, Sendable {
    public var role: String?
    public var content: String?
    public var reasoning: String?
    public var toolCalls: [ResponseToolCall]?

    enum CodingKeys: String, CodingKey {
        case role, content
        case reasoningContent = "reasoning_content"
        case reasoning
        case toolCalls = "tool_calls"
    }

    public init(role: String? = nil, content: String? = nil, reasoning: String? = nil, toolCalls: [ResponseToolCall]? = nil) {
        self.role = role
        self.content = content
        self.reasoning = reasoning
        self.toolCalls = toolCalls
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(role, forKey: .role)
        try c.encodeIfPresent(content, forKey: .content)
        try c.encodeIfPresent(reasoning, forKey: .reasoningContent)
        try c.encodeIfPresent(reasoning, forKey: .reasoning)
        try c.encodeIfPresent(toolCalls, forKey: .toolCalls)
    }
}

/// One choice of a streamed chat chunk.
public struct ChatChunkChoice: Encodable, Sendable {
    public var index: Int
    public var delta: ChatDelta
    public var logprobs: ChatLogprobs?
    public var finishReason: String?
    public var stopReason: StopReasonValue?

    enum CodingKeys: String, CodingKey {
        case index, delta, logprobs
        case finishReason = "finish_reason"
        case stopReason = "stop_reason"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(index, forKey: .index)
        try c.encode(delta, forKey: .delta)
        try c.encode(logprobs, forKey: .logprobs)
        try c.encode(finishReason, forKey: .finishReason)
        if let stopReason { try c.encode(stopReason, forKey: .stopReason) }
    }
}

/// One `data:` event of a streamed chat completion.
public struct ChatCompletionChunk: Encodable, Sendable {
    public var id: String
    public var object = "chat.completion.chunk"
    public var created: Int
    public var model: String
    public var choices: [ChatChunkChoice]
    public var usage: Usage?
}

/// `GET /v1/models`.
public struct ModelList: Encodable, Sendable {
    public struct Card: Encodable, Sendable {
        public var id: String
        public var object = "model"
        public var created: Int
        public var ownedBy = "vllm"
        public var root: String
        public var maxModelLen: Int

        enum CodingKeys: String, CodingKey {
            case id, object, created
            case ownedBy = "owned_by"
            case root
            case maxModelLen = "max_model_len"
        }
    }

    public var object = "list"
    public var data: [Card]
}

/// `POST /tokenize`.
public struct TokenizeResponse: Encodable, Sendable {
    public var count: Int
    public var maxModelLen: Int
    public var tokens: [Int]
    public var tokenStrs: [String]?

    enum CodingKeys: String, CodingKey {
        case count
        case maxModelLen = "max_model_len"
        case tokens
        case tokenStrs = "token_strs"
    }
}

/// `POST /detokenize`.
public struct DetokenizeResponse: Encodable, Sendable {
    public var prompt: String
}
