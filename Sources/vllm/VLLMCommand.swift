import ArgumentParser

/// The `vllm` command line: serving, generation, tokenizers and benchmarks on one binary.
@main
struct VLLMCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vllm",
        abstract: "A high-throughput LLM inference and serving engine.",
        subcommands: [
            ServeCommand.self,
            ChatCommand.self,
            CompleteCommand.self,
            GenerateCommand.self,
            BenchCommand.self,
            TokenizeCommand.self,
            DetokenizeCommand.self,
            ChatTemplateCommand.self,
            LogitsCommand.self,
        ])
}
