import ArgumentParser

/// `vllm generate`: offline generation.
struct GenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "generate", abstract: "Generate text offline.")
    func run() async throws {}
}
