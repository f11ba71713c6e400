import AsyncHTTPClient
import Foundation
import HummingbirdTesting
import NIOCore
import NIOFoundationCompat
import SwiftVLLM
import XCTest

@testable import VLLMClient
@testable import VLLMServer

/// A POST of `json` (already serialised) to the live server on `port`.
private func jsonRequest(_ port: Int, _ path: String, _ json: String) -> HTTPClientRequest {
    var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
    request.method = .POST
    request.headers.add(name: "Content-Type", value: "application/json")
    request.body = .bytes(ByteBuffer(string: json))
    return request
}

/// `object` as JSON text.
private func jsonText(_ object: [String: Any]) -> String {
    String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
}

final class LoadTests: XCTestCase {
    /// Streaming and non-streaming clients that hang up have their requests aborted and their
    /// blocks freed at once; the others finish.
    func testDisconnectsAbortRequests() async throws {
        try await withServer(maxNumSeqs: 256, blocks: 2048) { client, serving in
            let port = client.port!
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            // A streaming client reads one chunk and hangs up.
            let streaming = jsonText(["prompt": "Once upon a time", "max_tokens": 500, "ignore_eos": true, "stream": true])
            let streamTask = Task {
                let response = try await http.execute(jsonRequest(port, "/v1/completions", streaming), timeout: .seconds(60))
                for try await _ in response.body { break }
            }
            try? await streamTask.value
            try await eventually("the streaming request aborted") { serving.admittedSequences == 0 }
            let afterStream = serving.engine.stats
            XCTAssertLessThan(afterStream.generationTokens, 450, "the stream was not cut short")
            // A non-streaming client gives up while waiting.
            // 32 samples of 480 tokens: long enough to be cut short even on a fast machine.
            let long = jsonText(["prompt": "Once upon a time", "max_tokens": 480, "ignore_eos": true, "n": 32])
            let waitingTask = Task {
                _ = try await http.execute(jsonRequest(port, "/v1/completions", long), timeout: .seconds(60))
            }
            try await eventually("the second request running") {
                serving.admittedSequences == 32 && serving.engine.stats.generationTokens > afterStream.generationTokens
            }
            waitingTask.cancel()
            _ = try? await waitingTask.value
            try await eventually("the waiting request aborted") { serving.admittedSequences == 0 }
            let stats = serving.engine.stats
            XCTAssertEqual(stats.numRunning, 0)
            XCTAssertEqual(stats.kvCacheUsage, 0)
            XCTAssertLessThan(stats.generationTokens - afterStream.generationTokens, 32 * 480, "the request was not cut short")
            let metrics = try await client.execute(uri: "/metrics", method: .get).text
            XCTAssertTrue(metrics.contains("finished_reason=\"abort\"} 33.0"), metrics)
            try await http.shutdown()
        }
    }

