import Foundation

/// One function call the model made, in OpenAI's shape.
public struct ToolCall: Equatable, Sendable {
    /// The call's id (`call_…`), which the client echoes in the tool message that answers it.
    public var id: String
    /// The function's name.
    public var name: String
    /// The arguments as a JSON object's text.
    public var arguments: String

    /// A call with the given parts.
    public init(id: String, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }
}

/// What a whole model output holds: the text meant for the user and the calls.
public struct ToolParseResult: Equatable, Sendable {
    /// Text outside the calls, in order (the response's `content`).
    public var content: String
    /// The calls in the order the model wrote them.
    public var toolCalls: [ToolCall]
}

/// One piece of a streamed tool call as OpenAI sends it in `delta.tool_calls`: the first piece of a
/// call carries its index, id and name; later pieces carry fragments of its arguments.
public struct ToolCallDelta: Equatable, Sendable {
    /// The call's position among the response's calls.
    public var index: Int
    /// The call's id, on its first piece only.
    public var id: String?
    /// The function's name, on its first piece only.
    public var name: String?
    /// The next fragment of the arguments' JSON text (may be empty).
    public var arguments: String

    /// A piece with the given parts.
    public init(index: Int, id: String?, name: String?, arguments: String) {
        self.index = index
        self.id = id
        self.name = name
        self.arguments = arguments
    }
}

/// What one streamed step adds to the response; empty parts mean nothing new.
public struct OutputDelta: Equatable, Sendable {
    /// New `delta.content` text.
    public var content = ""
    /// New `delta.reasoning_content` text.
    public var reasoning = ""
    /// New `delta.tool_calls` pieces.
    public var toolCalls: [ToolCallDelta] = []

    /// An empty delta.
    public init() {}

    /// True when the step adds nothing, so a server sends no chunk.
    public var isEmpty: Bool { content.isEmpty && reasoning.isEmpty && toolCalls.isEmpty }
}

/// A tool the request offered (an entry of `tools`), as far as the parsers need it: the
/// qwen3_coder format writes every value as text and uses the schema to give it its JSON type.
public struct ToolDefinition: Sendable {
    /// The function's name.
    public var name: String
    /// The function's `parameters` JSON schema, if given.
    public var parameters: JSONValue?

    /// A tool with the given name and parameter schema.
    public init(name: String, parameters: JSONValue? = nil) {
        self.name = name
        self.parameters = parameters
    }

    /// The tools of an OpenAI `tools` array (`[{"type": "function", "function": {...}}]`);
    /// entries that are not functions are skipped.
    public static func list(fromToolsJSON tools: JSONValue) -> [ToolDefinition] {
        guard case .array(let entries) = tools else { return [] }
        return entries.compactMap { entry in
            guard let function = entry["function"], let name = function["name"]?.stringValue else { return nil }
            return ToolDefinition(name: name, parameters: function["parameters"])
        }
    }

    /// The JSON schema `type` of parameter `name` (the first one when it is a list), or nil.
    func parameterType(_ name: String) -> String? {
        guard let schema = parameters?["properties"]?[name] else { return nil }
        switch schema["type"] {
        case .string(let t)?: return t
        case .array(let types)?: return types.compactMap(\.stringValue).first { $0 != "null" }
        default: return nil
        }
    }
}

/// Makes tool-call ids; injectable so that tests can compare runs.
public struct ToolCallIDs: Sendable {
    private let make: @Sendable (Int) -> String

    /// Ids from `make`, which is given the call's index in the response.
    public init(_ make: @escaping @Sendable (Int) -> String) { self.make = make }

    /// OpenAI-style random ids: `call_` and 24 letters and digits.
    public static let random = ToolCallIDs { _ in
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        return "call_" + String((0..<24).map { _ in alphabet.randomElement()! })
    }

    /// The id of call number `index`.
    public func id(_ index: Int) -> String { make(index) }
}
