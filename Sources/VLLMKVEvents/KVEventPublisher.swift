import Foundation
import VLLMEngine

/// vLLM's `--kv-events-config`.
public struct KVEventsConfig: Sendable, Equatable {
    /// `enable_kv_cache_events`: publish the KV cache's stored and removed blocks (default false).
    public var enableKVCacheEvents = false
    /// "zmq" or "null".
    public var publisher = "zmq"
    /// The PUB socket: bound when it has a wildcard (`tcp://*:5557`), else connected.
    public var endpoint = "tcp://*:5557"
    /// The ROUTER socket that replays buffered batches from a sequence number, if any.
    public var replayEndpoint: String?
    /// Batches kept for replay.
    public var bufferSteps = 10_000
    /// ZeroMQ high-water mark of the PUB socket.
    public var highWaterMark = 100_000
    /// Batches waiting to be sent before new ones are dropped.
    public var maxQueueSize = 100_000
    /// The first frame of every message.
    public var topic = ""

    /// The defaults (events off).
    public init() {}

    /// Parses vLLM's JSON form; unknown keys and wrong types are errors naming them.
    public init(json: String) throws {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
            throw KVEventsError.invalidConfig("not a JSON object: \(json)")
        }
        func value<T>(_ key: String, _: T.Type) throws -> T? {
            guard let raw = object[key], !(raw is NSNull) else { return nil }
            guard let typed = raw as? T else { throw KVEventsError.invalidConfig("'\(key)' has the wrong type") }
            return typed
        }
        let known: Set = [
            "enable_kv_cache_events", "publisher", "endpoint", "replay_endpoint", "buffer_steps", "hwm", "max_queue_size", "topic",
        ]
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw KVEventsError.invalidConfig("unknown key '\(unknown)'")
        }
        enableKVCacheEvents = try value("enable_kv_cache_events", Bool.self) ?? false
        publisher = try value("publisher", String.self) ?? "zmq"
        guard ["zmq", "null"].contains(publisher) else { throw KVEventsError.invalidConfig("publisher must be zmq or null") }
        endpoint = try value("endpoint", String.self) ?? endpoint
        replayEndpoint = try value("replay_endpoint", String.self)
        bufferSteps = try value("buffer_steps", Int.self) ?? bufferSteps
        highWaterMark = try value("hwm", Int.self) ?? highWaterMark
        maxQueueSize = try value("max_queue_size", Int.self) ?? maxQueueSize
        topic = try value("topic", String.self) ?? topic
        guard bufferSteps > 0, highWaterMark >= 0, maxQueueSize > 0 else {
            throw KVEventsError.invalidConfig("buffer_steps and max_queue_size must be positive")
        }
    }

    /// Whether a publisher should run.
    public var publishes: Bool { enableKVCacheEvents && publisher == "zmq" }
}

/// Publishes each step's KV cache events over ZeroMQ as vLLM does: PUB messages of three frames
/// (topic, 8-byte big-endian sequence number, MessagePack batch), the last `bufferSteps` batches
/// kept for a ROUTER socket that replays them from a requested sequence number and then sends
/// sequence -1. A thread of its own sends, so the engine thread only queues.
public final class KVEventPublisher: @unchecked Sendable {
    private let zmq: ZeroMQ
    private let context: UnsafeMutableRawPointer?
    private let pubSocket: UnsafeMutableRawPointer?
    private let replaySocket: UnsafeMutableRawPointer?
    private let config: KVEventsConfig
    private let condition = NSCondition()
    private var queue: [KVEventBatch] = []
    private var running = true
    private var thread: Thread?
    private var nextSequence: UInt64 = 0
    private var sent: [(UInt64, [UInt8])] = []
    /// Batches dropped because the queue was full.
    public private(set) var dropped = 0

    /// Opens the sockets of `config`.
    public init(_ config: KVEventsConfig) throws {
        self.config = config
        zmq = try ZeroMQ()
        context = zmq.newContext()
        pubSocket = zmq.newSocket(context, ZeroMQ.pub)
        zmq.setInt(pubSocket, ZeroMQ.sendHighWaterMark, Int32(clamping: config.highWaterMark))
        zmq.setInt(pubSocket, ZeroMQ.linger, 0)
        let e = config.endpoint
        let binds = e.contains("*") || e.contains("::") || e.hasPrefix("ipc://") || e.hasPrefix("inproc://")
        if (binds ? zmq.bind(pubSocket, e) : zmq.connect(pubSocket, e)) != 0 {
            throw KVEventsError.zeroMQ("\(binds ? "bind" : "connect") \(e): \(zmq.lastError)")
        }
        if let replay = config.replayEndpoint {
            replaySocket = zmq.newSocket(context, ZeroMQ.router)
            zmq.setInt(replaySocket, ZeroMQ.linger, 0)
            if zmq.bind(replaySocket, replay) != 0 { throw KVEventsError.zeroMQ("bind \(replay): \(zmq.lastError)") }
        } else {
            replaySocket = nil
        }
        let thread = Thread { [unowned self] in self.run() }
        thread.name = "vllm-kv-events"
        self.thread = thread
        thread.start()
    }

    /// Queues one step's events (from the engine thread); drops them when the queue is full.
    public func publish(_ events: [KVCacheEvent]) {
        condition.lock()
        if queue.count < config.maxQueueSize {
            queue.append(KVEventBatch(timestamp: Date().timeIntervalSince1970, events: events))
        } else {
            dropped += 1
        }
        condition.signal()
        condition.unlock()
    }

    /// Sends what is queued, then closes the sockets.
    public func shutdown() {
        condition.lock()
        running = false
        condition.signal()
        condition.unlock()
        while thread?.isFinished == false { usleep(1000) }
        _ = zmq.close(pubSocket)
        if let replaySocket { _ = zmq.close(replaySocket) }
        _ = zmq.terminate(context)
    }

    private func run() {
        while true {
            serveReplay()
            condition.lock()
            if queue.isEmpty && running { _ = condition.wait(until: Date().addingTimeInterval(0.05)) }
            let batches = queue
            queue.removeAll()
            let stop = !running && batches.isEmpty
            condition.unlock()
            for batch in batches { send(batch) }
            if stop { return }
        }
    }

    private func send(_ batch: KVEventBatch) {
        let payload = batch.messagePack.encoded
        let sequence = nextSequence
        nextSequence += 1
        do {
            try zmq.sendMultipart(pubSocket, [Array(config.topic.utf8), Self.bigEndian(Int64(sequence)), payload])
        } catch {
            FileHandle.standardError.write(Data("KV events: \(error)\n".utf8))
        }
        sent.append((sequence, payload))
        if sent.count > config.bufferSteps { sent.removeFirst(sent.count - config.bufferSteps) }
    }

    /// Answers replay requests `[identity, "", start sequence]` with every kept batch from that
    /// sequence on, then the end marker (sequence -1, empty payload).
    private func serveReplay() {
        guard let replaySocket else { return }
        while let frames = zmq.receiveMultipart(replaySocket) {
            guard frames.count == 3, frames[2].count == 8 else { continue }
            let start = frames[2].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let client = frames[0]
            for (sequence, payload) in sent where sequence >= start {
                try? zmq.sendMultipart(replaySocket, [client, [], Self.bigEndian(Int64(sequence)), payload])
            }
            try? zmq.sendMultipart(replaySocket, [client, [], Self.bigEndian(-1), []])
        }
    }

    static func bigEndian(_ value: Int64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * Int64($0))) } }
}
