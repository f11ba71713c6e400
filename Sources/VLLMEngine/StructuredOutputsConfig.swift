import Foundation
import VLLMStructuredOutputs
import VLLMTokenizers

/// vLLM's `--structured-outputs-config` (its `StructuredOutputsConfig`): the engine-wide
/// options of structured outputs, which every request's grammar follows.
public struct StructuredOutputsConfig: Sendable, Equatable {
    /// The name of this build's grammar engine (`backend` accepts it and "auto").
    public static let backendName = "swift-vllm"
    /// vLLM's other backends, which this build does not have (naming one is an error that says so).
    public static let otherBackends = ["xgrammar", "guidance", "outlines", "lm-format-enforcer"]

    /// JSON written compact, no whitespace between tokens (`disable_any_whitespace`).
    public var disableAnyWhitespace = false
    /// Object schemas with `properties` and no `additionalProperties` take no other members
    /// (`disable_additional_properties`).
    public var disableAdditionalProperties = false
    /// `reasoning_parser`: the same as `vllm serve --reasoning-parser` (nil when not given).
    public var reasoningParser: String?

    /// The defaults (vLLM's): backend auto, whitespace allowed, additional properties as the schema says.
    public init() {}

    /// Reads vLLM's JSON, e.g. `{"backend": "auto", "disable_any_whitespace": true}`. An unknown
    /// key, a value of the wrong type or a backend this build lacks is an error naming it.
    public init(json: String) throws {
        let fail = Self.invalid
        guard let value = try? JSONParser.parse(Data(json.utf8)), let object = value.objectValue else {
            throw fail("not a JSON object: \(json)")
        }
        let known = [
            "backend", "disable_fallback", "disable_any_whitespace", "disable_additional_properties", "reasoning_parser",
            "reasoning_parser_plugin", "enable_in_reasoning",
        ]
        if let unknown = object.pairs.first(where: { !known.contains($0.key) }) {
            throw fail("unknown key '\(unknown.key)' (supported: \(known.joined(separator: ", ")))")
        }
        try Self.checkBackend(try Self.string(object, "backend") ?? "auto")
        // disable_fallback: there is one engine, so nothing to fall back to either way.
        _ = try Self.bool(object, "disable_fallback")
        disableAnyWhitespace = try Self.bool(object, "disable_any_whitespace") ?? false
        disableAdditionalProperties = try Self.bool(object, "disable_additional_properties") ?? false
        if let parser = try Self.string(object, "reasoning_parser"), !parser.isEmpty { reasoningParser = parser }
        if let plugin = try Self.string(object, "reasoning_parser_plugin"), !plugin.isEmpty {
            throw fail("reasoning_parser_plugin '\(plugin)': plugins are Python files and this build runs none; use reasoning_parser")
        }
        if try Self.bool(object, "enable_in_reasoning") == true {
            throw fail("enable_in_reasoning: true is not supported: the grammar applies after the reasoning block")
        }
    }

    /// The grammar options every request starts from.
    public var grammarOptions: GrammarOptions {
        GrammarOptions(anyWhitespace: !disableAnyWhitespace, disableAdditionalProperties: disableAdditionalProperties)
    }

    private static func checkBackend(_ name: String) throws {
        if name == "auto" || name == backendName { return }
        if otherBackends.contains(name) {
            throw invalid(
                "backend '\(name)' is not in this build; its grammar engine is '\(backendName)' (backend \"auto\" or \"\(backendName)\")")
        }
        throw invalid("unknown backend '\(name)'; this build's grammar engine is '\(backendName)' (backend \"auto\" or \"\(backendName)\")")
    }

    private static func bool(_ object: JSONObject, _ key: String) throws -> Bool? {
        guard let value = object[key], !value.isNull else { return nil }
        guard let flag = value.boolValue else { throw invalid("'\(key)' must be a boolean") }
        return flag
    }

    private static func string(_ object: JSONObject, _ key: String) throws -> String? {
        guard let value = object[key], !value.isNull else { return nil }
        guard let text = value.stringValue else { throw invalid("'\(key)' must be a string") }
        return text
    }

    private static func invalid(_ detail: String) -> EngineError { .invalidParameter(field: "structured_outputs_config", detail: detail) }
}
