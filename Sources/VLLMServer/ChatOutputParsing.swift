import Foundation
import VLLMEngine
import VLLMToolParsers

/// How one chat choice's generated text becomes the assistant's message: the reasoning block split
/// off (`--reasoning-parser`), then tool calls read from the rest as the request's `tool_choice`
/// says. With neither, the text is the content, unchanged.
struct ChatOutputParsing: Sendable {
    /// Where tool calls come from.
    enum Calls: Sendable {
        /// No calls: all text is content.
        case none
        /// A format parser: the server's `--tool-call-parser` (`auto`), or the JSON call list that
        /// `required` constrains the output to.
        case parser(ToolCallParser)
        /// `tool_choice` named this function; the output is its arguments.
        case named(String)
    }

    let reasoning: ReasoningParser?
    let calls: Calls
    /// `parallel_tool_calls`: false keeps only the first call.
    let parallel: Bool
    let ids: ToolCallIDs

    /// vLLM's tool-call ids: `chatcmpl-tool-` and 32 hex digits.
    static let toolCallIDs = ToolCallIDs { _ in
        "chatcmpl-tool-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    }

    /// What a whole output holds.
    struct Message: Equatable {
        var reasoning: String?
        /// Nil when the output was only calls (and whitespace).
        var content: String?
        var toolCalls: [ToolCall] = []
    }

    /// Splits a whole output.
    func parse(_ text: String) -> Message {
        var message = Message()
        var rest = text
        if let reasoning {
            (message.reasoning, rest) = reasoning.parse(text)
        }
        switch calls {
        case .none:
            message.content = rest
        case .parser(let parser):
            let result = parser.parse(rest)
            message.toolCalls = parallel ? result.toolCalls : Array(result.toolCalls.prefix(1))
            message.content = result.content
        case .named(let name):
            if case .object? = JSONValue.parse(rest) {
                message.toolCalls = [ToolCall(id: ids.id(0), name: name, arguments: rest)]
            } else {
                message.content = rest  // cut short (max_tokens): not arguments yet
            }
        }
        // Nothing but calls, or nothing after the reasoning: no content (null), as vLLM answers.
        if let content = message.content {
            let onlyCalls = !message.toolCalls.isEmpty && content.allSatisfy(\.isWhitespace)
            let onlyReasoning = message.reasoning != nil && content.isEmpty
            if onlyCalls || onlyReasoning { message.content = nil }
        }
        return message
    }

    /// A stream for one choice: feed it the choice's text deltas.
    func makeStream() -> Stream {
        var calls: ParsedOutputStream?
        var named: String?
        switch self.calls {
        case .none: break
        case .parser(let parser): calls = parser.makeStream()
        case .named(let name): named = name
        }
        return Stream(reasoning: reasoning?.makeStream(), calls: calls, named: named, parallel: parallel, ids: ids)
    }

    /// One choice's stream: the reasoning stream's content goes on to the tool-call stream. A named
    /// function's call is sent as soon as the output starts (index, id and name), then each delta
    /// as a fragment of its arguments, as vLLM streams it.
    struct Stream {
        var reasoning: ParsedOutputStream?
        var calls: ParsedOutputStream?
        let named: String?
        let parallel: Bool
        let ids: ToolCallIDs
        private var namedStarted = false
        /// True once a tool call has been sent (the finish reason becomes `tool_calls`).
        private(set) var sentCalls = false

        init(reasoning: ParsedOutputStream?, calls: ParsedOutputStream?, named: String?, parallel: Bool, ids: ToolCallIDs) {
            self.reasoning = reasoning
            self.calls = calls
            self.named = named
            self.parallel = parallel
            self.ids = ids
        }

        /// The next text delta of the output; returns what to send.
        mutating func feed(_ text: String) -> OutputDelta {
            var first = reasoning?.feed(text) ?? OutputDelta(content: text)
            return route(&first, final: false)
        }

        /// The output ended: returns what was held back.
        mutating func finish() -> OutputDelta {
            var last = reasoning?.finish() ?? OutputDelta()
            return route(&last, final: true)
        }

        /// Hands the content of `delta` on to the tool-call stage.
        private mutating func route(_ delta: inout OutputDelta, final: Bool) -> OutputDelta {
            let content = delta.content
            if var stream = calls {
                var next = stream.feed(content)
                if final { next.append(stream.finish()) }
                calls = stream
                delta.content = next.content
                delta.toolCalls = parallel ? next.toolCalls : next.toolCalls.filter { $0.index == 0 }
            } else if let named, !content.isEmpty {
                delta.content = ""
                if !namedStarted {
                    delta.toolCalls.append(ToolCallDelta(index: 0, id: ids.id(0), name: named, arguments: ""))
                    namedStarted = true
                }
                delta.toolCalls.append(ToolCallDelta(index: 0, id: nil, name: nil, arguments: content))
            }
            if !delta.toolCalls.isEmpty { sentCalls = true }
            return delta
        }
    }
}

extension OutputDelta {
    /// A delta carrying only content.
    init(content: String) {
        self.init()
        self.content = content
    }

