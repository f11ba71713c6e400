import Foundation
import VLLMCore

/// A tensor in device memory, in the backend's compute dtype, row-major.
public struct CUDATensor {
    /// The first element.
    public let pointer: CUdeviceptr
    /// Row-major shape; operations treat the last dimension as columns.
    public let shape: [Int]
    /// Where in the activation ring it was made; -1 for memory outside the ring.
    let stamp: Int

    init(pointer: CUdeviceptr, shape: [Int], stamp: Int = -1) {
        self.pointer = pointer
        self.shape = shape
        self.stamp = stamp
    }

    /// Elements of the last dimension.
    public var columns: Int { shape.last ?? 1 }
    /// Product of the other dimensions.
    public var rows: Int { shape.dropLast().reduce(1, *) }
    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }
}

/// A tensor of the activation ring, told apart from a later one at the same address (and from a
/// view of it of another shape).
struct QuantizedOutputKey: Hashable {
    let pointer: CUdeviceptr
    let stamp: Int
    let shape: [Int]
    init(_ tensor: CUDATensor) { (pointer, stamp, shape) = (tensor.pointer, tensor.stamp, tensor.shape) }
}

/// A step's batch in device memory (token ids, positions, slots, block tables, logit rows), plus
/// the host copy that launch sizes are read from.
public final class CUDABatch {
    /// The host description.
    public let batch: ForwardBatch
    let tableWidth: CUdeviceptr, tokenIDs: CUdeviceptr, positions: CUdeviceptr, slots: CUdeviceptr
    let logitIndices: CUdeviceptr, blockTables: CUdeviceptr
    /// A uniform step's attention tiles (`ForwardBatch.uniformShape`), one per sequence with all
    /// its tokens, made with the inputs so that a recording of the step finds them in place.
    let uniformTiles: (pointer: CUdeviceptr, count: Int, tokens: Int)?
    /// A uniform step of a few tokens a sequence (one verifying drafts): one tile a token, so that
    /// the decode kernel takes each query as a decode of its own (`CUDABackend.decodesVerifyingSteps`);
    /// a tile's third value is the sequence's token count in the step, not the tile's (1).
    let tokenTiles: (pointer: CUdeviceptr, count: Int)?
    /// The tiles for the decode attention kernel, one query token each: a decode step's uniform
    /// tiles, or a verifying step's token tiles.
    var decodeTiles: (pointer: CUdeviceptr, count: Int)? {
        uniformTiles.flatMap { $0.tokens == 1 ? ($0.pointer, $0.count) : nil } ?? tokenTiles
    }
    /// Attention query tiles per tile size, made on first use in the step.
    var tiles: [Int: (pointer: CUdeviceptr, count: Int)] = [:]
    /// The sequences' first tokens and the token count (`ForwardBatch.queryStart`), made on first
    /// use in the step (an encoder's attention).
    var queryStarts: CUdeviceptr?

    init(batch: ForwardBatch, inputs: [CUdeviceptr], blockTables: CUdeviceptr) {
        self.batch = batch
        (tableWidth, tokenIDs, positions, slots, logitIndices) = (inputs[0], inputs[1], inputs[2], inputs[3], inputs[4])
        self.blockTables = blockTables
        uniformTiles = batch.uniformShape.map { (inputs[5], $0.sequences, $0.tokensPerSequence) }
        tokenTiles = inputs.count > 6 ? (inputs[6], batch.numTokens) : nil
    }

    /// Every device address the step's kernels read inputs from.
    var addresses: [CUdeviceptr] {
        [tableWidth, tokenIDs, positions, slots, logitIndices, blockTables, uniformTiles?.pointer ?? 0, tokenTiles?.pointer ?? 0]
    }
}

/// The paged KV cache of all layers on the device; each layer's keys (and values) are laid out
/// `[block, kvHead, slotInBlock, headDim]` like the CPU cache.
public final class CUDAKVCache {
    /// The cache's shape.
    public let shape: KVCacheShape
    let keys: [CUdeviceptr]
    let values: [CUdeviceptr]
    private let base: CUdeviceptr
    private let driver: CUDADriver

    init(shape: KVCacheShape, base: CUdeviceptr, layerBytes: Int, driver: CUDADriver) {
        self.shape = shape
        self.base = base
        self.driver = driver
        keys = (0..<shape.numLayers).map { base + UInt64(2 * $0 * layerBytes) }
        values = (0..<shape.numLayers).map { base + UInt64((2 * $0 + 1) * layerBytes) }
    }

    deinit { _ = driver.cuMemFree(base) }
}

/// The CUDA backend: weights and activations on one GPU in bfloat16 (float16 for float16 models,
/// float32 for exactness checks) with float32 accumulation; matrix products through cuBLASLt, the
/// other operations through our own kernels (`Kernels/*.cu`, listed in `Kernels/manifest.json`),
/// compiled by NVRTC at start and cached on disk. All work goes to one stream, so stream order
/// protects device memory from one step to the next; a step's only synchronisation is its readback
/// (`toHost`, `argmaxRows`, `sampleRows`), or none at all for a launched step (`launchSampling`),
/// whose results are waited for later. The host memory that a step's copies read or write is
/// double-buffered (alternate steps use alternate buffers) so that the host can prepare the next
/// step while the device runs this one.
public final class CUDABackend: Backend {
    /// A tensor in device memory.
    public typealias Tensor = CUDATensor
    /// A step's batch in device memory.
    public typealias Batch = CUDABatch
    /// The paged KV cache in device memory.
    public typealias KVCache = CUDAKVCache

    /// `"cuda"`.
    public let name = "cuda"
    /// The dtype of weights, activations and the KV cache.
    public let computeDType: DType
    /// The device's name (e.g. "NVIDIA H100 80GB HBM3").
    public let deviceName: String
    /// Compute capability, e.g. (9, 0).
    public let computeCapability: (major: Int, minor: Int)
    /// The architecture the kernels were built for (e.g. "sm_90a").
    public let architecture: String
    /// Whether this start compiled any kernels (false: they came from the disk cache).
    public var compiledKernels: Bool { kernels.compiled }
    /// Seconds spent compiling or loading the kernels (at start, and for files added at load).
    public var kernelSeconds: Double { kernels.seconds }
    /// Which kernels were compiled, for logs: "12 programs (head dim 128, no FP8 cache)", a program
    /// per kernel file (one for a `VLLM_CUDA_KERNEL_SOURCE`).
    public var kernelSummary: String { "\(kernels.units) programs (\(kernels.selection))" }
    /// The driver's CUDA version, e.g. 13000.
    public let driverVersion: Int
    /// Streaming multiprocessors of the device.
    public let multiprocessors: Int

