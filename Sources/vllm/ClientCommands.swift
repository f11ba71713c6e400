import ArgumentParser
import Foundation
import VLLMClient

/// Options of the commands that talk to a running server.
struct ServerClientOptions: ParsableArguments {
    @Option(help: "The server's API root.") var url: String = "http://localhost:8000/v1"
    @Option(help: "Model name (default: the first one the server lists).") var modelName: String?
    @Option(help: "API key (default: OPENAI_API_KEY or VLLM_API_KEY).") var apiKey: String?
    /// (Values that start with a dash are read as values, as `SamplingOptions` reads them.)
    @Option(parsing: .unconditional) var maxTokens: Int?
    @Option(parsing: .unconditional) var temperature: Double?

    func client() -> OpenAIClient {
        let env = ProcessInfo.processInfo.environment
        return OpenAIClient(baseURL: url, apiKey: apiKey ?? env["OPENAI_API_KEY"] ?? env["VLLM_API_KEY"])
    }

    func body(model: String) -> [String: Any] {
        var body: [String: Any] = ["model": model]
        if let maxTokens { body["max_tokens"] = maxTokens }
        if let temperature { body["temperature"] = temperature }
        return body
    }
}

/// Writes a delta at once (the reply appears as it is generated).
private func emit(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}

/// A conversation with a running OpenAI-compatible server (`vllm chat --url`, as vLLM's `vllm chat`).
func chatWithServer(
    client: OpenAIClient, modelName: String?, body base: [String: Any], systemPrompt: String?, quick: String?
) async throws {
    do {
        let model: String
        if let name = modelName { model = name } else { model = try await client.firstModel() }
        var messages: [[String: String]] = systemPrompt.map { [["role": "system", "content": $0]] } ?? []
        func ask(_ text: String) async throws {
            messages.append(["role": "user", "content": text])
            var body = base
            body["model"] = model
            body["messages"] = messages
            let reply = try await client.stream(chat: true, body: body, onDelta: emit)
            emit("\n")
            messages.append(["role": "assistant", "content": reply])
        }
        if let quick {
            try await ask(quick)
        } else {
            emit("Using model \(model). Type a message; an empty line or end of input quits.\n")
            while true {
                emit("> ")
                guard let line = readLine(), !line.isEmpty else { break }
                try await ask(line)
            }
        }
        try await client.shutdown()
    } catch {
        try? await client.shutdown()
        throw error
    }
}

/// `vllm complete`: text completion with a running server (vLLM's `vllm complete`).
struct CompleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "complete", abstract: "Complete prompts with a running OpenAI-compatible server.")

    @OptionGroup var server: ServerClientOptions
    @Option(name: [.customShort("q"), .long], help: "Complete one prompt and exit.") var quick: String?

    func run() async throws {
        let client = server.client()
        do {
            let model: String
            if let name = server.modelName { model = name } else { model = try await client.firstModel() }
            func complete(_ prompt: String) async throws {
                var body = server.body(model: model)
                body["prompt"] = prompt
                try await client.stream(chat: false, body: body, onDelta: emit)
                emit("\n")
            }
            if let quick {
                try await complete(quick)
            } else {
                print("Using model \(model). Type a prompt; an empty line or end of input quits.")
                while true {
                    emit("> ")
                    guard let line = readLine(), !line.isEmpty else { break }
                    try await complete(line)
                }
            }
            try await client.shutdown()
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}
