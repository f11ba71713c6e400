import Dispatch
import Foundation
import VLLMCore

/// Cubins of kernel files compiling for the present GPU (or read from the disk cache) from `init`
/// on, one NVRTC program per file, each on its own thread, so that the weights load meanwhile;
/// `wait` gives them.
final class KernelCompilation: @unchecked Sendable {
    let dtype: DType
    let arch: String
    let selection: KernelSelection
    let manifest: KernelManifest
    /// The kernel files compiled.
    let files: [String]
    /// `VLLM_CUDA_KERNEL_SOURCE`'s text, compiled as one program for all of `files`; nil when unset.
    let whole: String?
    private typealias Cubin = (bytes: [UInt8], compiled: Bool)
    /// Each program's cubin and the seconds from `init` until it was ready, once its thread is done.
    private let results: UnsafeMutableBufferPointer<(Result<Cubin, any Error>, seconds: Double)?>
    private let done = DispatchGroup()

    /// Starts on `files` (`manifest.kernelFiles(selection)` and `require`'s additions).
    init(files: [String], dtype: DType, arch: String, selection: KernelSelection, manifest: KernelManifest) {
        (self.files, self.dtype, self.arch, self.selection, self.manifest) = (files, dtype, arch, selection, manifest)
        whole = CUDAKernels.sourceOverride
        let sources = (whole.map { [$0] } ?? files.map { manifest.source(of: $0) }).map {
            CUDAKernels.source($0, dtype: dtype, selection: selection)
        }
        results = .allocate(capacity: sources.count)
        results.initialize(repeating: nil)
        nonisolated(unsafe) let out = results
        let compiler = Result { try NVRTCCompiler() }
        let includes = ["/usr/local/cuda/include", "/usr/local/cuda/targets/x86_64-linux/include"]
        let start = Date()
        for (i, source) in sources.enumerated() {
            done.enter()
            // Threads of their own, not the dispatch pool: the weight copies use that meanwhile.
            let thread = Thread { [done] in
                let cubin = Result {
                    try KernelCache.cubin(source: source, arch: arch, compiler: compiler.get(), includeDirectories: includes)
                }
                out[i] = (cubin, Date().timeIntervalSince(start))
                done.leave()
            }
            // NVRTC's front end recurses deeply on templates: more than a secondary thread's default.
            thread.stackSize = 64 << 20
            thread.start()
        }
    }

    deinit {
        done.wait()
        results.deallocate()
    }

    /// The cubins, in the order of `files` (one for a `whole` source); throws the first compile
    /// error.
    func wait() throws -> [(bytes: [UInt8], compiled: Bool)] {
        done.wait()
        return try results.map { try $0!.0.get() }
    }

    /// Seconds from the start until the last program was ready (after `wait`).
    var seconds: Double { results.map { $0?.seconds ?? 0 }.max() ?? 0 }
}

