import Foundation

/// How the server behaves, independent of the engine's own settings.
public struct ServerOptions: Sendable {
    /// Names the model answers to; the first is reported in responses. Empty: the model path.
    public var servedModelNames: [String] = []
    /// When set, `/v1/*`, `/tokenize` and `/detokenize` need `Authorization: Bearer <key>`.
    public var apiKey: String?
    /// A chat template (its source) replacing the model's own.
    public var chatTemplate: String?
    /// Bodies larger than this get 413.
    public var maxRequestBodyBytes = 16 << 20
    /// Sequences that may wait for a slot beyond the engine's `max_num_seqs`; more get 503.
    public var maxQueuedSequences = 1024
    /// Log one line per request with its prompt size and parameters.
    public var logRequests = true
    /// Take default sampling parameters from the model's generation_config.json (vLLM's `--generation-config auto`).
    public var useGenerationConfig = true
    /// Largest `logprobs` / `top_logprobs` a request may ask for (vLLM's `max_logprobs`).
    public var maxLogprobs = 20
    /// Seconds between the periodic throughput log lines; 0 turns them off.
    public var statsLogInterval: Double = 10
    /// Accept `chat_template` in requests (vLLM's `--trust-request-chat-template`); refused otherwise.
    public var trustRequestChatTemplate = false
    /// Serve `tool_choice: "auto"` (the default when a request gives tools) by parsing calls out of
    /// the output with `toolCallParser` (vLLM's `--enable-auto-tool-choice`).
    public var enableAutoToolChoice = false
    /// The tool-call format of the model (`--tool-call-parser`: hermes, llama3_json, mistral,
    /// pythonic, qwen3_coder).
    public var toolCallParser: String?
    /// Splits the reasoning block off chat outputs into `reasoning_content` (`--reasoning-parser`:
    /// deepseek_r1, qwen3); structured outputs then apply after it.
    public var reasoningParser: String?
    /// Most stop strings one request may give, and their total size in characters (Unicode
    /// scalars, as JSON Schema's `maxLength` counts them; at most four UTF-8 bytes each).
    public var maxStopStrings = 1024
    /// Most characters of all a request's stop strings together.
    public var maxStopStringCharacters = 64 << 10
    /// Most `stop_token_ids` one request may give.
    public var maxStopTokenIDs = 1024
    /// Longest client `request_id` in characters (it is echoed in every response and streamed chunk).
    public var maxRequestIDLength = 256
    /// Connections served at once; more wait in the listen backlog until one closes.
    public var maxConnections = 2048
    /// Seconds a client has to send a request head once it has sent its first byte.
    public var headerTimeout: Double = 10
    /// Seconds a client has to send a request body once its head has arrived.
    public var bodyTimeout: Double = 60
    /// Seconds a connection may stay open between requests (keep-alive) before it is closed.
    public var idleTimeout: Double = 30

    /// Every option at its default.
    public init() {}
}

/// The version reported by `/version` and the OpenAPI description.
public let vllmServerVersion = "0.1.0"
