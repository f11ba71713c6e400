import VLLMCore

/// Sampling on the GPU (`Kernels/sampling.cu`): the host uploads a few words per row and per logit
/// adjustment (and a grammar's packed token mask per constrained row), one block per row does the
/// rest, and only the tokens and logprobs come back.
extension CUDABackend {
    /// Words per row of `SampleRow` and per entry of `SampleAdjustment` in sampling.cu.
    static let rowWords = 12, adjustmentWords = 5

    /// Whether the kernel module has the sampling kernels; without them (an older module) the engine
    /// samples on the host.
    public var samplesOnDevice: Bool { kernels.sampleRows != nil && kernels.adjustLogits != nil }

    /// The sampling kernels over the rows (bans, bias, penalties, filters, draw and logprobs) with the samples copied back; on the host
    /// when the kernels are missing.
    public func sampleRows(_ x: CUDATensor, rows: [DeviceSamplingRow]) -> [DeviceSample] {
        guard samplesOnDevice(rows) else { return SamplingMath.sampleRows(toHost(x), rows: rows) }
        checkLive(x)
        guard !rows.isEmpty else { return [] }
        queueTokenMasks(x, rows: rows)
        let queued = queueSampling(x, rows: rows)
        let host = hostOutput.ensure(queued.bytes)
        driver.must(driver.cuMemcpyDtoHAsync(host, queued.output, queued.bytes, stream), "cuMemcpyDtoHAsync(samples)")
        synchronize()
        return Self.samples(host, rows: rows, maxTop: queued.maxTop)
    }

    /// Queues the argmax or the sampling kernels over `x` (rows of plain greedy rows take the
    /// argmax), then a copy of the tokens to `sampledTokens` for the next step's placeholders and
    /// of the results to pinned memory, and returns; `wait()` waits for the copy's event. Without
    /// the sampling kernels the host samples at once, and the samples come back ready.
    public func launchSampling(_ x: CUDATensor, rows: [DeviceSamplingRow]) -> PendingSamples {
        guard rows.allSatisfy(\.isPlainGreedy) || samplesOnDevice(rows) else { return PendingSamples(ready: sampleRows(x, rows: rows)) }
        guard !rows.isEmpty else { return PendingSamples(ready: []) }
        precondition(rows.count <= Self.maxSampledRows, "a step samples \(rows.count) rows, more than \(Self.maxSampledRows)")
        queueTokenMasks(x, rows: rows)
        // Rows whose grammar mask is their only change take the argmax of the masked logits.
        let greedy = rows.allSatisfy(\.takesArgmax)
        let (output, bytes, maxTop) = greedy ? (queueArgmax(x, rows: rows.count), rows.count * 4, 0) : queueSampling(x, rows: rows)
        // Both sampling outputs begin with one token per row. The next step's embedding reads them
        // after this copy, in stream order, as the copy reads them before the next step's sampling.
        driver.must(
            driver.cuMemcpyDtoDAsync(sampledTokens, output, rows.count * 4, stream), "cuMemcpyDtoDAsync(sampled tokens)")
        // This parity's readback belongs to the step launched two before, which has been waited for.
        let readback = launchReadbacks[stepParity]
        let host = readback.buffer.ensure(bytes)
        driver.must(driver.cuMemcpyDtoHAsync(host, output, bytes, stream), "cuMemcpyDtoHAsync(launched samples)")
        driver.must(driver.cuEventRecord(readback.event, stream), "cuEventRecord(launched samples)")
        return PendingSamples { [self] in
            synchronize(upTo: readback.event)
            if greedy { return (0..<rows.count).map { DeviceSample(token: Int(host.load(fromByteOffset: 4 * $0, as: Int32.self))) } }
            return Self.samples(host, rows: rows, maxTop: maxTop)
        }
    }

