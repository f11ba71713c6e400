import Foundation
import Hummingbird
import NIOCore
import VLLMEngine
import VLLMStructuredOutputs
import VLLMTokenizers
import VLLMToolParsers

extension OpenAIServing {
    /// Renders the conversation of a chat (or tokenize) request with the chat template. `raw` is the
    /// request's JSON object: the template sees each message whole (name, tool_calls, ...), with
    /// list-of-parts content joined into one string as vLLM does for string-content templates.
    func renderChat(
        messages: [ChatMessage], raw: JinjaDict, addGenerationPrompt: Bool, continueFinalMessage: Bool,
        templateOverride: String?
    ) throws -> (text: String, tokens: [Int]) {
        guard !messages.isEmpty else { throw APIError.invalid("messages", "messages must not be empty") }
        var rawMessages: [JinjaValue] = []
        if case .list(let list)? = raw["messages"] { rawMessages = list }
        var jinjaMessages: [JinjaValue] = []
        for (i, message) in messages.enumerated() {
            var object = JinjaDict(pairs: [("role", .string(message.role))])
            if i < rawMessages.count, case .dict(let d) = rawMessages[i] { object = d }
            switch message.content {
            case .parts(let parts):
                var texts: [String] = []
                for (j, part) in parts.enumerated() {
                    guard part.type == "text" || part.type == "input_text" else {
                        throw APIError.invalid(
                            "messages[\(i)].content[\(j)]", "content parts of type '\(part.type)' are not supported; only 'text' parts are")
                    }
                    guard let text = part.text else {
                        throw APIError.invalid("messages[\(i)].content[\(j)].text", "a '\(part.type)' content part needs a 'text' string")
                    }
                    texts.append(text)
                }
                object["content"] = .string(texts.joined(separator: "\n"))
            case .text(let text):
                object["content"] = .string(text)
            case .none?, nil:
                object["content"] = JinjaValue.none
            }
            switch object["tool_calls"] {
            case nil, JinjaValue.none?: break
            case .list(let calls)?: object["tool_calls"] = .list(try templateToolCalls(calls, message: i))
            default: throw APIError.invalid("messages[\(i)].tool_calls", "tool_calls must be a list of tool calls")
            }
            switch object["tool_call_id"] {
            case nil, JinjaValue.none?, .string?: break
            default: throw APIError.invalid("messages[\(i)].tool_call_id", "tool_call_id must be a string")
            }
            jinjaMessages.append(.dict(object))
        }
        if continueFinalMessage, messages.last?.role != "assistant" {
            throw APIError.invalid("continue_final_message", "continue_final_message needs the last message to be from the assistant")
        }
        if continueFinalMessage, addGenerationPrompt, case .bool(true)? = raw["add_generation_prompt"] {
            throw APIError.invalid("add_generation_prompt", "add_generation_prompt and continue_final_message cannot both be true")
        }
        let (extra, tools) = try templateInputs(raw)
        let chosen: ChatPromptRenderer
        if let templateOverride {
            guard options.trustRequestChatTemplate else { throw untrustedTemplate("chat_template") }
            guard let folder = engine.folder, let tokenizer else { throw APIError.invalid("chat_template", "the model has no tokenizer") }
            do {
                chosen = try ChatPromptRenderer(folder: folder.path, tokenizer: tokenizer, chatTemplate: templateOverride)
            } catch {
                throw APIError.invalid("chat_template", "the chat template does not parse: \(error)")
            }
        } else {
            guard let renderer else {
                throw APIError.invalid(nil, rendererError ?? "the model has no chat template; start the server with --chat-template")
            }
            chosen = renderer
        }
        var rendered: (text: String, tokenIDs: [Int])
        do {
            rendered = try chosen.render(
                messages: jinjaMessages, addGenerationPrompt: addGenerationPrompt && !continueFinalMessage, tools: tools,
                extraContext: extra)
        } catch let error as EngineError {
            throw APIError.invalid("messages", error.description)
        }
        if continueFinalMessage, case .text(let last)? = messages.last?.content, !last.isEmpty,
            let range = rendered.text.range(of: last, options: .backwards)
        {
            // Continue the assistant's message: drop whatever the template closes it with.
            let text = String(rendered.text[..<range.upperBound])
            rendered = (text, try requireTokenizer().encode(text, addSpecialTokens: false))
        }
        return (rendered.text, rendered.tokenIDs)
    }

