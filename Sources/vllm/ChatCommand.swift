import ArgumentParser
import Foundation
import SwiftVLLM
import VLLMClient
import VLLMEngine
import VLLMTokenizers

/// `vllm chat`: an interactive chat in the terminal that streams each answer as it is generated,
/// with a model loaded here or, with `--url`, with a running server.
struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat", abstract: "Chat with a model in the terminal (or with a running server: --url).")

    @Option(help: "Talk to a running OpenAI-compatible server at this API root (e.g. http://localhost:8000/v1).")
    var url: String?

    @Option(help: "With --url: the model name (default: the first one the server lists).")
    var modelName: String?

    @Option(help: "With --url: API key (default: OPENAI_API_KEY or VLLM_API_KEY).")
    var apiKey: String?

    @Option(name: [.customShort("q"), .long], help: "Send one message, print the reply and exit.")
    var quick: String?

    @OptionGroup var engine: EngineOptions
    @OptionGroup var sampling: SamplingOptions

    @Option(help: "A chat template file to use instead of the model's own.")
    var chatTemplate: String?

    @Option(help: "A system message that starts the conversation.")
    var systemPrompt: String?

    func run() async throws {
        if let url {
            let env = ProcessInfo.processInfo.environment
            var body: [String: Any] = ["max_tokens": sampling.maxTokens]
            if let temperature = sampling.temperature { body["temperature"] = temperature }
            try await chatWithServer(
                client: OpenAIClient(baseURL: url, apiKey: apiKey ?? env["OPENAI_API_KEY"] ?? env["VLLM_API_KEY"]),
                modelName: modelName, body: body, systemPrompt: systemPrompt, quick: quick)
            return
        }
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
        if quick == nil { writeToTerminal("Type a message; an empty line or end of input quits.\n") }
        while true {
            let line: String
            if let quick {
                guard turn == 0 else { break }
                line = quick
            } else {
                writeToTerminal("> ")
                guard let input = readLine(), !input.isEmpty else { break }
                line = input
            }
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