/// The embedded kernels (`Kernels/*.cu`, listed in `Kernels/manifest.json`) that a model uses
/// (`KernelSelection`), loaded from a `KernelCompilation` as one module per kernel file; the
/// functions for one activation dtype.
final class CUDAKernels {
    /// Whether this start ran NVRTC for any file (false: every cubin came from the disk cache).
    private(set) var compiled = false
    /// Seconds spent compiling or loading the kernels (all files, including those added later): the
    /// compilations' wall time, then the module loads.
    private(set) var seconds = 0.0
    /// NVRTC programs loaded: one per kernel file (one in all for a `VLLM_CUDA_KERNEL_SOURCE`).
    private(set) var units = 0
    /// What is compiled: grows when `require` adds files.
    private(set) var selection: KernelSelection
    let embedding, rmsNorm, addRMSNorm, headRMSNorm, rotaryWriteKV, writeKVCache, pagedAttention: CUhandle
    let siluAndMul, gatherRows, addBias, toFloat, fromFloat, argmaxRows: CUhandle
    /// The Gemma/Phi-3 family operations (`CUDAFamilyOperations.swift`).
    let geluTanhAndMul, softCap, scale: CUhandle
    /// RMSNorm, residual add and RMSNorm in one kernel (Gemma's post-norms); nil when the module lacks it.
    let normAddRMSNorm: CUhandle?
    /// `rotary_write_kv` with the per-head q/k RMSNorm first (nil in an older kernel source: the two run apart).
    let rotaryNormWriteKV: CUhandle?
    /// `add_rms_norm` that also quantizes its output for the 8-bit-activation products; nil when the
    /// module lacks it.
    let addRMSNormInt8: CUhandle?
    /// `silu_and_mul` that also quantizes its output for the 8-bit-activation products; nil when
    /// the module lacks it.
    let siluAndMulInt8: CUhandle?
    /// Hidden states put side by side (EAGLE-3: `CUDABackend.concatColumns`).
    let copyColumns: CUhandle
    /// The encoder (BERT) operations (`CUDAEncoder.swift`).
    let gelu, layerNorm, encoderEmbedding: CUhandle
    /// Encoder attention (`Kernels/encoder_attention.cu`); nil unless the selection has `.encoder`.
    private(set) var bidirectionalAttention: CUhandle?
    /// Tensor-core attention for 16-bit activations, by head dimension.
    private(set) var flashAttention: [Int: CUhandle] = [:]
    /// Matrix-vector products for 1 to 4 tokens of 16-bit activations, by token count.
    private(set) var gemv: [Int: CUhandle] = [:]
    /// The same with the SwiGLU activation applied to stacked gate and up rows, by token count.
    private(set) var gemvSwiGLU: [Int: CUhandle] = [:]
    /// The same with Gemma's GELU (tanh) activation, by token count; empty when the module lacks it.
    private(set) var gemvGeGLU: [Int: CUhandle] = [:]
    /// Tensor-core products for 5 to 8 tokens (verifying steps), by token count; empty when the module lacks them.
    private(set) var gemvMMA: [Int: CUhandle] = [:]
    /// Attention of decode steps for 16-bit activations, by head dimension (64, 128 and 256).
    private(set) var decodeAttention: [Int: CUhandle] = [:]
    /// Prefill attention with register accumulators (`Kernels/flash_prefill.cu`) for 16-bit
    /// activations, by head dimension (64 and 128), then by warps a block (4 or 8: 64 or 128 query
    /// rows a tile); empty when the module lacks it.
    private(set) var flashPrefill: [Int: [Int: CUhandle]] = [:]
    /// The kernels the manifest marks `waitsForPrevious`: they wait for the previous grid
    /// themselves and so may be launched to overlap it (programmatic dependent launch); the
    /// sampling kernels may not.
    private(set) var waitsForPrevious: Set<CUhandle> = []
    /// Merges split-KV partial attention results (16-bit activations).
    private(set) var attentionCombine: CUhandle?
    /// `attention_combine` that also quantizes its output for the 8-bit-activation products; nil
    /// when the module lacks it.
    private(set) var attentionCombineInt8: CUhandle?

    /// Mixture of experts (`Kernels/moe.cu`); nil when the module lacks it.
    private(set) var moe: MixtureOfExpertsKernels?
    /// Quantized linear layers (`Kernels/quantized.cu`); nil when the module lacks them.
    private(set) var quantized: QuantizedLinearKernels?
    /// The FP8 KV cache's writes and attention; nil when the module lacks them.
    private(set) var fp8Cache: FP8KVCacheKernels?

    /// Device sampling (`Kernels/sampling.cu`); nil when the module lacks it, and the engine
    /// samples on the host.
    private(set) var sampleRows, adjustLogits: CUhandle?
    /// A grammar's token mask on the logits (`Kernels/sampling.cu`); nil when the module lacks it,
    /// and rows with a mask are sampled on the host.
    private(set) var applyTokenBitmask: CUhandle?

    private typealias Functions = [Kernel: [(values: [KernelParameter: Int], function: CUhandle)]]
    private let driver: CUDADriver
    private let dtype: DType
    private let arch: String
    private let manifest: KernelManifest
    private var functions: Functions = [:]

