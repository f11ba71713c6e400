import ArgumentParser
import Foundation
import SwiftVLLM
import VLLMClient
import VLLMCore
import VLLMEngine
import VLLMTokenizers

/// `vllm bench serve`: vLLM's online serving benchmark against an OpenAI-compatible server.
struct BenchServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Benchmark an OpenAI-compatible server (TTFT, TPOT, ITL, throughput).")

    @Option(help: "openai (/v1/completions) or openai-chat (/v1/chat/completions).") var backend: String = "openai"
    @Option(help: "Server URL, e.g. http://127.0.0.1:8000 (default: from --host and --port).") var baseURL: String?
    @Option var host: String = "127.0.0.1"
    @Option var port: Int = 8000
    @Option(help: "API path (default: the backend's).") var endpoint: String?
    @Option(help: "Model name sent in requests (default: the server's first model).") var model: String?
    @Option(help: "Folder with tokenizer.json, for vocabulary size and chat prompts (default: the built-in model).")
    var tokenizer: String?
    @Option(help: "Only 'random' is served.") var datasetName: String = "random"
    @Option var randomInputLen: Int = 1024
    @Option var randomOutputLen: Int = 128
    @Option(help: "Lengths are drawn from [len*(1-r), len*(1+r)].") var randomRangeRatio: Double = 0
    @Option var numPrompts: Int = 1000
    @Option(help: "Requests per second ('inf' sends all at once).") var requestRate: String = "inf"
    @Option(help: "1 is Poisson; lower is burstier.") var burstiness: Double = 1
    @Option(help: "Most requests in flight at once.") var maxConcurrency: Int?
    @Flag(help: "Generate exactly the output length.") var ignoreEos = false
    @Option var seed: UInt64 = 0
    @Flag(help: "Write the result as JSON.") var saveResult = false
    @Option var resultDir: String = "."
    @Option var resultFilename: String?
    @Option(help: "Extra JSON object merged into the saved result (e.g. the server's command line).") var metadata: String?
    @Flag var disableTqdm = false
    @Option(help: "JSON object whose members are added to every request body (e.g. a response_format).") var extraBody: String?

    func run() async throws {
        guard datasetName == "random" else { throw ValidationError("--dataset-name: only 'random' is supported") }
        guard ["openai", "openai-chat", "vllm"].contains(backend) else { throw ValidationError("--backend must be openai or openai-chat") }
        guard numPrompts > 0, randomInputLen > 0, randomOutputLen > 0 else {
            throw ValidationError("--num-prompts, --random-input-len and --random-output-len must be positive")
        }
        var config = ServeBenchmark.Config()
        config.baseURL = baseURL.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? "http://\(host):\(port)"
        if config.baseURL.hasSuffix("/v1") { config.baseURL = String(config.baseURL.dropLast(3)) }
        config.endpoint = endpoint ?? (backend == "openai-chat" ? "/v1/chat/completions" : "/v1/completions")
        config.model = model
        config.numPrompts = numPrompts
        config.inputLength = randomInputLen
        config.outputLength = randomOutputLen
        config.rangeRatio = randomRangeRatio
        guard let rate = requestRate == "inf" ? Double.infinity : Double(requestRate), rate > 0 else {
            throw ValidationError("--request-rate must be a positive number or inf")
        }
        config.requestRate = rate
        config.burstiness = burstiness
        config.maxConcurrency = maxConcurrency
        config.ignoreEOS = ignoreEos
        config.seed = seed
        if let extraBody {
            guard (try? JSONSerialization.jsonObject(with: Data(extraBody.utf8))) is [String: Any] else {
                throw ValidationError("--extra-body must be a JSON object")
            }
            config.extraBody = extraBody
        }
        config.apiKey = ProcessInfo.processInfo.environment["OPENAI_API_KEY"] ?? ProcessInfo.processInfo.environment["VLLM_API_KEY"]
        let folder = tokenizer ?? EngineArgs.builtinModelPath()
        let loaded = try Tokenizer.load(folder: URL(fileURLWithPath: folder))
        config.vocabularySize = loaded.vocabularySize
        let benchmark = ServeBenchmark(config: config, detokenize: { loaded.decode($0) })

        print("Traffic request rate: \(requestRate)")
        print("Burstiness factor: \(burstiness) (\(burstiness == 1 ? "Poisson process" : "Gamma distribution"))")
        print("Maximum request concurrency: \(maxConcurrency.map(String.init) ?? "None")")
        let total = numPrompts
        let showProgress = !disableTqdm && isatty(2) != 0
        let result = try await benchmark.run(progress: { done in
            if showProgress { FileHandle.standardError.write(Data("\r\(done)/\(total) requests".utf8)) }
        })
        if showProgress { FileHandle.standardError.write(Data("\n".utf8)) }
        print(result.summary())
        if saveResult {
            var extra: [String: Any] = ["machine": machineDescription(), "tokenizer_id": folder]
            if let metadata, let data = metadata.data(using: .utf8),
                let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
            {
                for (key, value) in object { extra[key] = value }
            }
            let name = resultFilename ?? "openai-\(requestRate)qps-\(result.model.split(separator: "/").last ?? "model").json"
            let path = URL(fileURLWithPath: resultDir).appendingPathComponent(name)
            try FileManager.default.createDirectory(atPath: resultDir, withIntermediateDirectories: true)
            try result.json(extra: extra).write(to: path)
            print("Saved the result to \(path.path)")
        }
    }
}

/// The CPU model and core count, from /proc/cpuinfo where there is one.
func machineDescription() -> [String: Any] {
    var model = "unknown"
    if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
        let line = info.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
        let value = line.split(separator: ":", maxSplits: 1).last
    {
        model = value.trimmingCharacters(in: .whitespaces)
    }
    let load =
        (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "unknown"
    return [
        "cpu_model": model, "cores": ProcessInfo.processInfo.activeProcessorCount,
        "os": ProcessInfo.processInfo.operatingSystemVersionString, "loadavg_at_end": load,
    ]
}
