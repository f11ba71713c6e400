import ArgumentParser
import Foundation
import VLLMCore
import VLLMEngine
import VLLMTokenizers

/// `vllm chat-template`: render a model's chat template over a conversation.
///
/// Prints exactly the rendered prompt (no newline added), so the output can be compared byte
/// for byte with transformers' `apply_chat_template(..., tokenize=False)`. Set SOURCE_DATE_EPOCH
/// to fix the date that `strftime_now` reports.
struct ChatTemplateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "chat-template", abstract: "Render a chat template.")

    @Option(help: "Model folder with tokenizer_config.json (or chat_template.jinja), or a GGUF file (its tokenizer.chat_template).")
    var model: String = "Models/stories260K"

    @Option(help: "JSON file with the messages: an array, or an object with a \"messages\" array ('-' for stdin).")
    var messages: String

    @Option(name: .customLong("chat-template"), help: "Jinja template file to use instead of the model's.")
    var chatTemplate: String?

    @Flag(name: .customLong("add-generation-prompt"), help: "Append the prompt that opens an assistant turn.")
    var addGenerationPrompt = false

    @Option(help: "JSON file with an array of tool definitions.")
    var tools: String?

    func run() throws {
        let config = try ChatPromptRenderer.config(
            folder: model, tokenizer: GGUFCheckpoint.isGGUF(model) ? loadTokenizer(model: model) : nil)
        let source: String
        if let chatTemplate {
            source = try String(contentsOfFile: chatTemplate, encoding: .utf8)
        } else if let s = config.defaultTemplate {
            source = s
        } else {
            throw CommandError(
                "\(model) has no chat template (tokenizer_config.json chat_template, chat_template.jinja or a GGUF file's tokenizer.chat_template); pass --chat-template"
            )
        }

        let messagesJSON = try Self.readJSON(messages)
        var conversation: [JinjaValue]
        var extra = config.extraContext
        var toolList: [JinjaValue]?
        switch messagesJSON {
        case .list(let items):
            conversation = items
        case .dict(let d):
            guard case .list(let items)? = d["messages"] else { throw CommandError("\(messages): expected a \"messages\" array") }
            conversation = items
            if case .list(let t)? = d["tools"] { toolList = t }
            // Other keys of the object become template variables (e.g. "date_string").
            for (k, v) in zip(d.keys, d.values) {
                if case .string(let name) = k, name != "messages", name != "tools" { extra[name] = v }
            }
        default:
            throw CommandError("\(messages): expected a JSON array of messages")
        }
        if let tools {
            guard case .list(let t) = try Self.readJSON(tools) else { throw CommandError("\(tools): expected a JSON array") }
            toolList = t
        }

        do {
            var template = try ChatTemplate(source)
            // SOURCE_DATE_EPOCH (the reproducible-builds convention) pins strftime_now, in UTC.
            if let epoch = ProcessInfo.processInfo.environment["SOURCE_DATE_EPOCH"].flatMap(Double.init) {
                template.now = { Date(timeIntervalSince1970: epoch) }
                template.timeZone = TimeZone(identifier: "UTC")!
            }
            let prompt = try template.render(
                messages: conversation, addGenerationPrompt: addGenerationPrompt, tools: toolList,
                extraContext: extra, specialTokens: config.specialTokens)
            FileHandle.standardOutput.write(Data(prompt.utf8))
        } catch let error as JinjaError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    private static func readJSON(_ path: String) throws -> JinjaValue {
        let data = path == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: path))
        return try JinjaValue(jsonData: data)
    }
}
