import Foundation
import VLLMStructuredOutputs

/// A prompt of `/v1/completions`: a string, a list of strings, a list of token ids or a list of
/// token id lists, as OpenAI accepts. Each entry becomes its own engine request.
public enum PromptInput: Decodable, Sendable, Equatable {
    case texts([String])
    case tokens([[Int]])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let text = try? c.decode(String.self) {
            self = .texts([text])
        } else if let texts = try? c.decode([String].self) {
            self = .texts(texts)
        } else if let ids = try? c.decode([Int].self) {
            self = .tokens([ids])
        } else if let lists = try? c.decode([[Int]].self) {
            self = .tokens(lists)
        } else {
            throw DecodingError.typeMismatch(
                PromptInput.self,
                .init(
                    codingPath: c.codingPath,
                    debugDescription: "expected a string, a list of strings, a list of token ids or a list of lists of token ids"))
        }
    }

    /// How many prompts there are.
    public var count: Int {
        switch self {
        case .texts(let t): t.count
        case .tokens(let t): t.count
        }
    }
}

/// `stop`: one string or a list of them.
public struct StopStrings: Decodable, Sendable, Equatable {
    public var values: [String]

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            values = []
        } else if let one = try? c.decode(String.self) {
            values = [one]
        } else {
            values = try c.decode([String].self)
        }
    }
}

/// `stream_options`.
public struct StreamOptions: Decodable, Sendable, Equatable {
    public var includeUsage: Bool?
    public var continuousUsageStats: Bool?

    enum CodingKeys: String, CodingKey {
        case includeUsage = "include_usage"
        case continuousUsageStats = "continuous_usage_stats"
    }
}

/// `response_format`'s type (`text`, `json_object` or `json_schema`); the schema itself is read
/// in schema order from the raw body (`StructuredOutputFields`).
public struct ResponseFormat: Decodable, Sendable, Equatable {
    public var type: String
}

/// The sampling fields shared by completions and chat completions, OpenAI's and vLLM's extras,
/// with their JSON names. Fields left out take the model's generation config, then vLLM's defaults.
public struct SamplingFields: Decodable, Sendable {
    public var model: String?
    public var n: Int?
    public var temperature: Double?
    public var topP: Double?
    public var topK: Int?
    public var minP: Double?
    public var seed: Int?
    public var presencePenalty: Double?
    public var frequencyPenalty: Double?
    public var repetitionPenalty: Double?
    public var logitBias: [String: Double]?
    public var stop: StopStrings?
    public var stopTokenIDs: [Int]?
    public var includeStopStrInOutput: Bool?
    public var ignoreEOS: Bool?
    /// Present and null means "up to the context length"; absent means the endpoint's default.
    public var maxTokens: Int?
    public var maxTokensIsNull = false
    public var minTokens: Int?
    public var skipSpecialTokens: Bool?
    public var spacesBetweenSpecialTokens: Bool?
    public var stream: Bool?
    public var streamOptions: StreamOptions?
    public var useBeamSearch: Bool?
    public var lengthPenalty: Double?
    public var priority: Int?
    public var promptLogprobs: Int?
    public var responseFormat: ResponseFormat?
    /// The output constraint of `response_format` or `structured_outputs`.
    public var structuredOutputs: StructuredOutputSpec?
    /// `structured_outputs.disable_any_whitespace`: JSON grammars write compact JSON.
    public var disableAnyWhitespace = false
    public var addSpecialTokens: Bool?
    public var user: String?
    public var requestID: String?
    public var echo: Bool?

