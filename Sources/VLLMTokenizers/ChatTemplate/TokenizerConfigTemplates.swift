import Foundation

/// The chat-template side of a Hugging Face model folder: which template to use and the special
/// tokens transformers passes to it as variables.
///
/// Kept separate from the tokenizer proper so that chat rendering does not depend on it.
public struct ChatTemplateConfig: Sendable {
    /// Named templates; a single template is stored under "default".
    public var templates: [(name: String, source: String)]
    /// Special tokens as template variables (`bos_token`, `eos_token`, `unk_token`, `pad_token`, ...).
    public var specialTokens: [String: String]
    /// `additional_special_tokens`, passed as a list variable when present.
    public var additionalSpecialTokens: [String]?

    /// The template transformers would pick: the one named "default", else the first.
    public var defaultTemplate: String? {
        templates.first(where: { $0.name == "default" })?.source ?? templates.first?.source
    }

    /// The template called `name` (e.g. "tool_use"), if present.
    public func template(named name: String) -> String? {
        templates.first(where: { $0.name == name })?.source
    }

    /// Variables for `ChatTemplate.render(...extraContext:)` beyond the special tokens.
    public var extraContext: [String: JinjaValue] {
        guard let additionalSpecialTokens else { return [:] }
        return ["additional_special_tokens": .list(additionalSpecialTokens.map { .string($0) })]
    }

    /// Reads `tokenizer_config.json` in `directory`, and `chat_template.jinja` beside it (newer
    /// transformers versions save the template there, and it takes precedence).
    public init(directory: URL) throws {
        let configURL = directory.appendingPathComponent("tokenizer_config.json")
        var config = JinjaDict()
        if FileManager.default.fileExists(atPath: configURL.path) {
            // Errors name the file: a template error here would not say which file is broken.
            let parsed: JinjaValue
            do {
                parsed = try JinjaValue(jsonString: String(contentsOf: configURL, encoding: .utf8))
            } catch {
                throw TokenizerError.unreadableFile(path: configURL.path, reason: (error as? JinjaError)?.message ?? "\(error)")
            }
            guard case .dict(let d) = parsed else {
                throw TokenizerError.unreadableFile(path: configURL.path, reason: "the top level is not a JSON object")
            }
            config = d
        }
        try self.init(config: config)
        let jinjaURL = directory.appendingPathComponent("chat_template.jinja")
        if FileManager.default.fileExists(atPath: jinjaURL.path) {
            let source = try String(contentsOf: jinjaURL, encoding: .utf8)
            templates.removeAll { $0.name == "default" }
            templates.insert((name: "default", source: source), at: 0)
        }
    }

    /// Reads the relevant keys of an already parsed `tokenizer_config.json`.
    public init(config: JinjaDict) throws {
        templates = []
        switch config["chat_template"] {
        case .string(let s)?: templates = [(name: "default", source: s)]
        case .list(let items)?:
            for item in items {
                guard case .dict(let d) = item, case .string(let name)? = d["name"], case .string(let t)? = d["template"] else {
                    throw JinjaError(.runtime, "chat_template list entries need 'name' and 'template'")
                }
                templates.append((name: name, source: t))
            }
        case nil, .none?: break
        case let other?:
            throw TokenizerError.invalidField(
                file: "tokenizer_config.json", field: "chat_template", reason: "expected a string or a list, found \(other.typeName)")
        }
        specialTokens = [:]
        for key in ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"] {
            if let token = Self.tokenText(config[key]) { specialTokens[key] = token }
        }
        if case .list(let extra)? = config["additional_special_tokens"] {
            additionalSpecialTokens = extra.compactMap(Self.tokenText)
        }
    }

    /// A token is written either as a string or as an AddedToken object with a `content` field.
    private static func tokenText(_ v: JinjaValue?) -> String? {
        switch v {
        case .string(let s)?: return s
        case .dict(let d)?: return d["content"]?.stringValue
        default: return nil
        }
    }
}
