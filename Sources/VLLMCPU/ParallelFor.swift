import Dispatch
import Foundation

/// Splits work over the machine's cores. Small jobs run on the calling thread, where waking
/// other threads would cost more than the work. Package-visible: VLLMTestSupport's float64
/// references use it too.
package enum ParallelFor {
    /// Number of worker threads: one per core.
    package static let threads = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Runs `body` on contiguous parts of `0..<count` that together cover it, in parallel when
    /// `count * costPerItem` is large enough to pay for the threads.
    package static func run(_ count: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let parts = min(count, threads)
        if parts == 1 || count * costPerItem < 20_000 {
            body(0..<count)
            return
        }
        // The parts touch disjoint memory that the caller owns until `concurrentPerform` returns.
        withoutActuallyEscaping(body) { escaping in
            let shared = UncheckedSendable(escaping)
            DispatchQueue.concurrentPerform(iterations: parts) { part in
                let start = count * part / parts
                let end = count * (part + 1) / parts
                if start < end { shared.value(start..<end) }
            }
        }
    }
}

/// Carries a value into a concurrent closure whose accesses the caller has made safe.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
