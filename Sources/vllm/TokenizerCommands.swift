import ArgumentParser
import Foundation
import VLLMCore
import VLLMEngine
import VLLMTokenizers

/// Resolves `--model` (relative paths against the current directory) and loads the tokenizer: a
/// folder's tokenizer.json, or the one a GGUF file's metadata describes. A missing folder gives a
/// message that says where it looked.
func loadTokenizer(model: String) throws -> Tokenizer {
    let url = URL(fileURLWithPath: model, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).standardizedFileURL
    if GGUFCheckpoint.isGGUF(url.path) {
        guard let tokenizer = try VLLMEngine.loadTokenizer(ModelFolder(path: url.path)) else {
            throw CommandError("\(url.path) has no tokenizer in its metadata (tokenizer.ggml.model, tokenizer.ggml.tokens)")
        }
        return tokenizer
    }
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue else {
        throw CommandError(
            "model folder not found: \(url.path) (pass --model DIR; the default Models/stories260K is looked up in the current directory)")
    }
    do {
        return try Tokenizer.load(folder: url)
    } catch let e as TokenizerError {
        throw CommandError(e.description)
    }
}

/// The line filter of `vllm tokenize` and `vllm detokenize`: each non-blank line of standard
/// input read by `parse` and written back by `render`, one line each, in 64 KiB writes. A line
/// that does not parse stops the command with its 1-based number; the lines before it are still
/// written out.
func mapInputLines<Value>(parse: (String) throws -> Value, render: (Value) -> String) throws {
    var out = ""
    defer { FileHandle.standardOutput.write(Data(out.utf8)) }
    var number = 0
    while let line = readLine(strippingNewline: true) {
        number += 1
        if line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { continue }
        let value: Value
        do { value = try parse(line) } catch { throw CommandError("standard input line \(number): \(error)") }
        out += render(value)
        out += "\n"
        if out.utf8.count > 1 << 16 { FileHandle.standardOutput.write(Data(out.utf8)); out = "" }
    }
}

/// `vllm tokenize`: JSON Lines of strings in, JSON arrays of ids out.
struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Encode text to token ids.",
        discussion: "Reads one JSON string per line on standard input and writes one JSON array of ids per line.")

    @Option(name: .long, help: "Model folder with tokenizer.json (and tokenizer_config.json), or a GGUF file.")
    var model: String = "Models/stories260K"

    @Flag(name: .customLong("no-special-tokens"), help: "Do not add BOS/EOS or other template tokens.")
    var noSpecialTokens = false

    @Option(name: .customLong("bench-file"), help: "Instead of reading standard input, time encoding this file and print JSON.")
    var benchFile: String?

    @Option(name: .customLong("bench-iterations"), help: "Timed encodes of --bench-file (after one warm-up).")
    var benchIterations: Int = 5

    @Flag(
        name: .customLong("bench-chunks"),
        help: "With --bench-file: encode it paragraph by paragraph (split at blank lines), like many short prompts.")
    var benchChunks = false

    func run() throws {
        let tokenizer = try loadTokenizer(model: model)
        if let benchFile {
            try benchmark(tokenizer, file: benchFile)
            return
        }
        try mapInputLines(parse: TokenizerJSONLines.parseString) {
            TokenizerJSONLines.encodeIDs(tokenizer.encode($0, addSpecialTokens: !noSpecialTokens))
        }
    }

    private func benchmark(_ tokenizer: Tokenizer, file: String) throws {
        guard let data = FileManager.default.contents(atPath: file) else { throw CommandError("cannot read --bench-file \(file)") }
        let text = String(decoding: data, as: UTF8.self)
        let bytes = text.utf8.count
        // Paragraphs keep their separating blank line so the chunks add up to the file.
        var pieces = benchChunks ? text.components(separatedBy: "\n\n") : [text]
        if benchChunks { for k in 0..<(pieces.count - 1) { pieces[k] += "\n\n" } }
        let special = !noSpecialTokens
        func encodeAll() -> Int { pieces.reduce(0) { $0 + tokenizer.encode($1, addSpecialTokens: special).count } }
        var tokens = encodeAll()
        var times: [Double] = []
        var cpuTimes: [Double] = []
        // CPU time of this thread as well as wall time: on a loaded machine the wall clock
        // also counts the time other processes held the core.
        func threadCPU() -> Double {
            var ts = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
            return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
        }
        for _ in 0..<max(1, benchIterations) {
            let start = DispatchTime.now().uptimeNanoseconds
            let cpuStart = threadCPU()
            tokens = encodeAll()
            cpuTimes.append(threadCPU() - cpuStart)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        times.sort()
        cpuTimes.sort()
        let median = times[times.count / 2]
        let json = """
            {"bytes":\(bytes),"chunks":\(pieces.count),"tokens":\(tokens),"iterations":\(times.count),"seconds":\(median),"best_seconds":\(times[0]),"best_cpu_seconds":\(cpuTimes[0]),"mb_per_s":\(Double(bytes) / median / 1e6)}
            """
        print(json)
    }
}

/// `vllm detokenize`: JSON arrays of ids in, JSON strings out.
struct DetokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detokenize",
        abstract: "Decode token ids to text.",
        discussion: "Reads one JSON array of ids per line on standard input and writes one JSON string per line.")

    @Option(name: .long, help: "Model folder with tokenizer.json (and tokenizer_config.json), or a GGUF file.")
    var model: String = "Models/stories260K"

    @Flag(name: .customLong("skip-special-tokens"), help: "Leave special tokens out of the text.")
    var skipSpecialTokens = false

    func run() throws {
        let tokenizer = try loadTokenizer(model: model)
        try mapInputLines(parse: TokenizerJSONLines.parseIDs) {
            TokenizerJSONLines.encodeString(tokenizer.decode($0, skipSpecialTokens: skipSpecialTokens))
        }
    }
}

/// A failure reported as one line on standard error (without the usage text that
/// ArgumentParser prints for validation errors), with exit status 1.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
