import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOFoundationCompat
import ServiceLifecycle
import VLLMEngine
import VLLMTokenizers

/// The request context of the server: Hummingbird's, plus the connection, whose closing aborts the
/// requests it carries.
public struct ServerRequestContext: RequestContext {
    /// Hummingbird's per-request storage.
    public var coreContext: CoreRequestContextStorage
    /// The client's connection.
    public let channel: any Channel

    /// A context for a request arriving on `source`'s connection.
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// Builds the router of the OpenAI-compatible API over `serving`.
public enum OpenAIRoutes {
    /// Paths and their methods, for 405 answers and the OpenAPI description.
    static let table: [String: Set<HTTPRequest.Method>] = [
        "/v1/completions": [.post], "/v1/chat/completions": [.post], "/v1/embeddings": [.post], "/v1/models": [.get],
        "/tokenize": [.post], "/detokenize": [.post], "/health": [.get], "/ping": [.get, .post], "/version": [.get],
        "/metrics": [.get], "/openapi.json": [.get], "/reset_prefix_cache": [.post],
    ]

    /// The routes of the API over `serving`, behind the error middleware and, when `options.apiKey` is set, the API key check.
    public static func router(_ serving: OpenAIServing) -> Router<ServerRequestContext> {
        let router = Router(context: ServerRequestContext.self)
        router.add(middleware: ErrorMiddleware(routes: table))
        if let key = serving.options.apiKey, !key.isEmpty { router.add(middleware: APIKeyMiddleware(key: key)) }
        let limit = serving.options.maxRequestBodyBytes

        router.get("/health") { _, _ -> Response in Response(status: .ok) }
        router.get("/ping") { _, _ -> Response in Response(status: .ok) }
        router.post("/ping") { _, _ -> Response in Response(status: .ok) }
        router.get("/version") { _, _ -> Response in jsonResponse(["version": vllmServerVersion]) }
        // vLLM's: forget every cached prefix (only while no request runs; 409 otherwise).
        router.post("/reset_prefix_cache") { _, _ -> Response in
            guard await serving.engine.resetPrefixCache() else {
                return APIError(status: .conflict, message: "requests are running; the prefix cache was not reset").response()
            }
            return Response(status: .ok)
        }
        router.get("/metrics") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: serving.metrics.render(stats: serving.engine.stats))))
        }
        router.get("/openapi.json") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.json(serving.documentLimits))))
        }
        router.get("/v1/models") { _, _ -> Response in
            jsonResponse(
                ModelList(
                    data: serving.modelNames.map {
                        .init(id: $0, created: serving.created, root: serving.modelRoot, maxModelLen: serving.maxModelLength)
                    }))
        }
        router.post("/v1/completions") { request, context -> Response in
            let (body, _) = try await decodeBody(CompletionRequest.self, request, limit: limit)
            let watcher = await DisconnectWatcher.find(on: context.channel)
            return try await serving.completions(body, abortOnClose: { run in watcher?.watch(run) })
        }
        router.post("/v1/chat/completions") { request, context -> Response in
            let (body, raw) = try await decodeBody(ChatCompletionRequest.self, request, limit: limit)
            let watcher = await DisconnectWatcher.find(on: context.channel)
            return try await serving.chatCompletions(body, raw: raw, abortOnClose: { run in watcher?.watch(run) })
        }
        router.post("/v1/embeddings") { request, _ -> Response in
            let (body, _) = try await decodeBody(EmbeddingRequest.self, request, limit: limit)
            return try await serving.embeddings(body)
        }
        router.post("/tokenize") { request, _ -> Response in
            let (body, raw) = try await decodeBody(TokenizeRequest.self, request, limit: limit)
            return try await OpenAIServing.offload { try serving.tokenize(body, raw: raw) }
        }
        router.post("/detokenize") { request, _ -> Response in
            let (body, _) = try await decodeBody(DetokenizeRequest.self, request, limit: limit)
            return try await OpenAIServing.offload { try serving.detokenize(body) }
        }
        return router
    }

    /// The HTTP application: the routes on Hummingbird's HTTP/1.1 server.
    public static func application(
        _ serving: OpenAIServing, host: String, port: Int, logger: Logger,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let options = serving.options
        return Application(
            router: router(serving),
            server: GuardedHTTP1Channel.builder(options: options),
            configuration: .init(
                address: .hostname(host, port: port), serverName: "vllm",
                availableConnectionsDelegate: MaximumAvailableConnections(options.maxConnections, logger: logger)),
            onServerRunning: onServerRunning,
            logger: logger)
    }

    /// Serves until SIGINT or SIGTERM. Shutting down first stops admitting requests and gives those
    /// in flight `shutdownGracePeriod` to finish, then aborts the rest, so that the server's own
    /// graceful shutdown (which waits for open requests) never hangs.
    public static func serve(
        _ serving: OpenAIServing, host: String, port: Int, logger: Logger, shutdownGracePeriod: Duration = .seconds(5),
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) async throws {
        let app = application(serving, host: host, port: port, logger: logger, onServerRunning: onServerRunning)
        // Services shut down last-first: the engine's drain starts before the server stops.
        let services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: app),
            .init(service: EngineService(serving: serving, gracePeriod: shutdownGracePeriod), successTerminationBehavior: .ignore),
        ]
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    /// Reads the body (413 past `limit`, 400 when its framing is broken) and parses it once, off
    /// the I/O threads, as strict JSON into the typed request and the raw object that chat
    /// templates see. Only `application/json` bodies are read (415 otherwise): a form or text
    /// body is what a cross-site page can make a browser send without asking.
    static func decodeBody<T: Decodable & Sendable>(_ type: T.Type, _ request: Request, limit: Int) async throws -> (T, JinjaDict) {
        let mediaType = request.headers[.contentType]?.split(separator: ";").first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        guard mediaType == "application/json" else {
            throw APIError(status: .unsupportedMediaType, message: "Unsupported Media Type: only 'application/json' is allowed")
        }
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw APIError(status: .contentTooLarge, message: "the request body is larger than the server accepts (\(limit) bytes)")
        } catch {
            throw APIError.invalid(nil, "the request body could not be read (malformed HTTP framing)")
        }
        return try await OpenAIServing.offload(bytes: buffer.readableBytes) {
            let value: JinjaValue
            do {
                value = try JinjaValue(strictJSON: Array(buffer.readableBytesView), maxDepth: maxJSONDepth)
            } catch {
                throw APIError.invalid(nil, "the request body is not valid JSON: \((error as? JinjaError)?.message ?? "\(error)")")
            }
            guard case .dict(let dict) = value else { throw APIError.invalid(nil, "the request body must be a JSON object") }
            let typed = try RequestBody.$raw.withValue(Data(buffer.readableBytesView)) {
                try JSONValueDecoder.decode(T.self, from: value, at: [])
            }
            return (typed, dict)
        }
    }

    /// Nesting deeper than this is refused: no request field needs it (tool schemas nest a dozen levels).
    static let maxJSONDepth = 64
}