    /// The request's `chat_template_kwargs` (extra template variables) and `tools`, checked: an
    /// object without `chat_template` unless the server trusts request templates, and a list of objects.
    func templateInputs(_ raw: JinjaDict) throws -> (extra: [String: JinjaValue], tools: [JinjaValue]?) {
        var extra: [String: JinjaValue] = [:]
        switch raw["chat_template_kwargs"] {
        case nil, JinjaValue.none?: break
        case .dict(let dict)?:
            for (key, value) in zip(dict.keys, dict.values) {
                guard case .string(let name) = key else { continue }
                // vLLM refuses a template smuggled in through the keyword arguments as well.
                if name == "chat_template", !options.trustRequestChatTemplate { throw untrustedTemplate("chat_template_kwargs") }
                extra[name] = value
            }
        default:
            throw APIError.invalid("chat_template_kwargs", "chat_template_kwargs must be an object")
        }
        var tools: [JinjaValue]?
        switch raw["tools"] {
        case nil, JinjaValue.none?: break
        case .list(let list)? where list.allSatisfy({ if case .dict = $0 { true } else { false } }): tools = list
        default: throw APIError.invalid("tools", "tools must be a list of objects")
        }
        return (extra, tools)
    }

    /// An assistant message's `tool_calls` as templates expect them: each `function.arguments`
    /// JSON string parsed into a mapping, as vLLM does before rendering (templates iterate over
    /// `arguments.items()` or write `arguments | tojson`).
    private func templateToolCalls(_ calls: [JinjaValue], message: Int) throws -> [JinjaValue] {
        try calls.enumerated().map { j, call in
            // A call: {"id"?: string, "type"?: "function", "function": {"name": string, "arguments": string}}.
            let param = "messages[\(message)].tool_calls[\(j)]"
            guard case .dict(var object) = call, case .dict(var function)? = object["function"],
                case .string? = function["name"], case .string(let text)? = function["arguments"]
            else {
                throw APIError.invalid(param, "a tool call needs a function object with a string name and string arguments")
            }
            switch object["id"] {
            case nil, .string?: break
            default: throw APIError.invalid(param + ".id", "a tool call's id must be a string")
            }
            switch object["type"] {
            case nil, .string("function")?: break
            default: throw APIError.invalid(param + ".type", "a tool call's type must be \"function\"")
            }
            do {
                function["arguments"] = try JinjaValue(jsonString: text)
            } catch {
                throw APIError.invalid(
                    "messages[\(message)].tool_calls[\(j)].function.arguments",
                    "the arguments of a tool call must be a JSON string: \(error)")
            }
            object["function"] = .dict(function)
            return .dict(object)
        }
    }

    /// The refusal of a template sent by a client to a server that does not trust them (vLLM's).
    private func untrustedTemplate(_ param: String) -> APIError {
        APIError.invalid(
            param,
            "a chat template was passed with the request, but the server does not trust request templates (start it with --trust-request-chat-template); refused"
        )
    }

    /// `POST /v1/chat/completions`.
    func chatCompletions(
        _ body: ChatCompletionRequest, raw: JinjaDict, abortOnClose: (any Abortable) -> Void
    ) async throws -> Response {
        let f = body.sampling
        let prepared = try await Self.offload { [self] in try chatPrompt(body, raw: raw) }
        let (tokens, params) = (prepared.tokens, prepared.params)
        let n = params.n
        try admit(n)
        let id = responseID("chatcmpl", clientID: f.requestID)
        let engineBase = engineID(for: id)
        logRequest(id, promptTokens: tokens, params: params)
        if f.useBeamSearch == true {
            defer { release(n) }
            let cancel = BeamCancel()
            abortOnClose(cancel)
            let beams = try await beamSearch(
                prompt: tokens, width: n, params: params, lengthPenalty: f.lengthPenalty ?? 1, baseID: engineBase, cancel: cancel)
            let choices = beams.enumerated().map { k, beam in
                let message = prepared.parsing.parse(beam.text)
                return ChatChoice(
                    index: k, message: ChatResponseMessage(message),
                    finishReason: prepared.parsing.finishReason(beam.finishReason, madeCalls: !message.toolCalls.isEmpty))
            }
            let usage = Usage(promptTokens: tokens.count, completionTokens: beams.reduce(0) { $0 + $1.tokenIDs.count })
            return jsonResponse(
                ChatCompletionResponse(
                    id: id, created: Int(Date().timeIntervalSince1970), model: servedName, choices: choices, usage: usage))
        }
        let run = GenerationRun(
            engine: engine, baseID: engineBase, prompts: [(prepared.text, tokens)], params: [params], priority: f.priority ?? 0,
            metrics: metrics, onComplete: { [self] in release(n) })
        abortOnClose(run)
        let created = Int(Date().timeIntervalSince1970)
        if f.stream == true {
            return streamChat(body, prepared: prepared, run: run, id: id, created: created)
        }
        let samples = try await run.collect(prompts: 1, samplesPerPrompt: n)
        let wantsLogprobs = body.logprobs ?? false
        let choices = samples.enumerated().map { index, sample in
            let message = prepared.parsing.parse(sample.text)
            return ChatChoice(
                index: index, message: ChatResponseMessage(message),
                logprobs: wantsLogprobs ? chatLogprobs(sample.logprobs, context: tokens, top: body.topLogprobs ?? 0) : nil,
                finishReason: prepared.parsing.finishReason(sample.finishReason, madeCalls: !message.toolCalls.isEmpty),
                stopReason: StopReasonValue(sample.stopReason))
        }
        let usage = Usage(promptTokens: tokens.count, completionTokens: samples.reduce(0) { $0 + $1.tokenIDs.count })
        return jsonResponse(ChatCompletionResponse(id: id, created: created, model: servedName, choices: choices, usage: usage))
    }

