import Dispatch
import Foundation

/// Copies weights from host memory (usually the memory-mapped safetensors) to the device through
/// two pinned staging buffers: the cores fill one buffer while the copy engine drains the other,
/// so that reading the page cache and the transfer overlap and the driver never stages pageable
/// memory itself. Values in another dtype are converted on the way, into the staging buffer.
final class WeightUploader {
    private let driver: CUDADriver
    private let stream: CUhandle
    private let buffers: [PinnedBuffer]
    private var events: [CUhandle] = []
    private var turn = 0
    private static let chunkBytes = 64 << 20
    /// Bytes queued so far, seconds spent filling staging buffers, and seconds spent waiting for a
    /// buffer's previous copy: where a load's time goes (`summary`).
    private(set) var bytes = 0
    private(set) var fillSeconds = 0.0
    private(set) var waitSeconds = 0.0

    init(driver: CUDADriver, stream: CUhandle) throws {
        self.driver = driver
        self.stream = stream
        buffers = [PinnedBuffer(driver: driver), PinnedBuffer(driver: driver)]
        for _ in buffers {
            var event: CUhandle?
            try driver.check(driver.cuEventCreate(&event, 0), "cuEventCreate")
            events.append(event!)
        }
    }

    /// Queues the copy of `count` elements of `elementBytes` bytes to `device`; `fill(destination,
    /// first, n)` writes elements `first ..< first + n` into pinned memory. Returns when every
    /// element is in a staging buffer (the last copies may still be in flight on the stream).
    func upload(
        count: Int, elementBytes: Int, to device: CUdeviceptr,
        fill: @escaping @Sendable (UnsafeMutableRawPointer, Int, Int) -> Void
    ) throws {
        let perChunk = max(1, Self.chunkBytes / elementBytes)
        var first = 0
        while first < count {
            let n = min(perChunk, count - first)
            let i = turn % buffers.count
            turn += 1
            // The buffer's previous copy must be done before it is written again.
            let waitStart = Date()
            try driver.check(driver.cuEventSynchronize(events[i]), "cuEventSynchronize")
            let fillStart = Date()
            let staging = buffers[i].ensure(Self.chunkBytes)
            Self.fillInParallel(staging, first: first, count: n, elementBytes: elementBytes, fill: fill)
            (waitSeconds, fillSeconds) = (
                waitSeconds + fillStart.timeIntervalSince(waitStart), fillSeconds + Date().timeIntervalSince(fillStart)
            )
            bytes += n * elementBytes
            try driver.check(
                driver.cuMemcpyHtoDAsync(device + UInt64(first * elementBytes), staging, n * elementBytes, stream),
                "cuMemcpyHtoDAsync(weights)")
            try driver.check(driver.cuEventRecord(events[i], stream), "cuEventRecord")
            first += n
        }
    }

    /// "16384 MiB: 1.20 s filling the staging buffers (14.3 GB/s), 0.40 s waiting for copies".
    var summary: String {
        String(
            format: "%d MiB: %.2f s filling the staging buffers (%.1f GB/s), %.2f s waiting for copies", bytes >> 20, fillSeconds,
            Double(bytes) / max(fillSeconds, 1e-9) / 1e9, waitSeconds)
    }

    /// One memcpy thread reads the page cache at a few GB/s; several keep up with the transfer.
    private static func fillInParallel(
        _ staging: UnsafeMutableRawPointer, first: Int, count: Int, elementBytes: Int,
        fill: @escaping @Sendable (UnsafeMutableRawPointer, Int, Int) -> Void
    ) {
        let parts = min(8, max(1, count * elementBytes / (4 << 20)))
        let per = (count + parts - 1) / parts
        nonisolated(unsafe) let base = staging
        DispatchQueue.concurrentPerform(iterations: parts) { p in
            let start = p * per, n = min(per, count - start)
            if n > 0 { fill(base + start * elementBytes, first + start, n) }
        }
    }
}
