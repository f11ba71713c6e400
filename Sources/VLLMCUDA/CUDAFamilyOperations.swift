import VLLMCore

/// The operations of the Gemma and Phi-3 families on CUDA: GeGLU in `activation.cu` (and fused
/// into the gate/up product of decode steps in `gemv.cu`), soft-capping and scaling in
/// `elementwise.cu`, soft-capped scores in every attention kernel, partial rotary in `rotary.cu`.
/// The CPU backend (`CPUFamilyOperations.swift`) is the reference.
extension CUDABackend {
    /// Every family operation (the hidden-state copies are in `CUDABackend.swift`, beside the
    /// step's memory they allocate from).
    public var familyOperations: FamilyOperations {
        [.geluTanh, .elementwise, .attentionSoftCap, .partialRotary, .hiddenStates]
    }

    /// `gelu_tanh(gate) * up`, the activation rounded to the compute dtype before the product.
    public func geluTanhAndMul(_ x: CUDATensor) -> CUDATensor { activationAndMul(kernels.geluTanhAndMul, "gelu_tanh_and_mul", x) }

    /// One fused matrix-vector kernel (`gemv_geglu`) for small batches, under the same conditions
    /// as `swiGLU`'s; otherwise `linear`, then `geluTanhAndMul`.
    public func geluTanhGLU(_ x: CUDATensor, gateUp: CUDATensor) -> CUDATensor {
        gatedMatrixVector(kernels.gemvGeGLU, "gemv_geglu", x, gateUp: gateUp)
            ?? geluTanhAndMul(linear(x, weight: gateUp, bias: nil))
    }

    /// One `norm_add_rms_norm` kernel (the same bits as `rmsNorm` then `addRMSNorm`), or those two
    /// where the module lacks it.
    public func normAddRMSNorm(_ x: CUDATensor, normWeight: CUDATensor, residual: CUDATensor, weight: CUDATensor, eps: Float)
        -> CUDATensor
    {
        guard let kernel = kernels.normAddRMSNorm else {
            return addRMSNorm(rmsNorm(x, weight: normWeight, eps: eps), residual: residual, weight: weight, eps: eps)
        }
        checkLive(x, residual)
        let out = allocate(x.shape)
        launch(
            kernel, "norm_add_rms_norm", grid: (x.rows, 1), block: threadsFor(row: x.columns),
            [
                .pointer(out.pointer), .pointer(residual.pointer), .pointer(x.pointer), .pointer(normWeight.pointer),
                .pointer(weight.pointer), .int32(Int32(x.columns)), .float(eps),
            ])
        return out
    }

    /// In place `x = cap * tanh(x / cap)`, each step rounded to the compute dtype (as transformers
    /// computes Gemma 2's final logits in the model's dtype).
    public func softCap(_ x: CUDATensor, cap: Float) {
        precondition(cap > 0, "soft cap \(cap) is not positive")
        checkLive(x)
        launch(
            kernels.softCap, "soft_cap", grid: (gridFor(x.count), 1), block: 256,
            [.pointer(x.pointer), .int64(Int64(x.count)), .float(cap)])
    }

    /// In place `x *= factor`, the factor rounded to the compute dtype first (Gemma's embedding
    /// normalizer is a tensor of the activations' dtype in transformers).
    public func scale(_ x: CUDATensor, by factor: Float) {
        checkLive(x)
        launch(
            kernels.scale, "scale", grid: (gridFor(x.count), 1), block: 256,
            [.pointer(x.pointer), .int64(Int64(x.count)), .float(factor)])
    }

    /// Rotary embedding (partial when the table is narrower than the heads) with the cache write,
    /// then attention over the cache with the scores soft-capped when `logitSoftCap` is set.
    public func rotaryAttention(
        _ qkv: CUDATensor, layout: QKVLayout, rope: CUDATensor, cache: CUDAKVCache, layer: Int, batch: CUDABatch,
        scale: Float, slidingWindow: Int?, logitSoftCap: Float?
    ) -> CUDATensor {
        checkLive(qkv)
        rotate(qkv, layout: layout, rope: rope, batch: batch, into: (cache, layer))
        return attendCached(
            qkv, layout: layout, cache: cache, layer: layer, batch: batch, scale: scale, slidingWindow: slidingWindow,
            softCap: logitSoftCap)
    }

    /// The q/k head norm, the rotation and the cache write in one kernel (`rotary_norm_write_kv`), then attention over the
    /// cache as `rotaryAttention`.
    public func normedRotaryAttention(
        _ qkv: CUDATensor, layout: QKVLayout, headNorm: HeadNorm<CUDATensor>, rope: CUDATensor, cache: CUDAKVCache, layer: Int,
        batch: CUDABatch, scale: Float, slidingWindow: Int?, logitSoftCap: Float?
    ) -> CUDATensor {
        checkLive(qkv)
        rotate(qkv, layout: layout, rope: rope, batch: batch, into: (cache, layer), headNorm: headNorm)
        return attendCached(
            qkv, layout: layout, cache: cache, layer: layer, batch: batch, scale: scale, slidingWindow: slidingWindow,
            softCap: logitSoftCap)
    }
}