    /// Adds what `other` carries after what this one carries.
    mutating func append(_ other: OutputDelta) {
        content += other.content
        reasoning += other.reasoning
        toolCalls += other.toolCalls
    }
}

extension ChatOutputParsing {
    /// The parsing of one chat request: the server's reasoning parser (told whether the rendered
    /// prompt already opened the block) and the tool calls its `tool_choice` asks for.
    init(options: ServerOptions, tools: ChatToolRequest, prompt: String) throws {
        // A prompt that opened the block starts the output inside it; one that closed it (thinking
        // off) leaves none to read; otherwise each parser's default holds.
        let starts: Bool? =
            ReasoningParser.promptOpensReasoning(prompt) ? true : ReasoningParser.promptClosesReasoning(prompt) ? false : nil
        reasoning = try options.reasoningParser.map { try ReasoningParser(named: $0, startsInReasoning: starts) }
        switch tools.choice {
        case .none: calls = .none
        case .auto:
            calls = .parser(try ToolCallParser(named: options.toolCallParser ?? "", tools: Self.definitions(tools), ids: Self.toolCallIDs))
        case .required: calls = .parser(.callList(ids: Self.toolCallIDs))
        case .named(let name): calls = .named(name)
        }
        parallel = tools.parallel
        ids = Self.toolCallIDs
    }

    /// The request's tools as the parsers read them (qwen3_coder types values by their schemas).
    private static func definitions(_ tools: ChatToolRequest) throws -> [ToolDefinition] {
        try tools.functions.map { function in
            ToolDefinition(name: function.name, parameters: try function.parameters.flatMap { JSONValue.parse(try $0.jsonString()) })
        }
    }

    /// Checks the server's parser names; the error lists the known ones.
    static func checkParserNames(_ options: ServerOptions) throws {
        if let name = options.toolCallParser { _ = try ToolCallParser(named: name) }
        if let name = options.reasoningParser { _ = try ReasoningParser(named: name) }
    }

    /// The text after which structured output starts, when the output may begin with reasoning:
    /// nil without a reasoning parser or when the prompt has already closed the block.
    func grammarStartMarker(prompt: String) -> String? {
        guard let reasoning, !ReasoningParser.promptClosesReasoning(prompt) else { return nil }
        return reasoning.endMarker
    }

    /// The choice's `finish_reason`: `tool_calls` when calls were made and the model stopped by
    /// itself, except for a named function (OpenAI and vLLM answer `stop` there).
    func finishReason(_ reason: FinishReason?, madeCalls: Bool) -> String? {
        if madeCalls, reason == .stop, case .parser = calls { return "tool_calls" }
        return reason?.openAIName
    }
}

extension ChatResponseMessage {
    /// The message of a parsed output.
    init(_ message: ChatOutputParsing.Message) {
        self.init(content: message.content, reasoning: message.reasoning, toolCalls: message.toolCalls.map(ResponseToolCall.init))
    }
}

extension ChatDelta {
    /// The delta of a parsed stream step. `content` stays "" when the step carries nothing else,
    /// as a chunk that only finishes the choice has always been sent.
    init(_ delta: OutputDelta) {
        let bare = delta.reasoning.isEmpty && delta.toolCalls.isEmpty
        self.init(
            content: delta.content.isEmpty && !bare ? nil : delta.content,
            reasoning: delta.reasoning.isEmpty ? nil : delta.reasoning,
            toolCalls: delta.toolCalls.isEmpty ? nil : delta.toolCalls.map(ResponseToolCall.init))
    }
}

extension ResponseToolCall {
    /// A whole call of a response message.
    init(_ call: ToolCall) {
        self.init(index: nil, id: call.id, type: "function", function: .init(name: call.name, arguments: call.arguments))
    }

    /// A streamed piece of a call.
    init(_ piece: ToolCallDelta) {
        self.init(
            index: piece.index, id: piece.id, type: piece.id == nil ? nil : "function",
            function: .init(name: piece.name, arguments: piece.arguments))
    }
}
