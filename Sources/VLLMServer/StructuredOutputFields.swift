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
        if format != nil && structured != nil {
            throw APIError.invalid("structured_outputs", "give either response_format or structured_outputs, not both")
        }
        return (format ?? structured, try disablesAnyWhitespace(body["structured_outputs"]))
    }

    private static func disablesAnyWhitespace(_ value: JSONValue?) throws -> Bool {
        guard let flag = value?.objectValue?["disable_any_whitespace"], !flag.isNull else { return false }
        guard let disable = flag.boolValue else {
            throw APIError.invalid("structured_outputs", "structured_outputs.disable_any_whitespace must be a boolean")
        }
        return disable
    }

    private static func responseFormat(_ value: JSONValue?) throws -> StructuredOutputSpec? {
        guard let value, !value.isNull else { return nil }
        guard let object = value.objectValue, let type = object["type"]?.stringValue else {
            throw APIError.invalid("response_format", "response_format must be an object with a type")
        }
        switch type {
        case "text": return nil
        case "json_object": return .jsonObject
        case "json_schema":
            guard let schema = object["json_schema"]?.objectValue?["schema"] else {
                throw APIError.invalid("response_format", "response_format of type json_schema needs json_schema.schema")
            }
            return .jsonSchema(schema)
        default:
            throw APIError.invalid("response_format", "response_format type must be text, json_object or json_schema, got '\(type)'")
        }
    }

    private static func structuredOutputs(_ value: JSONValue?) throws -> StructuredOutputSpec? {
        guard let value, !value.isNull else { return nil }
        guard let object = value.objectValue else { throw APIError.invalid("structured_outputs", "structured_outputs must be an object") }
        var specs: [StructuredOutputSpec] = []
        if let json = object["json"], !json.isNull {
            // A schema as an object, or as JSON text (vLLM takes both).
            if let text = json.stringValue { specs.append(.jsonSchema(text)) } else { specs.append(.jsonSchema(json)) }
        }
        if let regex = object["regex"]?.stringValue { specs.append(.regex(regex)) }
        if let choice = object["choice"]?.arrayValue {
            let options = choice.compactMap(\.stringValue)
            guard options.count == choice.count else { throw APIError.invalid("structured_outputs", "choice must be a list of strings") }
            specs.append(.choice(options))
        }
        if let grammar = object["grammar"]?.stringValue { specs.append(.grammar(grammar)) }
        if object["json_object"]?.boolValue == true { specs.append(.jsonObject) }
        guard specs.count <= 1 else {
            throw APIError.invalid("structured_outputs", "give one of json, regex, choice, grammar and json_object")
        }
        return specs.first
    }
}
