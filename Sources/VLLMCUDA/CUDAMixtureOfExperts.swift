import Foundation
import VLLMCore

/// The functions of `Kernels/moe.cu` for one activation dtype.
struct MixtureOfExpertsKernels {
    let route, group, gemm, combine: CUhandle
    /// The decode kernels (16-bit activations only): gate/up with SwiGLU per entry, and down with the weighted sum.
    let gemvSwiGLU, gemvCombine: CUhandle?
    /// The grouped product on the tensor cores (16-bit activations only).
    let gemmMMA: CUhandle?

    /// Nil when the module lacks any of the grouped ones (an older kernel source given by `VLLM_CUDA_KERNEL_SOURCE`).
    init?(function: (Kernel) -> CUhandle?) {
        guard let route = function(.moeRoute), let group = function(.moeGroup), let gemm = function(.moeGemm),
            let combine = function(.moeCombine)
        else { return nil }
        (self.route, self.group, self.gemm, self.combine) = (route, group, gemm, combine)
        (gemvSwiGLU, gemvCombine, gemmMMA) = (function(.moeGemvSwiGLU), function(.moeGemvCombine), function(.moeGemmMMA))
    }
}

/// Most experts `moe.cu` handles in a layer (its per-token top-k queue and one-block grouping).
private let maxExperts = 256
/// Rows of a tile of the grouped product (MOE_TILE_ROWS and MOE_TILE_COLS in moe.cu), and the
/// columns of the tensor-core kernel's tile (MOE_MMA_COLS).
private let tileRows = 16, tileColumns = 64, mmaColumns = 128
/// Columns of a `moe_combine` block (MOE_COMBINE_COLUMNS), which orders one token's entries once.
private let combineColumns = 256
/// Most tokens whose experts run as matrix-vector products: each entry reads its expert's rows
/// itself, which pays while the entries rarely share an expert.
private let matrixVectorTokens = 8
/// Warps of a `moe_gemv_combine` block (MOE_GEMV_COMBINE_WARPS), which share out its rows' (row, choice) pairs.
private let gemvCombineWarps = 8
/// Output rows of a `moe_gemv_combine` block: `VLLM_CUDA_MOE_COMBINE_ROWS=N` overrides the default.
private let requestedCombineRows = ProcessInfo.processInfo.environment["VLLM_CUDA_MOE_COMBINE_ROWS"].flatMap { Int($0) }
/// (row, choice) pairs each warp of a `moe_gemv_combine` block takes by default where the kernel pipelines them (expert rows of
/// at most `pipelinedCombineColumns` values): a warp loads its next pair's row while it sums the current one, so longer blocks keep
/// more loads in flight (4 pairs: 0.8540 ms against 0.8623 for 1, the 30B-A3B shape cut to 8 layers on an H100).
private let pipelinedPairsPerWarp = 4, pipelinedCombineColumns = 1024

/// Rows of a `moe_gemv_combine` block for `k` choices a token and expert rows of `kdim` values: enough rows for the block's pairs
/// to fill its warps once, or `pipelinedPairsPerWarp` times where the kernel pipelines them; at most what its pair buffer holds.
private func combineRowsPerBlock(k: Int, kdim: Int) -> Int {
    let fill = max(1, gemvCombineWarps / k)
    let standard = kdim <= pipelinedCombineColumns ? fill * pipelinedPairsPerWarp : fill
    return min(max(1, requestedCombineRows ?? standard), max(1, maxExperts / k))
}

/// `moe_group`'s arrays for a layer's top-k choices (`CUDABackend.expertGrouping`): for expert e, `expertStart[e]` is its first slot and
/// `tileStart[e]` its first row tile of the grouped product (both with a final total); `slotEntry[s]` is the entry (token · k + choice)
/// in slot s, each expert's entries in entry order, and `entrySlot` its inverse.
public struct ExpertGrouping: Equatable, Sendable {
    /// Each expert's first slot, then the number of slots.
    public var expertStart: [Int32]
    /// Each expert's first row tile, then the number of tiles.
    public var tileStart: [Int32]
    /// The entry in each slot.
    public var slotEntry: [Int32]
    /// The slot of each entry.
    public var entrySlot: [Int32]

