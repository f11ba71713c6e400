import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

/// Hummingbird's HTTP/1.1 channel with deadlines on what a client sends, so that idle or
/// byte-by-byte connections cannot pile up (each holds a socket; enough of them locked every client
/// out): a request head must arrive within `headerTimeout` of its first byte, its body within
/// `bodyTimeout` of the head, and a connection between requests is closed after `idleTimeout`. A
/// request whose `Content-Length` is over the body limit is answered 413 at once, unread.
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let responder: HTTPChannelHandler.Responder
    let options: ServerOptions

    /// The server builder for `Application`.
    static func builder(options: ServerOptions) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in GuardedHTTP1Channel(responder: responder, options: options) }
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let deadlines = ConnectionDeadlines(channel: channel, options: options)
        let http1 = HTTP1Channel(
            responder: responder,
            configuration: .init(additionalChannelHandlers: [
                DisconnectWatcher(), RequestPartWatch(deadlines, maxBody: options.maxRequestBodyBytes),
            ]))
        return channel.eventLoop.makeCompletedFuture {
            // First in the pipeline: it sees the raw bytes, before the HTTP decoder waits for a whole head.
            try channel.pipeline.syncOperations.addHandler(RawBytesWatch(deadlines), position: .first)
        }.flatMap { http1.setup(channel: channel, logger: logger) }
    }

    func handle(value: Value, logger: Logger) async {
        await HTTP1Channel(responder: responder).handle(value: value, logger: logger)
    }
}

/// Where a connection is in its request cycle, and the one timer that closes it when a phase lasts
/// too long. Used only on the connection's event loop.
final class ConnectionDeadlines: @unchecked Sendable {
    enum Phase { case idle, head, body, responding, rejected }
    private(set) var phase = Phase.idle
    private let channel: any Channel
    private let options: ServerOptions
    private var timer: Scheduled<Void>?

    init(channel: any Channel, options: ServerOptions) {
        self.channel = channel
        self.options = options
    }

    /// Enters `phase`, with its deadline (none while the server responds).
    func enter(_ phase: Phase) {
        self.phase = phase
        timer?.cancel()
        timer = nil
        let seconds: Double? =
            switch phase {
            case .idle: options.idleTimeout
            case .head: options.headerTimeout
            case .body: options.bodyTimeout
            case .responding, .rejected: nil
            }
        guard let seconds, seconds > 0 else { return }
        let channel = channel
        timer = channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(seconds * 1e9))) { channel.close(promise: nil) }
    }

    /// Stops the timer (the connection closed).
    func cancel() {
        timer?.cancel()
        timer = nil
    }
}

/// Sees a connection's raw bytes: the first byte of a request starts the header deadline.
final class RawBytesWatch: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    private let deadlines: ConnectionDeadlines

    init(_ deadlines: ConnectionDeadlines) { self.deadlines = deadlines }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { deadlines.enter(.idle) }
    }

    func channelActive(context: ChannelHandlerContext) {
        deadlines.enter(.idle)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadlines.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if deadlines.phase == .idle { deadlines.enter(.head) }
        context.fireChannelRead(data)
    }
}

/// Sees the decoded request parts and the response: a head starts the body deadline (or is refused
/// with 413 when its Content-Length is over the limit), the end of the request stops the clock
/// while the server responds, and the end of the response starts the idle deadline.
final class RequestPartWatch: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart
    private let deadlines: ConnectionDeadlines
    private let maxBody: Int

    init(_ deadlines: ConnectionDeadlines, maxBody: Int) {
        self.deadlines = deadlines
        self.maxBody = maxBody
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard deadlines.phase != .rejected else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            if let length = head.headerFields[.contentLength].flatMap({ Int($0) }), length > maxBody {
                reject(context, length: length)
                return
            }
            deadlines.enter(.body)
        case .body:
            break
        case .end:
            deadlines.enter(.responding)
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), deadlines.phase == .responding { deadlines.enter(.idle) }
        context.write(data, promise: promise)
    }

    /// Answers 413 without reading the body, then closes the connection.
    private func reject(_ context: ChannelHandlerContext, length: Int) {
        deadlines.enter(.rejected)
        let error = APIError(
            status: .contentTooLarge,
            message: "the request body (Content-Length \(length)) is larger than the server accepts (\(maxBody) bytes)")
        let body = ByteBuffer(bytes: encodeJSON(error.body))
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        fields[.contentLength] = String(body.readableBytes)
        fields[.connection] = "close"
        context.write(wrapOutboundOut(.head(HTTPResponse(status: .contentTooLarge, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
