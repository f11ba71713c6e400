import Foundation
import Logging
import NIOPosix
import VLLMCore
import VLLMEngine
import VLLMStructuredOutputs
import VLLMTokenizers

/// The state shared by every endpoint: the engine, its tokenizer and chat template, the metrics,
/// and the admission count that bounds how many sequences may be queued at once.
public final class OpenAIServing: @unchecked Sendable {
    /// The engine that runs the requests.
    public let engine: AsyncEngine
    /// The server's settings.
    public let options: ServerOptions
    /// The Prometheus metrics that `/metrics` reports.
    public let metrics: ServerMetrics
    /// The engine's tokenizer; nil when it has none (then only token-id prompts are served).
    public let tokenizer: Tokenizer?
    let renderer: ChatPromptRenderer?
    /// Why there is no renderer (no template), said to clients that ask for chat.
    let rendererError: String?
    let modelNames: [String]
    let modelRoot: String
    let maxModelLength: Int
    let vocabularySize: Int
    let generationDefaults: GenerationConfig
    let created = Int(Date().timeIntervalSince1970)
    let logger: Logger
    /// Most sequences queued or running at once (`max_num_seqs` plus `--max-queued-requests`).
    let admissionLimit: Int
    private let lock = NSLock()
    private var admitted = 0
    /// Requests given to the engine so far; numbers the engine ids.
    private var engineRequests = 0
    private var draining = false

    /// Wraps a started engine. Fails when `options.chatTemplate` does not parse or a parser name is unknown.
    public init(engine: AsyncEngine, options: ServerOptions, logger: Logger = Logger(label: "vllm.server")) throws {
        self.engine = engine
        self.options = options
        self.logger = logger
        tokenizer = engine.tokenizer
        modelRoot = engine.folder?.path ?? "model"
        modelNames = options.servedModelNames.isEmpty ? [modelRoot] : options.servedModelNames
        maxModelLength = engine.config.scheduler.maxModelLength
        vocabularySize = engine.folder?.config.vocabSize ?? tokenizer?.vocabularySize ?? 0
        generationDefaults = options.useGenerationConfig ? (engine.folder?.generationConfig ?? GenerationConfig()) : GenerationConfig()
        admissionLimit = engine.config.scheduler.maxNumSeqs + options.maxQueuedSequences
        metrics = ServerMetrics(modelName: modelNames[0], maxModelLength: maxModelLength)
        try ChatOutputParsing.checkParserNames(options)
        var renderer: ChatPromptRenderer?
        var rendererError: String?
        if let folder = engine.folder, let tokenizer {
            do {
                renderer = try ChatPromptRenderer(folder: folder.path, tokenizer: tokenizer, chatTemplate: options.chatTemplate)
            } catch {
                // A model without a (usable) template still serves completions; chat says why it cannot.
                if options.chatTemplate != nil { throw error }
                rendererError = (error as? EngineError)?.description ?? "the model's chat template does not parse: \(error)"
            }
        } else {
            rendererError = "the model has no tokenizer, so chat is not available"
        }
        self.renderer = renderer
        self.rendererError = rendererError
    }

    /// Whether chat requests can be rendered (a template was given or the model has one).
    public var hasChatTemplate: Bool { renderer != nil }

    /// The names the API answers to.
    public var servedModelNames: [String] { modelNames }

    /// The model name reported in responses.
    var servedName: String { modelNames[0] }

    /// The limits the OpenAPI document states, as this server applies them.
    var documentLimits: OpenAPIDocument.Limits {
        OpenAPIDocument.Limits(
            modelNames: modelNames, vocabularySize: vocabularySize, maxModelLength: maxModelLength,
            maxSequences: min(128, admissionLimit), admissionLimit: admissionLimit, maxLogprobs: options.maxLogprobs,
            maxStopStrings: options.maxStopStrings, maxStopStringCharacters: options.maxStopStringCharacters,
            maxStopTokenIDs: options.maxStopTokenIDs, maxRequestIDLength: options.maxRequestIDLength,
            trustsRequestTemplates: options.trustRequestChatTemplate,
            autoToolChoice: options.enableAutoToolChoice && options.toolCallParser != nil, requiresAPIKey: !(options.apiKey ?? "").isEmpty,
            maxRequestBodyBytes: options.maxRequestBodyBytes,
            maxEmbeddingTokens: min(maxModelLength, engine.config.scheduler.maxNumBatchedTokens),
            matryoshkaDimensions: engine.folder.flatMap { folder in
                (try? EmbeddingSettings(folder: folder.path, config: folder.config))?.matryoshka == true ? folder.config.hiddenSize : nil
            })
    }