extension OpenAIServing {
    /// `POST /tokenize`: a prompt, or messages through the chat template.
    func tokenize(_ body: TokenizeRequest, raw: JinjaDict) throws -> Response {
        try checkModel(body.model)
        let tokenizer = try requireTokenizer()
        // Checked whether or not messages are given, as the OpenAPI document says.
        _ = try templateInputs(raw)
        let tokens: [Int]
        if let messages = body.messages {
            guard body.prompt == nil else { throw APIError.invalid("prompt", "give either prompt or messages, not both") }
            let rendered = try renderChat(
                messages: messages, raw: raw, addGenerationPrompt: body.addGenerationPrompt ?? true, continueFinalMessage: false,
                templateOverride: nil)
            tokens = body.addSpecialTokens == true ? tokenizer.encode(rendered.text, addSpecialTokens: true) : rendered.tokens
        } else if let prompt = body.prompt {
            tokens = tokenizer.encode(prompt, addSpecialTokens: body.addSpecialTokens ?? true)
        } else {
            throw APIError.invalid("prompt", "give a prompt or messages")
        }
        return jsonResponse(
            TokenizeResponse(
                count: tokens.count, maxModelLen: maxModelLength, tokens: tokens,
                tokenStrs: body.returnTokenStrs == true ? tokens.map { tokenizer.token(forID: $0) ?? "" } : nil))
    }

    /// `POST /detokenize`.
    func detokenize(_ body: DetokenizeRequest) throws -> Response {
        try checkModel(body.model)
        let tokenizer = try requireTokenizer()
        if let bad = body.tokens.first(where: { $0 < 0 || $0 >= vocabularySize }) {
            throw APIError.invalid("tokens", "token id \(bad) is out of vocabulary (size \(vocabularySize))")
        }
        return jsonResponse(DetokenizeResponse(prompt: tokenizer.decode(body.tokens, skipSpecialTokens: false)))
    }
}
