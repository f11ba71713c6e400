import ArgumentParser

/// `vllm tokenize`: JSON Lines of strings in, JSON arrays of ids out.
struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tokenize", abstract: "Encode text to token ids.")
    func run() throws {}
}

/// `vllm detokenize`: JSON arrays of ids in, JSON strings out.
struct DetokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "detokenize", abstract: "Decode token ids to text.")
    func run() throws {}
}