    /// Checks the `model` field: absent is fine (the one model), anything else must be a served name (400).
    func checkModel(_ model: String?) throws {
        guard let model, !modelNames.contains(model) else { return }
        // vLLM answers 404 here; the OpenAI clients treat both as errors, and 400 keeps "not found"
        // for unknown routes.
        throw APIError.invalid("model", "The model `\(model)` does not exist. Served: \(modelNames.joined(separator: ", ")).")
    }

    // MARK: Admission

    /// Reserves room for `count` sequences or throws 503 when the queue is full.
    func admit(_ count: Int) throws {
        lock.lock()
        defer { lock.unlock() }
        if draining {
            throw APIError(status: .serviceUnavailable, message: "the server is shutting down", retryAfterSeconds: 5)
        }
        try checkAdmissible(count)
        guard admitted + count <= admissionLimit else {
            metrics.recordRejected()
            throw APIError(
                status: .serviceUnavailable,
                message: "the server is at capacity (\(admitted) sequences queued or running, limit \(admissionLimit)); retry later",
                retryAfterSeconds: 1)
        }
        admitted += count
    }

    /// Throws 400 for a request of more sequences than the server can ever hold at once.
    func checkAdmissible(_ count: Int) throws {
        guard count <= admissionLimit else {
            throw APIError.invalid(
                "n", "the request asks for \(count) sequences, more than this server can ever hold at once (\(admissionLimit))")
        }
    }

    func release(_ count: Int) {
        lock.lock()
        admitted -= count
        lock.unlock()
    }

    /// Sequences admitted and not finished yet.
    public var admittedSequences: Int {
        lock.lock()
        defer { lock.unlock() }
        return admitted
    }

    /// Stops admitting new requests (server shutdown).
    public func beginDraining() {
        lock.lock()
        draining = true
        lock.unlock()
    }

    /// Runs CPU-heavy request work (parsing a body, rendering a template, tokenizing) on NIO's
    /// blocking-work threads, so that the cooperative threads serving every connection (and
    /// `/health`) stay free however large or hostile one request is.
    /// Work on fewer than `inlineBytes` bytes runs where it is: it takes microseconds, and a small
    /// request should not wait behind a huge one for a pool thread.
    static func offload<T: Sendable>(bytes: Int = .max, _ work: @escaping @Sendable () throws -> T) async throws -> T {
        if bytes < inlineBytes { return try work() }
        return try await NIOThreadPool.singleton.runIfActive(work)
    }

    /// Below this size, parsing and tokenizing stay on the calling thread.
    static let inlineBytes = 64 << 10

    /// The engine id of a request whose response id is `responseID`. The server numbers its own:
    /// a client's `request_id` only names the response, so two clients using the same one never
    /// touch each other's requests. The number leads, so that no client id can imitate it.
    func engineID(for responseID: String) -> String {
        lock.lock()
        engineRequests += 1
        let number = engineRequests
        lock.unlock()
        return "\(number)-\(responseID)"
    }

    /// The response id: the client's `request_id` with `prefix`, or a fresh one.
    func responseID(_ prefix: String, clientID: String?) -> String {
        clientID.map { "\(prefix)-\($0)" } ?? newID(prefix)
    }

    // MARK: Prompts and parameters

    func requireTokenizer() throws -> Tokenizer {
        guard let tokenizer else {
            throw APIError.invalid("prompt", "the model has no tokenizer.json; send the prompt as token ids")
        }
        return tokenizer
    }

    /// Checks the token ids of a prompt against the vocabulary and the context length.
    func checkPrompt(_ tokens: [Int], param: String) throws {
        guard !tokens.isEmpty else { throw APIError.invalid(param, "the prompt is empty") }
        if let bad = tokens.first(where: { $0 < 0 || $0 >= vocabularySize }) {
            throw APIError.invalid(param, "token id \(bad) is out of vocabulary (size \(vocabularySize))")
        }
        guard tokens.count < maxModelLength else {
            throw APIError.invalid(
                param,
                "This model's maximum context length is \(maxModelLength) tokens. However, your request has \(tokens.count) input tokens. Please reduce the length of the input messages."
            )
        }
    }

