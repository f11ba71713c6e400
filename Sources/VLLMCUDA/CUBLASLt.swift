import Foundation
import VLLMCore

/// cuBLASLt (`libcublasLt.so.13` / `.12`), loaded at run time, for the model's matrix products:
/// 16-bit (or float32) operands with float32 accumulation.
final class CUBLASLt: @unchecked Sendable {
    private typealias Handle = OpaquePointer
    private let library: DynamicLibrary
    private let create: @convention(c) (UnsafeMutablePointer<Handle?>) -> Int32
    private let descCreate: @convention(c) (UnsafeMutablePointer<Handle?>, Int32, Int32) -> Int32
    private let descSetAttribute: @convention(c) (Handle, Int32, UnsafeRawPointer, Int) -> Int32
    private let layoutCreate: @convention(c) (UnsafeMutablePointer<Handle?>, Int32, UInt64, UInt64, Int64) -> Int32
    private let preferenceCreate: @convention(c) (UnsafeMutablePointer<Handle?>) -> Int32
    private let preferenceSetAttribute: @convention(c) (Handle, Int32, UnsafeRawPointer, Int) -> Int32
    private let algoConfigSetAttribute: @convention(c) (UnsafeMutableRawPointer, Int32, UnsafeRawPointer, Int) -> Int32
    private let algoConfigGetAttribute:
        @convention(c) (UnsafeRawPointer, Int32, UnsafeMutableRawPointer, Int, UnsafeMutablePointer<Int>?) -> Int32
    private let heuristic:
        @convention(c) (
            Handle, Handle, Handle, Handle, Handle, Handle, Handle, Int32, UnsafeMutableRawPointer, UnsafeMutablePointer<Int32>
        ) -> Int32
    private let matmul:
        @convention(c) (
            Handle, Handle, UnsafeRawPointer, UInt64, Handle, UInt64, Handle, UnsafeRawPointer, UInt64, Handle,
            UInt64, Handle, UnsafeRawPointer?, UInt64, Int, OpaquePointer?
        ) -> Int32

    private let handle: Handle
    private let preference: Handle
    let workspace: CUdeviceptr
    let workspaceBytes: Int

    /// A ready matrix product of one shape: descriptors and the chosen algorithm.
    private final class Plan {
        let desc: Handle, a: Handle, b: Handle, d: Handle
        /// `cublasLtMatmulAlgo_t`: 8 opaque 64-bit words.
        var algo = [UInt64](repeating: 0, count: 8)
        init(desc: Handle, a: Handle, b: Handle, d: Handle) {
            self.desc = desc
            self.a = a
            self.b = b
            self.d = d
        }
    }

    private struct Key: Hashable { var m: Int, n: Int, k: Int }
    private var plans: [Key: Plan] = [:]
    /// Batch-invariant mode: the token count whose algorithm every product of a weight shape uses
    /// (`fixedAlgorithms`); nil lets the heuristic choose for each token count.
    let invariantTokens: Int?
    /// Batch-invariant mode: one algorithm per weight shape (out x in features), without split-K.
    private var fixedAlgorithms: [Key: [UInt64]] = [:]
    /// FP8 plans: with the scales applied by cuBLASLt (outer-vector scaling), else nil when it has
    /// no such algorithm; then a plan of the plain product of the codes, else nil.
    private var fp8Plans: [Key: (scaled: Plan?, plain: Plan?)] = [:]
    /// Whether the fallback from outer-vector scaling was said on standard error (once a process).
    private var saidScalingFallback = false
    private let dataType: Int32
    private var one: Float = 1, zero: Float = 0

    // cublasLt enums (stable across CUDA 11..13).
    private static let computeF32: Int32 = 68
    private static let realF32: Int32 = 0, realF16: Int32 = 2, realBF16: Int32 = 14, realF8E4M3: Int32 = 28
    private static let descAScalePointer: Int32 = 17, descBScalePointer: Int32 = 18, descFastAccumulation: Int32 = 25
    private static let descAScaleMode: Int32 = 31, descBScaleMode: Int32 = 32, scaleOuterVector: Int32 = 3
    private static let descTransA: Int32 = 3, descTransB: Int32 = 4
    private static let preferenceMaxWorkspace: Int32 = 1, preferenceReductionSchemeMask: Int32 = 3
    private static let configSplitK: Int32 = 2, configReductionScheme: Int32 = 3, reductionNone: UInt32 = 0
    private static let opN: Int32 = 0, opT: Int32 = 1

