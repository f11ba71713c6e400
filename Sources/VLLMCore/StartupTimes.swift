import Dispatch
import Foundation

/// Seconds of each start-up phase, for the one log line that shows where a start's time goes.
public struct StartupTimes: Sendable, Equatable {
    /// Opening the device (`Platform.makeBackends`).
    public var backends = 0.0
    /// Reading the weights and copying them to the device (`ModelRegistry.load`).
    public var weights = 0.0
    /// Compiling or loading the kernels, beside the weights (not part of `total`).
    public var kernels = 0.0
    /// Waiting for the kernels after the weights were loaded.
    public var kernelWait = 0.0
    /// Reserving the activation memory and the profile run.
    public var profileRun = 0.0
    /// Allocating the KV cache.
    public var kvCache = 0.0
    /// Recording CUDA graphs.
    public var graphs = 0.0

    /// No time in any phase.
    public init() {}

    /// The sum of the phases.
    public var total: Double { backends + weights + kernelWait + profileRun + kvCache + graphs }

    /// "device 0.31 s, weights 1.92 s, kernels 2.40 s beside them (0.48 s waited after), profile run
    /// 0.05 s, KV cache 0.01 s, CUDA graphs 0.30 s; 3.07 s in all".
    public var summary: String {
        String(
            format:
                "device %.2f s, weights %.2f s, kernels %.2f s beside them (%.2f s waited after), profile run %.2f s, KV cache %.2f s, CUDA graphs %.2f s; %.2f s in all",
            backends, weights, kernels, kernelWait, profileRun, kvCache, graphs, total)
    }

    /// Runs `body` and adds its seconds to `phase`.
    public mutating func measure<T>(_ phase: WritableKeyPath<StartupTimes, Double>, _ body: () throws -> T) rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { self[keyPath: phase] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        return try body()
    }

    /// The phases of both, added (a target and its draft model).
    public static func + (a: StartupTimes, b: StartupTimes) -> StartupTimes {
        var sum = a
        sum.backends += b.backends
        sum.weights += b.weights
        sum.kernels += b.kernels
        sum.kernelWait += b.kernelWait
        sum.profileRun += b.profileRun
        sum.kvCache += b.kvCache
        sum.graphs += b.graphs
        return sum
    }
}
