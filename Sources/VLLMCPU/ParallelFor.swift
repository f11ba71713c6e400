import CVLLMSupport
import Dispatch
import Foundation

/// Splits work over the machine's cores. Small jobs run on the calling thread, where waking
/// other threads would cost more than the work. Package-visible: VLLMTestSupport's float64
/// references use it too.
///
/// A decode step runs some 150 parallel jobs of a few microseconds each, so the handoff matters:
/// the jobs go to a pool of workers that spin for a while after each job (no system call between
/// the jobs of a step), and the work is cut into several chunks per thread that the threads claim
/// one at a time, so that a worker the scheduler has not run yet (on a busy machine) only delays
/// the chunks it has claimed; the calling thread takes the rest.
package enum ParallelFor {
    /// Number of worker threads: one per core.
    package static let threads = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Chunks per thread: enough for the threads to even out, few enough that claiming one costs nothing.
    static let chunksPerThread = 4

    /// Runs `body` on contiguous parts of `0..<count` that together cover it, in parallel when
    /// `count * costPerItem` is large enough to pay for the threads.
    package static func run(_ count: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let parts = min(count, threads)
        if parts == 1 || count * costPerItem < 20_000 {
            body(0..<count)
            return
        }
        // The parts touch disjoint memory that the caller owns until the job returns.
        withoutActuallyEscaping(body) { escaping in
            let chunks = min(count, threads * chunksPerThread)
            if WorkerPool.shared.run(count: count, chunks: chunks, escaping) { return }
            // The pool is busy (a job started from inside a job, or by another thread, such as the
            // ranks of an in-process tensor-parallel group): the system's pool takes this one.
            let shared = UncheckedSendable(escaping)
            DispatchQueue.concurrentPerform(iterations: parts) { part in
                let start = count * part / parts
                let end = count * (part + 1) / parts
                if start < end { shared.value(start..<end) }
            }
        }
    }
}

/// `ParallelFor`'s threads: the caller and `threads − 1` workers share one job at a time.
///
/// One 64-bit claim word says which job runs and which chunk is next: `generation << 32 |
/// chunks << 16 | next`. A thread claims a chunk by a compare-and-swap on it, so a worker that
/// wakes late, after its job ended, sees another generation and claims nothing; the job's closure
/// and size are read only after a successful claim, while the caller is still waiting for that
/// chunk. The caller waits until the finished-chunk count reaches `chunks`.
private final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool(workers: ParallelFor.threads - 1)

    /// Pause instructions a worker spins for a new job before it sleeps: some microseconds, to
    /// bridge the gaps between the jobs of a step. Longer spins measured slower on a loaded
    /// machine, where a spinning worker uses up its share of the scheduler and then waits longer.
    private static let spinLimit = 1000
    private static let generationMask: Int64 = 0x7FFF_FFFF

    /// `[claim, done, sleepers, busy]`, each on its own cache line.
    private let words: UnsafeMutablePointer<Int64>
    private var claim: UnsafeMutablePointer<Int64> { words }
    private var done: UnsafeMutablePointer<Int64> { words + 8 }
    private var sleepers: UnsafeMutablePointer<Int64> { words + 16 }
    private var busy: UnsafeMutablePointer<Int64> { words + 24 }
    private let wakeUp = NSCondition()

    /// The running job; written by the caller before it publishes the claim word.
    private var body: ((Range<Int>) -> Void)?
    private var count = 0
    private var generation: Int64 = 0

    private init(workers: Int) {
        words = .allocate(capacity: 32)
        words.initialize(repeating: 0, count: 32)
        for _ in 0..<workers {
            let thread = Thread { [self] in work() }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// Runs `body` over `chunks` parts of `0..<count` on this thread and the workers; false,
    /// without running anything, when the pool is running another job.
    func run(count: Int, chunks: Int, _ body: @escaping (Range<Int>) -> Void) -> Bool {
        precondition(chunks > 0 && chunks < 1 << 16)
        guard vllm_atomic_compare_exchange(busy, 0, 1) else { return false }
        self.body = body
        self.count = count
        generation = (generation + 1) & Self.generationMask
        vllm_atomic_store(done, 0)
        vllm_atomic_store(claim, generation << 32 | Int64(chunks) << 16)
        if vllm_atomic_load(sleepers) > 0 {
            wakeUp.lock()
            wakeUp.broadcast()
            wakeUp.unlock()
        }
        runChunks(of: generation)
        var spins = 0
        while vllm_atomic_load(done) < chunks {
            spins += 1
            if spins < 1000 { vllm_cpu_relax() } else { sched_yield() }
        }
        self.body = nil
        vllm_atomic_store(busy, 0)
        return true
    }

    /// Claims and runs chunks of job `job` until none is left (or another job runs).
    private func runChunks(of job: Int64) {
        while true {
            let word = vllm_atomic_load(claim)
            let (next, chunks) = (Int(word & 0xFFFF), Int((word >> 16) & 0xFFFF))
            guard word >> 32 == job, next < chunks else { return }
            guard vllm_atomic_compare_exchange(claim, word, word + 1) else { continue }
            body!(count * next / chunks..<count * (next + 1) / chunks)
            _ = vllm_atomic_add(done, 1)
        }
    }

    /// A worker: waits for each new generation, spinning first, then sleeping, and helps with it.
    private func work() {
        var seen: Int64 = 0
        while true {
            var spins = 0
            var job = vllm_atomic_load(claim) >> 32
            while job == seen {
                spins += 1
                if spins < Self.spinLimit {
                    vllm_cpu_relax()
                } else {
                    wakeUp.lock()
                    _ = vllm_atomic_add(sleepers, 1)
                    while vllm_atomic_load(claim) >> 32 == seen { wakeUp.wait() }
                    _ = vllm_atomic_add(sleepers, -1)
                    wakeUp.unlock()
                }
                job = vllm_atomic_load(claim) >> 32
            }
            seen = job
            runChunks(of: job)
        }
    }
}

/// Carries a value into a concurrent closure whose accesses the caller has made safe.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