    /// A handle for products in `dtype`; with `invariantTokens`, batch-invariant products (see
    /// `fixedAlgorithm`).
    init(dtype: DType, workspace: CUdeviceptr, workspaceBytes: Int, invariantTokens: Int? = nil) throws {
        let lib = try DynamicLibrary(
            ["libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"], directories: cudaLibraryDirectories)
        library = lib
        create = try lib.function("cublasLtCreate")
        descCreate = try lib.function("cublasLtMatmulDescCreate")
        descSetAttribute = try lib.function("cublasLtMatmulDescSetAttribute")
        layoutCreate = try lib.function("cublasLtMatrixLayoutCreate")
        preferenceCreate = try lib.function("cublasLtMatmulPreferenceCreate")
        preferenceSetAttribute = try lib.function("cublasLtMatmulPreferenceSetAttribute")
        heuristic = try lib.function("cublasLtMatmulAlgoGetHeuristic")
        algoConfigSetAttribute = try lib.function("cublasLtMatmulAlgoConfigSetAttribute")
        algoConfigGetAttribute = try lib.function("cublasLtMatmulAlgoConfigGetAttribute")
        matmul = try lib.function("cublasLtMatmul")
        dataType =
            switch dtype {
            case .float32: Self.realF32
            case .float16: Self.realF16
            case .bfloat16: Self.realBF16
            case .float8E4M3, .int32, .int64, .uint8: preconditionFailure("\(dtype) is not a compute dtype")
            }
        var h: Handle?
        try Self.check(create(&h), "cublasLtCreate")
        handle = h!
        var p: Handle?
        try Self.check(preferenceCreate(&p), "cublasLtMatmulPreferenceCreate")
        preference = p!
        var bytes = UInt64(workspaceBytes)
        try Self.check(
            preferenceSetAttribute(preference, Self.preferenceMaxWorkspace, &bytes, 8), "cublasLtMatmulPreferenceSetAttribute")
        self.workspace = workspace
        self.workspaceBytes = workspaceBytes
        self.invariantTokens = invariantTokens
        if invariantTokens != nil {
            // Only algorithms that reduce over K in one pass: no split-K and so no reduction of partial sums.
            var mask = UInt32(Self.reductionNone)
            try Self.check(
                preferenceSetAttribute(preference, Self.preferenceReductionSchemeMask, &mask, 4),
                "cublasLtMatmulPreferenceSetAttribute(REDUCTION_SCHEME_MASK)")
        }
    }

    private static func check(_ status: Int32, _ call: String) throws {
        if status != 0 { throw CUDAError.blas(call: call, code: status) }
    }

    /// `y[T, N] = x[T, K] · w[N, K]ᵀ`, all row-major. In cuBLAS's column-major terms that is
    /// `yᵀ (N×T) = op(w)ᵀ ... `: A = w seen as K×N (transposed), B = x seen as K×T, D as N×T.
    func linear(x: CUdeviceptr, w: CUdeviceptr, y: CUdeviceptr, tokens: Int, outFeatures: Int, inFeatures: Int, stream: OpaquePointer?) {
        let status = run(plan(m: outFeatures, n: tokens, k: inFeatures), x: x, w: w, y: y, stream: stream)
        if status != 0 {
            let fixed = invariantTokens.map { " with the batch-invariant algorithm of \($0) tokens" } ?? ""
            fatalError("cuBLASLt: cublasLtMatmul (\(outFeatures)x\(tokens)x\(inFeatures))\(fixed) failed with status \(status)")
        }
    }

    /// How `linearFP8` applied the scales.
    enum FP8Product {
        /// cuBLASLt multiplied by both scale vectors: `y` is final.
        case scaled
        /// `y` holds the product of the codes; the caller applies the scales.
        case unscaled
        /// cuBLASLt has no FP8 algorithm for this shape; `y` is untouched.
        case unsupported
    }