    /// The server-sent events of a streamed chat completion: a role chunk per choice, then each
    /// choice's parsed deltas (content, reasoning, tool-call pieces) as they come.
    private func streamChat(
        _ body: ChatCompletionRequest, prepared: PreparedChat, run: GenerationRun, id: String, created: Int
    ) -> Response {
        let f = body.sampling
        let (tokens, n) = (prepared.tokens, prepared.params.n)
        let wantsLogprobs = body.logprobs ?? false
        let topCount = body.topLogprobs ?? 0
        let includeUsage = f.streamOptions?.includeUsage ?? false
        // vLLM's continuous_usage_stats: every chunk carries the usage so far.
        let continuousUsage = includeUsage && (f.streamOptions?.continuousUsageStats ?? false)
        return ServerSentEvents.response(
            write: { [self] writer in
                func send(_ choices: [ChatChunkChoice], usage: Usage?) async throws {
                    try await writer.write(
                        ServerSentEvents.event(
                            ChatCompletionChunk(id: id, created: created, model: servedName, choices: choices, usage: usage)))
                }
                for index in 0..<n {
                    let usage = continuousUsage ? Usage(promptTokens: tokens.count, completionTokens: 0) : nil
                    try await send([ChatChunkChoice(index: index, delta: ChatDelta(role: "assistant", content: ""))], usage: usage)
                }
                var completionTokens = 0
                var contexts = [[Int]](repeating: tokens, count: n)
                var streams = (0..<n).map { _ in prepared.parsing.makeStream() }
                for await event in run.events {
                    switch event {
                    case .failure(_, let error):
                        run.abort()
                        try await ServerSentEvents.fail(&writer, with: error)
                        return
                    case .output(_, let output):
                        for piece in output.outputs {
                            completionTokens += piece.tokenIDs.count
                            let logprobs =
                                wantsLogprobs ? chatLogprobs(piece.logprobs ?? [], context: contexts[piece.index], top: topCount) : nil
                            if wantsLogprobs { contexts[piece.index] += piece.tokenIDs }
                            var delta = streams[piece.index].feed(piece.text)
                            if piece.finishReason != nil { delta.append(streams[piece.index].finish()) }
                            if delta.isEmpty, piece.finishReason == nil, logprobs?.content?.isEmpty ?? true { continue }
                            let choice = ChatChunkChoice(
                                index: piece.index, delta: ChatDelta(delta), logprobs: logprobs,
                                finishReason: prepared.parsing.finishReason(piece.finishReason, madeCalls: streams[piece.index].sentCalls),
                                stopReason: StopReasonValue(piece.stopReason))
                            try await send(
                                [choice],
                                usage: continuousUsage ? Usage(promptTokens: tokens.count, completionTokens: completionTokens) : nil)
                        }
                    }
                }
                if includeUsage { try await send([], usage: Usage(promptTokens: tokens.count, completionTokens: completionTokens)) }
                try await writer.write(ServerSentEvents.done)
            },
            onEnd: { run.abort() })
    }

    /// A chat request made ready for the engine: the rendered prompt, its tokens, the sampling
    /// parameters (with the grammar `tool_choice` asks for) and how the output will be parsed.
    struct PreparedChat: Sendable {
        var text: String
        var tokens: [Int]
        var params: SamplingParams
        var parsing: ChatOutputParsing
    }

