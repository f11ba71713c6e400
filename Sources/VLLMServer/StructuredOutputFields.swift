import Foundation
import VLLMStructuredOutputs
import VLLMTokenizers

/// The request body as received while it is decoded, for fields that must be read in key order.
enum RequestBody {
    @TaskLocal static var raw: Data?
}

/// OpenAI's `response_format` (`text`, `json_object`, `json_schema` with `schema` and `strict`)
/// and vLLM's `structured_outputs` (`json`, `regex`, `choice`, `grammar`, `json_object`) as one
/// output constraint. The body is parsed again with the order-keeping parser, because a schema's
/// properties are generated in the order the schema lists them (Foundation's dictionaries lose it).
enum StructuredOutputFields {
    /// The constraint, and vLLM's `structured_outputs.disable_any_whitespace` (JSON grammars then
    /// write compact JSON; it applies to a `response_format` schema too).
    static func read(rawBody: Data?) throws -> (spec: StructuredOutputSpec?, disableAnyWhitespace: Bool) {
        guard let rawBody, let body = (try? JSONParser.parse(rawBody))?.objectValue else { return (nil, false) }
        let format = try responseFormat(body["response_format"])
        let structured = try structuredOutputs(body["structured_outputs"])
        // structured_outputs may still carry disable_any_whitespace (vLLM's), which applies to a
        // response_format schema too.
        if let a = body["response_format"], !a.isNull, let b = body["structured_outputs"]?.objectValue,
            constraintFields.contains(where: { b[$0].map { !$0.isNull } ?? false })
        {
            throw APIError.invalid("structured_outputs", "give either response_format or structured_outputs, not both")
        }
        return (format ?? structured, try disablesAnyWhitespace(body["structured_outputs"]))
    }

    /// The fields of `structured_outputs` that constrain the output.
    static let constraintFields = ["json", "regex", "choice", "grammar", "json_object"]

    private static func disablesAnyWhitespace(_ value: JSONValue?) throws -> Bool {
        guard let flag = value?.objectValue?["disable_any_whitespace"], !flag.isNull else { return false }
        guard let disable = flag.boolValue else {
            throw APIError.invalid("structured_outputs", "structured_outputs.disable_any_whitespace must be a boolean")
        }
        return disable
    }

    /// An optional field read as its type: nil when absent or null, `read(value)` otherwise. A value
    /// of another type is a 400 naming the field, as the OpenAPI document states (never ignored).
    private static func optional<T>(_ value: JSONValue?, _ field: String, _ expected: String, _ read: (JSONValue) -> T?) throws -> T? {
        guard let value, !value.isNull else { return nil }
        guard let typed = read(value) else { throw APIError.invalid(field, "\(field) must be \(expected)") }
        return typed
    }

    private static func responseFormat(_ value: JSONValue?) throws -> StructuredOutputSpec? {
        guard let value, !value.isNull else { return nil }
        guard let object = value.objectValue, let type = object["type"]?.stringValue else {
            throw APIError.invalid("response_format", "response_format must be an object with a type")
        }
        guard ["text", "json_object", "json_schema"].contains(type) else {
            throw APIError.invalid("response_format", "response_format type must be text, json_object or json_schema, got '\(type)'")
        }
        // OpenAI's json_schema object: name, description, schema, strict, whatever the type.
        let format = try optional(object["json_schema"], "response_format.json_schema", "an object", \.objectValue)
        let schema = try optional(format?["schema"], "response_format.json_schema.schema", "an object (a JSON schema)") { v in
            v.objectValue != nil ? v : nil
        }
        if let name = format?["name"], name.stringValue == nil {
            throw APIError.invalid("response_format.json_schema.name", "response_format.json_schema.name must be a string")
        }
        _ = try optional(format?["description"], "response_format.json_schema.description", "a string", \.stringValue)
        _ = try optional(format?["strict"], "response_format.json_schema.strict", "a boolean", \.boolValue)
        switch type {
        case "json_object": return .jsonObject
        case "json_schema":
            guard let schema else {
                throw APIError.invalid("response_format", "response_format of type json_schema needs json_schema.schema")
            }
            return .jsonSchema(schema)
        default: return nil
        }
    }

    private static func structuredOutputs(_ value: JSONValue?) throws -> StructuredOutputSpec? {
        guard let value, !value.isNull else { return nil }
        guard let object = value.objectValue else { throw APIError.invalid("structured_outputs", "structured_outputs must be an object") }
        var specs: [StructuredOutputSpec] = []
        // A schema as an object, or as JSON text (vLLM takes both).
        if let json = try optional(
            object["json"], "structured_outputs.json", "an object or a string",
            { $0.objectValue != nil || $0.stringValue != nil ? $0 : nil })
        {
            specs.append(json.stringValue.map { StructuredOutputSpec.jsonSchema($0) } ?? StructuredOutputSpec.jsonSchema(json))
        }
        if let regex = try optional(object["regex"], "structured_outputs.regex", "a string", \.stringValue) { specs.append(.regex(regex)) }
        if let choice = try optional(object["choice"], "structured_outputs.choice", "a list of strings", \.arrayValue) {
            let options = choice.compactMap(\.stringValue)
            guard options.count == choice.count else { throw APIError.invalid("structured_outputs", "choice must be a list of strings") }
            specs.append(.choice(options))
        }
        if let grammar = try optional(object["grammar"], "structured_outputs.grammar", "a string", \.stringValue) {
            specs.append(.grammar(grammar))
        }
        if try optional(object["json_object"], "structured_outputs.json_object", "a boolean", \.boolValue) == true {
            specs.append(.jsonObject)
        }
        guard specs.count <= 1 else {
            throw APIError.invalid("structured_outputs", "give one of json, regex, choice, grammar and json_object")
        }
        return specs.first
    }
}