    /// `y[T, N] = x[T, K] · w[N, K]ᵀ` for float8 e4m3 codes (row-major), accumulated in float32 and
    /// written in the compute dtype, scaled by `xScales[T]` and `wScales[N]` in the product where
    /// cuBLASLt can (outer-vector scaling, CUDA 12.9 and later, Hopper), else left to the caller's
    /// kernel; `VLLM_CUDA_FP8_SCALING=after` always leaves them to it. The plan sets the scale modes
    /// and both scale vectors before asking the heuristic, as PyTorch's rowwise scaling does on
    /// Hopper (with the modes alone, every product fell back on 2026-12-05). On an H100 on
    /// 2026-12-06 the W8A8 kernel-check passed with it and the 8B FP8 throughput went from about
    /// 1.10x to 1.23x bf16 (`bench/results/gpu_h100_fp8_outer_scaling_8b.json`).
    func linearFP8(
        x: CUdeviceptr, w: CUdeviceptr, y: CUdeviceptr, xScales: CUdeviceptr, wScales: CUdeviceptr, tokens: Int,
        outFeatures: Int, inFeatures: Int, stream: OpaquePointer?
    ) -> FP8Product {
        let key = Key(m: outFeatures, n: tokens, k: inFeatures)
        if fp8Plans[key] == nil {
            let outer = ProcessInfo.processInfo.environment["VLLM_CUDA_FP8_SCALING"] != "after"
            var scaled: Plan?
            if outer {
                do {
                    scaled = try makePlan(
                        m: outFeatures, n: tokens, k: inFeatures, input: Self.realF8E4M3, scaled: true, scales: (wScales, xScales))
                } catch {
                    sayScalingFallback("no outer-vector FP8 plan (\(error))")
                }
            }
            fp8Plans[key] = (
                scaled, scaled == nil ? try? makePlan(m: outFeatures, n: tokens, k: inFeatures, input: Self.realF8E4M3, scaled: false) : nil
            )
        }
        let (scaled, plain) = fp8Plans[key]!
        if let plan = scaled {
            var (a, b) = (wScales, xScales)
            _ = descSetAttribute(plan.desc, Self.descAScalePointer, &a, 8)
            _ = descSetAttribute(plan.desc, Self.descBScalePointer, &b, 8)
            let status = run(plan, x: x, w: w, y: y, stream: stream)
            if status == 0 { return .scaled }
            sayScalingFallback("the outer-vector FP8 product failed (status \(status))")
            fp8Plans[key] = (nil, try? makePlan(m: outFeatures, n: tokens, k: inFeatures, input: Self.realF8E4M3, scaled: false))
            return linearFP8(
                x: x, w: w, y: y, xScales: xScales, wScales: wScales, tokens: tokens, outFeatures: outFeatures, inFeatures: inFeatures,
                stream: stream)
        }
        guard let plan = plain else { return .unsupported }
        if run(plan, x: x, w: w, y: y, stream: stream) == 0 { return .unscaled }
        fp8Plans[key] = (nil, nil)
        return .unsupported
    }

    /// Says why the scales are applied after the product, the first time only: whether cuBLASLt or
    /// the caller's kernel applies them is what an FP8 run's speed depends on.
    private func sayScalingFallback(_ reason: String) {
        guard !saidScalingFallback else { return }
        saidScalingFallback = true
        FileHandle.standardError.write(Data("cuBLASLt: \(reason); FP8 scales applied after the products\n".utf8))
    }

    private func run(_ plan: Plan, x: CUdeviceptr, w: CUdeviceptr, y: CUdeviceptr, stream: OpaquePointer?) -> Int32 {
        plan.algo.withUnsafeBytes { algo in
            matmul(
                handle, plan.desc, &one, w, plan.a, x, plan.b, &zero, y, plan.d, y, plan.d, algo.baseAddress,
                workspace, workspaceBytes, stream)
        }
    }

    private func plan(m: Int, n: Int, k: Int) -> Plan {
        let key = Key(m: m, n: n, k: k)
        if let plan = plans[key] { return plan }
        do {
            let fixed = try invariantTokens.map { try fixedAlgorithm(m: m, k: k, tokens: $0) }
            let plan = try makePlan(m: m, n: n, k: k, algorithm: fixed)
            plans[key] = plan
            return plan
        } catch {
            fatalError("\(error)")
        }
    }

    /// Batch-invariant mode: the algorithm of the weight shape `m` x `k` for every token count, the
    /// heuristic's choice for `tokens` tokens among algorithms without split-K, with its split-K
    /// count set to 1 and reduction scheme to none. One algorithm (one kernel, tile and K loop)
    /// computes each output element as the same sequence of tensor-core steps over K, whatever the
    /// number of token columns, so a token's row depends on that row alone.
    private func fixedAlgorithm(m: Int, k: Int, tokens: Int) throws -> [UInt64] {
        let key = Key(m: m, n: 0, k: k)
        if let algo = fixedAlgorithms[key] { return algo }
        var algo = try makePlan(m: m, n: tokens, k: k).algo
        try algo.withUnsafeMutableBytes { raw in
            var one: UInt32 = 1, none = Self.reductionNone
            try Self.check(
                algoConfigSetAttribute(raw.baseAddress!, Self.configSplitK, &one, 4), "cublasLtMatmulAlgoConfigSetAttribute(SPLITK_NUM)")
            try Self.check(
                algoConfigSetAttribute(raw.baseAddress!, Self.configReductionScheme, &none, 4),
                "cublasLtMatmulAlgoConfigSetAttribute(REDUCTION_SCHEME)")
        }
        fixedAlgorithms[key] = algo
        return algo
    }

