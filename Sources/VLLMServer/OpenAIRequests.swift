import Foundation
import VLLMStructuredOutputs

/// A prompt of `/v1/completions`: a string, a list of strings, a list of token ids or a list of
/// token id lists, as OpenAI accepts. Each entry becomes its own engine request.
public enum PromptInput: Decodable, Sendable, Equatable {
    case texts([String])
    case tokens([[Int]])

    /// Reads any of the four forms; throws `DecodingError.typeMismatch` for anything else.
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
    /// The stop strings; empty when `stop` is null.
    public var values: [String]

    /// Reads a string, a list of strings or null; throws `DecodingError` for anything else.
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
    /// `include_usage`: send the token counts in a final chunk.
    public var includeUsage: Bool?
    /// `continuous_usage_stats`: vLLM's extra; send the counts so far in every chunk too (needs `include_usage`).
    public var continuousUsageStats: Bool?

    enum CodingKeys: String, CodingKey {
        case includeUsage = "include_usage"
        case continuousUsageStats = "continuous_usage_stats"
    }
}

/// `response_format`'s type (`text`, `json_object` or `json_schema`); the schema itself is read
/// in schema order from the raw body (`StructuredOutputFields`).
public struct ResponseFormat: Decodable, Sendable, Equatable {
    /// `type`: `text`, `json_object` or `json_schema`.
    public var type: String
}

/// The sampling fields shared by completions and chat completions, OpenAI's and vLLM's extras,
/// with their JSON names. Fields left out take the model's generation config, then vLLM's defaults.
public struct SamplingFields: Decodable, Sendable {
    /// `model`: the model asked for; a name the server does not serve is a 400 error.
    public var model: String?
    /// `n`: how many choices to generate for each prompt (default 1).
    public var n: Int?
    /// `temperature`: the softmax temperature; 0 is greedy.
    public var temperature: Double?
    /// `top_p`: sample only from the smallest set of tokens whose probabilities add up to this (1 keeps all).
    public var topP: Double?
    /// `top_k`: sample only from this many most likely tokens (0 or -1 keeps all).
    public var topK: Int?
    /// `min_p`: drop tokens less likely than this fraction of the most likely one's probability (0 keeps all).
    public var minP: Double?
    /// `seed`: makes the request's sampling repeatable.
    public var seed: Int?
    /// `presence_penalty`: subtracted from the logit of every token already generated (default 0).
    public var presencePenalty: Double?
    /// `frequency_penalty`: subtracted from a token's logit once for each time it was generated (default 0).
    public var frequencyPenalty: Double?
    /// `repetition_penalty`: divides positive (multiplies negative) logits of tokens in the prompt or the output; 1 is none.
    public var repetitionPenalty: Double?
    /// `logit_bias`: added to the logits of the given tokens; keys are token ids in decimal.
    public var logitBias: [String: Double]?
    /// `stop`: strings that end the generation when they appear in the text (left out of it).
    public var stop: StopStrings?
    /// `stop_token_ids`: token ids that end the generation besides the end-of-sequence token.
    public var stopTokenIDs: [Int]?
    /// `include_stop_str_in_output`: keep the matched stop string in the text (default false).
    public var includeStopStrInOutput: Bool?
    /// `ignore_eos`: go on past the end-of-sequence token, up to `max_tokens` (default false).
    public var ignoreEOS: Bool?
    /// Present and null means "up to the context length"; absent means the endpoint's default.
    public var maxTokens: Int?
    /// True when `max_tokens` was sent as null rather than left out.
    public var maxTokensIsNull = false
    /// `min_tokens`: the fewest tokens to generate before stop tokens or the end-of-sequence token may end it (default 0).
    public var minTokens: Int?
    /// `skip_special_tokens`: leave special tokens out of the text (default true).
    public var skipSpecialTokens: Bool?
    /// `spaces_between_special_tokens`: put spaces around special tokens in the text (default true).
    public var spacesBetweenSpecialTokens: Bool?
    /// `stream`: send the output as server-sent events while it is generated.
    public var stream: Bool?
    /// `stream_options`: what a stream reports besides the text.
    public var streamOptions: StreamOptions?
    /// `use_beam_search`: vLLM's extra; search `n` beams instead of sampling (cannot be streamed).
    public var useBeamSearch: Bool?
    /// `length_penalty`: for beam search, a beam's log-probability is divided by its length to this power (default 1).
    public var lengthPenalty: Double?
    /// `priority`: vLLM's extra; with priority scheduling, lower values are served first (default 0).
    public var priority: Int?
    /// `prompt_logprobs`: not supported; a request that sends it gets a 400 error.
    public var promptLogprobs: Int?
    /// `response_format`: `text`, `json_object` or `json_schema`; the last two constrain the output.
    public var responseFormat: ResponseFormat?
    /// The output constraint of `response_format` or `structured_outputs`.
    public var structuredOutputs: StructuredOutputSpec?
    /// `structured_outputs.disable_any_whitespace`: JSON grammars write compact JSON.
    public var disableAnyWhitespace = false
    /// `add_special_tokens`: add the tokenizer's special tokens (BOS) when encoding the prompt.
    public var addSpecialTokens: Bool?
    /// `user`: the end user's id; accepted and ignored.
    public var user: String?
    /// `request_id`: vLLM's extra; the response's id is built from it instead of a random one.
    public var requestID: String?
    /// `echo`: completions only; put the prompt in front of the generated text.
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