    enum CodingKeys: String, CodingKey {
        case model, n, temperature, seed, stop, stream, priority, user, echo
        case topP = "top_p"
        case topK = "top_k"
        case minP = "min_p"
        case presencePenalty = "presence_penalty"
        case frequencyPenalty = "frequency_penalty"
        case repetitionPenalty = "repetition_penalty"
        case logitBias = "logit_bias"
        case stopTokenIDs = "stop_token_ids"
        case includeStopStrInOutput = "include_stop_str_in_output"
        case ignoreEOS = "ignore_eos"
        case maxTokens = "max_tokens"
        case minTokens = "min_tokens"
        case skipSpecialTokens = "skip_special_tokens"
        case spacesBetweenSpecialTokens = "spaces_between_special_tokens"
        case streamOptions = "stream_options"
        case useBeamSearch = "use_beam_search"
        case lengthPenalty = "length_penalty"
        case promptLogprobs = "prompt_logprobs"
        case responseFormat = "response_format"
        case addSpecialTokens = "add_special_tokens"
        case requestID = "request_id"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decodeIfPresent(String.self, forKey: .model)
        n = try c.decodeIfPresent(Int.self, forKey: .n)
        temperature = try c.decodeIfPresent(Double.self, forKey: .temperature)
        topP = try c.decodeIfPresent(Double.self, forKey: .topP)
        topK = try c.decodeIfPresent(Int.self, forKey: .topK)
        minP = try c.decodeIfPresent(Double.self, forKey: .minP)
        seed = try c.decodeIfPresent(Int.self, forKey: .seed)
        presencePenalty = try c.decodeIfPresent(Double.self, forKey: .presencePenalty)
        frequencyPenalty = try c.decodeIfPresent(Double.self, forKey: .frequencyPenalty)
        repetitionPenalty = try c.decodeIfPresent(Double.self, forKey: .repetitionPenalty)
        logitBias = try c.decodeIfPresent([String: Double].self, forKey: .logitBias)
        stop = try c.decodeIfPresent(StopStrings.self, forKey: .stop)
        stopTokenIDs = try c.decodeIfPresent([Int].self, forKey: .stopTokenIDs)
        includeStopStrInOutput = try c.decodeIfPresent(Bool.self, forKey: .includeStopStrInOutput)
        ignoreEOS = try c.decodeIfPresent(Bool.self, forKey: .ignoreEOS)
        maxTokens = try c.decodeIfPresent(Int.self, forKey: .maxTokens)
        maxTokensIsNull = c.contains(.maxTokens) && maxTokens == nil
        minTokens = try c.decodeIfPresent(Int.self, forKey: .minTokens)
        skipSpecialTokens = try c.decodeIfPresent(Bool.self, forKey: .skipSpecialTokens)
        spacesBetweenSpecialTokens = try c.decodeIfPresent(Bool.self, forKey: .spacesBetweenSpecialTokens)
        stream = try c.decodeIfPresent(Bool.self, forKey: .stream)
        streamOptions = try c.decodeIfPresent(StreamOptions.self, forKey: .streamOptions)
        useBeamSearch = try c.decodeIfPresent(Bool.self, forKey: .useBeamSearch)
        lengthPenalty = try c.decodeIfPresent(Double.self, forKey: .lengthPenalty)
        priority = try c.decodeIfPresent(Int.self, forKey: .priority)
        promptLogprobs = try c.decodeIfPresent(Int.self, forKey: .promptLogprobs)
        responseFormat = try c.decodeIfPresent(ResponseFormat.self, forKey: .responseFormat)
        (structuredOutputs, disableAnyWhitespace) = try StructuredOutputFields.read(rawBody: RequestBody.raw)
        addSpecialTokens = try c.decodeIfPresent(Bool.self, forKey: .addSpecialTokens)
        user = try c.decodeIfPresent(String.self, forKey: .user)
        requestID = try c.decodeIfPresent(String.self, forKey: .requestID)
        echo = try c.decodeIfPresent(Bool.self, forKey: .echo)
    }
}

/// The body of `POST /v1/completions`.
public struct CompletionRequest: Decodable, Sendable {
    public var prompt: PromptInput
    public var suffix: String?
    public var bestOf: Int?
    /// Top log-probabilities per token (OpenAI allows 0 to 5; vLLM up to 20).
    public var logprobs: Int?
    public var returnTokensAsTokenIDs: Bool?
    public var sampling: SamplingFields

