import Foundation
import VLLMCore

/// The embedded kernels (`Kernels/*.cu`), compiled for the present GPU (or read from the
/// disk cache) and loaded as one module; the functions for one activation dtype.
final class CUDAKernels {
    let module: CUhandle
    /// Whether this start ran NVRTC (false: the cubin came from the disk cache).
    let compiled: Bool
    let embedding, rmsNorm, addRMSNorm, headRMSNorm, rotaryWriteKV, writeKVCache, pagedAttention: CUhandle
    let siluAndMul, gatherRows, addBias, toFloat, fromFloat, argmaxRows: CUhandle
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
    /// The kernels of kernels.cu, which all wait for the previous grid themselves and so may be
    /// launched to overlap it (programmatic dependent launch); the sampling kernels may not.
    private(set) var waitsForPrevious: Set<CUhandle> = []
    /// Merges split-KV partial attention results (16-bit activations).
    private(set) var attentionCombine: CUhandle?

    /// Device sampling (`Kernels/sampling.cu`); nil when the module lacks it, and the engine
    /// samples on the host.
    private(set) var sampleRows, adjustLogits: CUhandle?

    /// The embedded source text (the files as one source, in this order: sampling.cu and
    /// flash_prefill.cu use kernels.cu's helpers), or the file named by `VLLM_CUDA_KERNEL_SOURCE`
    /// (for trying a kernel change on the GPU machine without rebuilding the binary; that file is
    /// the whole source, the files joined). The disk cache is keyed by the source, so each is compiled once.
    static var source: String {
        if let path = ProcessInfo.processInfo.environment["VLLM_CUDA_KERNEL_SOURCE"],
           let text = try? String(contentsOfFile: path, encoding: .utf8)
        {
            return text
        }
        return [PackageResources.kernels_cu, PackageResources.sampling_cu, PackageResources.flash_prefill_cu].map { String(decoding: $0, as: UTF8.self) }
            .joined(separator: "\n")
    }

    /// The source with only `dtype`'s kernels instantiated: a third of the compile time.
    static func source(for dtype: DType) -> String {
        let name = switch dtype {
        case .float32: "F32"
        case .bfloat16: "BF16"
        case .float16: "F16"
        case .uint8: preconditionFailure("uint8 is not a compute dtype")
        }
        return "#define VLLM_DTYPE_\(name)\n" + source
    }

    init(driver: CUDADriver, dtype: DType, arch: String) throws {
        let compiler = try NVRTCCompiler()
        let includes = ["/usr/local/cuda/include", "/usr/local/cuda/targets/x86_64-linux/include"]
        let (cubin, compiled) = try KernelCache.cubin(
            source: Self.source(for: dtype), arch: arch, compiler: compiler, includeDirectories: includes)
        self.compiled = compiled
        var m: CUhandle?
        try cubin.withUnsafeBytes { try driver.check(driver.cuModuleLoadData(&m, $0.baseAddress!), "cuModuleLoadData") }
        module = m!
        let suffix = switch dtype {
        case .float32: "f32"
        case .bfloat16: "bf16"
        case .float16: "f16"
        case .uint8: preconditionFailure("uint8 is not a compute dtype")
        }
        /// The function `name` of the module exactly as spelled; nil when the module lacks it.
        func function(_ name: String) -> CUhandle? {
            var f: CUhandle?
            return driver.cuModuleGetFunction(&f, m!, name) == 0 ? f : nil
        }
        /// A function every module has; its absence is the driver's error.
        func load(_ name: String) throws -> CUhandle {
            var f: CUhandle?
            try driver.check(driver.cuModuleGetFunction(&f, m!, name), "cuModuleGetFunction(\(name))")
            return f!
        }
        embedding = try load("embedding_\(suffix)")
        rmsNorm = try load("rms_norm_\(suffix)")
        addRMSNorm = try load("add_rms_norm_\(suffix)")
        headRMSNorm = try load("head_rms_norm_\(suffix)")
        rotaryWriteKV = try load("rotary_write_kv_\(suffix)")
        writeKVCache = try load("write_kv_cache_\(suffix)")
        pagedAttention = try load("paged_attention_\(suffix)")
        siluAndMul = try load("silu_and_mul_\(suffix)")
        gatherRows = try load("gather_rows_\(suffix)")
        addBias = try load("add_bias_\(suffix)")
        toFloat = try load("to_float_\(suffix)")
        fromFloat = try load("from_float_\(suffix)")
        argmaxRows = try load("argmax_rows_\(suffix)")
        sampleRows = function("sample_rows_\(suffix)")
        adjustLogits = function("adjust_logits")
        if dtype != .float32 {
            attentionCombine = try load("attention_combine_\(suffix)")
            for t in 1...4 {
                gemv[t] = try load("gemv_\(suffix)_t\(t)")
                gemvSwiGLU[t] = try load("gemv_swiglu_\(suffix)_t\(t)")
            }
            for hd in [64, 128, 256] { flashAttention[hd] = try load("flash_attention_\(suffix)_hd\(hd)") }
            for hd in [64, 128] { decodeAttention[hd] = function("decode_attention_\(suffix)_hd\(hd)") }
            for hd in [64, 128] {
                for warps in [4, 8] { flashPrefill[hd, default: [:]][warps] = function("flash_prefill_\(suffix)_hd\(hd)_w\(warps)") }
            }
        }
        waitsForPrevious = Set(
            [embedding, rmsNorm, addRMSNorm, headRMSNorm, rotaryWriteKV, writeKVCache, pagedAttention, siluAndMul, gatherRows, addBias,
             toFloat, fromFloat, argmaxRows] + [attentionCombine].compactMap { $0 } + Array(gemv.values) + Array(gemvSwiGLU.values)
                + Array(flashAttention.values) + Array(decodeAttention.values) + flashPrefill.values.flatMap(\.values))
    }
}

/// One argument of a kernel launch: a device pointer or a scalar, each passed by address.
enum KernelArgument {
    case pointer(CUdeviceptr)
    case int32(Int32)
    case int64(Int64)
    case float(Float)
}
