/// A bump allocator for one step's activations on the device, reset at each step's start, so that
/// the step path allocates nothing once the largest step has run.
///
/// When a step needs more than the arena holds, another chunk is allocated (earlier pointers stay
/// valid through the step); the next reset frees the chunks and takes one chunk of the high-water
/// size.
final class DeviceArena {
    private let driver: CUDADriver
    private var chunks: [(base: CUdeviceptr, size: Int)] = []
    private var current = 0
    private var offset = 0
    private var used = 0
    private var highWater = 0
    private static let alignment = 256

    init(driver: CUDADriver, initialBytes: Int) throws {
        self.driver = driver
        if initialBytes > 0 { try addChunk(initialBytes) }
    }

    /// Bytes the arena holds on the device.
    var capacity: Int { chunks.reduce(0) { $0 + $1.size } }

    private func addChunk(_ bytes: Int) throws {
        var pointer: CUdeviceptr = 0
        try driver.check(driver.cuMemAlloc(&pointer, bytes), "cuMemAlloc(\(bytes) bytes of activations)")
        chunks.append((pointer, bytes))
    }

    /// Starts a new step; the caller guarantees that the device no longer uses the last step's memory.
    func reset() {
        if chunks.count > 1 || (chunks.isEmpty && highWater > 0) {
            _ = driver.cuCtxSynchronize()
            for chunk in chunks { _ = driver.cuMemFree(chunk.base) }
            chunks = []
            do { try addChunk(highWater) } catch { fatalError("\(error)") }
        }
        current = 0
        offset = 0
        used = 0
    }

    /// Grows the arena now (outside the step path) to hold at least `bytes`.
    func reserve(_ bytes: Int) throws {
        guard bytes > capacity else { return }
        _ = driver.cuCtxSynchronize()
        for chunk in chunks { _ = driver.cuMemFree(chunk.base) }
        chunks = []
        try addChunk(bytes)
        highWater = max(highWater, bytes)
        current = 0
        offset = 0
    }

    /// Where the next allocation would start: the chunks and the position in them. Equal marks
    /// hand out equal addresses for equal requests, which recorded steps rely on.
    struct Mark: Equatable {
        var chunkBases: [CUdeviceptr]
        var current: Int, offset: Int, used: Int
    }

    var mark: Mark { Mark(chunkBases: chunks.map(\.base), current: current, offset: offset, used: used) }

    /// Goes back (or forward) to `mark`, taken since the last reset with the same chunks.
    func rewind(to mark: Mark) {
        precondition(mark.chunkBases == chunks.map(\.base), "DeviceArena.rewind: the chunks changed since the mark")
        current = mark.current
        offset = mark.offset
        used = mark.used
    }

    /// `bytes` of device memory valid until the next reset.
    func allocate(_ bytes: Int) -> CUdeviceptr {
        let size = max(Self.alignment, (bytes + Self.alignment - 1) / Self.alignment * Self.alignment)
        while current < chunks.count {
            if offset + size <= chunks[current].size {
                let pointer = chunks[current].base + UInt64(offset)
                offset += size
                used += size
                highWater = max(highWater, used)
                return pointer
            }
            current += 1
            offset = 0
        }
        // Round up generously so that a growing workload settles after a few steps.
        do { try addChunk(max(size, capacity / 2, 64 << 20)) } catch { fatalError("\(error)") }
        current = chunks.count - 1
        offset = size
        used += size
        highWater = max(highWater, used)
        return chunks[current].base
    }
}

/// Page-locked host memory for copies that overlap the device's work; grows when asked for more.
final class PinnedBuffer {
    private let driver: CUDADriver
    private(set) var pointer: UnsafeMutableRawPointer?
    private(set) var size = 0

    init(driver: CUDADriver) {
        self.driver = driver
    }

