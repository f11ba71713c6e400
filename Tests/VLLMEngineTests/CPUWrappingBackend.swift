import VLLMCPU
import VLLMCore

/// A test backend made of the CPU backend with a few operations changed: every operation it does
/// not implement itself goes to `cpu` unchanged.
protocol CPUWrappingBackend: Backend where Tensor == CPUTensor, Batch == CPUBatch, KVCache == CPUKVCache {
    var cpu: CPUBackend { get }
}

extension CPUWrappingBackend {
    func weight(_ parts: [HostTensor]) throws -> CPUTensor { try cpu.weight(parts) }
    func makeKVCache(_ shape: KVCacheShape) -> CPUKVCache { cpu.makeKVCache(shape) }
    func kvCacheBytesPerBlock(_ shape: KVCacheShape) -> Int { cpu.kvCacheBytesPerBlock(shape) }
    var kvCacheDTypes: [KVCacheDType] { cpu.kvCacheDTypes }
    func prepare(_ batch: ForwardBatch) -> CPUBatch { cpu.prepare(batch) }
    func embedding(_ table: CPUTensor, _ batch: CPUBatch) -> CPUTensor { cpu.embedding(table, batch) }
    func rmsNorm(_ x: CPUTensor, weight: CPUTensor, eps: Float) -> CPUTensor { cpu.rmsNorm(x, weight: weight, eps: eps) }
    func addRMSNorm(_ x: CPUTensor, residual: CPUTensor, weight: CPUTensor, eps: Float) -> CPUTensor {
        cpu.addRMSNorm(x, residual: residual, weight: weight, eps: eps)
    }
    func linear(_ x: CPUTensor, weight: CPUTensor, bias: CPUTensor?) -> CPUTensor { cpu.linear(x, weight: weight, bias: bias) }
    func headRMSNorm(_ qkv: CPUTensor, layout: QKVLayout, qWeight: CPUTensor, kWeight: CPUTensor, eps: Float) {
        cpu.headRMSNorm(qkv, layout: layout, qWeight: qWeight, kWeight: kWeight, eps: eps)
    }
    func rotary(_ qkv: CPUTensor, layout: QKVLayout, rope: CPUTensor, batch: CPUBatch) {
        cpu.rotary(qkv, layout: layout, rope: rope, batch: batch)
    }
    func attention(
        _ qkv: CPUTensor, layout: QKVLayout, cache: CPUKVCache, layer: Int, batch: CPUBatch, scale: Float, slidingWindow: Int?
    ) -> CPUTensor {
        cpu.attention(qkv, layout: layout, cache: cache, layer: layer, batch: batch, scale: scale, slidingWindow: slidingWindow)
    }
    func siluAndMul(_ x: CPUTensor) -> CPUTensor { cpu.siluAndMul(x) }
    func gatherLogitRows(_ x: CPUTensor, batch: CPUBatch) -> CPUTensor { cpu.gatherLogitRows(x, batch: batch) }
    func toHost(_ x: CPUTensor) -> [Float] { cpu.toHost(x) }
    var familyOperations: FamilyOperations { cpu.familyOperations }
    func geluTanhAndMul(_ x: CPUTensor) -> CPUTensor { cpu.geluTanhAndMul(x) }
    func softCap(_ x: CPUTensor, cap: Float) { cpu.softCap(x, cap: cap) }
    func scale(_ x: CPUTensor, by factor: Float) { cpu.scale(x, by: factor) }
    func concatColumns(_ parts: [CPUTensor]) -> CPUTensor { cpu.concatColumns(parts) }
    func activation(_ values: [Float], rows: Int, columns: Int) -> CPUTensor { cpu.activation(values, rows: rows, columns: columns) }
    func rotaryAttention(
        _ qkv: CPUTensor, layout: QKVLayout, rope: CPUTensor, cache: CPUKVCache, layer: Int, batch: CPUBatch,
        scale: Float, slidingWindow: Int?, logitSoftCap: Float?
    ) -> CPUTensor {
        cpu.rotaryAttention(
            qkv, layout: layout, rope: rope, cache: cache, layer: layer, batch: batch, scale: scale,
            slidingWindow: slidingWindow, logitSoftCap: logitSoftCap)
    }
}
