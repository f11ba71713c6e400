import Foundation

/// Device time per operation kind (`VLLM_CUDA_PROFILE=1`): an event pair around each launch,
/// read back when the stream next synchronizes. Steps then run eagerly (events inside a recorded
/// graph would time the recording, not the kernels) and a little slower (two records per launch).
final class OperationProfiler {
    private let driver: CUDADriver
    private var spare: [CUhandle] = []
    private var pending: [(name: String, start: CUhandle, end: CUhandle)] = []
    private var totals: [String: (milliseconds: Double, count: Int)] = [:]

    init(driver: CUDADriver) {
        self.driver = driver
    }

    private func event() -> CUhandle {
        if let event = spare.popLast() { return event }
        var event: CUhandle?
        driver.must(driver.cuEventCreate(&event, 0), "cuEventCreate")
        return event!
    }

    /// Times the work `body` queues on `stream` under `name`.
    func measure(_ name: String, stream: CUhandle, _ body: () -> Void) {
        let (start, end) = (event(), event())
        driver.must(driver.cuEventRecord(start, stream), "cuEventRecord")
        body()
        driver.must(driver.cuEventRecord(end, stream), "cuEventRecord")
        pending.append((name, start, end))
    }

    /// Adds up the timed work; the stream must have synchronized.
    func collect() {
        for (name, start, end) in pending {
            var ms: Float = 0
            driver.must(driver.cuEventElapsedTime(&ms, start, end), "cuEventElapsedTime")
            totals[name, default: (0, 0)].milliseconds += Double(ms)
            totals[name, default: (0, 0)].count += 1
            spare += [start, end]
        }
        pending = []
    }

    nonisolated(unsafe) private static var atExit: [(OperationProfiler, () -> Void)] = []

    /// Prints `profiler`'s report to standard error when the process exits (after `synchronize`).
    static func reportAtExit(_ profiler: OperationProfiler, synchronize: @escaping () -> Void) {
        if atExit.isEmpty {
            atexit {
                for (profiler, synchronize) in OperationProfiler.atExit {
                    synchronize()
                    profiler.collect()
                    FileHandle.standardError.write(Data(("CUDA device time per operation:\n" + profiler.report() + "\n").utf8))
                }
            }
        }
        atExit.append((profiler, synchronize))
    }

    /// One line per operation kind, the costliest first: total milliseconds, calls, share.
    func report() -> String {
        let sum = totals.values.reduce(0) { $0 + $1.milliseconds }
        return totals.sorted { $0.value.milliseconds > $1.value.milliseconds }.map { name, total in
            String(
                format: "%-28@ %10.3f ms %8d calls %6.2f%%", name as NSString, total.milliseconds, total.count,
                100 * total.milliseconds / max(sum, 1e-9))
        }.joined(separator: "\n")
    }
}