    enum CodingKeys: String, CodingKey {
        case prompt, suffix, logprobs
        case bestOf = "best_of"
        case returnTokensAsTokenIDs = "return_tokens_as_token_ids"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        prompt = try c.decode(PromptInput.self, forKey: .prompt)
        suffix = try c.decodeIfPresent(String.self, forKey: .suffix)
        bestOf = try c.decodeIfPresent(Int.self, forKey: .bestOf)
        logprobs = try c.decodeIfPresent(Int.self, forKey: .logprobs)
        returnTokensAsTokenIDs = try c.decodeIfPresent(Bool.self, forKey: .returnTokensAsTokenIDs)
        sampling = try SamplingFields(from: decoder)
    }
}

/// One part of a message's content list: only text parts are served.
public struct ContentPart: Decodable, Sendable {
    public var type: String
    public var text: String?
}

/// A message's `content`: a string, a list of parts, or null (an assistant turn with tool calls).
public enum MessageContent: Decodable, Sendable {
    case text(String)
    case parts([ContentPart])
    case none

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .none
        } else if let text = try? c.decode(String.self) {
            self = .text(text)
        } else if let parts = try? c.decode([ContentPart].self) {
            self = .parts(parts)
        } else {
            throw DecodingError.typeMismatch(
                MessageContent.self, .init(codingPath: c.codingPath, debugDescription: "expected a string, a list of content parts or null")
            )
        }
    }
}

/// A chat message as checked by the server; the template sees the message's whole JSON object.
public struct ChatMessage: Decodable, Sendable {
    public var role: String
    public var content: MessageContent?
}

/// The body of `POST /v1/chat/completions`.
public struct ChatCompletionRequest: Decodable, Sendable {
    public var messages: [ChatMessage]
    public var logprobs: Bool?
    public var topLogprobs: Int?
    public var maxCompletionTokens: Int?
    public var addGenerationPrompt: Bool?
    public var continueFinalMessage: Bool?
    public var chatTemplate: String?
    public var sampling: SamplingFields

    enum CodingKeys: String, CodingKey {
        case messages, logprobs
        case topLogprobs = "top_logprobs"
        case maxCompletionTokens = "max_completion_tokens"
        case addGenerationPrompt = "add_generation_prompt"
        case continueFinalMessage = "continue_final_message"
        case chatTemplate = "chat_template"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        messages = try c.decode([ChatMessage].self, forKey: .messages)
        logprobs = try c.decodeIfPresent(Bool.self, forKey: .logprobs)
        topLogprobs = try c.decodeIfPresent(Int.self, forKey: .topLogprobs)
        maxCompletionTokens = try c.decodeIfPresent(Int.self, forKey: .maxCompletionTokens)
        addGenerationPrompt = try c.decodeIfPresent(Bool.self, forKey: .addGenerationPrompt)
        continueFinalMessage = try c.decodeIfPresent(Bool.self, forKey: .continueFinalMessage)
        chatTemplate = try c.decodeIfPresent(String.self, forKey: .chatTemplate)
        sampling = try SamplingFields(from: decoder)
    }
}

/// The body of `POST /tokenize`: a prompt, or messages rendered with the chat template.
public struct TokenizeRequest: Decodable, Sendable {
    public var model: String?
    public var prompt: String?
    public var messages: [ChatMessage]?
    public var addSpecialTokens: Bool?
    public var addGenerationPrompt: Bool?
    public var returnTokenStrs: Bool?

    enum CodingKeys: String, CodingKey {
        case model, prompt, messages
        case addSpecialTokens = "add_special_tokens"
        case addGenerationPrompt = "add_generation_prompt"
        case returnTokenStrs = "return_token_strs"
    }
}

/// The body of `POST /detokenize`.
public struct DetokenizeRequest: Decodable, Sendable {
    public var model: String?
    public var tokens: [Int]
}
