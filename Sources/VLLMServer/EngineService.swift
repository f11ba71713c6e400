import Foundation
import Logging
import ServiceLifecycle
import VLLMEngine

/// Ties the engine to the server's life: logs throughput every few seconds while serving and, on
/// graceful shutdown (SIGINT/SIGTERM), stops admitting requests, lets those in flight finish for a
/// short grace period, then aborts the rest so that no connection hangs.
struct EngineService: Service {
    let serving: OpenAIServing
    var gracePeriod: Duration = .seconds(5)

    func run() async throws {
        let logger = serving.logger
        let interval = serving.options.statsLogInterval
        await withGracefulShutdownHandler {
            guard interval > 0 else {
                try? await gracefulShutdown()
                return
            }
            var previous = serving.engine.stats
            var previousTime = ContinuousClock.now
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                // Short naps, so that a shutdown is noticed at once.
                let wake = ContinuousClock.now + .milliseconds(Int(interval * 1000))
                while ContinuousClock.now < wake, !Task.isCancelled, !Task.isShuttingDownGracefully {
                    try? await Task.sleep(for: .milliseconds(100))
                }
                if Task.isCancelled || Task.isShuttingDownGracefully { break }
                let stats = serving.engine.stats
                let now = ContinuousClock.now
                let elapsed = max((now - previousTime).seconds, 1e-9)
                let busy = stats.numRunning + stats.numWaiting > 0
                if busy || stats.promptTokens != previous.promptTokens || stats.generationTokens != previous.generationTokens {
                    let hitRate =
                        stats.prefixCacheQueries > 0
                        ? 100 * Double(stats.prefixCacheHits) / Double(stats.prefixCacheQueries) : 0
                    logger.info(
                        "Avg prompt throughput: \(fmt(Double(stats.promptTokens - previous.promptTokens) / elapsed)) tokens/s, Avg generation throughput: \(fmt(Double(stats.generationTokens - previous.generationTokens) / elapsed)) tokens/s, Running: \(stats.numRunning) reqs, Waiting: \(stats.numWaiting) reqs, KV cache usage: \(fmt(100 * stats.kvCacheUsage))%, Prefix cache hit rate: \(fmt(hitRate))%"
                    )
                }
                previous = stats
                previousTime = now
            }
        } onGracefulShutdown: {
            serving.beginDraining()
            logger.info("Shutting down: no new requests; \(serving.admittedSequences) sequences in flight")
            let engine = serving.engine
            let grace = gracePeriod
            // Not awaited: the server's own shutdown proceeds meanwhile and waits for the requests
            // that this task lets finish or aborts.
            Task {
                let deadline = ContinuousClock.now + grace
                while serving.admittedSequences > 0, ContinuousClock.now < deadline {
                    try? await Task.sleep(for: .milliseconds(50))
                }
                if serving.admittedSequences > 0 {
                    logger.info("Aborting \(serving.admittedSequences) sequences still running")
                }
                // Aborts whatever is left; every stream ends, so every handler returns.
                engine.shutdown()
            }
        }
    }

    private func fmt(_ value: Double) -> String { String(format: "%.1f", value) }
}
