import Foundation
import Testing

@testable import VLLMTokenizers

/// A broken tokenizer_config.json is named in the error, and a chat template of the wrong type is
/// an error rather than a model that silently has no template.
@Suite struct ChatTemplateConfigErrorTests {
    func error(tokenizerConfig text: String) -> String {
        let folder = URL(fileURLWithPath: NSTemporaryDirectory() + "vllm-template-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try? Data(text.utf8).write(to: folder.appendingPathComponent("tokenizer_config.json"))
        do {
            _ = try ChatTemplateConfig(directory: folder)
            return "no error"
        } catch {
            return "\(error)".replacingOccurrences(of: folder.path, with: "DIR")
        }
    }

    @Test func brokenJSONNamesTheFile() {
        #expect(error(tokenizerConfig: #"{"chat_template": 5"#).hasPrefix("cannot read DIR/tokenizer_config.json: "))
        #expect(error(tokenizerConfig: "[1]") == "cannot read DIR/tokenizer_config.json: the top level is not a JSON object")
    }

    @Test func chatTemplateOfTheWrongType() {
        let message = error(tokenizerConfig: #"{"chat_template": 5}"#)
        #expect(message.contains("chat_template") && message.contains("expected a string or a list, found int"), "\(message)")
        #expect(error(tokenizerConfig: #"{"chat_template": null}"#) == "no error")
    }
}