    let driver: CUDADriver
    private let context: CUhandle
    let stream: CUhandle
    /// The kernels compiling since `init` (`loadKernels` loads them).
    private let compilation: KernelCompilation
    private var loadedKernels: CUDAKernels?
    /// Seconds the load waited for the kernels (their compile beyond what the weights took).
    public private(set) var kernelWaitSeconds = 0.0
    /// The kernels; the first use waits for their compilation (`waitForKernels`).
    var kernels: CUDAKernels {
        if let loadedKernels { return loadedKernels }
        do {
            return try loadKernels()
        } catch {
            preconditionFailure("CUDA kernels: \(error)")
        }
    }
    let blas: CUBLASLt
    private let arena: DeviceArena
    let ring: ActivationRing
    private let blockTableBuffer: GrowingDeviceBuffer
    private let uploader: WeightUploader
    /// Launches that overlap the previous kernel (Hopper and later; `VLLM_CUDA_PDL=0` turns them off).
    private var overlapping: ProgrammaticLaunch?
    /// Device time per operation when `VLLM_CUDA_PROFILE=1`.
    private let profiler: OperationProfiler?
    /// Launch labels never launched (`VLLM_CUDA_SKIP_KERNELS`, comma-separated prefixes): a
    /// measuring tool only, since the step's results are then wrong. Timing a step without one kind
    /// of kernel gives that kind's share of a recorded step, which no profiler here can see inside
    /// a CUDA graph (docs/cuda.md).
    private let skippedKernels = CUDABackend.skippedKernels(ProcessInfo.processInfo.environment["VLLM_CUDA_SKIP_KERNELS"])
    private var stepKind = "step"
    private let graphs: CUDAGraphRecorder
    /// Steps whose recording copied from the host (they run eagerly), and whether the recording
    /// under way did.
    private var unrecordableSteps: Set<RecordedStep> = []
    private var isRecording = false, stagedWhileRecording = false
    /// Which of the double-buffered host staging areas the current step uses (flips each `prepare`).
    private(set) var stepParity = 0
    private let stagings: [PinnedBuffer]
    private var staging: PinnedBuffer { stagings[stepParity] }
    private var stagingOffset = 0
    /// Per parity, an event that the stream passes once the step that last used that parity's host
    /// staging is done (recorded when the step after it is prepared; `prepare` waits for it).
    private let stagingReleased: [CUhandle]
    /// Whether `prepare` waits for `stagingReleased` (`VLLM_CUDA_STAGING_WAIT=0` turns it off, only
    /// to show what `vllm-dev batch-invariance` catches without it).
    private let waitsForStaging = ProcessInfo.processInfo.environment["VLLM_CUDA_STAGING_WAIT"] != "0"
    let hostOutput: PinnedBuffer
    private lazy var sampleStagings = [PinnedBuffer(driver: driver), PinnedBuffer(driver: driver)]
    var sampleStaging: PinnedBuffer { sampleStagings[stepParity] }
    private lazy var maskStagings = [PinnedBuffer(driver: driver), PinnedBuffer(driver: driver)]
    /// Where a step's grammar masks are gathered for their one upload (`queueTokenMasks`).
    var maskStaging: PinnedBuffer { maskStagings[stepParity] }
    /// Where launched steps' results come back to, one per parity.
    lazy var launchReadbacks = [StepReadback(driver: driver), StepReadback(driver: driver)]
    /// The tokens the last launched step sampled, at a fixed address (recorded steps read it), for
    /// the placeholder ids of the next step (`launchSampling`).
    let sampledTokens: CUdeviceptr
    /// Rows `sampledTokens` holds: more than any step samples.
    static let maxSampledRows = 1 << 16
    private var weightAllocations: [CUdeviceptr] = []
    /// Where quantized weights are dequantized for products of many tokens
    /// (`CUDAQuantizedLinear.swift`): as large as the largest such weight, made at load.
    var dequantizedScratch: (pointer: CUdeviceptr, bytes: Int) = (0, 0)
    /// Zeros that kernels count finished blocks in (the last block of a group does the group's
    /// final merge and puts the zero back): one per logits row of the argmax.
    private let completionCounters: CUdeviceptr
    private static let completionCounterCount = 1 << 16
    private let argumentStorage: UnsafeMutableRawPointer
    private let argumentPointers: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    /// Dynamic shared memory each kernel has been allowed past the default 48 KB (`allowShared`).
    private var sharedBytesAllowed: [CUhandle: Int] = [:]
    /// Warps a block of the register-accumulator prefill kernel (flash_prefill.cu: 16 query rows a
    /// warp) for steps with prefill chunks, 4 or 8; 0: the WMMA kernel instead. `VLLM_CUDA_FLASH2=0`
    /// starts with 0, `=4` with 4 (for comparisons).
    public var flashPrefillWarps =
        switch ProcessInfo.processInfo.environment["VLLM_CUDA_FLASH2"] {
        case "0": 0
        case "4": 4
        default: 8
        }
    /// Our matrix-vector kernel for decodes of up to 4 tokens instead of cuBLASLt
    /// (`VLLM_CUDA_GEMV=0` turns it off, for comparisons).
    public var useGEMV = ProcessInfo.processInfo.environment["VLLM_CUDA_GEMV"] != "0"
    /// With `useGEMV`, our tensor-core kernel for products of 5 to 8 tokens (steps verifying
    /// drafts) where the input width is a multiple of 32, instead of cuBLASLt
    /// (`VLLM_CUDA_GEMV_MMA=0` turns it off, for comparisons).
    public var useGEMVMMA = ProcessInfo.processInfo.environment["VLLM_CUDA_GEMV_MMA"] != "0"
    /// Whether the matrix-vector kernel may take blocks of 4 warps where they spread the rows over
    /// the multiprocessors more evenly than blocks of 8 (`VLLM_CUDA_GEMV_BALANCE=1`; off: within
    /// 0.2 µs a layer of the default on three shapes' batch-1 steps, H100, 2026-12-06).
    public var balancesGEMV = ProcessInfo.processInfo.environment["VLLM_CUDA_GEMV_BALANCE"] == "1"
    /// The memory-bound decode attention kernel for decode-only steps, else the tensor-core kernel
    /// (`VLLM_CUDA_DECODE_ATTENTION=0` turns it off, for comparisons).
    public var useDecodeAttention = ProcessInfo.processInfo.environment["VLLM_CUDA_DECODE_ATTENTION"] != "0"
    /// Whether uniform steps of 2 to `verifyingTokensDecoded` tokens a sequence (verifying drafts)
    /// also take the decode attention kernel, each query token as a decode over the keys up to its
    /// own position, instead of the prefill kernel's single tile a sequence, which at small batches
    /// leaves most multiprocessors idle (`VLLM_CUDA_VERIFY_DECODE_ATTENTION=0` turns it off, for comparisons).
    public var decodesVerifyingSteps = ProcessInfo.processInfo.environment["VLLM_CUDA_VERIFY_DECODE_ATTENTION"] != "0"
    /// The most tokens a sequence of a step that `decodesVerifyingSteps` covers: each token's tile
    /// reads its sequence's keys again, so long uniform chunks (prefill) stay with the prefill kernel.
    static let verifyingTokensDecoded = 8
    /// FP8 weights with per-row scales multiplied on the FP8 tensor cores for more than 4 tokens
    /// (activations quantized per token), else dequantized to 16 bits first
    /// (`VLLM_CUDA_FP8_GEMM=0` turns it off, for comparisons).
    public var useFP8Products = ProcessInfo.processInfo.environment["VLLM_CUDA_FP8_GEMM"] != "0"
    /// What GGUF blocks multiply in decode steps (`--quantized-activations`): the activations as they
    /// are, or quantized to 8 bits per 32 values for the dp4a kernels (`gemv_ggml_int8`).
    public var quantizedActivations = ActivationPrecision.float32
    /// Whether the kernels that make a decode step's product inputs (`addRMSNorm`, `siluAndMul`, the
    /// merge of split attention) also quantize them for the 8-bit-activation products
    /// (`add_rms_norm_int8`, `silu_and_mul_int8`, `attention_combine_int8`): set when a GGUF weight
    /// that takes them is loaded and the module has the kernels (and by `vllm-dev kernel-check`).
    public var prequantizes = false
    /// The most tokens of a step whose inputs are prequantized: the 8-bit-activation products'
    /// decode kernels take 1 to 4.
    static let prequantizedTokens = 4
    /// The 8-bit form of outputs made this step by those kernels (by ring address, stamp and
    /// shape), for the products that read them; emptied at each step's start.
    var prequantized: [QuantizedOutputKey: (codes: CUDATensor, scales: CUDATensor)] = [:]
    private let elementSize: Int
    /// Batch-invariant mode (`--batch-invariant`, docs/deterministic-mode.md): every token's result
    /// is computed in an order that depends on that token alone, never on the step around it.
    public let batchInvariant: Bool
    /// Batch-invariant mode: the token count whose cuBLASLt algorithm every product of a weight shape
    /// uses (`VLLM_BATCH_INVARIANT_GEMM_TOKENS`, default 2048: about the tokens of a step of a
    /// saturated throughput run, where most of the time goes).
    static let invariantGEMMTokens = Int(ProcessInfo.processInfo.environment["VLLM_BATCH_INVARIANT_GEMM_TOKENS"] ?? "") ?? 2048
    /// `matrixProduct`'s table of one-expert starts (`CUDAInvariantProduct.swift`), made on first use.
    lazy var oneExpertStarts: CUdeviceptr = makeOneExpertStarts()
    /// Batch-invariant mode: the cuBLASLt algorithm fixed for each weight shape used so far (out x in
    /// features: id, tile, split-K, reduction scheme, ...), for checks.
    public var invariantGEMMAlgorithms: [String] { blas.fixedAlgorithmDescriptions }

