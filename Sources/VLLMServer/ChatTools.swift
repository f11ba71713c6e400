import Foundation
import VLLMStructuredOutputs
import VLLMTokenizers

/// What a chat request's `tool_choice` asks of the model.
enum ToolChoice: Equatable, Sendable {
    /// No tool calls are parsed (the template may still see the tools).
    case none
    /// The server's `--tool-call-parser` finds calls in whatever the model writes.
    case auto
    /// The model must call at least one tool: its output is constrained to a JSON list of calls.
    case required
    /// The model must call this function: its output is constrained to the function's parameters.
    case named(String)
}

/// A chat request's `tools`, `tool_choice` and `parallel_tool_calls`, checked as vLLM checks them
/// (`tool_choice` defaults to `auto` when tools are given, `none` otherwise; `required` with an
/// empty tool list is `none`).
struct ChatToolRequest: Sendable {
    /// The `tools` entries, as the chat template receives them (nil when the request has none).
    var templateTools: [JinjaValue]?
    /// Each function's name and `parameters` schema (nil when the tool gives none).
    var functions: [(name: String, parameters: JinjaValue?)] = []
    var choice: ToolChoice = .none
    /// `parallel_tool_calls` (default true): false keeps one call per response.
    var parallel = true

    /// Reads the fields from the request's JSON object. `autoEnabled`: the server runs with
    /// `--enable-auto-tool-choice` and a `--tool-call-parser`.
    init(raw: JinjaDict, autoEnabled: Bool) throws {
        switch raw["tools"] {
        case nil, JinjaValue.none?: break
        case .list(let list)?:
            templateTools = list
            functions = try list.enumerated().map { try Self.function($1, at: $0) }
        default: throw APIError.invalid("tools", "tools must be a list of objects")
        }
        switch raw["parallel_tool_calls"] {
        case nil, JinjaValue.none?: break
        case .bool(let value)?: parallel = value
        default: throw APIError.invalid("parallel_tool_calls", "parallel_tool_calls must be a boolean")
        }
        choice = try readChoice(raw["tool_choice"])
        if choice == .auto, !autoEnabled {
            throw APIError.invalid(
                "tool_choice", "\"auto\" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set")
        }
    }

    /// The name and parameters of tools entry `index`; a 400 when it is not a function tool.
    private static func function(_ entry: JinjaValue, at index: Int) throws -> (name: String, parameters: JinjaValue?) {
        guard case .dict(let tool) = entry else { throw APIError.invalid("tools", "tools[\(index)] must be an object") }
        switch tool["type"] {
        case nil, .string("function")?: break
        default: throw APIError.invalid("tools", "tools[\(index)].type must be \"function\"")
        }
        guard case .dict(let function)? = tool["function"], case .string(let name)? = function["name"], !name.isEmpty else {
            throw APIError.invalid("tools", "tools[\(index)] needs a function object with a non-empty name")
        }
        switch function["description"] {
        case nil, JinjaValue.none?, .string?: break
        default: throw APIError.invalid("tools", "tools[\(index)].function.description must be a string")
        }
        switch function["parameters"] {
        case nil, JinjaValue.none?: return (name, nil)
        case .dict(let schema)?: return (name, .dict(schema))
        default: throw APIError.invalid("tools", "tools[\(index)].function.parameters must be a JSON schema object")
        }
    }

    /// `tool_choice` as vLLM reads it, given the tools already read.
    private func readChoice(_ value: JinjaValue?) throws -> ToolChoice {
        let usage = #"Correct usage: `{"type": "function", "function": {"name": "my_function"}}`"#
        switch value {
        case nil, JinjaValue.none?:
            return templateTools?.isEmpty == false ? .auto : .none
        case .string("none")?:
            return .none
        case .string(let name)? where name == "auto" || name == "required":
            guard let tools = templateTools else { throw APIError.invalid("tool_choice", "When using `tool_choice`, `tools` must be set.") }
            if name == "required" && tools.isEmpty { return .none }
            return name == "auto" ? .auto : .required
        case .string(let other)?:
            throw APIError.invalid(
                "tool_choice",
                "Invalid value for `tool_choice`: \(other)! Only named tools, \"none\", \"auto\" or \"required\" are supported.")
        case .dict(let object)?:
            guard templateTools != nil else { throw APIError.invalid("tool_choice", "When using `tool_choice`, `tools` must be set.") }
            switch object["type"] {
            case nil, .string("function")?: break
            default: throw APIError.invalid("tool_choice", "tool_choice.type must be \"function\"")
            }
            guard case .dict(let function)? = object["function"] else {
                throw APIError.invalid("tool_choice", "Invalid value for `function` in `tool_choice`! \(usage)")
            }
            guard case .string(let name)? = function["name"], !name.isEmpty else {
                throw APIError.invalid("tool_choice", "Expected a non-empty string field `name` in `function` in `tool_choice`! \(usage)")
            }
            guard functions.contains(where: { $0.name == name }) else {
                throw APIError.invalid(
                    "tool_choice", "The tool specified in `tool_choice` (\(name)) does not match any of the specified `tools`")
            }
            return .named(name)
        default:
            throw APIError.invalid("tool_choice", "tool_choice must be a string or an object")
        }
    }

    /// The output constraint of `required` and named choices (vLLM's): the named function's
    /// parameters schema, or a list of `{"name", "parameters"}` objects, one alternative per tool
    /// (`$defs` of every tool lifted to the top, where their `#/$defs/...` references point).
    func structuredOutput() throws -> StructuredOutputSpec? {
        switch choice {
        case .none, .auto:
            return nil
        case .named(let name):
            let parameters = functions.first { $0.name == name }?.parameters ?? Self.emptyObjectSchema
            return .jsonSchema(try parameters.jsonString())
        case .required:
            var definitions = JinjaDict()
            let alternatives: [JinjaValue] = functions.map { function in
                var parameters = function.parameters ?? Self.emptyObjectSchema
                if case .dict(let schema) = parameters, case .dict(let defs)? = schema["$defs"] {
                    for (key, value) in defs.entries { if case .string(let k) = key { definitions[k] = value } }
                    parameters = .dict(
                        JinjaDict(
                            pairs: schema.entries.compactMap { entry in
                                guard case .string(let k) = entry.key, k != "$defs" else { return nil }
                                return (k, entry.value)
                            }))
                }
                return [
                    "type": "object",
                    "properties": ["name": ["type": "string", "enum": [.string(function.name)]], "parameters": parameters],
                    "required": ["name", "parameters"],
                ]
            }
            var schema = JinjaDict(pairs: [("type", "array"), ("minItems", 1), ("items", ["anyOf": .list(alternatives)])])
            if !parallel { schema["maxItems"] = 1 }
            if definitions.count > 0 { schema["$defs"] = .dict(definitions) }
            return .jsonSchema(try JinjaValue.dict(schema).jsonString())
        }
    }

    private static let emptyObjectSchema: JinjaValue = ["type": "object", "properties": .dict(JinjaDict())]
}
