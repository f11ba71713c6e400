/// A tool-call parser chosen by its vLLM `--tool-call-parser` name.
public struct ToolCallParser: Sendable {
    /// The parser names this module knows, as vLLM spells them.
    public static let names = ["hermes", "llama3_json", "mistral", "pythonic", "qwen3_coder"]

    private let format: any OutputFormat
    private let ids: ToolCallIDs

    /// The parser called `name`; `tools` are the request's tools (qwen3_coder types values by
    /// their schemas). Throws `ParserError.unknownParser` for a name not in `names`.
    public init(named name: String, tools: [ToolDefinition] = [], ids: ToolCallIDs = .random) throws {
        switch name {
        case "hermes": format = DelimitedCallFormat(parseBody: hermesCall, partialBody: partialHermesCall)
        case "qwen3_coder":
            format = DelimitedCallFormat(
                parseBody: { qwen3CoderCall($0, tools: tools) }, partialBody: { partialQwen3CoderCall($0, tools: tools) })
        case "llama3_json": format = Llama3JSONFormat()
        case "mistral": format = MistralFormat()
        case "pythonic": format = PythonicFormat()
        default: throw ParserError.unknownParser(name, known: Self.names)
        }
        self.ids = ids
    }

    private init(format: any OutputFormat, ids: ToolCallIDs) {
        self.format = format
        self.ids = ids
    }

    /// The parser of output constrained by `tool_choice: "required"`: a JSON list of
    /// `{"name": ..., "parameters": {...}}` objects (what vLLM's grammar for that choice makes the
    /// model write). Any other output is content.
    public static func callList(ids: ToolCallIDs = .random) -> ToolCallParser {
        ToolCallParser(format: CallListFormat(), ids: ids)
    }

    /// Splits a whole model output into content and calls. Calls that do not parse stay content.
    public func parse(_ text: String) -> ToolParseResult {
        var result = ToolParseResult(content: "", toolCalls: [])
        for item in format.scan(text[...], final: true).items {
            switch item {
            case .content(let s), .reasoning(let s): result.content += s
            case .call(let name, let arguments):
                result.toolCalls.append(ToolCall(id: ids.id(result.toolCalls.count), name: name, arguments: arguments))
            }
        }
        return result
    }

    /// A stream for one response: feed it the output's text deltas.
    public func makeStream() -> ParsedOutputStream { ParsedOutputStream(format: format, ids: ids) }
}

/// A parser name that is not known.
public enum ParserError: Error, Equatable, CustomStringConvertible {
    /// The name asked for and the names that exist.
    case unknownParser(String, known: [String])

    /// The message a server puts in its error response.
    public var description: String {
        switch self {
        case .unknownParser(let name, let known):
            "unknown parser '\(name)'; known parsers: \(known.joined(separator: ", "))"
        }
    }
}

/// A call object as JSON formats write it: `{"name": ..., "arguments"|"parameters": {...}}`;
/// the arguments may also come as a string holding the JSON object. Nil when it is not one.
func jsonCall(_ value: JSONValue) -> OutputItem? {
    guard let name = value["name"]?.stringValue, !name.isEmpty else { return nil }
    switch argumentsMember(value) ?? .object([]) {
    case .object(let members): return .call(name: name, arguments: JSONValue.object(members).serialized)
    case .string(let text):
        guard case .object? = JSONValue.parse(text) else { return nil }
        return .call(name: name, arguments: text)
    default: return nil
    }
}

/// Whether `key` names a call object's arguments.
func isArgumentsKey(_ key: String) -> Bool { key == "arguments" || key == "parameters" }

/// A call object's arguments: its first `arguments` or `parameters` member (the one a stream reads
/// first, so that streamed and whole parsing take the same).
func argumentsMember(_ call: JSONValue) -> JSONValue? {
    guard case .object(let members) = call else { return nil }
    return members.first { isArgumentsKey($0.key) }?.value
}

/// The output of `tool_choice: "required"`: one JSON list of call objects, whitespace before it.
struct CallListFormat: OutputFormat {
    func scan(_ text: Substring, final: Bool) -> Scan {
        let body = text.droppingLeadingWhitespace
        if body.isEmpty { return final ? .content([], rest: text) : Scan([]) }
        guard body.first == "[" else { return .content([], rest: text) }
        switch readJSONCalls(body) {
        case .read(let calls, let rest):
            return .content(calls, rest: rest)  // text after the list (the grammar allows none) is content
        case .incomplete where !final:
            return Scan([], partials: partialJSONCalls(body))
        default:
            return .content([], rest: text)
        }
    }
}
