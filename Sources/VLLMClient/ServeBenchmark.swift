import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat

/// vLLM's serving benchmark (`vllm bench serve`) against any OpenAI-compatible server: random
/// prompts sent at a Poisson (or gamma, with burstiness) request rate, optionally capped in
/// concurrency, each streamed so that time to first token and inter-token latencies are measured
/// where the client sees them.
public struct ServeBenchmark: Sendable {
    /// What to send, with vLLM's option names in comments.
    public struct Config: Sendable {
        /// `--base-url` (or http://HOST:PORT).
        public var baseURL = "http://127.0.0.1:8000"
        /// `--endpoint`: /v1/completions or /v1/chat/completions.
        public var endpoint = "/v1/completions"
        /// `--model`; nil asks the server's /v1/models.
        public var model: String?
        /// `--num-prompts`: how many requests to send.
        public var numPrompts = 1000
        /// `--random-input-len`: the prompt length in tokens.
        public var inputLength = 1024
        /// `--random-output-len`: the tokens each request asks for (`max_tokens`).
        public var outputLength = 128
        /// `--random-range-ratio`: lengths are drawn from [len·(1−r), len·(1+r)].
        public var rangeRatio = 0.0
        /// Requests per second; infinity sends them all at once.
        public var requestRate = Double.infinity
        /// 1 is a Poisson process; lower is burstier, higher more regular.
        public var burstiness = 1.0
        /// `--max-concurrency`: the most requests in flight at once; nil is no limit.
        public var maxConcurrency: Int?
        /// `--ignore-eos`: ask the server to generate all `outputLength` tokens.
        public var ignoreEOS = false
        /// `--seed`: the same seed sends the same prompts at the same times.
        public var seed: UInt64 = 0
        /// Sent as `Authorization: Bearer` when set.
        public var apiKey: String?
        /// Token ids are drawn below this (the model's vocabulary size).
        public var vocabularySize = 32000
        /// `--extra-body`: a JSON object whose members are added to every request's body (for
        /// example a `response_format`), replacing the benchmark's own where names meet.
        public var extraBody: String?
        /// vLLM's defaults: 1000 prompts of 1024 tokens, 128 output tokens, all sent at once.
        public init() {}
    }

    /// What happened to one request.
    public struct RequestResult: Sendable {
        /// Whether the request streamed at least one chunk and no error.
        public var success = false
        /// The prompt's length in tokens.
        public var promptLength = 0
        /// Tokens generated, as the final chunk's `usage.completion_tokens` reports them.
        public var outputTokens = 0
        /// Time to first token, in seconds from sending.
        public var ttft = 0.0
        /// Inter-token latencies: the seconds between successive chunks.
        public var itl: [Double] = []
        /// Seconds from sending to the last chunk.
        public var latency = 0.0
        /// The streamed text, put together.
        public var generatedText = ""
        /// What went wrong (an HTTP status and body, a stream error, a connection error); empty on success.
        public var error = ""
    }

    /// What the benchmark sends.
    public let config: Config
    /// Turns token ids into text, for the chat endpoint (which takes text only).
    public let detokenize: (@Sendable ([Int]) -> String)?

    /// A benchmark of `config`; `detokenize` turns prompts into text for the chat endpoint (without it, token ids are joined with spaces).
    public init(config: Config, detokenize: (@Sendable ([Int]) -> String)? = nil) {
        self.config = config
        self.detokenize = detokenize
    }

    /// The random dataset as vLLM builds it: per request a random offset, then consecutive ids.
    public func makePrompts() -> [(tokens: [Int], outputLength: Int)] {
        var random = SplitMix(seed: config.seed)
        func length(_ base: Int) -> Int {
            let low = max(1, Int((Double(base) * (1 - config.rangeRatio)).rounded(.down)))
            let high = max(low, Int((Double(base) * (1 + config.rangeRatio)).rounded(.down)))
            return Int.random(in: low...high, using: &random)
        }
        return (0..<config.numPrompts).map { i in
            let inputLength = length(config.inputLength)
            let offset = Int.random(in: 0..<config.vocabularySize, using: &random)
            let tokens = (0..<inputLength).map { (offset + i + $0) % config.vocabularySize }
            return (tokens, length(config.outputLength))
        }
    }