    /// Opens device `device`, compiles or loads the kernels of `kernelSelection` (default: all)
    /// and creates the cuBLASLt handle. `computeDType` is the dtype of weights and activations;
    /// `batchInvariant` turns on batch-invariant mode.
    public init(
        device: Int = 0, computeDType: DType = .bfloat16, batchInvariant: Bool = false, kernelSelection: KernelSelection = .all
    ) throws {
        let driver = try CUDADriver.shared.get()
        self.driver = driver
        self.computeDType = computeDType
        elementSize = computeDType.byteSize
        try driver.check(driver.cuInit(0), "cuInit")
        driverVersion = try driver.version()
        guard driverVersion >= 12000 else {
            throw CUDAError.noDevice(
                "the driver supports CUDA \(driverVersion / 1000).\(driverVersion % 1000 / 10); CUDA 12.0 or newer is needed")
        }
        var count: Int32 = 0
        try driver.check(driver.cuDeviceGetCount(&count), "cuDeviceGetCount")
        guard device >= 0, device < Int(count) else {
            throw CUDAError.noDevice("device \(device) requested, \(count) present")
        }
        var handle: Int32 = 0
        try driver.check(driver.cuDeviceGet(&handle, Int32(device)), "cuDeviceGet")
        var major: Int32 = 0, minor: Int32 = 0
        try driver.check(driver.cuDeviceGetAttribute(&major, CUDADriver.attributeComputeCapabilityMajor, handle), "cuDeviceGetAttribute")
        try driver.check(driver.cuDeviceGetAttribute(&minor, CUDADriver.attributeComputeCapabilityMinor, handle), "cuDeviceGetAttribute")
        computeCapability = (Int(major), Int(minor))
        var sms: Int32 = 0
        try driver.check(driver.cuDeviceGetAttribute(&sms, CUDADriver.attributeMultiprocessorCount, handle), "cuDeviceGetAttribute")
        multiprocessors = Int(sms)
        var nameBuffer = [CChar](repeating: 0, count: 256)
        try driver.check(driver.cuDeviceGetName(&nameBuffer, 256, handle), "cuDeviceGetName")
        deviceName = nameBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        var ctx: CUhandle?
        try driver.check(driver.cuDevicePrimaryCtxRetain(&ctx, handle), "cuDevicePrimaryCtxRetain")
        context = ctx!
        try driver.check(driver.cuCtxSetCurrent(context), "cuCtxSetCurrent")
        var s: CUhandle?
        try driver.check(driver.cuStreamCreate(&s, 1), "cuStreamCreate")
        stream = s!
        // Hopper's wgmma and friends need the arch-specific target; other GPUs take the plain one.
        architecture = "sm_\(major)\(minor)" + (major == 9 && minor == 0 ? "a" : "")
        // NVRTC runs on other threads while the caller loads the weights (no kernel is needed to
        // copy them); the first use of a kernel, or `waitForKernels`, waits.
        compilation = try CUDAKernels.compile(dtype: computeDType, arch: architecture, selection: kernelSelection)
        let workspaceBytes = 32 << 20
        var workspace: CUdeviceptr = 0
        try driver.check(driver.cuMemAlloc(&workspace, workspaceBytes), "cuMemAlloc(cuBLASLt workspace)")
        blas = try CUBLASLt(
            dtype: computeDType, workspace: workspace, workspaceBytes: workspaceBytes,
            invariantTokens: batchInvariant ? max(1, Self.invariantGEMMTokens) : nil)
        self.batchInvariant = batchInvariant
        if batchInvariant {
            // Every product through cuBLASLt's one algorithm per shape (no matrix-vector kernels,
            // whose sums run in another order, no FP8 products with their own algorithms), every
            // attention through one kernel without split-KV (`attendCached`).
            (useGEMV, useFP8Products, useDecodeAttention, decodesVerifyingSteps) = (false, false, false, false)
        }
        arena = try DeviceArena(driver: driver, initialBytes: 16 << 20)
        ring = try ActivationRing(driver: driver, bytes: 256 << 20)
        blockTableBuffer = GrowingDeviceBuffer(driver: driver)
        uploader = try WeightUploader(driver: driver, stream: stream)
        overlapping =
            major >= 9 && ProcessInfo.processInfo.environment["VLLM_CUDA_PDL"] != "0"
            ? ProgrammaticLaunch(driver: driver) : nil
        profiler = ProcessInfo.processInfo.environment["VLLM_CUDA_PROFILE"] == "1" ? OperationProfiler(driver: driver) : nil
        if let profiler { OperationProfiler.reportAtExit(profiler, synchronize: { [stream] in _ = driver.cuStreamSynchronize(stream) }) }
        graphs = CUDAGraphRecorder(driver: driver)
        stagings = [PinnedBuffer(driver: driver), PinnedBuffer(driver: driver)]
        stagingReleased = try (0..<2).map { _ in
            var event: CUhandle?
            // Without timing: recording and waiting are cheaper.
            try driver.check(driver.cuEventCreate(&event, 2), "cuEventCreate(staging released)")
            return event!
        }
        hostOutput = PinnedBuffer(driver: driver)
        var counters: CUdeviceptr = 0
        try driver.check(driver.cuMemAlloc(&counters, Self.completionCounterCount * 4), "cuMemAlloc(completion counters)")
        try driver.check(driver.cuMemsetD8Async(counters, 0, Self.completionCounterCount * 4, stream), "cuMemsetD8Async")
        completionCounters = counters
        var sampled: CUdeviceptr = 0
        try driver.check(driver.cuMemAlloc(&sampled, Self.maxSampledRows * 4), "cuMemAlloc(sampled tokens)")
        try driver.check(driver.cuMemsetD8Async(sampled, 0, Self.maxSampledRows * 4, stream), "cuMemsetD8Async(sampled tokens)")
        sampledTokens = sampled
        argumentStorage = UnsafeMutableRawPointer.allocate(byteCount: 64 * 8, alignment: 16)
        argumentPointers = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: 64)
    }

    deinit {
        _ = driver.cuCtxSynchronize()
        for pointer in weightAllocations { _ = driver.cuMemFree(pointer) }
        _ = driver.cuMemFree(completionCounters)
        _ = driver.cuMemFree(sampledTokens)
        for event in stagingReleased { _ = driver.cuEventDestroy?(event) }
        argumentStorage.deallocate()
        argumentPointers.deallocate()
    }

    /// Free and total bytes of device memory.
    public func memoryInfo() -> (free: Int, total: Int) {
        makeCurrent()
        var free = 0, total = 0
        driver.must(driver.cuMemGetInfo(&free, &total), "cuMemGetInfo")
        return (free, total)
    }

    /// Sizes the activation memory now: `ringBytes` for operation outputs (about two decoder
    /// layers of the largest step) and `stepBytes` for what lives through a step (the residual
    /// stream, the batch description), so that no step allocates and the KV cache is sized from
    /// what is left.
    public func reserveActivations(ringBytes: Int, stepBytes: Int) throws {
        makeCurrent()
        if ringBytes > ring.size { try ring.resize(ringBytes) }
        try arena.reserve(stepBytes)
    }

    /// Bytes of device memory held for activations.
    public var activationBytes: Int { ring.size + arena.capacity }

    /// Waits for all queued work.
    public func synchronize() {
        driver.must(driver.cuStreamSynchronize(stream), "cuStreamSynchronize")
        profiler?.collect()
    }

    /// Waits until the stream has passed `event` (when profiling, for all queued work: the
    /// timings are read then).
    func synchronize(upTo event: CUhandle) {
        guard profiler == nil else { return synchronize() }
        driver.must(driver.cuEventSynchronize(event), "cuEventSynchronize")
    }

    /// Runs `body`, timed under `name` (and the kind of step) when profiling.
    func profiled(_ name: @autoclosure () -> String, _ body: () -> Void) {
        guard let profiler else { return body() }
        profiler.measure(stepKind + " " + name(), stream: stream, body)
    }

    /// The context is per thread in the driver API; the engine may call from another thread than
    /// the one that made the backend.
    private func makeCurrent() {
        driver.must(driver.cuCtxSetCurrent(context), "cuCtxSetCurrent")
    }

    /// Waits for the kernels compiling since `init` and loads them (stderr says how they came);
    /// throws a compile error. Later calls return at once.
    public func waitForKernels() throws { _ = try loadKernels() }

    private func loadKernels() throws -> CUDAKernels {
        if let loadedKernels { return loadedKernels }
        makeCurrent()
        let start = Date()
        let loaded = try CUDAKernels(driver: driver, compilation: compilation)
        kernelWaitSeconds = Date().timeIntervalSince(start)
        loadedKernels = loaded
        // Start-up time is mostly weights and kernels; say which way the kernels came, and where
        // the weights' time went (called right after they are loaded).
        FileHandle.standardError.write(
            Data(
                (String(
                    format: "CUDA: %@, kernels %@ in %.2f s (%.2f s waited for after the weights): %@\n", deviceName,
                    compiledKernels ? "compiled by NVRTC" : "loaded from the cache", kernelSeconds, kernelWaitSeconds, kernelSummary)
                    + (uploader.bytes > 0 ? "CUDA: weights \(uploader.summary)\n" : "")).utf8))
        return loaded
    }

    /// Compiles and loads the kernel files of `uses` that the selection at start left out (at
    /// load, when a weight turns out to need them). Throws when they do not compile.
    func requireKernels(_ uses: Set<KernelSelection.Use>) throws {
        makeCurrent()
        try kernels.require(uses)
    }

    // MARK: launches

    func launch(
        _ function: CUhandle, _ name: @autoclosure () -> String, grid: (Int, Int), block: Int, shared: Int = 0,
        _ arguments: [KernelArgument]
    ) {
        launch(function, name(), grid: (grid.0, grid.1, 1), block: block, shared: shared, arguments)
    }

    /// The prefixes of `VLLM_CUDA_SKIP_KERNELS` (empty when unset).
    static func skippedKernels(_ value: String?) -> [String] {
        (value ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    private func launch(
        _ function: CUhandle, _ name: @autoclosure () -> String, grid: (Int, Int, Int), block: Int, shared: Int = 0,
        _ arguments: [KernelArgument]
    ) {
        for (i, argument) in arguments.enumerated() {
            let slot = argumentStorage + i * 8
            switch argument {
            case .pointer(let p): slot.storeBytes(of: p, as: UInt64.self)
            case .int32(let v): slot.storeBytes(of: v, as: Int32.self)
            case .int64(let v): slot.storeBytes(of: v, as: Int64.self)
            case .float(let v): slot.storeBytes(of: v, as: Float.self)
            }
            argumentPointers[i] = slot
        }
        guard grid.0 > 0, grid.1 > 0, grid.2 > 0 else { return }
        if !skippedKernels.isEmpty, skippedKernels.contains(where: name().hasPrefix) { return }
        profiled(name()) {
            if let overlapping, kernels.waitsForPrevious.contains(function) {
                let result = overlapping.launch(
                    function, grid: grid, block: block, shared: shared, stream: stream, arguments: argumentPointers)
                if result == 0 { return }
                // A driver that refuses the attribute: ordinary launches from now on.
                FileHandle.standardError.write(
                    Data("warning: programmatic dependent launch refused (\(result)); launching without it\n".utf8))
                self.overlapping = nil
            }
            driver.must(
                driver.cuLaunchKernel(
                    function, UInt32(grid.0), UInt32(grid.1), UInt32(grid.2), UInt32(block), 1, 1, UInt32(shared), stream,
                    argumentPointers, nil),
                "cuLaunchKernel(\(name()))")
        }
    }

    func allocate(_ shape: [Int]) -> CUDATensor {
        let (pointer, stamp) = ring.allocate(shape.reduce(1, *) * elementSize)
        return CUDATensor(pointer: pointer, shape: shape, stamp: stamp)
    }

    /// Stops when an input's memory was handed out again (the ring is too small for the step).
    func checkLive(_ tensors: CUDATensor...) {
        for t in tensors where t.stamp >= 0 && !ring.isLive(stamp: t.stamp) {
            fatalError(
                "CUDA: an activation was overwritten before its last use; the activation ring (\(ring.size) bytes) is too small for this step"
            )
        }
    }

    /// Blocks for a grid-stride loop over `count` elements.
    func gridFor(_ count: Int) -> Int { max(1, min((count + 255) / 256, 132 * 16)) }

    /// Threads for a row of `n` elements: about 8 elements a thread, at least a warp.
    func threadsFor(row n: Int) -> Int { min(1024, max(32, ((n + 7) / 8 + 31) / 32 * 32)) }

    // MARK: Backend

    /// Uploads the parts, converted to `computeDType`, into one new device allocation, stacked along the first dimension. Throws when the
    /// allocation or a copy fails.
    public func weight(_ parts: [HostTensor]) throws -> CUDATensor {
        makeCurrent()
        let first = parts[0]
        let rows = parts.reduce(0) { $0 + ($1.shape.first ?? 1) }
        let shape = first.shape.count <= 1 ? [parts.reduce(0) { $0 + $1.count }] : [rows] + first.shape.dropFirst()
        let total = shape.reduce(1, *)
        var pointer: CUdeviceptr = 0
        try driver.check(driver.cuMemAlloc(&pointer, max(1, total * elementSize)), "cuMemAlloc(weight \(shape))")
        weightAllocations.append(pointer)
        var at = pointer
        for part in parts {
            try uploader.upload(count: part.count, elementBytes: elementSize, to: at, fill: converter(part))
            at += UInt64(part.count * elementSize)
        }
        return CUDATensor(pointer: pointer, shape: shape)
    }

    /// `parts` stacked along their first dimension as stored, not in the compute dtype: integer and
    /// FP8 codes keep their bits, float tensors become float32 (the scales and zero points of
    /// quantized weights).
    func storedWeight(_ parts: [HostTensor]) throws -> CUDATensor {
        makeCurrent()
        let floats = parts[0].dtype == .float32 || parts[0].dtype == .float16 || parts[0].dtype == .bfloat16
        precondition(parts.allSatisfy { ($0.dtype == parts[0].dtype) || floats }, "stacked tensors of different dtypes")
        let size = floats ? 4 : parts[0].dtype.byteSize
        let rows = parts.reduce(0) { $0 + ($1.shape.first ?? 1) }
        let shape = parts[0].shape.count <= 1 ? [parts.reduce(0) { $0 + $1.count }] : [rows] + parts[0].shape.dropFirst()
        var pointer: CUdeviceptr = 0
        try driver.check(driver.cuMemAlloc(&pointer, max(1, shape.reduce(1, *) * size)), "cuMemAlloc(weight \(shape))")
        weightAllocations.append(pointer)
        var at = pointer
        for part in parts {
            try uploader.upload(count: part.count, elementBytes: size, to: at) { destination, first, n in
                if floats {
                    part.convert(offset: first, count: n, to: destination.assumingMemoryBound(to: Float.self))
                } else {
                    destination.copyMemory(from: part.bytes + first * size, byteCount: n * size)
                }
            }
            at += UInt64(part.count * size)
        }
        return CUDATensor(pointer: pointer, shape: shape)
    }

    /// Grows `dequantizedScratch` to `bytes` (at load, before any step runs).
    func reserveDequantizedScratch(_ bytes: Int) throws {
        guard bytes > dequantizedScratch.bytes else { return }
        makeCurrent()
        var pointer: CUdeviceptr = 0
        try driver.check(driver.cuMemAlloc(&pointer, bytes), "cuMemAlloc(dequantized weight scratch, \(bytes) bytes)")
        if dequantizedScratch.pointer != 0 {
            weightAllocations.removeAll { $0 == dequantizedScratch.pointer }
            _ = driver.cuMemFree(dequantizedScratch.pointer)
        }
        weightAllocations.append(pointer)
        dequantizedScratch = (pointer, bytes)
    }

    /// Writes elements `first ..< first + n` of `part` in the compute dtype to a destination.
    private func converter(_ part: HostTensor) -> @Sendable (UnsafeMutableRawPointer, Int, Int) -> Void {
        let (target, size) = (computeDType, elementSize)
        if part.dtype == target {
            return { destination, first, n in destination.copyMemory(from: part.bytes + first * size, byteCount: n * size) }
        }
        return { destination, first, n in
            let floats = UnsafeMutablePointer<Float>.allocate(capacity: n)
            defer { floats.deallocate() }
            part.convert(offset: first, count: n, to: floats)
            switch target {
            case .float32:
                destination.copyMemory(from: floats, byteCount: n * 4)
            case .bfloat16:
                let out = destination.assumingMemoryBound(to: UInt16.self)
                for i in 0..<n { out[i] = FloatBits.floatToBFloat16(floats[i]) }
            case .float16:
                #if arch(x86_64) || arch(arm64)
                    let out = destination.assumingMemoryBound(to: UInt16.self)
                    for i in 0..<n { out[i] = Float16(floats[i]).bitPattern }
                #else
                    preconditionFailure("float16 conversion is not available on this platform")
                #endif
            case .float8E4M3, .int32, .int64, .uint8:
                preconditionFailure("\(target) is not a compute dtype")
            }
        }
    }

    /// The compute dtype (`auto`) and, where the module has its kernels, FP8 e4m3 codes.
    public var kvCacheDTypes: [KVCacheDType] {
        // Known without waiting for the compile, except for a VLLM_CUDA_KERNEL_SOURCE that may
        // predate the FP8 cache kernels.
        guard compilation.selection.fp8KVCache else { return [.auto] }
        return compilation.whole == nil || kernels.fp8Cache != nil ? [.auto, .fp8] : [.auto]
    }

    /// Allocates a zeroed cache of keys and values in the shape's format: `computeDType`, or FP8
    /// e4m3 codes where `kvCacheDTypes` offers them (others trap; `Platform.load` refuses them first).
    public func makeKVCache(_ shape: KVCacheShape) -> CUDAKVCache {
        // Platform.load refuses other formats (kvCacheDTypes) with an error naming the flag.
        precondition(kvCacheDTypes.contains(shape.format.dtype), "the CUDA KV cache cannot store \(shape.format.dtype)")
        makeCurrent()
        let layerBytes =
            shape.numBlocks * shape.blockSize * shape.numKVHeads * shape.headDim
            * CUDAKVCache.elementSize(shape.format, activationBytes: elementSize)
        let total = 2 * shape.numLayers * layerBytes
        var base: CUdeviceptr = 0
        driver.must(driver.cuMemAlloc(&base, max(1, total)), "cuMemAlloc(KV cache, \(total) bytes)")
        driver.must(driver.cuMemsetD8Async(base, 0, total, stream), "cuMemsetD8Async(KV cache)")
        synchronize()
        return CUDAKVCache(shape: shape, base: base, layerBytes: layerBytes, driver: driver)
    }

    /// Keys and values of one block over all layers, in bytes of the shape's format (`computeDType` or FP8 codes).
    public func kvCacheBytesPerBlock(_ shape: KVCacheShape) -> Int {
        2 * shape.numLayers * shape.blockSize * shape.numKVHeads * shape.headDim
            * CUDAKVCache.elementSize(shape.format, activationBytes: elementSize)
    }

    /// Copies the batch's ids, positions, slots and block tables to device memory (alternate steps use alternate staging buffers).
    public func prepare(_ batch: ForwardBatch) -> CUDABatch {
        makeCurrent()
        // Device memory is reused in stream order; the host staging of the step launched before
        // may still be copying, so this step takes the other one. A copy from pinned memory reads
        // it when the stream gets there, so the staging of the step before last is rewritten only
        // once that step is done. The engine has then usually waited for it (for its samples), but
        // not for a step that samples nothing (prompt chunks that do not end their prompt: the
        // first request's first chunks under a small token budget) nor for one whose requests all
        // finished meanwhile; with a device a few steps behind, such a step read the token ids,
        // positions and slots of a later step (a wrong KV cache for the first request).
        driver.must(driver.cuEventRecord(stagingReleased[stepParity], stream), "cuEventRecord(staging released)")
        stepParity ^= 1
        if waitsForStaging { synchronize(upTo: stagingReleased[stepParity]) }
        arena.reset()
        ring.reset()
        prequantized.removeAll(keepingCapacity: true)
        stepKind = batch.isDecodeOnly ? "decode" : "mixed"
        // Fixed-size inputs first, each on a 16-byte boundary, so that a uniform step of a given
        // shape lands at the same addresses every time (recorded steps read them there); the block
        // tables, whose width varies, go to their own buffer, and kernels read the width from the
        // device.
        let uniformTiles: [Int32] =
            batch.uniformShape.map { shape in
                let q = Int32(shape.tokensPerSequence)
                return (0..<Int32(shape.sequences)).flatMap { [$0, $0 * q, q] }
            } ?? []
        var arrays: [[Int32]] = [
            [Int32(batch.blockTableWidth)], batch.tokenIDs, batch.positions, batch.slotMapping, batch.logitIndices, uniformTiles,
        ]
        // A verifying step's tiles, one a token: (sequence, token, the sequence's tokens in the step),
        // the last so that decode attention knows which of a token's keys this step writes.
        if decodesVerifyingSteps, let q = batch.uniformShape?.tokensPerSequence, (2...Self.verifyingTokensDecoded).contains(q) {
            arrays.append((0..<Int32(batch.numTokens)).flatMap { [$0 / Int32(q), $0, Int32(q)] })
        }
        let sizes = arrays.map { ($0.count * 4 + 15) / 16 * 16 }
        let fixedBytes = sizes.reduce(0, +), tableBytes = batch.blockTables.count * 4
        // Room for the attention tiles too (at most one tile per token, for two tile sizes), and
        // for the sequences' starts (an encoder's attention).
        let host = staging.ensure(fixedBytes + tableBytes + 2 * 12 * batch.numTokens + 4 * batch.queryStart.count + 1024)
        let device = arena.allocate(fixedBytes)
        var inputs: [CUdeviceptr] = []
        var offset = 0
        for (array, size) in zip(arrays, sizes) {
            array.withUnsafeBytes { if let from = $0.baseAddress { (host + offset).copyMemory(from: from, byteCount: $0.count) } }
            inputs.append(device + UInt64(offset))
            offset += size
        }
        driver.must(driver.cuMemcpyHtoDAsync(device, host, fixedBytes, stream), "cuMemcpyHtoDAsync(batch)")
        let tables = blockTableBuffer.ensure(max(tableBytes, 4))
        batch.blockTables.withUnsafeBytes { if let from = $0.baseAddress { (host + offset).copyMemory(from: from, byteCount: $0.count) } }
        if tableBytes > 0 {
            driver.must(driver.cuMemcpyHtoDAsync(tables, host + offset, tableBytes, stream), "cuMemcpyHtoDAsync(block tables)")
        }
        stagingOffset = offset + tableBytes
        return CUDABatch(batch: batch, inputs: inputs, blockTables: tables)
    }

    /// The query tiles of `batch` for tiles of `tileTokens` tokens: (sequence, first token, count).
    private func tiles(_ batch: CUDABatch, tileTokens: Int) -> (pointer: CUdeviceptr, count: Int) {
        if let uniform = batch.uniformTiles, uniform.tokens <= tileTokens { return (uniform.pointer, uniform.count) }
        // Tiles made during the step are not where a replay could find them.
        if isRecording { stagedWhileRecording = true }
        if let made = batch.tiles[tileTokens] { return made }
        let b = batch.batch
        var values: [Int32] = []
        for s in 0..<b.numSequences {
            let start = Int(b.queryStart[s]), end = Int(b.queryStart[s + 1])
            var t = start
            while t < end {
                let n = min(tileTokens, end - t)
                values += [Int32(s), Int32(t), Int32(n)]
                t += n
            }
        }
        let made = (stepArray(values, "attention tiles"), values.count / 3)
        batch.tiles[tileTokens] = made
        return made
    }

    /// Copies `values` to device memory that lives through the step, through the step's staging
    /// buffer (room for it is made in `prepare`).
    func stepArray(_ values: [Int32], _ what: @autoclosure () -> String) -> CUdeviceptr {
        if isRecording { stagedWhileRecording = true }
        let bytes = max(4, values.count * 4)
        let host = staging.pointer! + stagingOffset
        precondition(stagingOffset + bytes <= staging.size, "\(what()) overflow the staging buffer")
        values.withUnsafeBytes { if let from = $0.baseAddress { host.copyMemory(from: from, byteCount: $0.count) } }
        stagingOffset += bytes
        let device = arena.allocate(bytes)
        driver.must(driver.cuMemcpyHtoDAsync(device, host, bytes, stream), "cuMemcpyHtoDAsync(\(what()))")
        return device
    }

    /// The parts side by side (`copy_columns`, one launch a part), in memory that lives through the
    /// step: the hidden states a model keeps for EAGLE-3 are taken layers before the step ends.
    public func concatColumns(_ parts: [CUDATensor]) -> CUDATensor {
        let rows = parts[0].rows
        precondition(parts.allSatisfy { $0.rows == rows }, "concatColumns needs parts of equal rows")
        let width = parts.reduce(0) { $0 + $1.columns }
        let out = CUDATensor(pointer: arena.allocate(rows * width * elementSize), shape: [rows, width])
        var at = 0
        for part in parts {
            checkLive(part)
            launch(
                kernels.copyColumns, "copy_columns", grid: (gridFor(part.count), 1), block: 256,
                [
                    .pointer(out.pointer), .pointer(part.pointer), .int64(Int64(rows)), .int32(Int32(part.columns)),
                    .int32(Int32(width)), .int32(Int32(at)),
                ])
            at += part.columns
        }
        return out
    }

    /// `values` copied to the device (from pageable memory: the copy has taken them when this
    /// returns) and converted to the compute dtype, in memory that lives through the step.
    public func activation(_ values: [Float], rows: Int, columns: Int) -> CUDATensor {
        let count = rows * columns
        precondition(values.count == count, "\(values.count) values for [\(rows), \(columns)]")
        let out = CUDATensor(pointer: arena.allocate(count * elementSize), shape: [rows, columns])
        guard count > 0 else { return out }
        let floats = computeDType == .float32 ? out.pointer : arena.allocate(count * 4)
        values.withUnsafeBytes {
            driver.must(driver.cuMemcpyHtoDAsync(floats, $0.baseAddress!, count * 4, stream), "cuMemcpyHtoDAsync(activation)")
        }
        if computeDType != .float32 {
            launch(
                kernels.fromFloat, "from_float", grid: (gridFor(count), 1), block: 256,
                [.pointer(out.pointer), .pointer(floats), .int64(Int64(count))])
        }
        return out
    }

    /// The embedding kernel over the batch's token ids (placeholder ids read the tokens sampled on the device).
    public func embedding(_ table: CUDATensor, _ batch: CUDABatch) -> CUDATensor {
        let hidden = table.columns
        // The residual stream: lives through the whole step, so not in the ring.
        let out = CUDATensor(pointer: arena.allocate(batch.batch.numTokens * hidden * elementSize), shape: [batch.batch.numTokens, hidden])
        launch(
            kernels.embedding, "embedding", grid: (batch.batch.numTokens, 1), block: min(256, threadsFor(row: hidden)),
            [.pointer(out.pointer), .pointer(table.pointer), .pointer(batch.tokenIDs), .pointer(sampledTokens), .int32(Int32(hidden))])
        return out
    }

    /// The `rms_norm` kernel, one block per row.
    public func rmsNorm(_ x: CUDATensor, weight: CUDATensor, eps: Float) -> CUDATensor {
        checkLive(x)
        let out = allocate(x.shape)
        launch(
            kernels.rmsNorm, "rms_norm", grid: (x.rows, 1), block: threadsFor(row: x.columns),
            [.pointer(out.pointer), .pointer(x.pointer), .pointer(weight.pointer), .int32(Int32(x.columns)), .float(eps)])
        return out
    }

    /// The `add_rms_norm` kernel: updates `residual` in place and returns the normalized rows. In
    /// decode steps of a model whose GGUF products take 8-bit activations (`prequantizes`),
    /// `add_rms_norm_int8` also leaves the output's 8-bit form for them (`prequantized`):
    /// the same bytes `quantize_ggml_int8` would make, without its launch.
    public func addRMSNorm(_ x: CUDATensor, residual: CUDATensor, weight: CUDATensor, eps: Float) -> CUDATensor {
        checkLive(x, residual)
        let out = allocate(x.shape)
        let threads = threadsFor(row: x.columns)
        let arguments: [KernelArgument] = [
            .pointer(out.pointer), .pointer(residual.pointer), .pointer(x.pointer), .pointer(weight.pointer),
            .int32(Int32(x.columns)), .float(eps),
        ]
        // The kernel quantizes rows held in registers (8 elements a thread), in whole blocks of 32.
        if prequantizes, x.rows <= Self.prequantizedTokens, x.columns % 32 == 0, x.columns <= 8 * threads,
            let kernel = kernels.addRMSNormInt8
        {
            launchPrequantizing(kernel, "add_rms_norm_int8", out: out, grid: (x.rows, 1), block: threads, arguments)
        } else {
            launch(kernels.addRMSNorm, "add_rms_norm", grid: (x.rows, 1), block: threads, arguments)
        }
        return out
    }

    /// Launches a kernel that also leaves `out`'s 8-bit form (its two last arguments: codes and
    /// per-16 pairs), which the products that read `out` take instead of quantizing it
    /// (`prequantized`).
    private func launchPrequantizing(
        _ kernel: CUhandle, _ name: String, out: CUDATensor, grid: (Int, Int), block: Int, _ arguments: [KernelArgument]
    ) {
        let quantized = allocateInt8Activations(rows: out.rows, columns: out.columns)
        launch(kernel, name, grid: grid, block: block, arguments + [.pointer(quantized.codes.pointer), .pointer(quantized.scales.pointer)])
        prequantized[QuantizedOutputKey(out)] = quantized
    }

    /// Whether the module has `add_rms_norm_int8`, `silu_and_mul_int8` and `quantize_ggml_int8` (a
    /// kernel source from before them has not; `attention_combine_int8` is checked where it is
    /// launched, as the 16-bit attention kernels are optional).
    public var hasPrequantizingKernels: Bool {
        kernels.addRMSNormInt8 != nil && kernels.siluAndMulInt8 != nil && kernels.quantized?.quantizeGGMLInt8 != nil
    }

    /// `count` bytes of device memory at `source`, copied to the host (for checks); waits for the stream.
    func hostBytes(_ source: CUdeviceptr, count: Int, _ what: String) -> [UInt8] {
        let host = hostOutput.ensure(count)
        driver.must(driver.cuMemcpyDtoHAsync(host, source, count, stream), "cuMemcpyDtoHAsync(\(what))")
        synchronize()
        return Array(UnsafeRawBufferPointer(start: host, count: count))
    }

    /// Room for `rows × columns` activations in the 8-bit kernels' form: the codes (`[rows,
    /// columns]` bytes) and per 16 values the pair (scale, scale · Σ codes).
    func allocateInt8Activations(rows: Int, columns: Int) -> (codes: CUDATensor, scales: CUDATensor) {
        let size = computeDType.byteSize
        let codes = allocate([(rows * columns + size - 1) / size])
        let scales = allocate([(rows * columns / 16 * 8 + size - 1) / size])
        return (codes, scales)
    }

    /// Warps a block of the matrix-vector kernel for `n` rows: 8, or 4 where twice the blocks load
    /// the multiprocessors more evenly. Why: the busiest multiprocessor sets a product's time, and
    /// 3584 rows (Gemma-2-9B's and Qwen2.5-7B's hidden size) make 448 blocks of 8 warps, 3.4 a
    /// multiprocessor of an H100 on average but 4 on the busiest (85%); 896 blocks of 4 make 6.8
    /// against 7 (97%).
    public static func gemvWarps(rows n: Int, multiprocessors: Int) -> Int {
        func evenness(_ warps: Int) -> Double {
            let blocks = Double((n + warps - 1) / warps) / Double(multiprocessors)
            return blocks / blocks.rounded(.up)
        }
        return evenness(4) > evenness(8) + 0.02 ? 4 : 8
    }

    /// A matrix-vector kernel for small batches (when compiled for the row count), our tensor-core
    /// kernel for a few more, else a cuBLASLt product; then the bias.
    public func linear(_ x: CUDATensor, weight: CUDATensor, bias: CUDATensor?) -> CUDATensor {
        let (t, k, n) = (x.rows, x.columns, weight.shape[0])
        precondition(weight.columns == k, "linear: input has \(k) columns, weight \(weight.shape)")
        checkLive(x)
        let out = allocate([t, n])
        guard t > 0 else { return out }
        if useGEMV, let gemv = kernels.gemv[t], k % 8 == 0 {
            // One output row a warp.
            let warps = balancesGEMV ? Self.gemvWarps(rows: n, multiprocessors: multiprocessors) : 8
            launch(
                gemv, "gemv \(n)x\(k)", grid: ((n + warps - 1) / warps, 1), block: 32 * warps,
                [.pointer(out.pointer), .pointer(x.pointer), .pointer(weight.pointer), .int32(Int32(n)), .int32(Int32(k))])
        } else if useGEMV, useGEMVMMA, let mma = kernels.gemvMMA[t], k % 32 == 0 {
            // Sixteen output rows a block of 8 warps.
            launch(
                mma, "gemv_mma \(n)x\(k)", grid: ((n + 15) / 16, 1), block: 256,
                [.pointer(out.pointer), .pointer(x.pointer), .pointer(weight.pointer), .int32(Int32(n)), .int32(Int32(k))])
        } else {
            matrixProduct(x, w: weight.pointer, out: out, n: n, k: k, label: "cublaslt \(n)x\(k)")
        }
        addBias(bias, to: out)
        return out
    }

    /// In place: `out[t, :] += bias` for every row (nothing without a bias).
    func addBias(_ bias: CUDATensor?, to out: CUDATensor) {
        guard let bias else { return }
        launch(
            kernels.addBias, "add_bias", grid: (gridFor(out.count), 1), block: 256,
            [.pointer(out.pointer), .pointer(bias.pointer), .int64(Int64(out.rows)), .int32(Int32(out.columns))])
    }

    /// The `head_rms_norm` kernel, one warp per head.
    public func headRMSNorm(_ qkv: CUDATensor, layout: QKVLayout, qWeight: CUDATensor, kWeight: CUDATensor, eps: Float) {
        checkLive(qkv)
        launch(
            kernels.headRMSNorm, "head_rms_norm", grid: (qkv.rows, layout.numHeads + layout.numKVHeads), block: 32,
            [
                .pointer(qkv.pointer), .pointer(qWeight.pointer), .pointer(kWeight.pointer), .int32(Int32(layout.width)),
                .int32(Int32(layout.numHeads)), .int32(Int32(layout.headDim)), .float(eps),
            ])
    }

    /// The rotary kernel, in place on q and k.
    public func rotary(_ qkv: CUDATensor, layout: QKVLayout, rope: CUDATensor, batch: CUDABatch) {
        checkLive(qkv)
        rotate(qkv, layout: layout, rope: rope, batch: batch, into: nil)
    }

    /// Rotates q and k and writes the rotated keys (and values) into the cache in one kernel, then attends.
    public func rotaryAttention(
        _ qkv: CUDATensor, layout: QKVLayout, rope: CUDATensor, cache: CUDAKVCache, layer: Int, batch: CUDABatch,
        scale: Float, slidingWindow: Int?
    ) -> CUDATensor {
        rotaryAttention(
            qkv, layout: layout, rope: rope, cache: cache, layer: layer, batch: batch, scale: scale, slidingWindow: slidingWindow,
            logitSoftCap: nil)
    }

    /// Rotary embedding of q and k in place; with a cache layer, the rotated keys and the values
    /// also go to the batch's slots of that layer (one kernel for both). The table's width is the
    /// rotary dimension: narrower than the heads for partial rotary (only those values turn). With
    /// `headNorm`, each q and k head is RMS-normed first, in the same kernel where the module has it.
    func rotate(
        _ qkv: CUDATensor, layout: QKVLayout, rope: CUDATensor, batch: CUDABatch, into cache: (CUDAKVCache, Int)?,
        headNorm: HeadNorm<CUDATensor>? = nil
    ) {
        precondition(Int(batch.batch.positions.max() ?? 0) < rope.rows, "position beyond the rotary table (\(rope.rows))")
        precondition(
            rope.columns <= layout.headDim && rope.columns % 2 == 0, "rotary table of width \(rope.columns) for heads of \(layout.headDim)")
        let fp8 = cache?.0.isFP8 == true
        // The normed kernel where the module has it; otherwise head_rms_norm first, then the plain one.
        let normed = headNorm == nil ? nil : fp8 ? fp8CacheKernels.rotaryNormWriteKV : kernels.rotaryNormWriteKV
        if normed == nil, let n = headNorm { headRMSNorm(qkv, layout: layout, qWeight: n.q, kWeight: n.k, eps: n.eps) }
        let kernel = normed ?? (fp8 ? fp8CacheKernels.rotaryWriteKV : kernels.rotaryWriteKV)
        let name = (normed == nil ? "rotary" : "rotary_norm") + (cache == nil ? "" : fp8 ? "_write_kv_fp8" : "_write_kv")
        // A thread an item: the rotated pairs of every q and k head, or the kv heads' rows copied
        // (the normed kernel's warp a head is covered too).
        let items = max((layout.numHeads + layout.numKVHeads) * rope.columns / 2, layout.numKVHeads * layout.headDim)
        var arguments: [KernelArgument] = [
            .pointer(qkv.pointer), .pointer(rope.pointer), .pointer(batch.positions), .pointer(cache == nil ? 0 : batch.slots),
            .pointer(cache.map { $0.0.keys[$0.1] } ?? 0), .pointer(cache.map { $0.0.values[$0.1] } ?? 0),
            .int32(Int32(layout.width)), .int32(Int32(layout.numHeads)), .int32(Int32(layout.numKVHeads)),
            .int32(Int32(layout.headDim)), .int32(Int32(cache?.0.shape.blockSize ?? 1)), .int32(Int32(rope.columns)),
        ]
        if let n = headNorm, normed != nil { arguments += [.pointer(n.q.pointer), .pointer(n.k.pointer), .float(n.eps)] }
        launch(
            kernel, name, grid: (qkv.rows, (items + 127) / 128), block: 128,
            arguments + (cache.map { $0.0.writeArguments(layer: $0.1) } ?? []))
    }

    /// Writes the keys and values into the cache, then runs the paged attention kernels.
    public func attention(
        _ qkv: CUDATensor, layout: QKVLayout, cache: CUDAKVCache, layer: Int, batch: CUDABatch, scale: Float,
        slidingWindow: Int?
    ) -> CUDATensor {
        checkLive(qkv)
        let hd = layout.headDim
        launch(
            cache.isFP8 ? fp8CacheKernels.writeKVCache : kernels.writeKVCache,
            cache.isFP8 ? "write_kv_cache_fp8" : "write_kv_cache", grid: (batch.batch.numTokens, 1), block: 128,
            [
                .pointer(qkv.pointer), .pointer(cache.keys[layer]), .pointer(cache.values[layer]), .pointer(batch.slots),
                .int32(Int32(layout.width)), .int32(Int32(layout.keyOffset)), .int32(Int32(layout.valueOffset)),
                .int32(Int32(layout.numKVHeads)), .int32(Int32(hd)), .int32(Int32(cache.shape.blockSize)),
            ] + cache.writeArguments(layer: layer))
        return attendCached(qkv, layout: layout, cache: cache, layer: layer, batch: batch, scale: scale, slidingWindow: slidingWindow)
    }

    /// The FP8 cache's kernels; a cache is FP8 only where `kvCacheDTypes` said they exist.
    private var fp8CacheKernels: FP8KVCacheKernels {
        guard let fp8 = kernels.fp8Cache else { preconditionFailure("an FP8 KV cache without its kernels") }
        return fp8
    }

    /// Attention of the batch's queries over the cache, whose layer already holds the batch's keys
    /// and values; with `softCap`, each score becomes `softCap * tanh(score / softCap)` before the
    /// softmax. An FP8 cache takes the `_fp8` twins of the same kernels (none of flash_attention).
    func attendCached(
        _ qkv: CUDATensor, layout: QKVLayout, cache: CUDAKVCache, layer: Int, batch: CUDABatch, scale: Float,
        slidingWindow: Int?, softCap: Float? = nil
    ) -> CUDATensor {
        let cap = softCap ?? 0
        let b = batch.batch
        let hd = layout.headDim, kvHeads = layout.numKVHeads
        let group = layout.numHeads / kvHeads
        let fp8 = cache.isFP8 ? fp8CacheKernels : nil
        let decodeKernels = fp8?.decodeAttention ?? kernels.decodeAttention
        let prefillKernels = fp8?.flashPrefill ?? kernels.flashPrefill
        let flashKernels = fp8 == nil ? kernels.flashAttention : [:]
        if useDecodeAttention, !batchInvariant, let decode = decodeKernels[hd], let tiles = batch.decodeTiles, group <= 8 {
            return decodeAttention(
                decode, qkv, layout: layout, cache: cache, layer: layer, batch: batch, tiles: tiles, scale: scale,
                window: slidingWindow ?? 0, softCap: cap)
        }
        // Batch-invariant mode sends decode steps through the prefill kernel too (the decode
        // kernel's sums over keys run in another order); decodes take its 4-warp blocks, whose rows
        // are computed exactly as in the 8-warp ones (each warp owns its 16 rows, and walks the same
        // key tiles; not with a soft cap, which the two compute differently for head size 64).
        var warps = flashPrefillWarps
        if batchInvariant, batch.decodeTiles != nil, warps == 8, group <= 64, cap == 0, prefillKernels[hd]?[4] != nil { warps = 4 }
        if batch.decodeTiles == nil || batchInvariant, let prefill = prefillKernels[hd]?[warps], group <= 16 * warps {
            return flashPrefill(
                prefill, warps: warps, qkv, layout: layout, cache: cache, layer: layer, batch: batch, scale: scale,
                window: slidingWindow ?? 0, softCap: cap)
        }
        if let flash = flashKernels[hd], group <= 64 {
            return flashAttention(
                flash, qkv, layout: layout, cache: cache, layer: layer, batch: batch, scale: scale, window: slidingWindow ?? 0,
                softCap: cap)
        }
        // Up to 64 query rows (32 for head_dim 256) per block keep shared memory near 100 KB.
        let maxRows = max(group, min(64, 8192 / hd))
        let tileTokens = max(1, maxRows / group)
        let rows = tileTokens * group
        let floats = 2 * rows * hd + 32 * (hd + 1) + 32 * hd + rows * 32 + 3 * rows
        let shared = floats * 4
        let paged = fp8?.pagedAttention ?? kernels.pagedAttention
        allowShared(shared, paged, "paged_attention")
        let (tilePointer, tileCount) = tiles(batch, tileTokens: tileTokens)
        let out = allocate([b.numTokens, layout.numHeads * hd])
        launch(
            paged, fp8 == nil ? "paged_attention" : "paged_attention_fp8", grid: (tileCount, kvHeads), block: 128, shared: shared,
            [
                .pointer(out.pointer), .pointer(qkv.pointer), .pointer(cache.keys[layer]), .pointer(cache.values[layer]),
                .pointer(tilePointer), .pointer(batch.positions), .pointer(batch.blockTables), .pointer(batch.tableWidth),
                .int32(Int32(layout.width)), .int32(Int32(layout.numHeads)), .int32(Int32(kvHeads)), .int32(Int32(hd)),
                .int32(Int32(cache.shape.blockSize)), .float(scale), .int32(Int32(slidingWindow ?? 0)), .float(cap),
            ] + cache.readArguments(layer: layer))
        return out
    }

    /// The tensor-core kernel: tiles of up to 64 query rows (tokens x query heads of one kv head).
    private func flashAttention(
        _ function: CUhandle, _ qkv: CUDATensor, layout: QKVLayout, cache: CUDAKVCache, layer: Int, batch: CUDABatch,
        scale: Float, window: Int, softCap: Float
    ) -> CUDATensor {
        let b = batch.batch
        let hd = layout.headDim, kvHeads = layout.numKVHeads, group = layout.numHeads / kvHeads
        let tileTokens = max(1, 64 / group)
        // Shared memory as laid out by flash_attention in attention.cu.
        let (rows, keys) = (64, 64)
        let shared = 2 * 3 * rows * (hd + 8) + 4 * rows * (keys + 4) + 4 * rows * (hd + 4) + 4 * 4 * rows
        allowShared(shared, function, "flash_attention")
        let (tilePointer, tileCount) = tiles(batch, tileTokens: tileTokens)
        let out = allocate([b.numTokens, layout.numHeads * hd])
        return splitAttention(
            function, "flash_attention", out: out, qkv: qkv, layout: layout, cache: cache, layer: layer, batch: batch,
            // The tensor-core kernel splits only decode-sized steps, up to two blocks a multiprocessor.
            grid: (tileCount, kvHeads),
            splits: b.numTokens <= 64 ? keySplits(blocks: tileCount * kvHeads, perMultiprocessor: 2, below: 1) : 1, shared: shared,
            tiles: tilePointer, scale: scale, window: window, softCap: softCap)
    }

    /// Whether the register-accumulator prefill kernel of `warps` warps exists for `headDim` (checks).
    public func hasFlashPrefill(headDim: Int, warps: Int) -> Bool { kernels.flashPrefill[headDim]?[warps] != nil }

    /// The register-accumulator tensor-core kernel (flash_prefill.cu) for steps with prefill chunks:
    /// tiles of up to 16 x `warps` query rows, the same tiles and arguments as flash_attention.
    private func flashPrefill(
        _ function: CUhandle, warps: Int, _ qkv: CUDATensor, layout: QKVLayout, cache: CUDAKVCache, layer: Int,
        batch: CUDABatch, scale: Float, window: Int, softCap: Float
    ) -> CUDATensor {
        let b = batch.batch
        let hd = layout.headDim, kvHeads = layout.numKVHeads, group = layout.numHeads / kvHeads
        let rows = 16 * warps
        // Shared memory as laid out by flash_prefill (fp_shared_bytes): the Q rows, then two stages
        // of 64 key and 64 value rows, every row padded by 8 elements; for FP8, one tile's codes.
        let shared = (rows + 4 * 64) * (hd + 8) * elementSize + (cache.isFP8 ? 2 * 64 * hd : 0)
        allowShared(shared, function, "flash_prefill")
        let (tilePointer, tileCount) = tiles(batch, tileTokens: max(1, rows / group))
        let out = allocate([b.numTokens, layout.numHeads * hd])
        return splitAttention(
            function, "flash_prefill", out: out, qkv: qkv, layout: layout, cache: cache, layer: layer, batch: batch,
            // Split like flash_attention: only small steps, up to the blocks a multiprocessor holds
            // (registers: one block of 8 warps, two of 4).
            grid: (tileCount, kvHeads),
            splits: b.numTokens <= 64 ? keySplits(blocks: tileCount * kvHeads, perMultiprocessor: 8 / warps, below: 1) : 1,
            shared: shared, tiles: tilePointer, scale: scale, window: window, softCap: softCap, block: 32 * warps)
    }

    /// Launches an attention kernel of the flash/decode argument list over `grid` x `splits`; with
    /// several splits, partial results go to ring memory and attention_combine merges them into `out`.
    private func splitAttention(
        _ function: CUhandle, _ name: String, out: CUDATensor, qkv: CUDATensor, layout: QKVLayout, cache: CUDAKVCache,
        layer: Int, batch: CUDABatch, grid: (Int, Int), splits: Int, shared: Int,
        tiles: CUdeviceptr, scale: Float, window: Int, softCap: Float, block: Int = 128
    ) -> CUDATensor {
        let tokens = batch.batch.numTokens, hd = layout.headDim
        var partialO: CUdeviceptr = 0, partialML: CUdeviceptr = 0
        if splits > 1 {
            partialO = ring.allocate(splits * tokens * layout.numHeads * hd * 4).pointer
            partialML = ring.allocate(splits * tokens * layout.numHeads * 2 * 4).pointer
        }
        launch(
            function, name, grid: (grid.0, grid.1, splits), block: block, shared: shared,
            [
                .pointer(out.pointer), .pointer(qkv.pointer), .pointer(cache.keys[layer]), .pointer(cache.values[layer]),
                .pointer(tiles), .pointer(batch.positions), .pointer(batch.blockTables), .pointer(batch.tableWidth),
                .int32(Int32(layout.width)), .int32(Int32(layout.numHeads)), .int32(Int32(layout.numKVHeads)),
                .int32(Int32(cache.shape.blockSize)), .float(scale), .int32(Int32(window)), .float(softCap), .pointer(partialO),
                .pointer(partialML),
                .int32(Int32(tokens)),
            ] + cache.readArguments(layer: layer))
        if splits > 1, let combine = kernels.attentionCombine {
            let arguments: [KernelArgument] = [
                .pointer(out.pointer), .pointer(partialO), .pointer(partialML), .int32(Int32(splits)),
                .int32(Int32(tokens)), .int32(Int32(layout.numHeads)), .int32(Int32(hd)),
            ]
            // Decode steps of GGUF models with 8-bit activations: the output's 8-bit form for the
            // o-projection too.
            if prequantizes, tokens <= Self.prequantizedTokens, hd % 32 == 0, let combineInt8 = kernels.attentionCombineInt8 {
                launchPrequantizing(
                    combineInt8, "attention_combine_int8", out: out, grid: (tokens, layout.numHeads), block: max(32, min(256, hd)),
                    arguments)
            } else {
                launch(combine, "attention_combine", grid: (tokens, layout.numHeads), block: max(32, min(256, hd)), arguments)
            }
        }
        return out
    }

    /// The memory-bound kernel for decode steps: one block per (sequence, kv head, split).
    private func decodeAttention(
        _ function: CUhandle, _ qkv: CUDATensor, layout: QKVLayout, cache: CUDAKVCache, layer: Int, batch: CUDABatch,
        tiles: (pointer: CUdeviceptr, count: Int), scale: Float, window: Int, softCap: Float
    ) -> CUDATensor {
        let out = allocate([batch.batch.numTokens, layout.numHeads * layout.headDim])
        let shared = Self.decodeAttentionSharedBytes(
            headDim: layout.headDim, cacheElementBytes: CUDAKVCache.elementSize(cache.shape.format, activationBytes: elementSize))
        allowShared(shared, function, "decode_attention")
        // Light blocks: about four a multiprocessor keep enough loads in flight.
        return splitAttention(
            function, "decode_attention", out: out, qkv: qkv, layout: layout, cache: cache, layer: layer, batch: batch,
            grid: (tiles.count, layout.numKVHeads),
            splits: keySplits(blocks: tiles.count * layout.numKVHeads, perMultiprocessor: 4, below: 4),
            shared: shared, tiles: tiles.pointer, scale: scale, window: window, softCap: softCap)
    }

    /// decode_attention's shared memory (`DecodeShared` in decode_attention.cu): the group's queries
    /// as floats (8 heads), then the larger of two things: each of the 4 warps' staged key and value
    /// rows (runs of 32 keys, 16 for head size 256; rows padded by 16 bytes), and the warps' partial
    /// results (8 heads of head size + 2 floats).
    static func decodeAttentionSharedBytes(headDim hd: Int, cacheElementBytes: Int) -> Int {
        let (warps, maxGroup) = (4, 8)
        let row = (hd + 16 / cacheElementBytes) * cacheElementBytes
        let stage = warps * (hd > 128 ? 16 : 32) * row
        return maxGroup * hd * 4 + max(2 * stage, warps * maxGroup * (hd + 2) * 4)
    }

    /// Lets `function` take `bytes` of dynamic shared memory where that is past what it may take now
    /// (48 KB, or what an earlier call allowed).
    func allowShared(_ bytes: Int, _ function: CUhandle, _ name: String) {
        guard bytes > sharedBytesAllowed[function, default: 48 * 1024] else { return }
        driver.must(
            driver.cuFuncSetAttribute(function, CUDADriver.functionAttributeMaxDynamicSharedBytes, Int32(bytes)),
            "cuFuncSetAttribute(\(name), \(bytes) bytes of shared memory)")
        sharedBytesAllowed[function] = bytes
    }

    /// How many runs of keys (split-KV) each attention tile is cut into: 1 when the step already
    /// has `below` blocks a multiprocessor, else enough to make `perMultiprocessor` (at most 16).
    /// It depends only on the step's shape, never on context lengths, so a recorded step keeps
    /// it; tiles whose context is short leave the extra splits empty.
    /// Batch-invariant mode never splits: a token's keys are then always walked in the kernel's
    /// tiles from key 0 (or the window's first tile) in order, whatever the step holds.
    private func keySplits(blocks: Int, perMultiprocessor: Int, below: Int) -> Int {
        guard !batchInvariant, kernels.attentionCombine != nil, blocks < below * multiprocessors else { return 1 }
        return min(16, (perMultiprocessor * multiprocessors + blocks - 1) / blocks)
    }

    /// One fused matrix-vector kernel for small batches (when compiled for the row count); otherwise `linear`, then `siluAndMul`.
    public func swiGLU(_ x: CUDATensor, gateUp: CUDATensor) -> CUDATensor {
        gatedMatrixVector(kernels.gemvSwiGLU, "gemv_swiglu", x, gateUp: gateUp) ?? siluAndMul(linear(x, weight: gateUp, bias: nil))
    }

    /// `act(x · gateᵀ) * (x · upᵀ)` by one of gemv.cu's fused gated kernels (`byTokens`: the
    /// family's kernels by token count), or nil where that kernel does not apply: a token count it
    /// is not compiled for, a width it cannot read, or `useGEMV` off (cuBLASLt, batch-invariant
    /// mode). The caller then runs the product and the activation apart.
    func gatedMatrixVector(_ byTokens: [Int: CUhandle], _ name: String, _ x: CUDATensor, gateUp: CUDATensor) -> CUDATensor? {
        let (t, k, n) = (x.rows, x.columns, gateUp.shape[0] / 2)
        guard useGEMV, let gemv = byTokens[t], k % 8 == 0, gateUp.columns == k else { return nil }
        checkLive(x)
        let out = allocate([t, n])
        // 8 warps a block: four gate rows and the same four up rows.
        launch(
            gemv, "\(name) \(2 * n)x\(k)", grid: ((n + 3) / 4, 1), block: 256,
            [.pointer(out.pointer), .pointer(x.pointer), .pointer(gateUp.pointer), .int32(Int32(n)), .int32(Int32(k))])
        return out
    }

    /// The `silu_and_mul` kernel.
    /// In decode steps of a model whose GGUF products take 8-bit activations (`prequantizes`),
    /// `silu_and_mul_int8` also leaves the output's 8-bit form for the down product.
    public func siluAndMul(_ x: CUDATensor) -> CUDATensor {
        let n = x.columns / 2
        guard prequantizes, x.rows <= Self.prequantizedTokens, n % 32 == 0, let kernel = kernels.siluAndMulInt8 else {
            return activationAndMul(kernels.siluAndMul, "silu_and_mul", x)
        }
        checkLive(x)
        let out = allocate([x.rows, n])
        launchPrequantizing(
            kernel, "silu_and_mul_int8", out: out, grid: (gridFor(x.rows * n), 1), block: 256,
            [.pointer(out.pointer), .pointer(x.pointer), .int64(Int64(x.rows)), .int32(Int32(n))])
        return out
    }

    /// `act(x[:, :n]) * x[:, n:]` for `x` of width `2n`, by one of activation.cu's gated kernels.
    func activationAndMul(_ kernel: CUhandle, _ name: String, _ x: CUDATensor) -> CUDATensor {
        checkLive(x)
        let n = x.columns / 2
        let out = allocate([x.rows, n])
        launch(
            kernel, name, grid: (gridFor(x.rows * n), 1), block: 256,
            [.pointer(out.pointer), .pointer(x.pointer), .int64(Int64(x.rows)), .int32(Int32(n))])
        return out
    }

    /// The `gather_rows` kernel.
    public func gatherLogitRows(_ x: CUDATensor, batch: CUDABatch) -> CUDATensor {
        checkLive(x)
        let count = batch.batch.logitIndices.count
        let out = allocate([count, x.columns])
        launch(
            kernels.gatherRows, "gather_rows", grid: (count, 1), block: min(256, threadsFor(row: x.columns)),
            [.pointer(out.pointer), .pointer(x.pointer), .pointer(batch.logitIndices), .int32(Int32(x.columns))])
        return out
    }

    /// Converts to float32 on the device when needed, copies to the host and waits for the stream.
    public func toHost(_ x: CUDATensor) -> [Float] {
        checkLive(x)
        let count = x.count
        var source = x.pointer
        if computeDType != .float32 {
            source = ring.allocate(count * 4).pointer
            launch(
                kernels.toFloat, "to_float", grid: (gridFor(count), 1), block: 256,
                [.pointer(source), .pointer(x.pointer), .int64(Int64(count))])
        }
        let host = hostOutput.ensure(count * 4)
        if count > 0 { driver.must(driver.cuMemcpyDtoHAsync(host, source, count * 4, stream), "cuMemcpyDtoHAsync(toHost)") }
        synchronize()
        return Array(UnsafeBufferPointer(start: host.assumingMemoryBound(to: Float.self), count: count))
    }

    /// The argmax kernel, then copies the indices back and waits for the stream.
    public func argmaxRows(_ x: CUDATensor, rows: Int) -> [Int32] {
        guard rows > 0 else { return [] }
        let indices = queueArgmax(x, rows: rows)
        let host = hostOutput.ensure(rows * 4)
        driver.must(driver.cuMemcpyDtoHAsync(host, indices, rows * 4, stream), "cuMemcpyDtoHAsync(argmax)")
        synchronize()
        return Array(UnsafeBufferPointer(start: host.assumingMemoryBound(to: Int32.self), count: rows))
    }

    /// Queues the argmax of each of the `rows` rows of `x`; returns where the indices will be (ring memory).
    func queueArgmax(_ x: CUDATensor, rows: Int) -> CUdeviceptr {
        precondition(rows <= Self.completionCounterCount, "argmax of \(rows) rows exceeds the completion counters")
        let n = x.count / rows
        // Chunks of about 4096 logits, one block each, so that even one row is read by many multiprocessors.
        let chunks = max(1, min(64, n / 4096))
        let indices = ring.allocate(rows * 4).pointer
        let chunkValues = ring.allocate(rows * chunks * 4).pointer, chunkIndices = ring.allocate(rows * chunks * 4).pointer
        checkLive(x)
        launch(
            kernels.argmaxRows, "argmax_rows", grid: (rows, chunks), block: 256,
            [
                .pointer(indices), .pointer(x.pointer), .int32(Int32(n)), .pointer(chunkValues), .pointer(chunkIndices),
                .pointer(completionCounters),
            ])
        return indices
    }

    // MARK: recorded steps (CUDA graphs)

    /// True unless CUDA graphs are off (no graph API, a recording failed) or a profiler is attached.
    public var recordsSteps: Bool { graphs.disabledReason == nil && profiler == nil }

    /// Replays the CUDA graph recorded for `key`, or runs `forward` and records it; just runs
    /// `forward` when `recordsSteps` is false or the shape cannot be recorded.
    public func recorded(_ key: RecordedStep, batch: CUDABatch, _ forward: () -> [CUDATensor]) -> [CUDATensor] {
        guard recordsSteps, !unrecordableSteps.contains(key) else { return forward() }
        let ringStart = ring.mark, arenaStart = arena.mark
        let addresses = CUDAGraphRecorder.Addresses(inputs: batch.addresses, ring: ring.base, ringSize: ring.size, arena: arenaStart)
        if let recording = graphs.recording(key, at: addresses) {
            graphs.launch(recording, stream: stream)
            ring.mark = recording.ringEnd
            arena.rewind(to: recording.arenaEnd)
            return recording.outputs
        }
        // One eager run first: kernels, shared-memory limits and cuBLASLt plans are set up outside
        // the recording, and its result stands if recording fails. The recording then allocates
        // exactly as the eager run did (a copy staged again writes the same bytes to the host).
        let stagingStart = stagingOffset
        let eager = forward()
        let (eagerRing, eagerArena, eagerStaging) = (ring.mark, arena.mark, stagingOffset)
        func keepEager() -> [CUDATensor] {
            (ring.mark, stagingOffset) = (eagerRing, eagerStaging)
            arena.rewind(to: eagerArena)
            return eager
        }
        (ring.mark, stagingOffset) = (ringStart, stagingStart)
        arena.rewind(to: arenaStart)
        do {
            (stagedWhileRecording, isRecording) = (false, true)
            defer { isRecording = false }
            let recording = try graphs.record(key, addresses: addresses, stream: stream) {
                let outputs = forward()
                return (outputs, ring.mark, arena.mark)
            }
            // A replay would repeat the recorded copy from a staging buffer that later steps
            // rewrite, or read arrays made in the recorded step: such a shape (attention tiles of
            // more tokens than the uniform ones) runs eagerly from now on.
            guard !stagedWhileRecording else {
                graphs.destroy(key)
                unrecordableSteps.insert(key)
                return keepEager()
            }
            graphs.launch(recording, stream: stream)
            return recording.outputs
        } catch {
            let shape = key.shape
            graphs.disable("recording a step of \(shape.sequences) sequences of \(shape.tokensPerSequence) tokens failed: \(error)")
            FileHandle.standardError.write(Data("warning: CUDA graphs are off: \(graphs.disabledReason ?? "")\n".utf8))
            return keepEager()
        }
    }

    // MARK: helpers for checks

    /// Median milliseconds of `body`'s device work over `repeats` runs, timed with events.
    public func timeMilliseconds(repeats: Int = 20, _ body: () -> Void) -> Double {
        var start: CUhandle?, end: CUhandle?
        driver.must(driver.cuEventCreate(&start, 0), "cuEventCreate")
        driver.must(driver.cuEventCreate(&end, 0), "cuEventCreate")
        body()
        var times: [Double] = []
        for _ in 0..<repeats {
            driver.must(driver.cuEventRecord(start!, stream), "cuEventRecord")
            body()
            driver.must(driver.cuEventRecord(end!, stream), "cuEventRecord")
            driver.must(driver.cuEventSynchronize(end!), "cuEventSynchronize")
            var ms: Float = 0
            driver.must(driver.cuEventElapsedTime(&ms, start!, end!), "cuEventElapsedTime")
            times.append(Double(ms))
        }
        return times.sorted()[times.count / 2]
    }

    /// Uploads float32 values as a tensor of the compute dtype (checks and tests).
    public func upload(_ values: [Float], shape: [Int]) throws -> CUDATensor {
        try weight([HostTensor(shape: shape, values: values)])
    }
}
