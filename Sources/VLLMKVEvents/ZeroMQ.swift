import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// libzmq's C API, loaded with dlopen when KV cache events are asked for, so that building and
/// running without events needs no ZeroMQ (Debian's `libzmq5` provides it).
final class ZeroMQ: @unchecked Sendable {
    static let pub: Int32 = 1, router: Int32 = 6
    static let dontWait: Int32 = 1, sendMore: Int32 = 2
    static let sendHighWaterMark: Int32 = 23, linger: Int32 = 17, receiveMore: Int32 = 13

    typealias NewContext = @convention(c) () -> UnsafeMutableRawPointer?
    typealias NewSocket = @convention(c) (UnsafeMutableRawPointer?, Int32) -> UnsafeMutableRawPointer?
    typealias Endpoint = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>) -> Int32
    typealias SetOption = @convention(c) (UnsafeMutableRawPointer?, Int32, UnsafeRawPointer?, Int) -> Int32
    typealias GetOption = @convention(c) (UnsafeMutableRawPointer?, Int32, UnsafeMutableRawPointer?, UnsafeMutablePointer<Int>) -> Int32
    typealias Send = @convention(c) (UnsafeMutableRawPointer?, UnsafeRawPointer?, Int, Int32) -> Int32
    typealias Receive = @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, Int, Int32) -> Int32
    typealias Close = @convention(c) (UnsafeMutableRawPointer?) -> Int32
    typealias Errno = @convention(c) () -> Int32
    typealias StrError = @convention(c) (Int32) -> UnsafePointer<CChar>?

    let newContext: NewContext, newSocket: NewSocket, bind: Endpoint, connect: Endpoint
    let setOption: SetOption, getOption: GetOption, send: Send, receive: Receive, close: Close, terminate: Close
    let errno: Errno, strerror: StrError

    /// Loads libzmq, or says why it cannot.
    init() throws {
        let names = ["libzmq.so.5", "libzmq.so", "libzmq.5.dylib", "libzmq.dylib"]
        guard let handle = names.lazy.compactMap({ dlopen($0, RTLD_NOW) }).first else {
            throw KVEventsError.zeroMQMissing
        }
        func symbol<T>(_ name: String, _: T.Type) throws -> T {
            guard let pointer = dlsym(handle, name) else { throw KVEventsError.zeroMQ("libzmq has no \(name)") }
            return unsafeBitCast(pointer, to: T.self)
        }
        newContext = try symbol("zmq_ctx_new", NewContext.self)
        newSocket = try symbol("zmq_socket", NewSocket.self)
        bind = try symbol("zmq_bind", Endpoint.self)
        connect = try symbol("zmq_connect", Endpoint.self)
        setOption = try symbol("zmq_setsockopt", SetOption.self)
        getOption = try symbol("zmq_getsockopt", GetOption.self)
        send = try symbol("zmq_send", Send.self)
        receive = try symbol("zmq_recv", Receive.self)
        close = try symbol("zmq_close", Close.self)
        terminate = try symbol("zmq_ctx_term", Close.self)
        errno = try symbol("zmq_errno", Errno.self)
        strerror = try symbol("zmq_strerror", StrError.self)
    }

    /// The last error's text.
    var lastError: String { strerror(errno()).map { String(cString: $0) } ?? "error \(errno())" }

    func setInt(_ socket: UnsafeMutableRawPointer?, _ option: Int32, _ value: Int32) {
        var v = value
        _ = setOption(socket, option, &v, MemoryLayout<Int32>.size)
    }

    /// Sends `frames` as one multipart message.
    func sendMultipart(_ socket: UnsafeMutableRawPointer?, _ frames: [[UInt8]]) throws {
        for (i, frame) in frames.enumerated() {
            let flags = i < frames.count - 1 ? Self.sendMore : 0
            let sent = frame.withUnsafeBytes { send(socket, $0.baseAddress, $0.count, flags) }
            if sent < 0 { throw KVEventsError.zeroMQ("send: \(lastError)") }
        }
    }

    /// Receives one multipart message without waiting; nil when none is there.
    func receiveMultipart(_ socket: UnsafeMutableRawPointer?) -> [[UInt8]]? {
        var frames: [[UInt8]] = []
        var flags = Self.dontWait
        while true {
            var buffer = [UInt8](repeating: 0, count: 256)
            let count = buffer.withUnsafeMutableBytes { receive(socket, $0.baseAddress, $0.count, flags) }
            if count < 0 { return frames.isEmpty ? nil : frames }
            frames.append(Array(buffer.prefix(Int(min(count, 256)))))
            var more: Int32 = 0
            var size = MemoryLayout<Int32>.size
            _ = getOption(socket, Self.receiveMore, &more, &size)
            if more == 0 { return frames }
            flags = 0
        }
    }
}

/// Why KV cache events cannot be published.
public enum KVEventsError: Error, CustomStringConvertible, Equatable {
    case zeroMQMissing
    case zeroMQ(String)
    case invalidConfig(String)

    /// The message for the user: what failed and what to install or fix.
    public var description: String {
        switch self {
        case .zeroMQMissing: "KV cache events need libzmq (Debian: apt-get install libzmq5)"
        case .zeroMQ(let detail): "ZeroMQ: \(detail)"
        case .invalidConfig(let detail): "invalid value for 'kv_events_config': \(detail)"
        }
    }
}