    /// The serial definition (the host's reference): a stable grouping of the entries by expert, in tiles of moe.cu's rows. The ids must
    /// lie in `0..<experts`.
    public init(topIDs: [Int32], experts: Int) {
        let rows = tileRows
        var counts = [Int32](repeating: 0, count: experts)
        for id in topIDs { counts[Int(id)] += 1 }
        expertStart = [0]
        tileStart = [0]
        for c in counts {
            expertStart.append(expertStart.last! + c)
            tileStart.append(tileStart.last! + (c + Int32(rows) - 1) / Int32(rows))
        }
        var next = Array(expertStart.dropLast())
        slotEntry = [Int32](repeating: 0, count: topIDs.count)
        entrySlot = [Int32](repeating: 0, count: topIDs.count)
        for (n, id) in topIDs.enumerated() {
            let slot = next[Int(id)]
            slotEntry[Int(slot)] = Int32(n)
            entrySlot[n] = slot
            next[Int(id)] += 1
        }
    }

    /// Arrays read back from the device.
    init(expertStart: [Int32], tileStart: [Int32], slotEntry: [Int32], entrySlot: [Int32]) {
        (self.expertStart, self.tileStart, self.slotEntry, self.entrySlot) = (expertStart, tileStart, slotEntry, entrySlot)
    }
}

// The fused mixture of experts: the routing, grouping and products stay on the device, and the
// launch sizes depend only on the token count (a decode step can be recorded as a CUDA graph).
// Experts are stacked as on the CPU: one [E·2I, H] gate/up tensor and one [E·H, I] down tensor.
extension CUDABackend {
    /// Stacks the experts into one gate/up and one down tensor for the fused kernels; one weight per expert when the kernels are missing or
    /// there are too many experts. Throws `ModelLoadError.unsupportedWeightFormat` when quantized experts would be stacked.
    public func expertWeights(_ experts: [HostExpert]) throws -> ExpertWeights<CUDATensor> {
        try requireKernels([.mixtureOfExperts])
        guard kernels.moe != nil, experts.count <= maxExperts else { return try perExpertWeights(experts) }
        return try stackedExpertWeights(experts)
    }

    /// The fused device path (routing, grouping, products and weighted sum on the device) for stacked experts; the host-grouped default
    /// otherwise.
    public func mixtureOfExperts(_ x: CUDATensor, _ block: MixtureOfExpertsBlock<CUDATensor>) -> CUDATensor {
        let experts = block.experts
        guard let moe = kernels.moe, experts.stacked else { return hostGroupedMixtureOfExperts(x, block) }
        checkLive(x)
        let out = allocate([x.rows, x.columns])
        guard x.rows > 0 else { return out }
        // Batch-invariant mode keeps every step on the grouped product, whose rows do not depend on the others.
        if !batchInvariant, x.rows <= matrixVectorTokens, x.columns % 8 == 0, experts.intermediate % 8 == 0,
            let gemvSwiGLU = moe.gemvSwiGLU, let gemvCombine = moe.gemvCombine
        {
            decodeExperts(x, block, moe, gemvSwiGLU: gemvSwiGLU, gemvCombine: gemvCombine, into: out)
        } else {
            groupedExperts(x, block, moe, into: out)
        }
        return out
    }

    /// Queues the router's product and `moe_route`; returns where the top-k ids and weights will be (ring memory).
    private func queueRouting(
        _ x: CUDATensor, _ block: MixtureOfExpertsBlock<CUDATensor>, _ moe: MixtureOfExpertsKernels
    ) -> (ids: CUdeviceptr, weights: CUdeviceptr) {
        let (tokens, count, k) = (x.rows, block.experts.numExperts, block.routing.topK)
        let topIDs = ring.allocate(tokens * k * 4).pointer, topWeights = ring.allocate(tokens * k * 4).pointer
        let normalize = Int32(block.routing.normalizeTopK ? 1 : 0)
        let logits = linear(x, block.router, bias: nil)
        launch(
            moe.route, "moe_route", grid: ((tokens + 3) / 4, 1), block: 128,  // a warp per token (MOE_ROUTE_TOKENS)
            [
                .pointer(logits.pointer), .int32(Int32(tokens)), .int32(Int32(count)), .int32(Int32(k)), .int32(normalize),
                .pointer(topIDs), .pointer(topWeights),
            ])
        return (topIDs, topWeights)
    }

