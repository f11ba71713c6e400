import Foundation
import VLLMEngine

// Response bodies of the OpenAI API. Fields that OpenAI sends as `null` rather than leaving out
// (finish_reason, logprobs, ...) are encoded by hand, because clients look for them.

/// Token counts of a request.
public struct Usage: Codable, Sendable, Equatable {
    /// `prompt_tokens`: the number of tokens in the prompt.
    public var promptTokens: Int
    /// `completion_tokens`: the number of tokens generated (over all choices).
    public var completionTokens: Int
    /// `total_tokens`: prompt plus completion tokens.
    public var totalTokens: Int

    /// Counts for a request; `totalTokens` is their sum.
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

    /// Encodes the token id as a number or the stop string as a string.
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
    /// `text_offset`: each token's character offset in the choice's text.
    public var textOffset: [Int] = []
    /// `token_logprobs`: each token's natural-log probability (-9999 in place of minus infinity).
    public var tokenLogprobs: [Double?] = []
    /// `tokens`: the generated tokens, as text.
    public var tokens: [String] = []
    /// `top_logprobs`: for each token, the most likely tokens at its position (the chosen one included), text to log-probability.
    public var topLogprobs: [[String: Double]?] = []

    enum CodingKeys: String, CodingKey {
        case textOffset = "text_offset"
        case tokenLogprobs = "token_logprobs"
        case tokens
        case topLogprobs = "top_logprobs"
    }

    /// Encodes every field, empty arrays included, as OpenAI does.
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
    /// `index`: the choice's position among the request's `n` choices.
    public var index: Int
    /// `text`: the generated text (the new piece of it in a stream chunk).
    public var text: String
    /// `logprobs`: the tokens' log-probabilities when the request asked for them, else null.
    public var logprobs: CompletionLogprobs?
    /// `finish_reason`: `stop`, `length` or `abort`; null while a stream goes on.
    public var finishReason: String?
    /// `stop_reason`: vLLM's extra field; the stop token id or stop string that ended the choice, null otherwise.
    public var stopReason: StopReasonValue?

    enum CodingKeys: String, CodingKey {
        case index, text, logprobs
        case finishReason = "finish_reason"
        case stopReason = "stop_reason"
    }

    /// Encodes every field, sending null for those that are absent.
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
    /// `id`: `cmpl-` and the request's id, the same in every chunk of a stream.
    public var id: String
    /// `object`: always `text_completion`.
    public var object = "text_completion"
    /// `created`: when the request started, in Unix seconds.
    public var created: Int
    /// `model`: the served model's name.
    public var model: String
    /// `choices`: the generated choices.
    public var choices: [CompletionChoice]
    /// `usage`: the token counts; in a stream, on a final chunk when `stream_options.include_usage` asks for it (and on every
    /// chunk with `continuous_usage_stats`).
    public var usage: Usage?
}

/// One token's log-probability in the chat format.
public struct ChatTokenLogprob: Encodable, Sendable, Equatable {
    /// `token`: the token, as text.
    public var token: String
    /// `logprob`: its natural-log probability.
    public var logprob: Double
    /// `bytes`: the token's UTF-8 bytes.
    public var bytes: [UInt8]?
}

/// A generated token with its top alternatives in the chat format.
public struct ChatLogprobEntry: Encodable, Sendable, Equatable {
    /// `token`: the generated token, as text.
    public var token: String
    /// `logprob`: its natural-log probability.
    public var logprob: Double
    /// `bytes`: the token's UTF-8 bytes.
    public var bytes: [UInt8]?
    /// `top_logprobs`: the most likely tokens at this position (as many as the request's `top_logprobs`).
    public var topLogprobs: [ChatTokenLogprob]

    enum CodingKeys: String, CodingKey {
        case token, logprob, bytes
        case topLogprobs = "top_logprobs"
    }
}

/// `logprobs` of a chat choice.
public struct ChatLogprobs: Encodable, Sendable, Equatable {
    /// `content`: one entry per generated token.
    public var content: [ChatLogprobEntry]?
}

/// A tool call in a chat response (`message.tool_calls`), or a piece of one in a stream
/// (`delta.tool_calls`: `index` always; `id`, `type` and `name` on a call's first piece only).
public struct ResponseToolCall: Encodable, Sendable, Equatable {
    /// The function's name and its arguments' JSON text (a fragment of it in a stream).
    public struct Function: Encodable, Sendable, Equatable {
        /// `name`: the function's name; in a stream only on the call's first piece.
        public var name: String?
        /// `arguments`: the arguments as JSON text, or the next piece of that text in a stream.
        public var arguments: String
    }

    /// The call's position among the choice's calls (streams only).
    public var index: Int?
    /// `id`: the call's id (`chatcmpl-tool-...`), for the tool's answer to refer to.
    public var id: String?
    /// `type`: always `function`.
    public var type: String?
    /// `function`: the function called and its arguments.
    public var function: Function
}

/// The assistant's message in a chat response.
public struct ChatResponseMessage: Encodable, Sendable {
    /// `role`: always `assistant`.
    public var role = "assistant"
    /// The text for the user; null when the model only called tools.
    public var content: String?
    /// The reasoning block, when the server runs with `--reasoning-parser` and there was one
    /// (sent as `reasoning_content` and as vLLM's newer `reasoning`).
    public var reasoning: String?
    /// `tool_calls`: the tools the model called, in order; empty when it called none.
    public var toolCalls: [ResponseToolCall] = []