    /// Reads every field; `structured_outputs` and `response_format`'s schema come from the raw body. Throws `DecodingError` on a wrong
    /// type, or the structured-output fields' errors.
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
    /// `prompt`: the prompt or prompts; each one is generated for on its own.
    public var prompt: PromptInput
    /// `suffix`: not supported; a request that sends it gets a 400 error.
    public var suffix: String?
    /// `best_of`: accepted only when it equals `n`.
    public var bestOf: Int?
    /// Top log-probabilities per token (OpenAI allows 0 to 5; vLLM up to 20).
    public var logprobs: Int?
    /// `return_tokens_as_token_ids`: vLLM's extra; write the tokens in `logprobs` as `token_id:N`.
    public var returnTokensAsTokenIDs: Bool?
    /// The sampling fields, read from the same JSON object.
    public var sampling: SamplingFields

    enum CodingKeys: String, CodingKey {
        case prompt, suffix, logprobs
        case bestOf = "best_of"
        case returnTokensAsTokenIDs = "return_tokens_as_token_ids"
    }

    /// Reads the completion fields and the shared sampling fields; throws `DecodingError` when `prompt` is missing or a field has the wrong
    /// type.
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
    /// `type`: the part's type; only `text` is served.
    public var type: String
    /// `text`: the text of a `text` part.
    public var text: String?
}

/// A message's `content`: a string, a list of parts, or null (an assistant turn with tool calls).
public enum MessageContent: Decodable, Sendable {
    case text(String)
    case parts([ContentPart])
    case none

    /// Reads a string, a list of parts or null; throws `DecodingError.typeMismatch` for anything else.
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
    /// `role`: `system`, `user`, `assistant` or `tool`.
    public var role: String
    /// `content`: the message's text; null or left out for an assistant turn that only called tools.
    public var content: MessageContent?
}

/// The body of `POST /v1/chat/completions`.
public struct ChatCompletionRequest: Decodable, Sendable {
    /// `messages`: the conversation so far, rendered with the model's chat template.
    public var messages: [ChatMessage]
    /// `logprobs`: return the generated tokens' log-probabilities.
    public var logprobs: Bool?
    /// `top_logprobs`: with `logprobs`, how many most likely alternatives to return for each token.
    public var topLogprobs: Int?
    /// `max_completion_tokens`: the most tokens to generate; takes the place of `max_tokens` when both are sent.
    public var maxCompletionTokens: Int?
    /// `add_generation_prompt`: end the prompt with the assistant turn's header (default true).
    public var addGenerationPrompt: Bool?
    /// `continue_final_message`: vLLM's extra; continue the last (assistant) message instead of starting a new turn.
    public var continueFinalMessage: Bool?
    /// `chat_template`: vLLM's extra; a Jinja template to use instead of the model's (refused unless the server runs with
    /// `--trust-request-chat-template`).
    public var chatTemplate: String?
    /// The sampling fields, read from the same JSON object.
    public var sampling: SamplingFields

    enum CodingKeys: String, CodingKey {
        case messages, logprobs
        case topLogprobs = "top_logprobs"
        case maxCompletionTokens = "max_completion_tokens"
        case addGenerationPrompt = "add_generation_prompt"
        case continueFinalMessage = "continue_final_message"
        case chatTemplate = "chat_template"
    }

    /// Reads the chat fields and the shared sampling fields; throws `DecodingError` when `messages` is missing or a field has the wrong
    /// type.
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
    /// `model`: the model asked for; a name the server does not serve is a 400 error.
    public var model: String?
    /// `prompt`: the text to tokenize (give this or `messages`).
    public var prompt: String?
    /// `messages`: a conversation to render with the chat template and tokenize.
    public var messages: [ChatMessage]?
    /// `add_special_tokens`: add the tokenizer's special tokens (BOS); default true for a prompt, false for messages.
    public var addSpecialTokens: Bool?
    /// `add_generation_prompt`: with `messages`, end with the assistant turn's header (default true).
    public var addGenerationPrompt: Bool?
    /// `return_token_strs`: also return each token as text.
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
    /// `model`: the model asked for; a name the server does not serve is a 400 error.
    public var model: String?
    /// `tokens`: the token ids to decode.
    public var tokens: [Int]
}