    /// The file named by `VLLM_CUDA_KERNEL_SOURCE` (for trying a kernel change on the GPU machine
    /// without rebuilding the binary; that file is the whole source, the files joined, as
    /// `scripts/gpu/kernel_source.py` prints it), compiled as one program; nil when unset.
    static var sourceOverride: String? {
        ProcessInfo.processInfo.environment["VLLM_CUDA_KERNEL_SOURCE"].flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }
    }

    /// The source NVRTC compiles for `text` (one file with its headers, or the whole): only
    /// `dtype`'s kernels (a third of the compile time) and `selection`'s instances. The disk cache
    /// is keyed by this text, so each is compiled once.
    static func source(_ text: String, dtype: DType, selection: KernelSelection) -> String {
        "#define VLLM_DTYPE_\(dtype.kernelSuffix.uppercased())\n" + selection.defines + text
    }

    /// Starts compiling `selection`'s kernels for `dtype` on `arch`.
    static func compile(dtype: DType, arch: String, selection: KernelSelection) throws -> KernelCompilation {
        let manifest = try KernelManifest.embedded()
        return KernelCompilation(files: manifest.kernelFiles(selection), dtype: dtype, arch: arch, selection: selection, manifest: manifest)
    }

    /// Waits for `compilation` and loads its modules (the context must be current).
    init(driver: CUDADriver, compilation: KernelCompilation) throws {
        let (manifest, dtype) = (compilation.manifest, compilation.dtype)
        (self.driver, self.dtype, self.arch, self.selection, self.manifest) = (
            driver, dtype, compilation.arch, compilation.selection, manifest
        )
        let (loaded, compiled, units, moduleSeconds) = try Self.load(compilation, driver: driver)
        /// The one function of a family without parameters other than the dtype.
        func one(_ kernel: Kernel) throws -> CUhandle {
            guard let f = loaded[kernel]?.first?.function else {
                throw CUDAError.missingKernel(name: kernel.rawValue, file: manifest.entries[kernel]?.file ?? "?", dtype: dtype.rawValue)
            }
            return f
        }
        embedding = try one(.embedding)
        rmsNorm = try one(.rmsNorm)
        addRMSNorm = try one(.addRMSNorm)
        normAddRMSNorm = loaded[.normAddRMSNorm]?.first?.function
        rotaryNormWriteKV = loaded[.rotaryNormWriteKV]?.first?.function
        addRMSNormInt8 = loaded[.addRMSNormInt8]?.first?.function
        siluAndMulInt8 = loaded[.siluAndMulInt8]?.first?.function
        headRMSNorm = try one(.headRMSNorm)
        rotaryWriteKV = try one(.rotaryWriteKV)
        writeKVCache = try one(.writeKVCache)
        pagedAttention = try one(.pagedAttention)
        siluAndMul = try one(.siluAndMul)
        gatherRows = try one(.gatherRows)
        addBias = try one(.addBias)
        toFloat = try one(.toFloat)
        fromFloat = try one(.fromFloat)
        argmaxRows = try one(.argmaxRows)
        geluTanhAndMul = try one(.geluTanhAndMul)
        softCap = try one(.softCap)
        scale = try one(.scale)
        copyColumns = try one(.copyColumns)
        gelu = try one(.gelu)
        layerNorm = try one(.layerNorm)
        encoderEmbedding = try one(.encoderEmbedding)
        functions = loaded
        self.compiled = compiled
        self.units = units
        assignOptionalFamilies()
        seconds = compilation.seconds + moduleSeconds
    }

    /// Compiles and loads the files of `uses` not loaded yet (a GGUF model's block kernels, found
    /// at its first weight; with `VLLM_CUDA_KERNEL_SOURCE`, the same cubin again, from the cache);
    /// the context must be current. Throws when a file does not compile.
    func require(_ uses: Set<KernelSelection.Use>) throws {
        let wider = selection.adding(uses)
        guard wider != selection else { return }
        let files = manifest.kernelFiles(wider).filter { !manifest.kernelFiles(selection).contains($0) }
        let compilation = KernelCompilation(files: files, dtype: dtype, arch: arch, selection: wider, manifest: manifest)
        let (loaded, compiled, units, moduleSeconds) = try Self.load(compilation, driver: driver)
        functions.merge(loaded) { old, _ in old }
        selection = wider
        self.compiled = self.compiled || compiled
        self.units += units
        assignOptionalFamilies()
        seconds += compilation.seconds + moduleSeconds
    }

    /// The families that a selection or an older `VLLM_CUDA_KERNEL_SOURCE` may lack.
    private func assignOptionalFamilies() {
        /// A family's functions by one numeric parameter.
        func by(_ kernel: Kernel, _ parameter: KernelParameter) -> [Int: CUhandle] {
            Dictionary((functions[kernel] ?? []).map { ($0.values[parameter] ?? 0, $0.function) }, uniquingKeysWith: { a, _ in a })
        }
        bidirectionalAttention = functions[.bidirectionalAttention]?.first?.function
        sampleRows = functions[.sampleRows]?.first?.function
        moe = MixtureOfExpertsKernels { self.functions[$0]?.first?.function }
        quantized = QuantizedLinearKernels(functions)
        fp8Cache = FP8KVCacheKernels(functions)
        adjustLogits = functions[.adjustLogits]?.first?.function
        applyTokenBitmask = functions[.applyTokenBitmask]?.first?.function
        attentionCombine = functions[.attentionCombine]?.first?.function
        attentionCombineInt8 = functions[.attentionCombineInt8]?.first?.function
        gemv = by(.gemv, .tokens)
        gemvSwiGLU = by(.gemvSwiGLU, .tokens)
        gemvGeGLU = by(.gemvGeGLU, .tokens)
        gemvMMA = by(.gemvMMA, .tokens)
        flashAttention = by(.flashAttention, .headDim)
        decodeAttention = by(.decodeAttention, .headDim)
        flashPrefill = [:]
        for instance in functions[.flashPrefill] ?? [] {
            flashPrefill[instance.values[.headDim] ?? 0, default: [:]][instance.values[.warps] ?? 0] = instance.function
        }
        waitsForPrevious = []
        for (kernel, instances) in functions where manifest.entries[kernel]?.entry.waitsForPrevious == true {
            waitsForPrevious.formUnion(instances.map(\.function))
        }
    }

    /// Waits for `compilation`'s cubins, loads each as a module and looks up the functions that its
    /// selection instantiates there. `compiled`: whether NVRTC ran for any of them.
    private static func load(_ compilation: KernelCompilation, driver: CUDADriver) throws -> (
        functions: Functions, compiled: Bool, units: Int, moduleSeconds: Double
    ) {
        let (files, manifest, dtype, selection, whole) = (
            compilation.files, compilation.manifest, compilation.dtype, compilation.selection, compilation.whole
        )
        let cubins = try compilation.wait()
        let start = Date()
        var modules: [String: CUhandle] = [:]
        for (i, cubin) in cubins.enumerated() {
            var m: CUhandle?
            try cubin.bytes.withUnsafeBytes { try driver.check(driver.cuModuleLoadData(&m, $0.baseAddress!), "cuModuleLoadData") }
            for file in whole == nil ? [files[i]] : files { modules[file] = m! }
        }
        var functions: Functions = [:]
        let carveout = sharedCarveout(ProcessInfo.processInfo.environment["VLLM_CUDA_SHARED_CARVEOUT"])
        for kernel in Kernel.allCases {
            guard let (file, _) = manifest.entries[kernel], let module = modules[file] else { continue }
            for instance in manifest.instances(of: kernel, dtype: dtype.kernelSuffix) where selection.instantiates(kernel, instance) {
                var f: CUhandle?
                guard driver.cuModuleGetFunction(&f, module, instance.name) == 0, let f else {
                    if kernel.isOptional { continue }
                    throw CUDAError.missingKernel(name: instance.name, file: file, dtype: dtype.rawValue)
                }
                if let carveout {
                    try driver.check(
                        driver.cuFuncSetAttribute(f, CUDADriver.functionAttributePreferredSharedCarveout, carveout),
                        "cuFuncSetAttribute(\(instance.name), carveout \(carveout)%)")
                }
                functions[kernel, default: []].append((instance.values, f))
            }
        }
        return (functions, cubins.contains { $0.compiled }, cubins.count, Date().timeIntervalSince(start))
    }

    /// The shared-memory share of L1 (percent, 0...100) that `VLLM_CUDA_SHARED_CARVEOUT` asks of every
    /// kernel, or nil to leave the driver's choice. Why: ncu (H100, 2026-12-05) saw decode_attention,
    /// the one decode kernel with 39 KB of shared memory a block, run on a 168 KB carveout between
    /// products on 32 KB ones, with its SMs active a quarter of its 17.6 us. Measured (H100, same
    /// day): 100 for every kernel left decode_attention's time as it was and made the 8B decode 1%
    /// slower, so it stays an experiment. Anything but an integer in 0...100 is ignored.
    static func sharedCarveout(_ value: String?) -> Int32? {
        guard let value, let percent = Int32(value), (0...100).contains(percent) else { return nil }
        return percent
    }
}

extension DType {
    /// The suffix of this dtype's kernel names (`S` in the manifest).
    var kernelSuffix: String {
        switch self {
        case .float32: "f32"
        case .bfloat16: "bf16"
        case .float16: "f16"
        case .float8E4M3, .int32, .int64, .uint8: preconditionFailure("\(self) is not a compute dtype")
        }
    }
}

/// One argument of a kernel launch: a device pointer or a scalar, each passed by address.
enum KernelArgument {
    case pointer(CUdeviceptr)
    case int32(Int32)
    case int64(Int64)
    case float(Float)
}
