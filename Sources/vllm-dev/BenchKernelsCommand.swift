import ArgumentParser
import Foundation
import VLLMCPU
import VLLMCore

/// `vllm-dev bench-kernels`: speed of the CPU backend's matrix product at a model's shapes, next to the
/// machine's memory bandwidth measured in the same run, in wall time and per CPU-second (which
/// stays meaningful when other programs share the cores).
struct BenchKernelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-kernels", abstract: "CPU matrix-product speed and memory bandwidth on this machine.")

    @Option(help: "Hidden size K.") var hidden = 576
    @Option(help: "Output size N.") var intermediate = 1536
    @Option(help: "Token counts T to try.") var tokens: [Int] = [1, 16, 128]
    @Flag(help: "Use bfloat16 weights.") var bfloat16 = false
    @Option var repeats = 20

    func run() throws {
        let backend = CPUBackend()
        let (K, N) = (hidden, intermediate)
        let weight = try backend.weight([
            bfloat16
                ? HostTensor(shape: [N, K], dtype: .bfloat16, bits: (0..<(N * K)).map { FloatBits.floatToBFloat16(Float($0 % 13) * 0.01) })
                : HostTensor(shape: [N, K], values: (0..<(N * K)).map { Float($0 % 13) * 0.01 })
        ])
        for T in tokens {
            let x = try backend.weight([HostTensor(shape: [T, K], values: (0..<(T * K)).map { Float($0 % 7) * 0.1 })])
            _ = backend.linear(x, weight: weight, bias: nil)
            let (wall, cpu) = timed { for _ in 0..<repeats { _ = backend.linear(x, weight: weight, bias: nil) } }
            let flops = 2.0 * Double(T * N * K) * Double(repeats)
            let bytes = Double(N * K * (bfloat16 ? 2 : 4)) * Double(repeats)
            print(
                String(
                    format: "linear T=%d N=%d K=%d %@: %.1f GFLOP/s (%.1f per CPU-second), weights %.1f GB/s",
                    T, N, K, bfloat16 ? "bf16" : "f32", flops / wall / 1e9, flops / cpu / 1e9, bytes / wall / 1e9))
        }
        var flops = 0.0
        let (peakWall, peakCPU) = timed { flops = MatMul.measureFMAPeak() }
        print(
            String(
                format: "FMA peak (one thread, 12 chains of 8-lane float32 FMAs): %.1f GFLOP/s (%.1f per CPU-second)",
                flops / peakWall / 1e9, flops / peakCPU / 1e9))
        let count = 64 << 20
        let source = UnsafeMutablePointer<Float>.allocate(capacity: count)
        let destination = UnsafeMutablePointer<Float>.allocate(capacity: count)
        source.initialize(repeating: 1, count: count)
        destination.initialize(repeating: 0, count: count)
        let (wall, _) = timed { for _ in 0..<5 { destination.update(from: source, count: count) } }
        print(String(format: "memory copy (one thread): %.1f GB/s read+write", 2.0 * Double(count * 4 * 5) / wall / 1e9))
        source.deallocate()
        destination.deallocate()
    }

    /// Wall seconds and process CPU seconds of `body`.
    private func timed(_ body: () -> Void) -> (Double, Double) {
        func cpuSeconds() -> Double {
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let cpuStart = cpuSeconds()
        body()
        return (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9, cpuSeconds() - cpuStart)
    }
}
