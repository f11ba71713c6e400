import Foundation

/// The collective operations of a tensor-parallel group whose ranks are threads of one process:
/// the CPU backend's stand-in for NCCL, so that sharding is tested everywhere.
///
/// Sums add the ranks' values in rank order, so every rank gets bit-identical results.
public final class InProcessGroup: @unchecked Sendable {
    /// Number of ranks.
    public let worldSize: Int
    private var buffers: [UnsafeMutablePointer<Float>?]
    private var counts: [Int]
    private let barrier: Barrier

    /// A group of `worldSize` ranks, each a thread of this process.
    public init(worldSize: Int) {
        self.worldSize = worldSize
        buffers = Array(repeating: nil, count: worldSize)
        counts = Array(repeating: 0, count: worldSize)
        barrier = Barrier(count: worldSize)
    }

    /// In place: every rank's `count` values become the sum over ranks. Each rank reduces one part
    /// of the vector for everybody, so the work is shared.
    func allReduce(rank: Int, _ values: UnsafeMutablePointer<Float>, count: Int) {
        buffers[rank] = values
        barrier.wait()
        let start = count * rank / worldSize, end = count * (rank + 1) / worldSize
        for i in start..<end {
            var sum: Float = 0
            for r in 0..<worldSize { sum += buffers[r]![i] }
            for r in 0..<worldSize { buffers[r]![i] = sum }
        }
        barrier.wait()
    }

    /// Every rank's `[rows, columns_r]` block side by side: `[rows, Σ columns_r]`, in `output`.
    func allGatherColumns(
        rank: Int, _ values: UnsafeMutablePointer<Float>, rows: Int, columns: Int, into output: UnsafeMutablePointer<Float>,
        totalColumns: Int
    ) {
        buffers[rank] = values
        counts[rank] = columns
        barrier.wait()
        var offset = 0
        for r in 0..<worldSize {
            for row in 0..<rows {
                (output + row * totalColumns + offset).update(from: buffers[r]! + row * counts[r], count: counts[r])
            }
            offset += counts[r]
        }
        barrier.wait()
    }
}

/// A reusable barrier for a fixed number of threads.
final class Barrier: @unchecked Sendable {
    private let condition = NSCondition()
    private let count: Int
    private var waiting = 0
    private var generation = 0

    init(count: Int) { self.count = count }

    func wait() {
        condition.lock()
        defer { condition.unlock() }
        let current = generation
        waiting += 1
        if waiting == count {
            waiting = 0
            generation += 1
            condition.broadcast()
            return
        }
        while generation == current { condition.wait() }
    }
}
