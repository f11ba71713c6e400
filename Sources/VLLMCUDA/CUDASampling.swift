import VLLMCore

/// Sampling on the GPU (`Kernels/sampling.cu`): the host uploads a few words per row and per logit
/// adjustment, one block per row does the rest, and only the tokens and logprobs come back.
extension CUDABackend {
    /// Words per row of `SampleRow` and per entry of `SampleAdjustment` in sampling.cu.
    static let rowWords = 12, adjustmentWords = 5

    /// Whether the kernel module has the sampling kernels; without them (an older module) the engine
    /// samples on the host.
    public var samplesOnDevice: Bool { kernels.sampleRows != nil && kernels.adjustLogits != nil }

    public func sampleRows(_ x: CUDATensor, rows: [DeviceSamplingRow]) -> [DeviceSample] {
        guard let sample = kernels.sampleRows, let adjust = kernels.adjustLogits else {
            return SamplingMath.sampleRows(toHost(x), rows: rows)
        }
        checkLive(x)
        guard !rows.isEmpty else { return [] }
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
        let host = hostOutput.ensure(outputBytes)
        driver.must(driver.cuMemcpyDtoHAsync(host, output, outputBytes, stream), "cuMemcpyDtoHAsync(samples)")
        synchronize()
        return Self.samples(host, rows: rows, maxTop: maxTop)
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
            return DeviceSample(token: token, logprobs: DeviceLogprobs(
                chosen: float(count + r), rank: int(2 * count + r), topTokens: top.map(int),
                topLogprobs: top.map { float($0 + count * maxTop) }))
        }
    }
}
