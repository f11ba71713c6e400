import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOFoundationCompat
import SwiftVLLM
import VLLMEngine
import VLLMTestSupport
import XCTest

@testable import VLLMServer

/// The simple chat template of the fixtures: "role: content" lines, then "assistant:".
func fixtureTemplate() throws -> String {
    let url = Bundle.module.url(forResource: "Fixtures/simple_chat", withExtension: "jinja")!
    return try String(contentsOf: url, encoding: .utf8)
}

/// An engine on the built-in model with a small KV cache (tests run side by side), with
/// `configure` applied to its arguments last.
func makeEngine(maxNumSeqs: Int = 64, blocks: Int = 256, configure: (inout EngineArgs) -> Void = { _ in }) throws -> AsyncEngine {
    var args = EngineArgs(model: RepositoryFiles.path("Models/stories260K"))
    args.numGPUBlocksOverride = blocks
    args.maxNumSeqs = maxNumSeqs
    configure(&args)
    return try AsyncEngine(args: args)
}

/// Runs `body` against a live server (random port) over a fresh engine; the engine is shut down
/// with the server.
func withServer(
    options: ServerOptions? = nil, maxNumSeqs: Int = 64, blocks: Int = 256, configure: (inout EngineArgs) -> Void = { _ in },
    _ body: @Sendable (any TestClientProtocol, OpenAIServing) async throws -> Void
) async throws {
    var opts = options ?? ServerOptions()
    if options == nil { opts.chatTemplate = try fixtureTemplate() }
    opts.logRequests = false
    opts.statsLogInterval = 0
    let engine = try makeEngine(maxNumSeqs: maxNumSeqs, blocks: blocks, configure: configure)
    let serving = try OpenAIServing(engine: engine, options: opts)
    var logger = Logger(label: "test")
    logger.logLevel = .warning
    let app = OpenAIRoutes.application(serving, host: "127.0.0.1", port: 0, logger: logger)
    try await app.test(.live) { client in try await body(client, serving) }
    engine.shutdown()
}

extension TestClientProtocol {
    /// POSTs `json` (an object serialised here) to `uri`.
    func post(_ uri: String, _ json: [String: Any], headers: HTTPFields = [:]) async throws -> TestResponse {
        let data = try JSONSerialization.data(withJSONObject: json)
        var headers = headers
        headers[.contentType] = "application/json"
        return try await execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(data: data))
    }

    /// POSTs raw bytes, as JSON unless `headers` says otherwise.
    func postRaw(_ uri: String, _ text: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        var headers = headers
        if headers[.contentType] == nil { headers[.contentType] = "application/json" }
        return try await execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: text))
    }
}

extension TestResponse {
    /// The body as a JSON object.
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any] ?? [:]
    }

    var text: String { String(buffer: body) }

    /// The `data:` payloads of a server-sent event stream, in order.
    var events: [String] {
        text.components(separatedBy: "\n\n").filter { !$0.isEmpty }.map { event in
            event.hasPrefix("data: ") ? String(event.dropFirst(6)) : "<bad event: \(event)>"
        }
    }

    /// The error object of an error response.
    var error: [String: Any] { json["error"] as? [String: Any] ?? [:] }
}

/// Parses one event payload.
func jsonObject(_ text: String) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
}

/// Waits until `condition` holds (polling), failing after `seconds`.
func eventually(seconds: Double = 10, _ what: String, _ condition: () -> Bool) async throws {
    let deadline = Date().addingTimeInterval(seconds)
    while !condition() {
        if Date() > deadline {
            XCTFail("timed out waiting for: \(what)")
            return
        }
        try await Task.sleep(for: .milliseconds(20))
    }
}