    /// The shared expert's output and gate as the combining kernels take them (null pointers without one), queued just before that
    /// last launch.
    private func sharedExpertArguments(_ x: CUDATensor, _ block: MixtureOfExpertsBlock<CUDATensor>) -> [KernelArgument] {
        guard let s = block.shared else { return [.pointer(0), .pointer(0)] }
        return [.pointer(linear(swiGLU(x, gateUp: s.gateUp), s.down, bias: nil).pointer), .pointer(linear(x, s.gate, bias: nil).pointer)]
    }

    /// A decode step's experts as matrix-vector products: each entry's gate/up rows into its own activation row
    /// (`moe_gemv_swiglu`), then the down rows and the weighted sum in one kernel (`moe_gemv_combine`); no grouping.
    private func decodeExperts(
        _ x: CUDATensor, _ block: MixtureOfExpertsBlock<CUDATensor>, _ moe: MixtureOfExpertsKernels, gemvSwiGLU: CUhandle,
        gemvCombine: CUhandle, into out: CUDATensor
    ) {
        let (tokens, hidden, rows, k) = (x.rows, x.columns, block.experts.intermediate, block.routing.topK)
        let top = queueRouting(x, block, moe)
        let act = allocate([tokens * k, rows])
        launch(
            gemvSwiGLU, "moe_gemv_swiglu \(rows)x\(hidden)", grid: ((rows + 3) / 4, tokens * k), block: 256,
            [
                .pointer(act.pointer), .pointer(x.pointer), .pointer(top.ids), .int32(Int32(k)),
                .pointer(block.experts.gateUp[0].tensors[0].pointer), .int32(Int32(rows)), .int32(Int32(hidden)),
            ])
        let rowsPerBlock = combineRowsPerBlock(k: k, kdim: rows)
        let shared = sharedExpertArguments(x, block)
        checkLive(act)
        launch(
            gemvCombine, "moe_gemv_combine \(hidden)x\(rows)", grid: ((hidden + rowsPerBlock - 1) / rowsPerBlock, tokens),
            block: 32 * gemvCombineWarps,
            [
                .pointer(out.pointer), .pointer(act.pointer), .pointer(top.ids), .pointer(top.weights), .int32(Int32(k)),
                .pointer(block.experts.down[0].tensors[0].pointer), .int32(Int32(hidden)), .int32(Int32(rows)),
                .int32(Int32(rowsPerBlock)),
            ] + shared)
    }

    /// Any step's experts through the grouping: `moe_group`, the grouped products for gate/up and down with SwiGLU between,
    /// then `moe_combine`.
    private func groupedExperts(
        _ x: CUDATensor, _ block: MixtureOfExpertsBlock<CUDATensor>, _ moe: MixtureOfExpertsKernels, into out: CUDATensor
    ) {
        let (tokens, hidden, rows) = (x.rows, x.columns, block.experts.intermediate)
        let (count, k) = (block.experts.numExperts, block.routing.topK)
        let slots = tokens * k
        let top = queueRouting(x, block, moe)
        let (expertStart, tileStart, slotEntry, entrySlot) = queueGrouping(moe, topIDs: top.ids, entries: slots, experts: count)
        // Every expert adds at most one partial tile to the full ones.
        let tiles = (slots + tileRows - 1) / tileRows + count
        func grouped(_ input: CUDATensor, gather: Bool, _ weight: CUDATensor, n: Int, kdim: Int) -> CUDATensor {
            let result = allocate([slots, n])
            // The tensor-core kernel takes 16-byte loads of both operands.
            let mma = kdim % 8 == 0 ? moe.gemmMMA : nil
            let columns = mma == nil ? tileColumns : mmaColumns
            launch(
                mma ?? moe.gemm, "moe_gemm\(mma == nil ? "" : "_mma") \(n)x\(kdim)", grid: (tiles, (n + columns - 1) / columns),
                block: mma == nil ? 256 : 128,
                [
                    .pointer(result.pointer), .pointer(input.pointer), .pointer(gather ? slotEntry : 0), .int32(Int32(k)),
                    .pointer(weight.pointer), .pointer(expertStart), .pointer(tileStart), .int32(Int32(count)),
                    .int32(Int32(n)), .int32(Int32(kdim)),
                ])
            return result
        }
        let gateUp = grouped(x, gather: true, block.experts.gateUp[0].tensors[0], n: 2 * rows, kdim: hidden)
        let down = grouped(siluAndMul(gateUp), gather: false, block.experts.down[0].tensors[0], n: hidden, kdim: rows)
        let shared = sharedExpertArguments(x, block)
        checkLive(down)
        launch(
            moe.combine, "moe_combine", grid: (tokens, (hidden + combineColumns - 1) / combineColumns), block: combineColumns,
            [
                .pointer(out.pointer), .pointer(down.pointer), .pointer(top.ids), .pointer(top.weights), .pointer(entrySlot),
                .int32(Int32(k)), .int32(Int32(hidden)),
            ] + shared)
    }

