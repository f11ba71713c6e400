import ArgumentParser
import Foundation
import Logging
import SwiftVLLM
import VLLMCore
import VLLMEngine
import VLLMKVEvents
import VLLMServer
import VLLMToolParsers

/// `vllm serve [MODEL]`: the OpenAI-compatible HTTP server (vLLM's flags).
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Serve a model over an OpenAI-compatible HTTP API.")

    @Argument(help: "Hugging Face model folder (the same as --model; default: the built-in stories260K model).")
    var modelTag: String?

    @OptionGroup var engine: EngineOptions

    @Option(help: "Address to listen on.") var host: String = "0.0.0.0"
    @Option(help: "Port to listen on.") var port: Int = 8000

    @Option(help: "Require 'Authorization: Bearer <key>' on the API (also VLLM_API_KEY).")
    var apiKey: String?

    @Option(parsing: .upToNextOption, help: "Model names the API answers to (the first is reported; default: the model path).")
    var servedModelName: [String] = []

    @Option(help: "Chat template: a file or the template itself (default: the model's own).")
    var chatTemplate: String?

    @Option(help: "Default sampling parameters: 'auto' (the model's generation_config.json) or 'vllm' (vLLM's defaults).")
    var generationConfig: String = "auto"

    @Option(name: [.customLong("log-level"), .customLong("uvicorn-log-level")], help: "trace, debug, info, warning, error or critical.")
    var logLevel: String = "info"

    @Flag(help: "Do not log each request.") var disableLogRequests = false
    @Flag(help: "Do not log throughput every few seconds.") var disableLogStats = false

    @Option(help: "Sequences that may wait beyond --max-num-seqs before requests get 503.")
    var maxQueuedRequests: Int = 1024

    @Option(help: "Largest request body in bytes (larger ones get 413).")
    var maxRequestBodyBytes: Int = 16 << 20

    @Option(help: "Seconds to let requests in flight finish on SIGINT/SIGTERM before aborting them.")
    var shutdownTimeout: Double = 5

    @Option(
        help: ArgumentHelp(
            "KV cache events for routers, as vLLM's JSON, e.g. '{\"enable_kv_cache_events\": true, \"endpoint\": \"tcp://*:5557\", \"replay_endpoint\": \"tcp://*:5558\", \"topic\": \"kv-events\"}' (needs libzmq).",
            valueName: "json"))
    var kvEventsConfig: String?

    @Flag(help: "Accept 'chat_template' in requests (a template is a program the server runs; refused by default).")
    var trustRequestChatTemplate = false

    @Flag(
        help:
            "Serve tool_choice \"auto\" (the default when a request gives tools): calls are parsed out of the output with --tool-call-parser."
    )
    var enableAutoToolChoice = false

    @Option(help: "The model's tool-call format: hermes, llama3_json, mistral, pythonic or qwen3_coder.")
    var toolCallParser: String?

    @Option(help: "Split the model's reasoning block off into reasoning_content: deepseek_r1 or qwen3.")
    var reasoningParser: String?

    @Option(help: "Connections served at once; more wait until one closes.")
    var maxConnections: Int = ServerOptions().maxConnections

    @Option(help: "Seconds a client has to send a request head once it starts one (0: no limit).")
    var headerTimeout: Double = ServerOptions().headerTimeout

    @Option(help: "Seconds a client has to send a request body once its head has arrived (0: no limit).")
    var bodyTimeout: Double = ServerOptions().bodyTimeout

    @Option(help: "Seconds an idle keep-alive connection stays open (0: no limit).")
    var idleTimeout: Double = ServerOptions().idleTimeout

    /// The tool-call and reasoning parsers, checked as vLLM checks them before the model loads.
    /// The reasoning parser may also come from `--structured-outputs-config`'s `reasoning_parser`.
    private func setParsers(_ options: inout ServerOptions, structuredOutputs: StructuredOutputsConfig) throws {
        if enableAutoToolChoice, toolCallParser == nil {
            throw ValidationError("--enable-auto-tool-choice needs --tool-call-parser to say which format the model writes")
        }
        if let name = toolCallParser, !ToolCallParser.names.contains(name) {
            throw ValidationError("--tool-call-parser: unknown parser '\(name)'; known: \(ToolCallParser.names.joined(separator: ", "))")
        }
        if let a = reasoningParser, let b = structuredOutputs.reasoningParser, a != b {
            throw ValidationError("--reasoning-parser \(a) and --structured-outputs-config's reasoning_parser \(b) disagree; give one")
        }
        let reasoningParser = reasoningParser ?? structuredOutputs.reasoningParser
        if let name = reasoningParser, !ReasoningParser.names.contains(name) {
            throw ValidationError(
                "--reasoning-parser (or reasoning_parser): unknown parser '\(name)'; known: \(ReasoningParser.names.joined(separator: ", "))"
            )
        }
        options.enableAutoToolChoice = enableAutoToolChoice
        options.toolCallParser = toolCallParser
        options.reasoningParser = reasoningParser
    }

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel.lowercased()) else {
            throw ValidationError("--log-level must be one of trace, debug, info, warning, error, critical")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "vllm.serve")
        var args = try engine.engineArgs()
        if let modelTag {
            if let flag = engine.model, flag != modelTag {
                throw ValidationError("the model is given twice: \(modelTag) and --model \(flag)")
            }
            args.model = modelTag
        }
        guard ["auto", "vllm"].contains(generationConfig) else { throw ValidationError("--generation-config must be auto or vllm") }
        guard (1...65535).contains(port) else { throw ValidationError("--port must be in 1...65535") }

        var options = ServerOptions()
        options.servedModelNames = servedModelName
        options.apiKey = apiKey ?? ProcessInfo.processInfo.environment["VLLM_API_KEY"]
        options.logRequests = !disableLogRequests
        options.useGenerationConfig = generationConfig == "auto"
        options.maxQueuedSequences = maxQueuedRequests
        options.maxRequestBodyBytes = maxRequestBodyBytes
        options.statsLogInterval = disableLogStats ? 0 : 10
        options.trustRequestChatTemplate = trustRequestChatTemplate
        try setParsers(&options, structuredOutputs: args.structuredOutputs)
        guard maxConnections >= 1 else { throw ValidationError("--max-connections must be at least 1") }
        for (name, value) in [("--header-timeout", headerTimeout), ("--body-timeout", bodyTimeout), ("--idle-timeout", idleTimeout)] {
            guard value >= 0, value.isFinite else { throw ValidationError("\(name) must be a non-negative number of seconds") }
        }
        guard maxRequestBodyBytes >= 1 else { throw ValidationError("--max-request-body-bytes must be at least 1") }
        options.maxConnections = min(maxConnections, raiseOpenFileLimit() - 64)
        options.headerTimeout = headerTimeout
        options.bodyTimeout = bodyTimeout
        options.idleTimeout = idleTimeout
        if let chatTemplate {
            if FileManager.default.fileExists(atPath: chatTemplate) {
                guard let text = try? String(contentsOfFile: chatTemplate, encoding: .utf8) else {
                    throw ValidationError("cannot read the chat template \(chatTemplate)")
                }
                options.chatTemplate = text
            } else if chatTemplate.contains("{") {
                options.chatTemplate = chatTemplate
            } else {
                throw ValidationError("--chat-template: no such file \(chatTemplate)")
            }
        }

        let events = try kvEventsConfig.map(KVEventsConfig.init(json:)) ?? KVEventsConfig()
        args.recordsKVCacheEvents = events.publishes
        let publisher = events.publishes ? try KVEventPublisher(events) : nil
        if events.publishes {
            logger.info("KV cache events on \(events.endpoint)\(events.replayEndpoint.map { ", replay on \($0)" } ?? "")")
        }

        if options.maxConnections < maxConnections {
            logger.warning("--max-connections lowered to \(options.maxConnections): the open-file limit leaves no room for more")
        }
        let start = Date()
        logger.info("Loading model \(args.model ?? EngineArgs.builtinModelPath())")
        let asyncEngine = try AsyncEngine(args: args) { done, total in
            // A line per quarter: start-up of a large model is visible in the log, not flooded.
            if done == total || done % max(1, total / 4) == 0 { logger.info("Loading weights: \(done)/\(total) layers") }
        }
        if let publisher { asyncEngine.kvCacheEventSink = { publisher.publish($0) } }
        let config = asyncEngine.config
        if let folder = asyncEngine.folder {
            let c = folder.config
            let implementation = ModelRegistry.implementation(of: c.architecture) ?? "?"
            logger.info("Architecture \(c.architecture): implementation \(implementation)")
            logger.info(
                "Loaded \(c.architecture) from \(folder.path): \(c.numLayers) layers, hidden size \(c.hiddenSize), vocabulary \(c.vocabSize), in \(String(format: "%.2f", Date().timeIntervalSince(start))) s"
            )
        }
        logger.info(
            "Weights: \(config.weightBytes >> 20) MiB (\(config.weightBytes) bytes); KV cache: \(config.numBlocks) blocks of \(config.blockSize) tokens (\(config.numBlocks * config.blockSize) tokens), dtype \(config.kvCacheFormat.summary); max_model_len \(config.scheduler.maxModelLength), max_num_seqs \(config.scheduler.maxNumSeqs), max_num_batched_tokens \(config.scheduler.maxNumBatchedTokens), prefix caching \(config.enablePrefixCaching ? "on" : "off")"
        )
        if let speculative = config.speculative { logger.info("Speculative decoding: \(speculative.summary)") }
        let graphs = asyncEngine.graphsRecorded
        if graphs.count > 0 {
            logger.info(
                "CUDA graphs: \(graphs.count) decode batch sizes recorded in \(String(format: "%.2f", graphs.seconds)) s, the other \(config.graphBatchSizes.count - graphs.count) at their first decode step"
            )
        }
        logger.info("Start-up phases: \(asyncEngine.startupTimes.summary)")
        let serving: OpenAIServing
        do {
            serving = try OpenAIServing(engine: asyncEngine, options: options, logger: logger)
        } catch {
            asyncEngine.shutdown()
            throw ValidationError("--chat-template: \(error)")
        }
        if serving.hasChatTemplate == false {
            logger.warning("The model has no chat template: /v1/chat/completions answers 400 until one is given with --chat-template")
        }
        let names = serving.servedModelNames
        try await OpenAIRoutes.serve(
            serving, host: host, port: port, logger: logger, shutdownGracePeriod: .milliseconds(Int(shutdownTimeout * 1000)),
            onServerRunning: { channel in
                logger.info("Serving \(names) on http://\(host):\(channel.localAddress?.port ?? port) (Ctrl-C to stop)")
            })
        asyncEngine.shutdown()
        publisher?.shutdown()
        logger.info("Server stopped")
    }
}

/// Raises the soft limit on open files to the hard limit, as vLLM does (each connection is a file,
/// and a low soft limit makes the server refuse clients long before it is busy); returns the limit.
private func raiseOpenFileLimit() -> Int {
    var limit = rlimit()
    guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 else { return 1024 }
    if limit.rlim_cur < limit.rlim_max {
        var raised = limit
        raised.rlim_cur = limit.rlim_max
        if setrlimit(RLIMIT_NOFILE_VALUE, &raised) == 0 { limit = raised }
    }
    return Int(clamping: limit.rlim_cur)
}

#if os(Linux)
    private let RLIMIT_NOFILE_VALUE = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
#else
    private let RLIMIT_NOFILE_VALUE = RLIMIT_NOFILE
#endif