    /// Many concurrent streams, a third of them dropped early: the rest all finish and the KV pool
    /// is whole afterwards.
    func testConcurrentStreamsWithRandomDisconnects() async throws {
        try await withServer(maxNumSeqs: 256, blocks: 4096) { client, serving in
            let port = client.port!
            let http = HTTPClient(
                eventLoopGroupProvider: .singleton,
                configuration: .init(connectionPool: .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 256)))
            let count = 120
            let finished = try await withThrowingTaskGroup(of: Bool.self) { group in
                for i in 0..<count {
                    let body = jsonText([
                        "prompt": "Once upon a time \(i)", "max_tokens": 40, "ignore_eos": true, "stream": true, "temperature": 0.8,
                        "seed": i,
                    ])
                    let dropAfter = i % 3 == 0 ? 2 : Int.max
                    group.addTask {
                        let response = try await http.execute(jsonRequest(port, "/v1/completions", body), timeout: .seconds(120))
                        var text = ""
                        var events = 0
                        for try await buffer in response.body {
                            text += String(buffer: buffer)
                            events += 1
                            if events >= dropAfter { return false }
                        }
                        XCTAssertTrue(text.hasSuffix("data: [DONE]\n\n"))
                        return true
                    }
                }
                var finished = 0
                for try await done in group where done { finished += 1 }
                return finished
            }
            XCTAssertEqual(finished, count - count / 3)
            try await eventually(seconds: 30, "every sequence released") { serving.admittedSequences == 0 }
            try await eventually("the KV pool empty") { serving.engine.stats.kvCacheUsage == 0 && serving.engine.stats.numRunning == 0 }
            let metrics = try await client.execute(uri: "/metrics", method: .get).text
            XCTAssertTrue(metrics.contains("vllm:kv_cache_usage_perc{model_name=\"\(serving.servedName)\"} 0.0"), metrics)
            try await http.shutdown()
        }
    }

    /// When the queue is full, a clear 503; once it drains, requests are served again.
    func testQueueFullGives503() async throws {
        var options = ServerOptions()
        options.chatTemplate = try fixtureTemplate()
        options.maxQueuedSequences = 1
        try await withServer(options: options, maxNumSeqs: 1) { client, serving in
            let port = client.port!
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            let long = jsonText(["prompt": "Once upon a time", "max_tokens": 400, "ignore_eos": true])
            let a = Task { try await http.execute(jsonRequest(port, "/v1/completions", long), timeout: .seconds(60)).status }
            let b = Task { try await http.execute(jsonRequest(port, "/v1/completions", long), timeout: .seconds(60)).status }
            try await eventually("two sequences admitted") { serving.admittedSequences == 2 }
            let refused = try await client.post("/v1/completions", ["prompt": "Hi", "max_tokens": 2])
            XCTAssertEqual(refused.status, .serviceUnavailable)
            XCTAssertEqual(refused.error["code"] as? Int, 503)
            let statusA = try await a.value
            let statusB = try await b.value
            XCTAssertEqual(statusA, .ok)
            XCTAssertEqual(statusB, .ok)
            let after = try await client.post("/v1/completions", ["prompt": "Hi", "max_tokens": 2])
            XCTAssertEqual(after.status, .ok)
            let metrics = try await client.execute(uri: "/metrics", method: .get).text
            XCTAssertTrue(metrics.contains("vllm:request_rejected_total{model_name=\"\(serving.servedName)\"} 1.0"))
            try await http.shutdown()
        }
    }

    func testMetrics() async throws {
        try await withServer { client, serving in
            _ = try await client.post("/v1/completions", ["prompt": "Once upon a time", "max_tokens": 5, "ignore_eos": true])
            _ = try await client.post("/v1/completions", ["prompt": "Once upon a time", "max_tokens": 5, "n": 2, "ignore_eos": true])
            let response = try await client.execute(uri: "/metrics", method: .get)
            XCTAssertEqual(response.status, .ok)
            let text = response.text
            let label = "model_name=\"\(serving.servedName)\""
            for name in [
                "num_requests_running", "num_requests_waiting", "kv_cache_usage_perc", "prefix_cache_queries_total",
                "prefix_cache_hits_total", "num_preemptions_total", "prompt_tokens_total", "generation_tokens_total",
                "time_to_first_token_seconds_count", "inter_token_latency_seconds_count", "e2e_request_latency_seconds_count",
                "request_queue_time_seconds_count", "request_prompt_tokens_count", "request_generation_tokens_count",
            ] {
                XCTAssertTrue(text.contains("vllm:\(name){\(label)}"), name)
            }
            XCTAssertTrue(text.contains("vllm:request_success_total{\(label),finished_reason=\"length\"}"))
            XCTAssertTrue(text.contains("vllm:e2e_request_latency_seconds_count{\(label)} 3.0"), text)
            XCTAssertTrue(text.contains("vllm:generation_tokens_total{\(label)} 15.0"), text)
            XCTAssertTrue(text.contains("# TYPE vllm:time_to_first_token_seconds histogram"))
        }
    }

    /// `vllm bench serve`'s engine against the live server.
    func testServeBenchmark() async throws {
        try await withServer(maxNumSeqs: 64, blocks: 1024) { client, serving in
            var config = ServeBenchmark.Config()
            config.baseURL = "http://127.0.0.1:\(client.port!)"
            config.numPrompts = 12
            config.inputLength = 32
            config.outputLength = 16
            config.ignoreEOS = true
            config.maxConcurrency = 4
            config.requestRate = 200
            config.vocabularySize = 512
            let result = try await ServeBenchmark(config: config).run()
            XCTAssertEqual(result.completed, 12, result.results.map(\.error).joined(separator: "; "))
            XCTAssertEqual(result.totalInput, 12 * 32)
            XCTAssertEqual(result.totalOutput, 12 * 16)
            let summary = result.summary()
            for line in ["Successful requests:", "Benchmark duration (s):", "Mean TTFT (ms):", "P99 ITL (ms):", "Median TPOT (ms):"] {
                XCTAssertTrue(summary.contains(line), line)
            }
            XCTAssertNotNil(try JSONSerialization.jsonObject(with: result.json()) as? [String: Any])
            _ = serving
        }
    }

    /// `--extra-body` reaches every request with its members in the order written (a schema's
    /// property order), replacing the benchmark's own fields of the same name.
    func testServeBenchmarkExtraBody() async throws {
        let extra = #"{"structured_outputs": {"regex": "[0-9]{4}"}, "z": {"b": 1, "a": 2}, "ignore_eos": false}"#
        let body = String(decoding: try ServeBenchmark.bodyJSON(["ignore_eos": true, "max_tokens": 8], extra: extra), as: UTF8.self)
        XCTAssertTrue(body.hasSuffix(#""structured_outputs": {"regex": "[0-9]{4}"}, "z": {"b": 1, "a": 2}, "ignore_eos": false}"#), body)
        XCTAssertEqual(body.components(separatedBy: "ignore_eos").count, 2, body)
        try await withServer(maxNumSeqs: 8, blocks: 256) { client, _ in
            var config = ServeBenchmark.Config()
            config.baseURL = "http://127.0.0.1:\(client.port!)"
            config.numPrompts = 4
            config.inputLength = 8
            config.outputLength = 16
            config.vocabularySize = 512
            config.extraBody = extra
            let result = try await ServeBenchmark(config: config).run()
            XCTAssertEqual(result.completed, 4, result.results.map(\.error).joined(separator: "; "))
            for request in result.results {
                XCTAssertNotNil(request.generatedText.range(of: "^[0-9]{4}$", options: .regularExpression), request.generatedText)
            }
        }
    }
}