    /// Batch-invariant mode: each weight shape's fixed algorithm as cuBLASLt configures it, e.g.
    /// "4096x14336: id 66 tile 18 splitK 1 reduction 0 swizzle 0 custom 0 stages 35 inner 0 cluster 2".
    var fixedAlgorithmDescriptions: [String] {
        // cublasLtMatmulAlgoConfigAttributes_t in order, with their sizes (the last two are uint16).
        let names = ["id", "tile", "splitK", "reduction", "swizzle", "custom", "stages", "inner", "cluster"]
        return fixedAlgorithms.sorted { ($0.key.m, $0.key.k) < ($1.key.m, $1.key.k) }.map { key, algo in
            let values = names.indices.map { attribute in
                var value: UInt64 = 0
                let status = algo.withUnsafeBytes { raw in
                    algoConfigGetAttribute(raw.baseAddress!, Int32(attribute), &value, attribute >= 7 ? 2 : 4, nil)
                }
                return "\(names[attribute]) \(status == 0 ? String(value) : "?")"
            }
            return "\(key.m)x\(key.k): " + values.joined(separator: " ")
        }
    }

    /// A plan for operands of `input` (the compute dtype unless given); with `scaled`, A and B
    /// take vectors of float32 scales (per output feature, per token), set before the heuristic is
    /// asked (`scales`; a call may point them elsewhere). It runs `algorithm` when given, else the
    /// heuristic's first choice.
    private func makePlan(
        m: Int, n: Int, k: Int, input: Int32? = nil, scaled: Bool = false, scales: (a: CUdeviceptr, b: CUdeviceptr)? = nil,
        algorithm: [UInt64]? = nil
    ) throws -> Plan {
        var desc: Handle?
        try Self.check(descCreate(&desc, Self.computeF32, Self.realF32), "cublasLtMatmulDescCreate")
        var transA = Self.opT, transB = Self.opN
        try Self.check(descSetAttribute(desc!, Self.descTransA, &transA, 4), "cublasLtMatmulDescSetAttribute(TRANSA)")
        try Self.check(descSetAttribute(desc!, Self.descTransB, &transB, 4), "cublasLtMatmulDescSetAttribute(TRANSB)")
        if scaled {
            var mode = Self.scaleOuterVector
            try Self.check(descSetAttribute(desc!, Self.descAScaleMode, &mode, 4), "cublasLtMatmulDescSetAttribute(A_SCALE_MODE)")
            try Self.check(descSetAttribute(desc!, Self.descBScaleMode, &mode, 4), "cublasLtMatmulDescSetAttribute(B_SCALE_MODE)")
            if var (a, b) = scales {
                try Self.check(descSetAttribute(desc!, Self.descAScalePointer, &a, 8), "cublasLtMatmulDescSetAttribute(A_SCALE_POINTER)")
                try Self.check(descSetAttribute(desc!, Self.descBScalePointer, &b, 8), "cublasLtMatmulDescSetAttribute(B_SCALE_POINTER)")
            }
        }
        if input == Self.realF8E4M3, ProcessInfo.processInfo.environment["VLLM_CUDA_FP8_FAST_ACCUM"] == "1" {
            var fast: Int8 = 1
            try Self.check(descSetAttribute(desc!, Self.descFastAccumulation, &fast, 1), "cublasLtMatmulDescSetAttribute(FAST_ACCUM)")
        }
        let inputType = input ?? dataType
        var a: Handle?, b: Handle?, d: Handle?
        try Self.check(layoutCreate(&a, inputType, UInt64(k), UInt64(m), Int64(k)), "cublasLtMatrixLayoutCreate(A)")
        try Self.check(layoutCreate(&b, inputType, UInt64(k), UInt64(n), Int64(k)), "cublasLtMatrixLayoutCreate(B)")
        try Self.check(layoutCreate(&d, dataType, UInt64(m), UInt64(n), Int64(m)), "cublasLtMatrixLayoutCreate(D)")
        let plan = Plan(desc: desc!, a: a!, b: b!, d: d!)
        if let algorithm {
            plan.algo = algorithm
            return plan
        }
        // cublasLtMatmulHeuristicResult_t: algo (64 bytes), workspaceSize (8), state (4), waves (4), reserved (16).
        let result = UnsafeMutableRawPointer.allocate(byteCount: 96, alignment: 16)
        defer { result.deallocate() }
        var found: Int32 = 0
        try Self.check(
            heuristic(handle, plan.desc, plan.a, plan.b, plan.d, plan.d, preference, 1, result, &found),
            "cublasLtMatmulAlgoGetHeuristic(\(m)x\(n)x\(k))")
        guard found > 0 else { throw CUDAError.blas(call: "cublasLtMatmulAlgoGetHeuristic(\(m)x\(n)x\(k)): no algorithm", code: -1) }
        for i in 0..<8 { plan.algo[i] = result.load(fromByteOffset: i * 8, as: UInt64.self) }
        return plan
    }
}
