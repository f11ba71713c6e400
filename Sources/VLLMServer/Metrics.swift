import Foundation
import VLLMEngine

/// A Prometheus histogram with fixed upper bounds (cumulative buckets are made when rendering).
struct Histogram: Sendable {
    let bounds: [Double]
    private(set) var counts: [Int]
    private(set) var sum = 0.0
    private(set) var count = 0

    init(bounds: [Double]) {
        self.bounds = bounds
        counts = Array(repeating: 0, count: bounds.count)
    }

    mutating func observe(_ value: Double) {
        if let i = bounds.firstIndex(where: { value <= $0 }) { counts[i] += 1 }
        sum += value
        count += 1
    }
}

/// vLLM's `build_1_2_5_buckets`: 1, 2, 5, 10, 20, 50, ... up to `max`.
func oneTwoFiveBuckets(upTo max: Int) -> [Double] {
    var buckets: [Double] = []
    var exponent = 0.0
    while true {
        for mantissa in [1.0, 2.0, 5.0] {
            let value = mantissa * pow(10, exponent)
            guard value <= Double(max) else { return buckets }
            buckets.append(value)
        }
        exponent += 1
    }
}

/// The server's metrics with vLLM's names and meanings: gauges and counters of the engine taken
/// from `EngineStats` when scraped, per-request histograms and counters kept here. Rendered in
/// the Prometheus text format, every series labelled with `model_name`.
public final class ServerMetrics: @unchecked Sendable {
    private let lock = NSLock()
    private let modelName: String
    private var success: [FinishReason: Int] = [:]
    private var ttft = Histogram(bounds: [
        0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0,
        640.0, 2560.0,
    ])
    private var itl = Histogram(bounds: [
        0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
    ])
    private var e2e: Histogram
    private var queue: Histogram
    private var promptTokens: Histogram
    private var generationTokens: Histogram
    /// Requests turned away because the queue was full.
    private var rejected = 0

    /// Metrics labelled with `modelName`; the token-count histograms' buckets reach `maxModelLength`.
    public init(modelName: String, maxModelLength: Int) {
        self.modelName = modelName
        let latency: [Double] = [
            0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0,
            1920.0, 7680.0,
        ]
        e2e = Histogram(bounds: latency)
        queue = Histogram(bounds: latency)
        promptTokens = Histogram(bounds: oneTwoFiveBuckets(upTo: maxModelLength))
        generationTokens = Histogram(bounds: oneTwoFiveBuckets(upTo: maxModelLength))
    }

    /// Records one finished sequence: its reason, its timings (seconds) and token counts.
    func recordFinished(
        reason: FinishReason, e2eSeconds: Double, queueSeconds: Double?, promptTokenCount: Int, generatedTokenCount: Int
    ) {
        lock.lock()
        defer { lock.unlock() }
        success[reason, default: 0] += 1
        e2e.observe(e2eSeconds)
        if let queueSeconds { queue.observe(queueSeconds) }
        promptTokens.observe(Double(promptTokenCount))
        generationTokens.observe(Double(generatedTokenCount))
    }

    func recordFirstToken(seconds: Double) {
        lock.lock()
        ttft.observe(seconds)
        lock.unlock()
    }

    func recordInterTokenLatency(seconds: Double) {
        lock.lock()
        itl.observe(seconds)
        lock.unlock()
    }

    func recordRejected() {
        lock.lock()
        rejected += 1
        lock.unlock()
    }

    /// The Prometheus text exposition of every metric, with the engine's counters from `stats`.
    public func render(stats: EngineStats) -> String {
        lock.lock()
        defer { lock.unlock() }
        var out = ""
        let label = "model_name=\"\(escapeLabel(modelName))\""
        func header(_ name: String, _ type: String, _ help: String) {
            out += "# HELP vllm:\(name) \(help)\n# TYPE vllm:\(name) \(type)\n"
        }
        func sample(_ name: String, _ value: Double, extra: String = "") {
            out += "vllm:\(name){\(label)\(extra)} \(format(value))\n"
        }
        // A counter's one sample is named with `_total`, as Prometheus clients write it.
        func gauge(_ name: String, _ value: Double, _ help: String) {
            header(name, "gauge", help)
            sample(name, value)
        }
        func counter(_ name: String, _ value: Int, _ help: String) {
            header(name, "counter", help)
            sample("\(name)_total", Double(value))
        }
        gauge("num_requests_running", Double(stats.numRunning), "Number of requests in model execution batches.")
        gauge("num_requests_waiting", Double(stats.numWaiting), "Number of requests waiting to be processed.")
        gauge("kv_cache_usage_perc", stats.kvCacheUsage, "KV-cache usage. 1 means 100 percent usage.")
        counter("prefix_cache_queries", stats.prefixCacheQueries, "Prefix cache queries, in terms of number of queried tokens.")
        counter("prefix_cache_hits", stats.prefixCacheHits, "Prefix cache hits, in terms of number of cached tokens.")
        counter("num_preemptions", stats.numPreemptions, "Cumulative number of preemptions from the engine.")
        counter("prompt_tokens", stats.promptTokens, "Number of prefill tokens processed.")
        counter("generation_tokens", stats.generationTokens, "Number of generation tokens processed.")
        header("request_success", "counter", "Count of successfully processed requests.")
        for reason in [FinishReason.stop, .length, .abort] {
            sample("request_success_total", Double(success[reason] ?? 0), extra: ",finished_reason=\"\(reason.rawValue)\"")
        }
        counter("request_rejected", rejected, "Requests refused with 503 because the request queue was full.")
        let spec = stats.speculative
        counter("spec_decode_num_drafts", spec.numDrafts, "Number of spec decoding drafts.")
        counter("spec_decode_num_draft_tokens", spec.numDraftTokens, "Number of draft tokens.")
        counter("spec_decode_num_accepted_tokens", spec.numAcceptedTokens, "Number of accepted tokens.")
        header("spec_decode_num_accepted_tokens_per_pos", "counter", "Accepted tokens per draft position.")
        for (position, count) in spec.acceptedPerPosition.enumerated() {
            sample("spec_decode_num_accepted_tokens_per_pos_total", Double(count), extra: ",position=\"\(position)\"")
        }
        func histogram(_ name: String, _ h: Histogram, _ help: String) {
            header(name, "histogram", help)
            var cumulative = 0
            for (bound, count) in zip(h.bounds, h.counts) {
                cumulative += count
                sample("\(name)_bucket", Double(cumulative), extra: ",le=\"\(format(bound))\"")
            }
            sample("\(name)_bucket", Double(h.count), extra: ",le=\"+Inf\"")
            sample("\(name)_sum", h.sum)
            sample("\(name)_count", Double(h.count))
        }
        histogram("time_to_first_token_seconds", ttft, "Histogram of time to first token in seconds.")
        histogram("inter_token_latency_seconds", itl, "Histogram of inter-token latency in seconds.")
        histogram("e2e_request_latency_seconds", e2e, "Histogram of e2e request latency in seconds.")
        histogram("request_queue_time_seconds", queue, "Histogram of time spent in WAITING phase for request.")
        histogram("request_prompt_tokens", promptTokens, "Number of prefill tokens processed.")
        histogram("request_generation_tokens", generationTokens, "Number of generation tokens processed.")
        return out
    }

    private func format(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) + ".0" }
        return String(value)
    }

    private func escapeLabel(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
