import Hummingbird
import NIOCore

/// Server-sent events as OpenAI streams them: `data: <json>` events, then `data: [DONE]`.
enum ServerSentEvents {
    static let headers: HTTPFields = [
        .contentType: "text/event-stream; charset=utf-8",
        .cacheControl: "no-cache",
    ]

    /// One `data:` event holding `value` as compact JSON.
    static func event(_ value: some Encodable) -> ByteBuffer {
        var buffer = ByteBuffer(string: "data: ")
        buffer.writeBytes(encodeJSON(value))
        buffer.writeString("\n\n")
        return buffer
    }

    /// The last event of every stream.
    static let done = ByteBuffer(string: "data: [DONE]\n\n")

    /// Ends a stream whose request failed after its status was sent: the error's body as the last
    /// event, then `[DONE]`.
    static func fail(_ writer: inout any ResponseBodyWriter, with error: any Error) async throws {
        try await writer.write(event(APIError.from(error).body))
        try await writer.write(done)
    }

    /// A streaming response whose body `write` produces; `onEnd` runs when the body ends or fails
    /// (a client that went away), so that the request's engine work is always stopped.
    static func response(
        write: @escaping @Sendable (inout any ResponseBodyWriter) async throws -> Void, onEnd: @escaping @Sendable () -> Void
    ) -> Response {
        Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                defer { onEnd() }
                try await write(&writer)
                try await writer.finish(nil)
            })
    }
}