    /// Runs the benchmark; `progress` is told of each finished request.
    public func run(progress: (@Sendable (Int) -> Void)? = nil) async throws -> ServeBenchmarkResult {
        var clientConfig = HTTPClient.Configuration()
        clientConfig.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(8, config.maxConcurrency ?? config.numPrompts))
        clientConfig.timeout = .init(connect: .seconds(10), read: .seconds(600))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfig)
        do {
            let result = try await run(client: client, progress: progress)
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    private func run(client: HTTPClient, progress: (@Sendable (Int) -> Void)?) async throws -> ServeBenchmarkResult {
        let model = try await resolveModel(client)
        let prompts = makePrompts()
        let limiter = ConcurrencyLimiter(limit: config.maxConcurrency ?? Int.max)
        var random = SplitMix(seed: config.seed &+ 1)
        let start = ContinuousClock.now
        let results = try await withThrowingTaskGroup(of: (Int, RequestResult).self) { group in
            for (i, prompt) in prompts.enumerated() {
                if i > 0, config.requestRate.isFinite {
                    let interval = gammaSample(shape: config.burstiness, scale: 1 / (config.requestRate * config.burstiness), &random)
                    try await Task.sleep(for: .milliseconds(Int(interval * 1000)))
                }
                group.addTask {
                    await limiter.acquire()
                    let result = await send(client: client, model: model, prompt: prompt.tokens, outputLength: prompt.outputLength)
                    await limiter.release()
                    return (i, result)
                }
            }
            var results = [RequestResult](repeating: RequestResult(), count: prompts.count)
            var done = 0
            for try await (i, result) in group {
                results[i] = result
                done += 1
                progress?(done)
            }
            return results
        }
        let duration = (ContinuousClock.now - start).components
        let seconds = Double(duration.seconds) + Double(duration.attoseconds) * 1e-18
        return ServeBenchmarkResult(config: config, model: model, duration: seconds, results: results)
    }

    private func resolveModel(_ client: HTTPClient) async throws -> String {
        if let model = config.model { return model }
        var request = HTTPClientRequest(url: config.baseURL + "/v1/models")
        if let key = config.apiKey { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        let response = try await client.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok,
            let object = try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any],
            let data = object["data"] as? [[String: Any]], let id = data.first?["id"] as? String
        else {
            throw ServeBenchmarkError("cannot list the models of \(config.baseURL) (status \(response.status.code))")
        }
        return id
    }

    /// The request body as JSON: `body`, then the members of the JSON object `extra` as written
    /// (spliced in as text, so that their key order, which is a JSON schema's property order,
    /// survives), replacing members of `body` of the same name.
    static func bodyJSON(_ body: [String: Any], extra: String?) throws -> Data {
        guard let extra, let names = try JSONSerialization.jsonObject(with: Data(extra.utf8)) as? [String: Any], !names.isEmpty else {
            return try JSONSerialization.data(withJSONObject: body)
        }
        let own = try JSONSerialization.data(withJSONObject: body.filter { names[$0.key] == nil })
        let members = extra.trimmingCharacters(in: .whitespacesAndNewlines).dropFirst()
        return Data(String(decoding: own, as: UTF8.self).dropLast().utf8) + Data((own.count > 2 ? "," : "").utf8) + Data(members.utf8)
    }

    /// Sends one streaming request and times its chunks as they arrive.
    func send(client: HTTPClient, model: String, prompt: [Int], outputLength: Int) async -> RequestResult {
        var result = RequestResult()
        result.promptLength = prompt.count
        let chat = config.endpoint.hasSuffix("chat/completions")
        var body: [String: Any] = [
            "model": model, "max_tokens": outputLength, "temperature": 0.0, "stream": true,
            "stream_options": ["include_usage": true], "ignore_eos": config.ignoreEOS,
        ]
        if chat {
            body["messages"] = [["role": "user", "content": detokenize?(prompt) ?? prompt.map(String.init).joined(separator: " ")]]
        } else {
            body["prompt"] = prompt
        }
        var request = HTTPClientRequest(url: config.baseURL + config.endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let key = config.apiKey { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        guard let json = try? Self.bodyJSON(body, extra: config.extraBody) else { return result }
        request.body = .bytes(ByteBuffer(data: json))
        let start = ContinuousClock.now
        var mostRecent = start
        var firstChunk = false
        do {
            let response = try await client.execute(request, timeout: .seconds(3600))
            guard response.status == .ok else {
                let text = try await response.body.collect(upTo: 1 << 20)
                result.error = "HTTP \(response.status.code): \(String(buffer: text))"
                return result
            }
            var pending = ""
            for try await buffer in response.body {
                pending += String(buffer: buffer)
                while let range = pending.range(of: "\n\n") {
                    let event = pending[..<range.lowerBound]
                    pending = String(pending[range.upperBound...])
                    for line in event.split(separator: "\n") where line.hasPrefix("data:") {
                        let payload = line.dropFirst(5).trimmingCharacters(in: .whitespaces)
                        if payload == "[DONE]" { continue }
                        guard let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any] else { continue }
                        if let error = object["error"] as? [String: Any] {
                            result.error = error["message"] as? String ?? "error in stream"
                            continue
                        }
                        let now = ContinuousClock.now
                        if let choices = object["choices"] as? [[String: Any]], let choice = choices.first {
                            let text = chat ? ((choice["delta"] as? [String: Any])?["content"] as? String) : choice["text"] as? String
                            if chat, text == nil || text == "", choice["finish_reason"] is NSNull || choice["finish_reason"] == nil {
                                continue
                            }
                            if !firstChunk {
                                firstChunk = true
                                result.ttft = (now - start).seconds
                            } else {
                                result.itl.append((now - mostRecent).seconds)
                            }
                            mostRecent = now
                            result.generatedText += text ?? ""
                        } else if let usage = object["usage"] as? [String: Any], let tokens = usage["completion_tokens"] as? Int {
                            result.outputTokens = tokens
                        }
                    }
                }
            }
            result.latency = (mostRecent - start).seconds
            result.success = firstChunk && result.error.isEmpty
            if !firstChunk && result.error.isEmpty { result.error = "never received a valid chunk" }
        } catch {
            result.error = "\(error)"
        }
        return result
    }
}

/// An error of the benchmark itself (not of one request).
public struct ServeBenchmarkError: Error, CustomStringConvertible {
    /// What went wrong.
    public var description: String
    /// An error that says `description`.
    public init(_ description: String) { self.description = description }
}

/// The summary vLLM prints and saves.
public struct ServeBenchmarkResult: Sendable {
    /// The configuration that was run.
    public let config: ServeBenchmark.Config
    /// The model the requests named.
    public let model: String
    /// Wall-clock seconds from the first request sent to the last one finished.
    public let duration: Double
    /// Every request's result, in the order they were sent.
    public let results: [ServeBenchmark.RequestResult]

    var successful: [ServeBenchmark.RequestResult] { results.filter(\.success) }
    /// Requests that succeeded.
    public var completed: Int { successful.count }
    /// Prompt tokens of the successful requests.
    public var totalInput: Int { successful.reduce(0) { $0 + $1.promptLength } }
    /// Generated tokens of the successful requests.
    public var totalOutput: Int { successful.reduce(0) { $0 + $1.outputTokens } }
    /// Successful requests per second.
    public var requestThroughput: Double { Double(completed) / duration }
    /// Generated tokens per second.
    public var outputThroughput: Double { Double(totalOutput) / duration }
    /// Prompt plus generated tokens per second.
    public var totalTokenThroughput: Double { Double(totalInput + totalOutput) / duration }
    var ttfts: [Double] { successful.map(\.ttft) }
    var tpots: [Double] {
        successful.compactMap { $0.outputTokens > 1 ? ($0.latency - $0.ttft) / Double($0.outputTokens - 1) : nil }
    }
    var itls: [Double] { successful.flatMap(\.itl) }
    var e2els: [Double] { successful.map(\.latency) }

    /// The report as vLLM prints it (times in milliseconds).
    public func summary() -> String {
        var lines: [String] = []
        func title(_ text: String, fill: Character) {
            let width = 50, pad = max(0, width - text.count)
            lines.append(String(repeating: fill, count: pad / 2) + text + String(repeating: fill, count: pad - pad / 2))
        }
        func row(_ label: String, _ value: String) { lines.append(label.padding(toLength: 40, withPad: " ", startingAt: 0) + " " + value) }
        func row(_ label: String, _ value: Double) { row(label, String(format: "%.2f", value)) }
        title(" Serving Benchmark Result ", fill: "=")
        row("Successful requests:", String(completed))
        if results.count > completed { row("Failed requests:", String(results.count - completed)) }
        if let c = config.maxConcurrency { row("Maximum request concurrency:", String(c)) }
        if config.requestRate.isFinite { row("Request rate configured (RPS):", config.requestRate) }
        row("Benchmark duration (s):", duration)
        row("Total input tokens:", String(totalInput))
        row("Total generated tokens:", String(totalOutput))
        row("Request throughput (req/s):", requestThroughput)
        row("Output token throughput (tok/s):", outputThroughput)
        row("Total Token throughput (tok/s):", totalTokenThroughput)
        for (name, long, values) in [
            ("TTFT", "Time to First Token", ttfts), ("TPOT", "Time per Output Token (excl. 1st token)", tpots),
            ("ITL", "Inter-token Latency", itls), ("E2EL", "End-to-end Latency", e2els),
        ] {
            title(long, fill: "-")
            row("Mean \(name) (ms):", mean(values) * 1000)
            row("Median \(name) (ms):", percentile(values, 50) * 1000)
            row("P99 \(name) (ms):", percentile(values, 99) * 1000)
        }
        lines.append(String(repeating: "=", count: 50))
        if let error = results.first(where: { !$0.success })?.error {
            lines.append("First error: \(error)")
        }
        return lines.joined(separator: "\n")
    }

    /// vLLM's result JSON (times in milliseconds), plus whatever `extra` adds (the machine, ...).
    public func json(extra: [String: Any] = [:]) throws -> Data {
        var object: [String: Any] = [
            "date": ISO8601DateFormatter().string(from: Date()),
            "backend": config.endpoint.hasSuffix("chat/completions") ? "openai-chat" : "openai",
            "model_id": model, "base_url": config.baseURL, "endpoint": config.endpoint, "dataset_name": "random",
            "num_prompts": config.numPrompts, "random_input_len": config.inputLength, "random_output_len": config.outputLength,
            "random_range_ratio": config.rangeRatio,
            "request_rate": config.requestRate.isFinite ? config.requestRate as Any : "inf", "burstiness": config.burstiness,
            "max_concurrency": config.maxConcurrency.map { $0 as Any } ?? NSNull(), "ignore_eos": config.ignoreEOS,
            "extra_body": config.extraBody.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } ?? NSNull(),
            "duration": duration, "completed": completed, "failed": results.count - completed,
            "total_input_tokens": totalInput, "total_output_tokens": totalOutput,
            "request_throughput": requestThroughput, "output_throughput": outputThroughput,
            "total_token_throughput": totalTokenThroughput,
            "errors": results.map(\.error).filter { !$0.isEmpty }.prefix(20).map { $0 },
        ]
        for (name, values) in [("ttft", ttfts), ("tpot", tpots), ("itl", itls), ("e2el", e2els)] {
            object["mean_\(name)_ms"] = mean(values) * 1000
            object["median_\(name)_ms"] = percentile(values, 50) * 1000
            object["std_\(name)_ms"] = standardDeviation(values) * 1000
            object["p99_\(name)_ms"] = percentile(values, 99) * 1000
        }
        for (key, value) in extra { object[key] = value }
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    }
}