    /// vLLM's `SamplingParams` for a request: its fields, then the model's generation config, then
    /// vLLM's defaults. `defaultMaxTokens` nil means "up to the context length".
    func samplingParams(
        _ f: SamplingFields, promptLength: Int, maxTokens requested: Int?, maxTokensParam: String, defaultMaxTokens: Int?,
        logprobs: Int?
    ) throws -> SamplingParams {
        var p = SamplingParams()
        let d = generationDefaults
        p.n = f.n ?? 1
        p.temperature = f.temperature ?? d.temperature ?? (d.doSample == false ? 0 : 1)
        p.topP = f.topP ?? d.topP ?? 1
        p.topK = f.topK ?? d.topK ?? 0
        p.minP = f.minP ?? d.minP ?? 0
        p.seed = f.seed.map { UInt64(bitPattern: Int64($0)) }
        p.presencePenalty = f.presencePenalty ?? 0
        p.frequencyPenalty = f.frequencyPenalty ?? 0
        p.repetitionPenalty = f.repetitionPenalty ?? d.repetitionPenalty ?? 1
        if let bias = f.logitBias {
            for (key, value) in bias {
                // Decimal digits as the document's pattern says: no sign, space or leading zero.
                guard let id = Int(key), String(id) == key else {
                    throw APIError.invalid("logit_bias", "keys must be token ids in decimal, got '\(key)'")
                }
                p.logitBias[id] = value
            }
        }
        p.stop = f.stop?.values ?? []
        p.stopTokenIDs = f.stopTokenIDs ?? []
        p.includeStopStringInOutput = f.includeStopStrInOutput ?? false
        p.ignoreEOS = f.ignoreEOS ?? false
        p.minTokens = f.minTokens ?? 0
        p.skipSpecialTokens = f.skipSpecialTokens ?? true
        p.spacesBetweenSpecialTokens = f.spacesBetweenSpecialTokens ?? true
        p.logprobs = logprobs
        let room = maxModelLength - promptLength
        let maxTokens: Int?
        if let requested {
            guard requested >= 1 else { throw APIError.invalid(maxTokensParam, "\(maxTokensParam) must be at least 1, got \(requested)") }
            // Compared against the room left, never added to the prompt length: a client number
            // near Int.max would overflow.
            guard requested <= room else {
                throw APIError.invalid(
                    maxTokensParam,
                    "This model's maximum context length is \(maxModelLength) tokens. However, you requested \(requested) output tokens and your prompt has \(promptLength) tokens. Please reduce the length of the messages or completion."
                )
            }
            maxTokens = requested
        } else {
            maxTokens = min(defaultMaxTokens ?? room, room)
        }
        p.maxTokens = maxTokens
        if let logprobs, logprobs > options.maxLogprobs {
            throw APIError.invalid("logprobs", "at most \(options.maxLogprobs) log-probabilities per token are served, got \(logprobs)")
        }
        if let promptLogprobs = f.promptLogprobs {
            throw APIError.invalid("prompt_logprobs", "prompt_logprobs is not supported by this server (got \(promptLogprobs))")
        }
        if f.useBeamSearch == true, f.stream == true {
            throw APIError.invalid("use_beam_search", "beam search cannot be streamed")
        }
        if let spec = f.structuredOutputs {
            // Compiled here, off the step loop: errors are a 400 now, and the engine finds it cached.
            guard let compiler = engine.grammarCompiler else {
                throw APIError.invalid("response_format", "structured outputs need the model's tokenizer")
            }
            do { _ = try compiler.compile(spec, anyWhitespace: !f.disableAnyWhitespace) } catch let error as StructuredOutputError {
                throw APIError.invalid(f.responseFormat != nil ? "response_format" : "structured_outputs", error.message)
            }
            p.structuredOutputs = spec
            p.structuredOutputsAnyWhitespace = !f.disableAnyWhitespace
        }
        guard p.n <= 128 else { throw APIError.invalid("n", "n must be at most 128, got \(p.n)") }
        do {
            try p.validate()
        } catch let error as EngineError {
            if case .invalidParameter(let field, _) = error, field == "max_tokens", maxTokensParam != "max_tokens" {
                throw APIError.invalid(maxTokensParam, error.description.replacingOccurrences(of: "max_tokens", with: maxTokensParam))
            }
            throw APIError.from(error)
        }
        for token in p.stopTokenIDs where token < 0 || token >= vocabularySize {
            throw APIError.invalid("stop_token_ids", "token id \(token) is out of vocabulary (size \(vocabularySize))")
        }
        for token in p.logitBias.keys where token < 0 || token >= vocabularySize {
            throw APIError.invalid("logit_bias", "token id \(token) is out of vocabulary (size \(vocabularySize))")
        }
        return p
    }