    /// At least `bytes` of pinned memory; the old contents are lost when it grows. The caller
    /// guarantees that no copy from or to the old memory is in flight.
    func ensure(_ bytes: Int) -> UnsafeMutableRawPointer {
        if bytes > size || pointer == nil {
            if let pointer {
                _ = driver.cuCtxSynchronize()
                _ = driver.cuMemFreeHost(pointer)
            }
            let newSize = max(bytes, size * 2, 1 << 20)
            var p: UnsafeMutableRawPointer?
            driver.must(driver.cuMemHostAlloc(&p, newSize, CUDADriver.hostAllocPortable), "cuMemHostAlloc(\(newSize))")
            pointer = p
            size = newSize
        }
        return pointer!
    }

    deinit { if let pointer { _ = driver.cuMemFreeHost(pointer) } }
}

/// The device memory that operation outputs come from: a ring, reused over and over within a step.
///
/// The Backend protocol never says when a tensor dies, but the model code uses every activation
/// within about one decoder layer of its creation (only the residual stream, made by `embedding`,
/// lives through the step, and it comes from the step arena). Device work runs in stream order, so
/// memory can be handed out again as soon as the host no longer names the tensor in it; a ring
/// holding two layers' activations is then enough, instead of the whole step's. Each tensor carries
/// the ring position it was made at, and every operation checks that its inputs were not
/// overwritten since, so a too-small ring stops with a clear message rather than computing garbage.
final class ActivationRing {
    private let driver: CUDADriver
    private(set) var base: CUdeviceptr = 0
    private(set) var size = 0
    /// Position in bytes since the step began, counting the unused ends skipped at each wrap.
    private var position = 0
    private static let alignment = 256

    init(driver: CUDADriver, bytes: Int) throws {
        self.driver = driver
        try resize(bytes)
    }

    /// Replaces the ring by one of `bytes`; the device must no longer use the old one.
    func resize(_ bytes: Int) throws {
        if base != 0 {
            _ = driver.cuCtxSynchronize()
            _ = driver.cuMemFree(base)
            base = 0
        }
        var pointer: CUdeviceptr = 0
        try driver.check(driver.cuMemAlloc(&pointer, bytes), "cuMemAlloc(\(bytes) bytes of activations)")
        base = pointer
        size = bytes
        position = 0
    }

    func reset() { position = 0 }

    /// The allocation position, saved and restored around a recorded step so that a replay leaves
    /// the ring where the recorded run left it.
    var mark: Int {
        get { position }
        set { position = newValue }
    }

    /// `bytes` of device memory and the stamp to check the tensor with later.
    func allocate(_ bytes: Int) -> (pointer: CUdeviceptr, stamp: Int) {
        let need = max(Self.alignment, (bytes + Self.alignment - 1) / Self.alignment * Self.alignment)
        precondition(
            need <= size,
            "CUDA: one activation of \(bytes) bytes exceeds the activation ring (\(size) bytes); lower max_num_batched_tokens or raise the reservation"
        )
        var offset = position % size
        if offset + need > size {
            position += size - offset
            offset = 0
        }
        let stamp = position
        position += need
        return (base + UInt64(offset), stamp)
    }

    /// Whether a tensor made at `stamp` has not been overwritten since.
    func isLive(stamp: Int) -> Bool { position - stamp <= size }
}

/// Device memory that only grows (block tables of a step): its address changes only when it grows,
/// so recordings that baked in the old address must check it.
final class GrowingDeviceBuffer {
    private let driver: CUDADriver
    private(set) var pointer: CUdeviceptr = 0
    private(set) var size = 0

    init(driver: CUDADriver) {
        self.driver = driver
    }

    /// At least `bytes` of device memory; the contents are lost when it grows.
    func ensure(_ bytes: Int) -> CUdeviceptr {
        if bytes > size {
            if pointer != 0 {
                _ = driver.cuCtxSynchronize()
                _ = driver.cuMemFree(pointer)
            }
            let newSize = max(bytes, size * 2, 1 << 20)
            var p: CUdeviceptr = 0
            driver.must(driver.cuMemAlloc(&p, newSize), "cuMemAlloc(\(newSize) bytes of block tables)")
            pointer = p
            size = newSize
        }
        return pointer
    }

    deinit { if pointer != 0 { _ = driver.cuMemFree(pointer) } }
}
