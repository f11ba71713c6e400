import Foundation

/// A model split over the ranks of a tensor-parallel group, one worker thread per rank, driven by
/// the one scheduler as if it were one model. Threads rather than processes: the CPU group's
/// collectives share memory directly, and one process keeps a single static binary and a single
/// engine; a CUDA group would run the same way with one thread per GPU.
public final class TensorParallelExecutor: ModelExecutor, @unchecked Sendable {
    private let ranks: [any ModelExecutor]
    private let workers: RankWorkers

    /// Runs `ranks[r]` on worker thread `r`; rank 0's logits are returned (all ranks hold the same).
    public init(ranks: [any ModelExecutor]) {
        precondition(!ranks.isEmpty)
        self.ranks = ranks
        workers = RankWorkers(count: ranks.count)
    }

    /// Rank 0's configuration (the whole model's).
    public var config: ModelConfig { ranks[0].config }
    /// The ranks' backend and their number, e.g. `cpu x2`.
    public var backendName: String { "\(ranks[0].backendName) x\(ranks.count)" }

    /// Bytes of one block over all ranks (each rank caches only its KV heads).
    public func kvCacheBytesPerBlock(blockSize: Int) -> Int {
        ranks.reduce(0) { $0 + $1.kvCacheBytesPerBlock(blockSize: blockSize) }
    }

    /// Makes every rank's KV cache of `numBlocks` blocks.
    public func allocateKVCache(numBlocks: Int, blockSize: Int) {
        workers.run { self.ranks[$0].allocateKVCache(numBlocks: numBlocks, blockSize: blockSize) }
    }

    /// Runs the step on every rank at once and returns rank 0's logits.
    public func execute(_ batch: ForwardBatch) -> [Float] {
        let results = LockedArray<[Float]>(count: ranks.count, initial: [])
        workers.run { rank in results.set(rank, self.ranks[rank].execute(batch)) }
        return results.get(0)
    }
}

/// One long-lived thread per rank: each `run` hands every thread its rank and waits for all.
/// (Dispatch's pool may run fewer threads than ranks, which would deadlock the collectives.)
/// The threads end when this object goes away.
final class RankWorkers: @unchecked Sendable {
    /// What the threads share; they hold it, not the workers object, so that it can go away.
    private final class Shared: @unchecked Sendable {
        let start: [DispatchSemaphore]
        let done = DispatchSemaphore(value: 0)
        var job: (@Sendable (Int) -> Void)?
        var stopping = false
        init(count: Int) { start = (0..<count).map { _ in DispatchSemaphore(value: 0) } }
    }

    private let shared: Shared

    init(count: Int) {
        let shared = Shared(count: count)
        self.shared = shared
        for rank in 0..<count {
            let thread = Thread {
                while true {
                    shared.start[rank].wait()
                    if shared.stopping { return }
                    shared.job?(rank)
                    shared.done.signal()
                }
            }
            thread.name = "vllm-rank-\(rank)"
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    deinit {
        shared.stopping = true
        shared.start.forEach { $0.signal() }
    }

    func run(_ body: @escaping @Sendable (Int) -> Void) {
        shared.job = body
        shared.start.forEach { $0.signal() }
        for _ in shared.start { shared.done.wait() }
        shared.job = nil
    }
}

/// A fixed-size array written by several threads, one slot each.
final class LockedArray<Element>: @unchecked Sendable {
    private var values: [Element]
    private let lock = NSLock()
    init(count: Int, initial: Element) { values = Array(repeating: initial, count: count) }
    func set(_ i: Int, _ v: Element) { lock.lock(); values[i] = v; lock.unlock() }
    func get(_ i: Int) -> Element { lock.lock(); defer { lock.unlock() }; return values[i] }
}
