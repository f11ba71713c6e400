import Foundation
import VLLMTokenizers

/// Renders conversations into prompts with a model's chat template, as transformers'
/// `apply_chat_template` does, and tokenizes them without adding special tokens again (the
/// template already writes them).
public struct ChatPromptRenderer: Sendable {
    private let template: ChatTemplate
    private let config: ChatTemplateConfig
    private let tokenizer: Tokenizer

    /// Uses `chatTemplate` (a template source) when given, else the folder's own template.
    public init(folder: String, tokenizer: Tokenizer, chatTemplate: String? = nil) throws {
        config = try Self.config(folder: folder, tokenizer: tokenizer)
        guard let source = chatTemplate ?? config.defaultTemplate else {
            throw EngineError.invalidPrompt(
                "the model has no chat template (tokenizer_config.json has no chat_template); pass one with --chat-template")
        }
        template = try ChatTemplate(source)
        self.tokenizer = tokenizer
    }

    /// The chat-template settings of a model: its folder's tokenizer_config.json or
    /// chat_template.jinja, or, where the folder has none (a GGUF model), the template and special
    /// tokens that came with `tokenizer` (a GGUF file's `tokenizer.chat_template`).
    public static func config(folder: String, tokenizer: Tokenizer?) throws -> ChatTemplateConfig {
        var config = try ChatTemplateConfig(directory: URL(fileURLWithPath: folder))
        if let tokenizer, config.templates.isEmpty && !tokenizer.chatTemplates.isEmpty {
            config.templates = tokenizer.chatTemplates.sorted { $0.key < $1.key }.map { (name: $0.key, source: $0.value) }
            config.specialTokens = tokenizer.specialTokens
        }
        return config
    }

    /// The prompt text and its token ids for `messages` (each a dict with `role` and `content`).
    public func render(
        messages: [JinjaValue], addGenerationPrompt: Bool = true, tools: [JinjaValue]? = nil,
        extraContext: [String: JinjaValue] = [:]
    ) throws -> (text: String, tokenIDs: [Int]) {
        var context = config.extraContext
        for (key, value) in extraContext { context[key] = value }
        let text: String
        do {
            text = try template.render(
                messages: messages, addGenerationPrompt: addGenerationPrompt, tools: tools, extraContext: context,
                specialTokens: config.specialTokens)
        } catch {
            throw EngineError.invalidPrompt("chat template: \(error)")
        }
        return (text, tokenizer.encode(text, addSpecialTokens: false))
    }
}

extension LLM {
    /// Generates a reply to each conversation with the model's chat template (vLLM's `LLM.chat`).
    public func chat(
        _ conversations: [[JinjaValue]], _ params: SamplingParams, chatTemplate: String? = nil,
        addGenerationPrompt: Bool = true, showProgress: Bool = true
    ) throws -> [RequestOutput] {
        guard let tokenizer else { throw EngineError.invalidPrompt("the model folder has no tokenizer.json") }
        let renderer = try ChatPromptRenderer(folder: folder.path, tokenizer: tokenizer, chatTemplate: chatTemplate)
        let prompts = try conversations.map { try renderer.render(messages: $0, addGenerationPrompt: addGenerationPrompt).tokenIDs }
        return try generate(prompts.map(Prompt.tokens), params, showProgress: showProgress)
    }
}