    /// Checks a chat request, renders its conversation and tokenizes it: CPU work, run off the
    /// I/O threads.
    func chatPrompt(_ body: ChatCompletionRequest, raw: JinjaDict) throws -> PreparedChat {
        let f = body.sampling
        try checkLimits(f)
        let wantsLogprobs = body.logprobs ?? false
        if let top = body.topLogprobs {
            guard wantsLogprobs else { throw APIError.invalid("top_logprobs", "when using top_logprobs, logprobs must be set to true") }
            guard top >= 0 else { throw APIError.invalid("top_logprobs", "top_logprobs must be non-negative, got \(top)") }
            guard top <= options.maxLogprobs else {
                throw APIError.invalid("top_logprobs", "top_logprobs must be at most \(options.maxLogprobs), got \(top)")
            }
        }
        // max_completion_tokens wins when both are given, but a bad max_tokens is still an error.
        if let maxTokens = f.maxTokens, maxTokens < 1 {
            throw APIError.invalid("max_tokens", "max_tokens must be at least 1, got \(maxTokens)")
        }
        let tools = try ChatToolRequest(raw: raw, autoEnabled: options.enableAutoToolChoice && options.toolCallParser != nil)
        let toolGrammar = try toolChoiceGrammar(tools, sampling: f)
        let prompt = try renderChat(
            messages: body.messages, raw: raw, addGenerationPrompt: body.addGenerationPrompt ?? true,
            continueFinalMessage: body.continueFinalMessage ?? false, templateOverride: body.chatTemplate)
        var tokens = prompt.tokens
        if f.addSpecialTokens == true, let tokenizer { tokens = tokenizer.encode(prompt.text, addSpecialTokens: true) }
        try checkPrompt(tokens, param: "messages")
        if body.maxCompletionTokens != nil, let maxTokens = f.maxTokens, maxTokens > maxModelLength - tokens.count {
            // Ignored for the length, but never accepted beyond the context.
            throw APIError.invalid(
                "max_tokens",
                "This model's maximum context length is \(maxModelLength) tokens. However, you requested \(maxTokens) output tokens and your prompt has \(tokens.count) tokens. Please reduce the length of the messages or completion."
            )
        }
        var params = try samplingParams(
            f, promptLength: tokens.count, maxTokens: body.maxCompletionTokens ?? f.maxTokens,
            maxTokensParam: body.maxCompletionTokens != nil ? "max_completion_tokens" : "max_tokens",
            defaultMaxTokens: nil, logprobs: wantsLogprobs ? (body.topLogprobs ?? 0) : nil)
        if let toolGrammar {
            params.structuredOutputs = toolGrammar
            params.structuredOutputsAnyWhitespace = false
        }
        // Tool markers are special tokens in some vocabularies; the parser must see them (vLLM's parsers do the same).
        if tools.choice == .auto, f.skipSpecialTokens == nil { params.skipSpecialTokens = false }
        let parsing = try ChatOutputParsing(options: options, tools: tools, prompt: prompt.text)
        if params.structuredOutputs != nil {
            params.structuredOutputsStartAfter = parsing.grammarStartMarker(prompt: prompt.text)
        }
        return PreparedChat(text: prompt.text, tokens: tokens, params: params, parsing: parsing)
    }

    /// The grammar of a `required` or named `tool_choice`, compiled now so that a schema the
    /// engine cannot follow is a 400 naming `tools`. Calls are compact JSON: whitespace means
    /// nothing to the client, and a model that loops on newlines could never finish the call.
    private func toolChoiceGrammar(_ tools: ChatToolRequest, sampling f: SamplingFields) throws -> StructuredOutputSpec? {
        guard let spec = try tools.structuredOutput() else { return nil }
        if f.structuredOutputs != nil {
            throw APIError.invalid(
                "tool_choice",
                "tool_choice \"required\" or a named function constrains the output itself; it cannot be combined with response_format or structured_outputs"
            )
        }
        guard let compiler = engine.grammarCompiler else {
            throw APIError.invalid("tool_choice", "tool_choice \"required\" and named functions need the model's tokenizer")
        }
        do { _ = try compiler.compile(spec, anyWhitespace: false) } catch let error as StructuredOutputError {
            throw APIError.invalid("tools", "the tools' parameters cannot constrain the output: \(error.message)")
        }
        return spec
    }

    /// The chat `logprobs` object for `positions`, with `top` alternatives each.
    func chatLogprobs(_ positions: [PositionLogprobs], context: [Int], top: Int) -> ChatLogprobs {
        ChatLogprobs(
            content: zip(positions, positionTexts(positions, context: context)).map { position, texts in
                ChatLogprobEntry(
                    token: texts.chosen, logprob: finiteLogprob(position.chosen.logprob), bytes: Array(texts.chosen.utf8),
                    topLogprobs: zip(position.top, texts.top).prefix(top).map { entry, text in
                        ChatTokenLogprob(token: text, logprob: finiteLogprob(entry.logprob), bytes: Array(text.utf8))
                    })
            })
    }
}