    /// The bounds on what one request may ask of the engine, beyond vLLM's own checks: how many
    /// stop strings and stop tokens (each is checked at every step), and numbers that must stay
    /// finite once the engine converts them to Float. Called once per request, before any prompt
    /// is tokenized.
    func checkLimits(_ f: SamplingFields) throws {
        try checkModel(f.model)
        if let id = f.requestID, id.unicodeScalars.count > options.maxRequestIDLength {
            throw APIError.invalid(
                "request_id", "request_id may be at most \(options.maxRequestIDLength) characters long, got \(id.unicodeScalars.count)")
        }
        if let n = f.n, !(1...128).contains(n) { throw APIError.invalid("n", "n must be in 1...128, got \(n)") }
        let stops = f.stop?.values ?? []
        guard stops.count <= options.maxStopStrings else {
            throw APIError.invalid("stop", "at most \(options.maxStopStrings) stop strings are accepted, got \(stops.count)")
        }
        let stopCharacters = stops.reduce(0) { $0 + $1.unicodeScalars.count }
        guard stopCharacters <= options.maxStopStringCharacters else {
            throw APIError.invalid(
                "stop", "the stop strings may hold at most \(options.maxStopStringCharacters) characters in all, got \(stopCharacters)")
        }
        if let ids = f.stopTokenIDs, ids.count > options.maxStopTokenIDs {
            throw APIError.invalid("stop_token_ids", "at most \(options.maxStopTokenIDs) stop token ids are accepted, got \(ids.count)")
        }
        let floatLimit = Double(Float.greatestFiniteMagnitude)
        for (name, value) in [
            ("temperature", f.temperature), ("repetition_penalty", f.repetitionPenalty), ("length_penalty", f.lengthPenalty),
        ] {
            if let value, !(abs(value) <= floatLimit) {
                throw APIError.invalid(name, "\(name) must be a finite number of at most \(floatLimit), got \(value)")
            }
        }
    }

    /// The text of one token, for log-probabilities.
    func tokenText(_ id: Int, asID: Bool = false) -> String {
        if asID { return "token_id:\(id)" }
        return tokenizer?.decode([id], skipSpecialTokens: false) ?? "token_id:\(id)"
    }

    /// The texts of the chosen and the top tokens of each position, each decoded after the tokens
    /// before it (`context`, then the chosen tokens so far) in a short window: a token alone loses
    /// what depends on its neighbours, such as the leading space of SentencePiece's "▁the".
    func positionTexts(_ positions: [PositionLogprobs], context: [Int], asID: Bool = false) -> [(chosen: String, top: [String])] {
        guard let tokenizer, !asID else {
            return positions.map { p in (tokenText(p.chosen.tokenID, asID: asID), p.top.map { tokenText($0.tokenID, asID: asID) }) }
        }
        var window = Array(context.suffix(4))
        var result: [(chosen: String, top: [String])] = []
        for position in positions {
            let before = tokenizer.decode(window, skipSpecialTokens: false)
            func text(_ id: Int) -> String {
                let after = tokenizer.decode(window + [id], skipSpecialTokens: false)
                return after.hasPrefix(before) ? String(after.dropFirst(before.count)) : tokenizer.decode([id], skipSpecialTokens: false)
            }
            result.append((text(position.chosen.tokenID), position.top.map { text($0.tokenID) }))
            window = Array((window + [position.chosen.tokenID]).suffix(4))
        }
        return result
    }

    /// A request id like OpenAI's: prefix and 32 hex digits.
    func newID(_ prefix: String) -> String {
        prefix + "-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    }

    func logRequest(_ id: String, promptTokens: [Int], params: SamplingParams) {
        guard options.logRequests else { return }
        logger.info(
            "Received request \(id): prompt tokens \(promptTokens.count), n=\(params.n), max_tokens=\(params.maxTokens.map(String.init) ?? "none"), temperature=\(params.temperature), top_p=\(params.topP), top_k=\(params.topK), seed=\(params.seed.map(String.init) ?? "none"), stop=\(params.stop)"
        )
    }
}

/// Log-probability values safe for JSON: -inf becomes vLLM's -9999.
func finiteLogprob(_ value: Float) -> Double {
    value.isFinite ? Double(value) : -9999.0
}
