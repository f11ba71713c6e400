import ArgumentParser
import Foundation
import VLLMEngine
import VLLMTokenizers

/// `vllm chat`: an interactive chat in the terminal that streams each answer as it is generated.
struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "chat", abstract: "Chat with a model in the terminal.")

    @OptionGroup var engine: EngineOptions
    @OptionGroup var sampling: SamplingOptions

    @Option(help: "A chat template file to use instead of the model's own.")
    var chatTemplate: String?

    @Option(help: "A system message that starts the conversation.")
    var systemPrompt: String?

    func run() async throws {
        let engine = try AsyncEngine(args: self.engine.engineArgs())
        defer { engine.shutdown() }
        guard let tokenizer = engine.tokenizer, let folder = engine.folder else {
            throw ValidationError("the model folder has no tokenizer.json")
        }
        let template = try chatTemplate.map { try String(contentsOfFile: $0, encoding: .utf8) }
        let renderer = try ChatPromptRenderer(folder: folder.path, tokenizer: tokenizer, chatTemplate: template)
        var params = try sampling.params(defaults: folder.generationConfig)
        if sampling.maxTokens == 16 { params.maxTokens = nil }
        var messages: [JinjaValue] = systemPrompt.map { [["role": .string("system"), "content": .string($0)]] } ?? []
        var turn = 0
        writeToTerminal("Type a message; an empty line or end of input quits.\n")
        while true {
            writeToTerminal("> ")
            guard let line = readLine(), !line.isEmpty else { break }
            messages.append(["role": "user", "content": .string(line)])
            let prompt = try renderer.render(messages: messages)
            var answer = ""
            for await result in engine.generate(
                requestID: "chat-\(turn)", promptTokenIDs: prompt.tokenIDs, params: params, delta: true)
            {
                let output = try result.get()
                let piece = output.outputs[0].text
                answer += piece
                writeToTerminal(piece)
            }
            writeToTerminal("\n")
            messages.append(["role": "assistant", "content": .string(answer)])
            turn += 1
        }
    }
}

/// Writes text to standard output at once (no line buffering), for streamed answers.
func writeToTerminal(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}