    /// Whether the device can sample `rows`: the module has the sampling kernels, and the mask
    /// kernel when a row has a grammar's mask.
    private func samplesOnDevice(_ rows: [DeviceSamplingRow]) -> Bool {
        samplesOnDevice && (kernels.applyTokenBitmask != nil || rows.allSatisfy { $0.tokenMask == nil })
    }

    /// Queues the token masks of the rows that have one over `x`, in place (banned logits become
    /// -inf, before logprobs and sampling, as `SamplingMath.sample` does on the host). All masks go
    /// up in one copy: the masked rows' indices, then each mask cut or padded with zeros (bans) to
    /// the row's `ceil(n / 32)` words.
    private func queueTokenMasks(_ x: CUDATensor, rows: [DeviceSamplingRow]) {
        let masked = rows.indices.filter { rows[$0].tokenMask != nil }
        guard !masked.isEmpty, let kernel = kernels.applyTokenBitmask else { return }
        let n = x.count / rows.count, words = (n + 31) / 32
        let bytes = 4 * masked.count * (1 + words)
        let staged = maskStaging.ensure(bytes).bindMemory(to: UInt32.self, capacity: bytes / 4)
        for (m, r) in masked.enumerated() {
            staged[m] = UInt32(r)
            let mask = rows[r].tokenMask!, used = min(words, mask.count)
            let out = staged + masked.count + m * words
            mask.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: used) }
            (out + used).update(repeating: 0, count: words - used)
        }
        let device = ring.allocate(bytes).pointer
        driver.must(driver.cuMemcpyHtoDAsync(device, UnsafeMutableRawPointer(staged), bytes, stream), "cuMemcpyHtoDAsync(token masks)")
        checkLive(x)
        launch(
            kernel, "apply_token_bitmask", grid: (gridFor(masked.count * n), 1), block: 256,
            [
                .pointer(x.pointer), .int32(Int32(n)), .pointer(device + UInt64(4 * masked.count)), .int32(Int32(words)),
                .pointer(device), .int32(Int32(masked.count)),
            ])
    }

    /// Queues the adjustments and the sampling of `rows` over `x`; returns where the kernel's output
    /// will be (ring memory: tokens, chosen logprobs, ranks, then `maxTop` ids and logprobs a
    /// row), its size, and `maxTop`.
    private func queueSampling(_ x: CUDATensor, rows: [DeviceSamplingRow]) -> (output: CUdeviceptr, bytes: Int, maxTop: Int) {
        guard let sample = kernels.sampleRows, let adjust = kernels.adjustLogits else {
            preconditionFailure("the kernel module has no sampling kernels")
        }
        checkLive(x)
        let n = x.count / rows.count
        let maxTop = min(rows.compactMap(\.logprobs).max() ?? 0, DeviceSamplingRow.maxLogprobs)
        let (parameters, entryCount) = uploadSamplingWords(rows)
        var adjusted: CUdeviceptr = 0
        if entryCount > 0 {
            // Penalties change a float copy: the logprobs need the raw row, and rounding the
            // adjusted values to the compute dtype would differ from the host.
            adjusted = ring.allocate(x.count * 4).pointer
            launch(
                kernels.toFloat, "to_float", grid: (gridFor(x.count), 1), block: 256,
                [.pointer(adjusted), .pointer(x.pointer), .int64(Int64(x.count))])
            launch(
                adjust, "adjust_logits", grid: (gridFor(entryCount), 1), block: 256,
                [
                    .pointer(adjusted), .int32(Int32(n)), .pointer(parameters + UInt64(rows.count * Self.rowWords * 4)),
                    .int32(Int32(entryCount)), .pointer(parameters),
                ])
        }
        let count = rows.count, outputBytes = 4 * (3 * count + 2 * count * maxTop)
        let output = ring.allocate(outputBytes).pointer
        checkLive(x)
        let at = { (words: Int) in output + UInt64(4 * words) }
        launch(
            sample, "sample_rows", grid: (count, 1), block: 1024,
            [
                .pointer(at(0)), .pointer(at(count)), .pointer(at(2 * count)), .pointer(at(3 * count)),
                .pointer(at(3 * count + count * maxTop)), .int32(Int32(maxTop)), .pointer(x.pointer), .pointer(adjusted),
                .int32(Int32(n)), .pointer(parameters),
            ])
        return (output, outputBytes, maxTop)
    }

    /// Copies the rows' parameters, then their adjustments, to the device in one transfer; returns
    /// the device address and the number of adjustments.
    private func uploadSamplingWords(_ rows: [DeviceSamplingRow]) -> (CUdeviceptr, Int) {
        var words: [UInt32] = []
        words.reserveCapacity(rows.count * Self.rowWords)
        var random = SystemRandomNumberGenerator()
        for row in rows {
            let key = row.seededKey ?? random.next()
            words += [
                row.temperature.bitPattern, UInt32(clamping: row.topK), row.topP.bitPattern, row.minP.bitPattern,
                UInt32(truncatingIfNeeded: key), UInt32(truncatingIfNeeded: key >> 32),
                UInt32(bitPattern: Int32(row.logprobs ?? -1)), row.repetitionPenalty.bitPattern,
                row.frequencyPenalty.bitPattern, row.presencePenalty.bitPattern, 0, 0,
            ]
        }
        var entries = 0
        for (r, row) in rows.enumerated() {
            for a in row.adjustments {
                let flags: UInt32 = (a.banned ? 1 : 0) | (a.inSequence ? 2 : 0)
                words += [UInt32(r), UInt32(bitPattern: a.column), flags, UInt32(bitPattern: a.outputCount), a.bias.bitPattern]
                entries += 1
            }
        }
        let bytes = words.count * 4
        let staged = sampleStaging.ensure(bytes)
        words.withUnsafeBytes { staged.copyMemory(from: $0.baseAddress!, byteCount: bytes) }
        let device = ring.allocate(bytes).pointer
        driver.must(driver.cuMemcpyHtoDAsync(device, staged, bytes, stream), "cuMemcpyHtoDAsync(sampling rows)")
        return (device, entries)
    }

    /// Reads the kernel's output: tokens, chosen logprobs, ranks, then `maxTop` ids and logprobs a row.
    private static func samples(_ host: UnsafeMutableRawPointer, rows: [DeviceSamplingRow], maxTop: Int) -> [DeviceSample] {
        let count = rows.count
        func int(_ word: Int) -> Int { Int(host.load(fromByteOffset: 4 * word, as: Int32.self)) }
        func float(_ word: Int) -> Float { host.load(fromByteOffset: 4 * word, as: Float.self) }
        return rows.enumerated().map { r, row in
            let token = int(r)
            guard let wanted = row.logprobs else { return DeviceSample(token: token) }
            // Ids of -1: the row has fewer tokens than asked for.
            let top = (0..<min(wanted, maxTop)).map { 3 * count + r * maxTop + $0 }.filter { int($0) >= 0 }
            return DeviceSample(
                token: token,
                logprobs: DeviceLogprobs(
                    chosen: float(count + r), rank: int(2 * count + r), topTokens: top.map(int),
                    topLogprobs: top.map { float($0 + count * maxTop) }))
        }
    }
}

/// Pinned memory and an event for the results of one launched step. The backend alternates between
/// two, so that the results of the step being waited for are not overwritten by the next step's.
final class StepReadback {
    let buffer: PinnedBuffer
    let event: CUhandle
    private let driver: CUDADriver

    init(driver: CUDADriver) {
        self.driver = driver
        buffer = PinnedBuffer(driver: driver)
        var event: CUhandle?
        // Without timing: recording and waiting are cheaper.
        let disableTiming: UInt32 = 2
        driver.must(driver.cuEventCreate(&event, disableTiming), "cuEventCreate(launched samples)")
        self.event = event!
    }

    deinit { _ = driver.cuEventDestroy?(event) }
}
