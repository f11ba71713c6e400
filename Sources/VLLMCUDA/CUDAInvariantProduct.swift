import Foundation
import VLLMCore

/// Batch-invariant mode's own matrix product (`VLLM_BATCH_INVARIANT_GEMM=own`), for when cuBLASLt's
/// fixed algorithms should not be trusted: moe.cu's grouped product with one expert holding every
/// token. Its 16-row tiles walk K in the same steps of 32 for every row (tensor-core fragments of
/// 16 rows, or one thread's sum per row in float32), so a row's result depends on that row alone.
/// It is slower than cuBLASLt on large steps (no pipelining): a check and a fallback.
extension CUDABackend {
    /// Whether batch-invariant products take `ownProduct` instead of cuBLASLt.
    static let ownInvariantProduct = ProcessInfo.processInfo.environment["VLLM_BATCH_INVARIANT_GEMM"] == "own"
    /// Most tokens a step of `ownProduct` may have (the size of `oneExpertStarts`).
    static let ownProductMaxTokens = 1 << 16

    /// `out = x · wᵀ` (`w` of `n` rows and `k` columns): in batch-invariant mode with
    /// `VLLM_BATCH_INVARIANT_GEMM=own` by the grouped kernel, else by cuBLASLt.
    func matrixProduct(_ x: CUDATensor, w: CUdeviceptr, out: CUDATensor, n: Int, k: Int, label: @autoclosure () -> String) {
        let t = x.rows
        if batchInvariant, Self.ownInvariantProduct, let moe = kernels.moe, t <= Self.ownProductMaxTokens {
            // The tensor-core kernel takes 16-byte loads of both operands.
            let mma = k % 8 == 0 ? moe.gemmMMA : nil
            let columns = mma == nil ? 64 : 128
            // expert_start = [0, t] and tile_start = [0, ceil(t / 16)], from the table.
            let starts = oneExpertStarts + UInt64(16 * t)
            launch(
                mma ?? moe.gemm, "own product \(n)x\(k)", grid: ((t + 15) / 16, (n + columns - 1) / columns), block: mma == nil ? 256 : 128,
                [
                    .pointer(out.pointer), .pointer(x.pointer), .pointer(0), .int32(1), .pointer(w), .pointer(starts), .pointer(starts + 8),
                    .int32(1), .int32(Int32(n)), .int32(Int32(k)),
                ])
            return
        }
        profiled(label()) { blas.linear(x: x.pointer, w: w, y: out.pointer, tokens: t, outFeatures: n, inFeatures: k, stream: stream) }
    }

    /// The table `matrixProduct` reads its one expert's row and tile starts from: for each token
    /// count t, the four integers [0, t, 0, ceil(t / 16)] at byte 16 t.
    func makeOneExpertStarts() -> CUdeviceptr {
        let count = Self.ownProductMaxTokens + 1
        var table = [Int32](repeating: 0, count: 4 * count)
        for t in 0..<count { (table[4 * t + 1], table[4 * t + 3]) = (Int32(t), Int32((t + 15) / 16)) }
        var device: CUdeviceptr = 0
        driver.must(driver.cuMemAlloc(&device, table.count * 4), "cuMemAlloc(own product starts)")
        // From pageable memory the call returns once the table is staged, so it may go out of scope.
        table.withUnsafeBytes { driver.must(driver.cuMemcpyHtoDAsync(device, $0.baseAddress!, $0.count, stream), "cuMemcpyHtoDAsync") }
        return device
    }
}