    enum CodingKeys: String, CodingKey {
        case role, content
        case reasoningContent = "reasoning_content"
        case reasoning
        case toolCalls = "tool_calls"
    }

    /// Encodes `role`, `content` (null when absent) and `tool_calls`, and the reasoning under both of its names.
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
    /// `index`: the choice's position among the request's `n` choices.
    public var index: Int
    /// `message`: the generated message.
    public var message: ChatResponseMessage
    /// `logprobs`: the tokens' log-probabilities when the request asked for them, else null.
    public var logprobs: ChatLogprobs?
    /// `finish_reason`: `stop`, `length`, `tool_calls` or `abort`.
    public var finishReason: String?
    /// `stop_reason`: vLLM's extra field; the stop token id or stop string that ended the choice, null otherwise.
    public var stopReason: StopReasonValue?

    enum CodingKeys: String, CodingKey {
        case index, message, logprobs
        case finishReason = "finish_reason"
        case stopReason = "stop_reason"
    }

    /// Encodes every field, sending null for those that are absent.
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
    /// `id`: `chatcmpl-` and the request's id.
    public var id: String
    /// `object`: always `chat.completion`.
    public var object = "chat.completion"
    /// `created`: the request's start, in Unix seconds.
    public var created: Int
    /// `model`: the served model's name.
    public var model: String
    /// `choices`: the generated choices.
    public var choices: [ChatChoice]
    /// `usage`: the request's token counts.
    public var usage: Usage
}

/// The `delta` of a streamed chat choice: the role first, then content, reasoning (as
/// `reasoning_content` and `reasoning`) and tool-call pieces; parts with nothing new are left out.
public struct ChatDelta: Encodable, Sendable {
    /// `role`: `assistant`, on a choice's first chunk only.
    public var role: String?
    /// `content`: the new text.
    public var content: String?
    /// `reasoning`: the new piece of the reasoning block.
    public var reasoning: String?
    /// `tool_calls`: the new pieces of tool calls.
    public var toolCalls: [ResponseToolCall]?

    enum CodingKeys: String, CodingKey {
        case role, content
        case reasoningContent = "reasoning_content"
        case reasoning
        case toolCalls = "tool_calls"
    }

    /// A delta with only the given parts; nil parts are left out of the JSON.
    public init(role: String? = nil, content: String? = nil, reasoning: String? = nil, toolCalls: [ResponseToolCall]? = nil) {
        self.role = role
        self.content = content
        self.reasoning = reasoning
        self.toolCalls = toolCalls
    }

    /// Encodes only the parts that are present.
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
    /// `index`: the choice's position among the request's `n` choices.
    public var index: Int
    /// `delta`: what the choice added since the previous chunk.
    public var delta: ChatDelta
    /// `logprobs`: the new tokens' log-probabilities when the request asked for them, else null.
    public var logprobs: ChatLogprobs?
    /// `finish_reason`: null until the choice's last chunk, then `stop`, `length`, `tool_calls` or `abort`.
    public var finishReason: String?
    /// `stop_reason`: vLLM's extra field, sent only when a stop token or stop string ended the choice.
    public var stopReason: StopReasonValue?

    enum CodingKeys: String, CodingKey {
        case index, delta, logprobs
        case finishReason = "finish_reason"
        case stopReason = "stop_reason"
    }

    /// Encodes `finish_reason` as null while the choice goes on, and `stop_reason` only when there is one.
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
    /// `id`: `chatcmpl-` and the request's id, the same in every chunk.
    public var id: String
    /// `object`: always `chat.completion.chunk`.
    public var object = "chat.completion.chunk"
    /// `created`: the request's start, in Unix seconds.
    public var created: Int
    /// `model`: the served model's name.
    public var model: String
    /// `choices`: the choices that changed in this chunk (none in the final usage chunk).
    public var choices: [ChatChunkChoice]
    /// `usage`: the token counts, on a final chunk when `stream_options.include_usage` asks for it (and on every chunk with
    /// `continuous_usage_stats`).
    public var usage: Usage?
}

/// `GET /v1/models`.
public struct ModelList: Encodable, Sendable {
    /// One served model.
    public struct Card: Encodable, Sendable {
        /// `id`: the model's served name.
        public var id: String
        /// `object`: always `model`.
        public var object = "model"
        /// `created`: when the server started, in Unix seconds.
        public var created: Int
        /// `owned_by`: always `vllm`.
        public var ownedBy = "vllm"
        /// `root`: the model folder's path.
        public var root: String
        /// `max_model_len`: the most tokens (prompt plus output) a request may hold.
        public var maxModelLen: Int

        enum CodingKeys: String, CodingKey {
            case id, object, created
            case ownedBy = "owned_by"
            case root
            case maxModelLen = "max_model_len"
        }
    }

    /// `object`: always `list`.
    public var object = "list"
    /// `data`: the served models.
    public var data: [Card]
}

/// `POST /tokenize`.
public struct TokenizeResponse: Encodable, Sendable {
    /// `count`: the number of tokens.
    public var count: Int
    /// `max_model_len`: the most tokens (prompt plus output) a request may hold.
    public var maxModelLen: Int
    /// `tokens`: the token ids.
    public var tokens: [Int]
    /// `token_strs`: each token as text, when the request asked for them (`return_token_strs`).
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
    /// `prompt`: the decoded text.
    public var prompt: String
}