    /// Queues `moe_group` over `entries` top-k ids; returns where its four arrays will be (ring memory). One block of a thread per entry
    /// (at least one per expert, at most 1024): its size depends only on the token count, as a recorded decode step needs.
    private func queueGrouping(_ moe: MixtureOfExpertsKernels, topIDs: CUdeviceptr, entries: Int, experts: Int) -> (
        expertStart: CUdeviceptr, tileStart: CUdeviceptr, slotEntry: CUdeviceptr, entrySlot: CUdeviceptr
    ) {
        let expertStart = ring.allocate((experts + 1) * 4).pointer, tileStart = ring.allocate((experts + 1) * 4).pointer
        let slotEntry = ring.allocate(entries * 4).pointer, entrySlot = ring.allocate(entries * 4).pointer
        launch(
            moe.group, "moe_group", grid: (1, 1), block: max((experts + 31) / 32 * 32, min(1024, (entries + 31) / 32 * 32)),
            [
                .pointer(topIDs), .int32(Int32(entries)), .int32(Int32(experts)), .pointer(expertStart), .pointer(tileStart),
                .pointer(slotEntry), .pointer(entrySlot),
            ])
        return (expertStart, tileStart, slotEntry, entrySlot)
    }

    /// Runs `moe_group` alone on the given top-k ids (`kernel-check` compares it with `ExpertGrouping(topIDs:experts:)`);
    /// nil without the fused kernels. The ids must lie in `0..<experts`, with `experts` at most 256.
    public func expertGrouping(topIDs: [Int32], experts: Int) throws -> ExpertGrouping? {
        try requireKernels([.mixtureOfExperts])
        guard let moe = kernels.moe, !topIDs.isEmpty else { return nil }
        precondition(experts <= maxExperts && topIDs.allSatisfy { $0 >= 0 && $0 < experts }, "top-k ids out of range")
        let entries = topIDs.count
        let device = ring.allocate(entries * 4).pointer
        topIDs.withUnsafeBytes {
            driver.must(driver.cuMemcpyHtoDAsync(device, $0.baseAddress!, $0.count, stream), "cuMemcpyHtoDAsync(top ids)")
        }
        let arrays = queueGrouping(moe, topIDs: device, entries: entries, experts: experts)
        func read(_ pointer: CUdeviceptr, _ count: Int) -> [Int32] {
            let host = hostOutput.ensure(count * 4)
            driver.must(driver.cuMemcpyDtoHAsync(host, pointer, count * 4, stream), "cuMemcpyDtoHAsync(grouping)")
            synchronize()
            return Array(UnsafeBufferPointer(start: host.assumingMemoryBound(to: Int32.self), count: count))
        }
        return ExpertGrouping(
            expertStart: read(arrays.expertStart, experts + 1), tileStart: read(arrays.tileStart, experts + 1),
            slotEntry: read(arrays.slotEntry, entries), entrySlot: read(arrays.entrySlot, entries))
    }
}
