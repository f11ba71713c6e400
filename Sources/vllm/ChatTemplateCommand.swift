import ArgumentParser

/// `vllm chat-template`: render a model's chat template over a conversation.
struct ChatTemplateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "chat-template", abstract: "Render a chat template.")
    func run() throws {}
}
