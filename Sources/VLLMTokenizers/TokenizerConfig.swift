import Foundation

/// The parts of `tokenizer_config.json` (transformers' side of a tokenizer) that the engine
/// needs: the special tokens, whether to add BOS/EOS, chat templates and the context limit.
public struct TokenizerConfig: Sendable {
    /// `bos_token`, `eos_token`, `pad_token`, `unk_token` and the other `*_token` entries, as
    /// plain strings (entries written as `{"content": ...}` objects are flattened).
    public var specialTokens: [String: String] = [:]
    /// `add_bos_token`, when the file says.
    public var addBosToken: Bool?
    /// `add_eos_token`, when the file says.
    public var addEosToken: Bool?
    /// Chat templates by name; a single template string is stored under "default".
    public var chatTemplates: [String: String] = [:]
    /// `model_max_length`, unless it is transformers' "unlimited" sentinel (about 1e30).
    public var modelMaxLength: Int?
    /// `clean_up_tokenization_spaces`, for callers that want transformers' decode cleanup.
    public var cleanUpTokenizationSpaces: Bool?
    /// `tokenizer_class`, e.g. "LlamaTokenizer".
    public var tokenizerClass: String?

    /// An empty configuration, for folders without `tokenizer_config.json`.
    public init() {}

    /// Parses the contents of a `tokenizer_config.json`; `file` names it in errors.
    public init(data: Data, file: String) throws {
        let json = try JSONReader.parse(data, file: file)
        func content(_ v: JSONValue) -> String? { v.stringValue ?? v.objectValue?["content"]?.stringValue }
        for (key, value) in json.object.pairs where key.hasSuffix("_token") && !key.hasPrefix("add_") {
            if let s = content(value) { specialTokens[key] = s }
        }
        if let extra = json["additional_special_tokens"]?.arrayValue {
            let names = extra.compactMap(content)
            if !names.isEmpty, let data = try? JSONSerialization.data(withJSONObject: names), let s = String(data: data, encoding: .utf8) {
                specialTokens["additional_special_tokens"] = s
            }
        }
        if json.has("add_bos_token") { addBosToken = try json.bool("add_bos_token", default: false) }
        if json.has("add_eos_token") { addEosToken = try json.bool("add_eos_token", default: false) }
        if json.has("clean_up_tokenization_spaces") {
            cleanUpTokenizationSpaces = try json.bool("clean_up_tokenization_spaces", default: false)
        }
        tokenizerClass = json["tokenizer_class"]?.stringValue
        if let t = json["chat_template"], !t.isNull {
            if let s = t.stringValue {
                chatTemplates["default"] = s
            } else if let list = t.arrayValue {
                for (i, item) in list.enumerated() {
                    guard let o = item.objectValue, let name = o["name"]?.stringValue, let tpl = o["template"]?.stringValue else {
                        throw json.fail("chat_template[\(i)]", "expected {\"name\": ..., \"template\": ...}")
                    }
                    chatTemplates[name] = tpl
                }
            } else {
                throw json.fail("chat_template", "expected a string or a list of {name, template}")
            }
        }
        if let v = json["model_max_length"], !v.isNull {
            guard let d = v.doubleValue else { throw json.fail("model_max_length", "expected a number") }
            if d.isFinite && d > 0 && d < 1e18 { modelMaxLength = Int(d) }
        }
    }
}