func mean(_ values: [Double]) -> Double { values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count) }

func standardDeviation(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let m = mean(values)
    return (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count)).squareRoot()
}

/// numpy's default (linear) percentile; 0 for no values. `vllm bench latency` reports with it too.
public func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    let rank = p / 100 * Double(sorted.count - 1)
    let low = Int(rank.rounded(.down)), high = min(low + 1, sorted.count - 1)
    return sorted[low] + (sorted[high] - sorted[low]) * (rank - Double(low))
}

/// Marsaglia and Tsang's gamma sampler; shape 1 gives the exponential gaps of a Poisson process.
func gammaSample(shape: Double, scale: Double, _ random: inout SplitMix) -> Double {
    if shape < 1 {
        let u = Double.random(in: Double.ulpOfOne..<1, using: &random)
        return gammaSample(shape: shape + 1, scale: scale, &random) * pow(u, 1 / shape)
    }
    let d = shape - 1.0 / 3, c = 1 / (9 * d).squareRoot()
    while true {
        var x = 0.0, v = 0.0
        repeat {
            // Box-Muller for a standard normal draw.
            let u1 = Double.random(in: Double.ulpOfOne..<1, using: &random), u2 = Double.random(in: 0..<1, using: &random)
            x = (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
            v = 1 + c * x
        } while v <= 0
        v = v * v * v
        let u = Double.random(in: Double.ulpOfOne..<1, using: &random)
        if log(u) < 0.5 * x * x + d - d * v + d * log(v) { return d * v * scale }
    }
}

/// A small seedable generator, so that the same seed sends the same prompts at the same times.
public struct SplitMix: RandomNumberGenerator, Sendable {
    var state: UInt64
    /// A generator whose sequence is fixed by `seed`.
    public init(seed: UInt64) { state = seed }
    /// The next 64 random bits (SplitMix64).
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// At most `limit` holders at once; the rest wait in order.
actor ConcurrencyLimiter {
    private let limit: Int
    private var held = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) { self.limit = limit }

    func acquire() async {
        if held < limit {
            held += 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func release() {
        if waiters.isEmpty {
            held -= 1
        } else {
            waiters.removeFirst().resume()
        }
    }
}

extension Duration {
    /// The duration in seconds.
    fileprivate var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
