import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat

/// A small client of an OpenAI-compatible server, for `vllm chat --url` and `vllm complete --url`:
/// lists models and streams completions, handing each text delta to a callback.
public final class OpenAIClient: Sendable {
    /// The API root, e.g. http://localhost:8000/v1.
    public let baseURL: String
    /// Sent as `Authorization: Bearer` when set.
    public let apiKey: String?
    private let client: HTTPClient

    /// A client of the server at `baseURL` (`/v1` is added when missing).
    public init(baseURL: String, apiKey: String?) {
        var url = baseURL
        while url.hasSuffix("/") { url.removeLast() }
        if !url.hasSuffix("/v1") { url += "/v1" }
        self.baseURL = url
        self.apiKey = apiKey
        client = HTTPClient(eventLoopGroupProvider: .singleton)
    }

    /// Closes the client's connections; call once when done.
    public func shutdown() async throws { try await client.shutdown() }

    /// The first model the server lists.
    public func firstModel() async throws -> String {
        var request = HTTPClientRequest(url: baseURL + "/models")
        if let apiKey { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        let response = try await client.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok, let object = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any],
            let id = (object["data"] as? [[String: Any]])?.first?["id"] as? String
        else {
            throw ServeBenchmarkError("\(baseURL)/models answered \(response.status.code): \(String(buffer: body))")
        }
        return id
    }

    /// Streams `/chat/completions` (when `body` has messages) or `/completions`; returns the whole text.
    @discardableResult
    public func stream(chat: Bool, body: [String: Any], onDelta: (String) -> Void) async throws -> String {
        var body = body
        body["stream"] = true
        var request = HTTPClientRequest(url: baseURL + (chat ? "/chat/completions" : "/completions"))
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let apiKey { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        request.body = .bytes(ByteBuffer(data: try JSONSerialization.data(withJSONObject: body)))
        let response = try await client.execute(request, timeout: .seconds(3600))
        guard response.status == .ok else {
            let text = try await response.body.collect(upTo: 1 << 20)
            let message =
                ((try? JSONSerialization.jsonObject(with: Data(buffer: text))) as? [String: Any])
                .flatMap { ($0["error"] as? [String: Any])?["message"] as? String } ?? String(buffer: text)
            throw ServeBenchmarkError("the server answered \(response.status.code): \(message)")
        }
        var pending = ""
        var whole = ""
        for try await buffer in response.body {
            pending += String(buffer: buffer)
            while let range = pending.range(of: "\n\n") {
                let event = String(pending[..<range.lowerBound])
                pending = String(pending[range.upperBound...])
                guard event.hasPrefix("data: ") else { continue }
                let payload = event.dropFirst(6)
                if payload == "[DONE]" { return whole }
                guard let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any] else { continue }
                if let error = object["error"] as? [String: Any] {
                    throw ServeBenchmarkError("error in stream: \(error["message"] as? String ?? "unknown")")
                }
                guard let choice = (object["choices"] as? [[String: Any]])?.first else { continue }
                let text = chat ? (choice["delta"] as? [String: Any])?["content"] as? String : choice["text"] as? String
                if let text, !text.isEmpty {
                    whole += text
                    onDelta(text)
                }
            }
        }
        return whole
    }
}
