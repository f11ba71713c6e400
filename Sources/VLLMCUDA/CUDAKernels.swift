import Foundation
import VLLMCore

/// The embedded kernels (`Kernels/*.cu`, listed in `Kernels/manifest.json`), compiled for the
/// present GPU (or read from the disk cache) and loaded as one module; the functions for one
/// activation dtype.
final class CUDAKernels {
    let module: CUhandle
    /// Whether this start ran NVRTC (false: the cubin came from the disk cache).
    let compiled: Bool
    let embedding, rmsNorm, addRMSNorm, headRMSNorm, rotaryWriteKV, writeKVCache, pagedAttention: CUhandle
    let siluAndMul, gatherRows, addBias, toFloat, fromFloat, argmaxRows: CUhandle
    /// The Gemma/Phi-3 family operations (`CUDAFamilyOperations.swift`).
    let geluTanhAndMul, softCap, scale: CUhandle
    /// The encoder (BERT) operations (`CUDAEncoder.swift`).
    let gelu, layerNorm, encoderEmbedding, bidirectionalAttention: CUhandle
    /// Tensor-core attention for 16-bit activations, by head dimension.
    private(set) var flashAttention: [Int: CUhandle] = [:]
    /// Matrix-vector products for 1 to 4 tokens of 16-bit activations, by token count.
    private(set) var gemv: [Int: CUhandle] = [:]
    /// The same with the SwiGLU activation applied to stacked gate and up rows, by token count.
    private(set) var gemvSwiGLU: [Int: CUhandle] = [:]
    /// Attention of decode steps for 16-bit activations, by head dimension (64 and 128).
    private(set) var decodeAttention: [Int: CUhandle] = [:]
    /// Prefill attention with register accumulators (`Kernels/flash_prefill.cu`) for 16-bit
    /// activations, by head dimension (64 and 128), then by warps a block (4 or 8: 64 or 128 query
    /// rows a tile); empty when the module lacks it.
    private(set) var flashPrefill: [Int: [Int: CUhandle]] = [:]
    /// The kernels the manifest marks `waitsForPrevious`: they wait for the previous grid
    /// themselves and so may be launched to overlap it (programmatic dependent launch); the
    /// sampling kernels may not.
    let waitsForPrevious: Set<CUhandle>
    /// Merges split-KV partial attention results (16-bit activations).
    private(set) var attentionCombine: CUhandle?

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

    /// The embedded source text (the files of `Kernels/manifest.json` joined in its order), or
    /// the file named by `VLLM_CUDA_KERNEL_SOURCE` (for trying a kernel change on the GPU machine
    /// without rebuilding the binary; that file is the whole source, the files joined, as
    /// `scripts/gpu/kernel_source.py` prints it). The disk cache is keyed by the source, so each is
    /// compiled once.
    static func source(manifest: KernelManifest) -> String {
        if let path = ProcessInfo.processInfo.environment["VLLM_CUDA_KERNEL_SOURCE"],
            let text = try? String(contentsOfFile: path, encoding: .utf8)
        {
            return text
        }
        return manifest.source()
    }

    /// The source with only `dtype`'s kernels instantiated: a third of the compile time.
    static func source(for dtype: DType, manifest: KernelManifest) -> String {
        "#define VLLM_DTYPE_\(dtype.kernelSuffix.uppercased())\n" + source(manifest: manifest)
    }

    init(driver: CUDADriver, dtype: DType, arch: String) throws {
        let manifest = try KernelManifest.embedded()
        let compiler = try NVRTCCompiler()
        let includes = ["/usr/local/cuda/include", "/usr/local/cuda/targets/x86_64-linux/include"]
        let (cubin, compiled) = try KernelCache.cubin(
            source: Self.source(for: dtype, manifest: manifest), arch: arch, compiler: compiler, includeDirectories: includes)
        self.compiled = compiled
        var m: CUhandle?
        try cubin.withUnsafeBytes { try driver.check(driver.cuModuleLoadData(&m, $0.baseAddress!), "cuModuleLoadData") }
        module = m!
        let loaded = try Self.functions(of: m!, manifest: manifest, dtype: dtype, driver: driver)
        /// The one function of a family without parameters other than the dtype.
        func one(_ kernel: Kernel) throws -> CUhandle {
            guard let f = loaded.functions[kernel]?.first?.function else {
                throw CUDAError.missingKernel(name: kernel.rawValue, file: manifest.entries[kernel]?.file ?? "?", dtype: dtype.rawValue)
            }
            return f
        }
        /// A family's functions by one numeric parameter.
        func by(_ kernel: Kernel, _ parameter: KernelParameter) -> [Int: CUhandle] {
            Dictionary((loaded.functions[kernel] ?? []).map { ($0.values[parameter] ?? 0, $0.function) }, uniquingKeysWith: { a, _ in a })
        }
        embedding = try one(.embedding)
        rmsNorm = try one(.rmsNorm)
        addRMSNorm = try one(.addRMSNorm)
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
        gelu = try one(.gelu)
        layerNorm = try one(.layerNorm)
        encoderEmbedding = try one(.encoderEmbedding)
        bidirectionalAttention = try one(.bidirectionalAttention)
        sampleRows = loaded.functions[.sampleRows]?.first?.function
        moe = MixtureOfExpertsKernels { loaded.functions[$0]?.first?.function }
        quantized = QuantizedLinearKernels(loaded.functions)
        fp8Cache = FP8KVCacheKernels(loaded.functions)
        adjustLogits = loaded.functions[.adjustLogits]?.first?.function
        applyTokenBitmask = loaded.functions[.applyTokenBitmask]?.first?.function
        attentionCombine = loaded.functions[.attentionCombine]?.first?.function
        gemv = by(.gemv, .tokens)
        gemvSwiGLU = by(.gemvSwiGLU, .tokens)
        flashAttention = by(.flashAttention, .headDim)
        decodeAttention = by(.decodeAttention, .headDim)
        for instance in loaded.functions[.flashPrefill] ?? [] {
            flashPrefill[instance.values[.headDim] ?? 0, default: [:]][instance.values[.warps] ?? 0] = instance.function
        }
        waitsForPrevious = loaded.waitsForPrevious
    }

    /// Every function the manifest lists for `dtype`, looked up in the module by name. A kernel
    /// that is not optional and absent from the module is an error that names it.
    private static func functions(of module: CUhandle, manifest: KernelManifest, dtype: DType, driver: CUDADriver) throws -> (
        functions: [Kernel: [(values: [KernelParameter: Int], function: CUhandle)]], waitsForPrevious: Set<CUhandle>
    ) {
        var functions: [Kernel: [(values: [KernelParameter: Int], function: CUhandle)]] = [:]
        var waits: Set<CUhandle> = []
        for kernel in Kernel.allCases {
            guard let (file, entry) = manifest.entries[kernel] else { continue }
            for instance in manifest.instances(of: kernel, dtype: dtype.kernelSuffix) {
                var f: CUhandle?
                guard driver.cuModuleGetFunction(&f, module, instance.name) == 0, let f else {
                    if kernel.isOptional { continue }
                    throw CUDAError.missingKernel(name: instance.name, file: file, dtype: dtype.rawValue)
                }
                functions[kernel, default: []].append((instance.values, f))
                if entry.waitsForPrevious { waits.insert(f) }
            }
        }
        return (functions, waits)
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
