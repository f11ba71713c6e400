import Foundation
import NIOCore

/// Tells the requests of a connection that their client has gone away. Hummingbird allows remote
/// half-closure, so a client that hangs up shows only as the end of the input (the connection is
/// not closed until the server writes); a non-streaming handler, busy waiting for the engine, would
/// not notice until its whole generation was done. This handler sits in each connection's pipeline
/// and aborts the connection's running requests as soon as its input ends or it closes.
final class DisconnectWatcher: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = NIOAny

    private struct Entry {
        weak var run: (any Abortable)?
    }

    private let lock = NSLock()
    private var runs: [Entry] = []
    private var disconnected = false

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event { abortAll() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        abortAll()
        context.fireChannelInactive()
    }

    /// Watches `run` for this connection; aborts it at once if the client is already gone. Runs are
    /// held weakly (a keep-alive connection carries many), and forgotten once they are gone.
    func watch(_ run: any Abortable) {
        lock.lock()
        let gone = disconnected
        if !gone {
            runs.removeAll { $0.run == nil }
            runs.append(Entry(run: run))
        }
        lock.unlock()
        if gone { run.abort() }
    }

    private func abortAll() {
        lock.lock()
        disconnected = true
        let live = runs.compactMap(\.run)
        runs.removeAll()
        lock.unlock()
        for run in live { run.abort() }
    }

    /// The watcher of `channel`'s pipeline, if the server installed one.
    static func find(on channel: any Channel) async -> DisconnectWatcher? {
        try? await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.handler(type: DisconnectWatcher.self)
        }.get()
    }
}
