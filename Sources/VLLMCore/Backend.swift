/// How q, k and v lie side by side in the fused output of the qkv projection: per token,
/// `numHeads * headDim` query values, then `numKVHeads * headDim` keys, then as many values.
public struct QKVLayout: Sendable, Equatable {
    /// Query heads.
    public var numHeads: Int
    /// Key and value heads (fewer than `numHeads` with grouped-query attention).
    public var numKVHeads: Int
    /// Values per head.
    public var headDim: Int

    /// A layout of `numHeads` query heads and `numKVHeads` key and value heads of `headDim` values each.
    public init(numHeads: Int, numKVHeads: Int, headDim: Int) {
        self.numHeads = numHeads
        self.numKVHeads = numKVHeads
        self.headDim = headDim
    }

    /// Values per token: q, k and v together.
    public var width: Int { (numHeads + 2 * numKVHeads) * headDim }
    /// Offset of the keys in a token's row.
    public var keyOffset: Int { numHeads * headDim }
    /// Offset of the values in a token's row.
    public var valueOffset: Int { (numHeads + numKVHeads) * headDim }
}

/// The per-head RMSNorm weights of q and k (Qwen3's and Gemma 3's `q_norm` and `k_norm`), as
/// `Backend.headRMSNorm` takes them.
public struct HeadNorm<Tensor> {
    /// The weight of every query head, `[headDim]`.
    public var q: Tensor
    /// The weight of every key head, `[headDim]`.
    public var k: Tensor
    /// The norm's epsilon.
    public var eps: Float

    /// Weights and epsilon as the checkpoint gives them.
    public init(q: Tensor, k: Tensor, eps: Float) {
        (self.q, self.k, self.eps) = (q, k, eps)
    }
}

/// The shape of a paged KV cache: every layer has `numBlocks` blocks of `blockSize` tokens; and
/// how it stores them (`format`: the backend's own element type, or FP8 codes with per-layer scales).
public struct KVCacheShape: Sendable, Equatable {
    /// Layers, each with its own blocks.
    public var numLayers: Int
    /// Blocks per layer.
    public var numBlocks: Int
    /// Tokens per block.
    public var blockSize: Int
    /// Key and value heads per token.
    public var numKVHeads: Int
    /// Values per head.
    public var headDim: Int
    /// The element type and scales; a backend sizes, writes and reads the cache by it.
    public var format: KVCacheFormat

    /// A cache shape; `format` defaults to the backend's own element type.
    public init(numLayers: Int, numBlocks: Int, blockSize: Int, numKVHeads: Int, headDim: Int, format: KVCacheFormat = .auto) {
        self.numLayers = numLayers
        self.numBlocks = numBlocks
        self.blockSize = blockSize
        self.numKVHeads = numKVHeads
        self.headDim = headDim
        self.format = format
    }
}

/// The operations that model code is written against. A backend (CPU, CUDA) implements them on its
/// own memory; model code never touches the memory directly. Activations are float32 on the CPU;
/// a backend may keep weights in another dtype.
///
/// Operations that say "in place" change their first argument; the others return new tensors.
public protocol Backend: AnyObject {
    /// A tensor in the backend's memory.
    associatedtype Tensor
    /// A `ForwardBatch` moved to the backend's memory, made once per step.
    associatedtype Batch
    /// The paged key/value cache of all layers.
    associatedtype KVCache

    /// A short name for logs ("cpu", "cuda").
    var name: String { get }
    /// Waits for device code that compiles while the weights load (CUDA's kernels); throws its
    /// compile error. Called once the weights are loaded.
    func waitForKernels() throws
    /// Seconds spent compiling or loading that code, beside the weights (for logs).
    var kernelSeconds: Double { get }

    /// Takes a weight into the backend's memory; several tensors are stacked along their first
    /// dimension (to fuse q, k and v, or gate and up, into one matrix product).
    func weight(_ parts: [HostTensor]) throws -> Tensor
    /// Makes a zeroed KV cache.
    func makeKVCache(_ shape: KVCacheShape) -> KVCache
    /// Bytes that one block of all layers takes.
    func kvCacheBytesPerBlock(_ shape: KVCacheShape) -> Int
    /// The KV cache element types `makeKVCache` takes (`KVCacheShape.format.dtype`); loading a
    /// model with another fails with an error naming the flag and the backend.
    var kvCacheDTypes: [KVCacheDType] { get }
    /// Moves a step's batch description to the backend.
    func prepare(_ batch: ForwardBatch) -> Batch

    /// Rows of `table` for the batch's token ids: `[numTokens, hidden]`.
    func embedding(_ table: Tensor, _ batch: Batch) -> Tensor
    /// `x * rsqrt(mean(x²) + eps) * weight`, row by row.
    func rmsNorm(_ x: Tensor, weight: Tensor, eps: Float) -> Tensor
    /// In place `residual += x`, then returns `rmsNorm(residual)`.
    func addRMSNorm(_ x: Tensor, residual: Tensor, weight: Tensor, eps: Float) -> Tensor
    /// `addRMSNorm(rmsNorm(x, weight: normWeight), residual:, weight:)`: a block's output normed
    /// before it joins the residual stream, then the next norm (Gemma's post-attention and
    /// post-feedforward norms); a backend may do both in one pass.
    func normAddRMSNorm(_ x: Tensor, normWeight: Tensor, residual: Tensor, weight: Tensor, eps: Float) -> Tensor
    /// `x · weightᵀ + bias` for a dense weight of shape `[out, in]`.
    func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor
    /// Takes a linear layer's weight into the backend's memory, kept in its format; several parts
    /// are stacked along the output dimension (q, k and v, or gate and up, in one product). Throws
    /// `ModelLoadError.unsupportedWeightFormat` for a format the backend cannot multiply.
    func linearWeight(_ parts: [HostLinearWeight]) throws -> LinearWeight<Tensor>
    /// `x · weightᵀ + bias` with the weight in its format: the one matrix product models call.
    func linear(_ x: Tensor, _ weight: LinearWeight<Tensor>, bias: Tensor?) -> Tensor
    /// In place: RMSNorm over each head of q (with `qWeight`) and of k (with `kWeight`) in a fused qkv tensor.
    func headRMSNorm(_ qkv: Tensor, layout: QKVLayout, qWeight: Tensor, kWeight: Tensor, eps: Float)
    /// In place: rotary embedding of q and k in a fused qkv tensor; `rope` holds cos and sin per position.
    func rotary(_ qkv: Tensor, layout: QKVLayout, rope: Tensor, batch: Batch)
    /// Writes the batch's keys and values into `cache` layer `layer`, then returns causal attention
    /// of each query over its sequence's cached keys: `[numTokens, numHeads * headDim]`.
    func attention(
        _ qkv: Tensor, layout: QKVLayout, cache: KVCache, layer: Int, batch: Batch, scale: Float, slidingWindow: Int?
    ) -> Tensor
    /// `silu(x[:, :n]) * x[:, n:]` for `x` of width `2n`.
    func siluAndMul(_ x: Tensor) -> Tensor

    // Fused operations: each has a default made of the operations above; a backend overrides one
    // where doing the parts in one pass saves a trip through memory or a kernel launch.

    /// `rotary`, then `attention`; a backend may rotate the keys on their way into the cache.
    func rotaryAttention(
        _ qkv: Tensor, layout: QKVLayout, rope: Tensor, cache: KVCache, layer: Int, batch: Batch, scale: Float,
        slidingWindow: Int?
    ) -> Tensor
    /// `siluAndMul(linear(x, weight: gateUp, bias: nil))` for the gate and up projections stacked
    /// in one weight; a backend may apply the activation as the products come out.
    func swiGLU(_ x: Tensor, gateUp: Tensor) -> Tensor
    /// `swiGLU` with the stacked gate and up weight in its format.
    func swiGLU(_ x: Tensor, gateUp: LinearWeight<Tensor>) -> Tensor
    /// `headRMSNorm`, then `rotaryAttention` (with `logitSoftCap`, the family operation): the q/k
    /// norm of Qwen3 and Gemma 3 before the rotation; a backend may norm and rotate in one pass.
    func normedRotaryAttention(
        _ qkv: Tensor, layout: QKVLayout, headNorm: HeadNorm<Tensor>, rope: Tensor, cache: KVCache, layer: Int, batch: Batch,
        scale: Float, slidingWindow: Int?, logitSoftCap: Float?
    ) -> Tensor
    /// The rows of `x` named by the batch's `logitIndices`.
    func gatherLogitRows(_ x: Tensor, batch: Batch) -> Tensor
    /// Copies a 2-D tensor back to the host as float32, row-major.
    func toHost(_ x: Tensor) -> [Float]

    // Tensor parallelism. A backend of one rank keeps the defaults below.

    /// Rows of `table` for the token ids in `firstTokenID ..< firstTokenID + rows`, zeros for the
    /// others: one rank's part of a vocabulary-parallel embedding (summed over ranks after).
    func embedding(_ table: Tensor, _ batch: Batch, firstTokenID: Int) -> Tensor
    /// In place: the sum of `x` over the ranks of the tensor-parallel group.
    func allReduce(_ x: Tensor)
    /// Every rank's columns of `x`, side by side in rank order (vocabulary-parallel logits).
    func allGatherColumns(_ x: Tensor, totalColumns: Int) -> Tensor

    /// The index of the largest value of each of the `rows` rows of `x` (the first on ties), for
    /// greedy sampling; a backend with device memory copies back one index per row, not the rows.
    func argmaxRows(_ x: Tensor, rows: Int) -> [Int32]
    /// Whether `sampleRows` samples on the device (so that sampling skips copying the logits).
    var samplesOnDevice: Bool { get }
    /// Samples each of the `rows.count` rows of `x` as its row says: ban, bias and penalties, then
    /// the argmax or a draw after temperature, min-p, top-k and top-p, and the raw logprobs.
    func sampleRows(_ x: Tensor, rows: [DeviceSamplingRow]) -> [DeviceSample]
    /// Queues `argmaxRows` (when every row is plain greedy) or `sampleRows` of `x` and returns
    /// without waiting where the device works on its own (async scheduling). Until the next
    /// launch, the backend keeps the sampled tokens where the next step's `embedding` reads the
    /// placeholder ids of `ForwardBatch.placeholder(row:)` from, unless the samples come back ready
    /// (the model then resolves the placeholders on the host). The samples must be waited for
    /// before the launch after next, which may reuse the host memory they come back to.
    func launchSampling(_ x: Tensor, rows: [DeviceSamplingRow]) -> PendingSamples

    // Recorded steps (CUDA graphs). A backend that cannot record keeps the defaults below.

    /// Whether `recorded(_:batch:_:)` records device work and replays it.
    var recordsSteps: Bool { get }
    /// The results of `forward` over `batch`, a prepared uniform step (`ForwardBatch.uniformShape`)
    /// of `step`'s shape: the first call for a key runs `forward` and records its device work;
    /// later calls for the key replay the recording, which reads the new batch's inputs from the
    /// same device addresses, and return the same tensors. The model code must issue the same
    /// operations for every batch of a shape (it does: launch sizes come from the shape alone). A
    /// backend that finds it cannot record a shape runs `forward` for it every time.
    func recorded(_ step: RecordedStep, batch: Batch, _ forward: () -> [Tensor]) -> [Tensor]

    // Mixture of experts (defaults in MixtureOfExperts.swift: routing and grouping on the host).

    /// Takes the experts of one layer into the backend's memory, per expert or stacked (see
    /// `ExpertWeights`), as the backend's `mixtureOfExperts` multiplies them.
    func expertWeights(_ experts: [HostExpert]) throws -> ExpertWeights<Tensor>
    /// A mixture-of-experts block over `x` (`[tokens, hidden]`): the router's softmax and top-k,
    /// the tokens grouped by expert with one SwiGLU product per expert over its tokens, the
    /// results weighted and summed per token in expert order, plus the gated shared expert.
    func mixtureOfExperts(_ x: Tensor, _ block: MixtureOfExpertsBlock<Tensor>) -> Tensor

    // Encoders (BERT; defaults in Models/Bert.swift stop: a backend without them says so in
    // `runsEncoders`, and the model refuses to load).

    /// Whether the backend has the encoder operations below.
    var runsEncoders: Bool { get }
    /// Word + position + token-type-0 embedding of the batch's tokens: `[numTokens, hidden]`.
    func encoderEmbedding(words: Tensor, positions: Tensor, tokenType: Tensor, _ batch: Batch) -> Tensor
    /// LayerNorm of `x + residual` (of `x` without one), row by row, with `weight` and `bias`.
    func layerNorm(_ x: Tensor, residual: Tensor?, weight: Tensor, bias: Tensor, eps: Float) -> Tensor
    /// `x * Φ(x)` (the erf GELU), elementwise.
    func gelu(_ x: Tensor) -> Tensor
    /// Attention of every token over all tokens of its sequence in the step (no mask, no cache):
    /// `[numTokens, numHeads * headDim]`. Each sequence's whole input must be in the step.
    func bidirectionalAttention(_ qkv: Tensor, layout: QKVLayout, batch: Batch, scale: Float) -> Tensor

    // Gemma and Phi-3 families (issue 13). A backend lists those it implements in
    // `familyOperations`; the defaults (at the end of this file) are never reached, because a model
    // checks the list at load (`requireFamilyOperations`).

    /// The family operations this backend implements.
    var familyOperations: FamilyOperations { get }
    /// `gelu_tanh(x[:, :n]) * x[:, n:]` for `x` of width `2n` (GeGLU with `gelu_pytorch_tanh`).
    func geluTanhAndMul(_ x: Tensor) -> Tensor
    /// `geluTanhAndMul(linear(x, weight: gateUp, bias: nil))` for the gate and up projections
    /// stacked in one weight (Gemma's MLP); a backend may apply the activation as the products come out.
    func geluTanhGLU(_ x: Tensor, gateUp: Tensor) -> Tensor
    /// `geluTanhGLU` with the stacked gate and up weight in its format.
    func geluTanhGLU(_ x: Tensor, gateUp: LinearWeight<Tensor>) -> Tensor
    /// In place `x = cap * tanh(x / cap)`.
    func softCap(_ x: Tensor, cap: Float)
    /// In place `x *= factor`; a backend computing in a 16-bit dtype rounds the factor to it first,
    /// as transformers' Gemma makes its embedding normalizer a tensor of the activations' dtype.
    func scale(_ x: Tensor, by factor: Float)
    /// `rotaryAttention` whose scores become `cap * tanh(score / cap)` before the softmax when
    /// `logitSoftCap` is set.
    func rotaryAttention(
        _ qkv: Tensor, layout: QKVLayout, rope: Tensor, cache: KVCache, layer: Int, batch: Batch, scale: Float,
        slidingWindow: Int?, logitSoftCap: Float?
    ) -> Tensor

    // Hidden states passed between models (EAGLE-3 speculative decoding), listed as
    // `FamilyOperations.hiddenStates`.

    /// The 2-D tensors `parts` (equal rows) side by side: `[rows, Σ columns]`; one part gives a copy.
    func concatColumns(_ parts: [Tensor]) -> Tensor
    /// An activation tensor `[rows, columns]` holding `values` (row-major float32 from the host).
    func activation(_ values: [Float], rows: Int, columns: Int) -> Tensor
}

extension Backend {
    /// Default for one rank: the whole vocabulary (`firstTokenID` must be 0; other values trap).
    public func embedding(_ table: Tensor, _ batch: Batch, firstTokenID: Int) -> Tensor {
        precondition(firstTokenID == 0, "\(name): vocabulary-parallel embedding is not supported")
        return embedding(table, batch)
    }

    /// Default for one rank: nothing to sum.
    public func allReduce(_ x: Tensor) {}

    /// Default for one rank: `x` holds all the columns.
    public func allGatherColumns(_ x: Tensor, totalColumns: Int) -> Tensor { x }
}

extension Backend {
    /// Default: `rotary`, then `attention`, as two operations.
    public func rotaryAttention(
        _ qkv: Tensor, layout: QKVLayout, rope: Tensor, cache: KVCache, layer: Int, batch: Batch, scale: Float,
        slidingWindow: Int?
    ) -> Tensor {
        rotary(qkv, layout: layout, rope: rope, batch: batch)
        return attention(qkv, layout: layout, cache: cache, layer: layer, batch: batch, scale: scale, slidingWindow: slidingWindow)
    }

    /// Default: `linear`, then `siluAndMul`, as two operations.
    public func swiGLU(_ x: Tensor, gateUp: Tensor) -> Tensor { siluAndMul(linear(x, weight: gateUp, bias: nil)) }

    /// Default: `headRMSNorm`, then `rotaryAttention`, as two operations.
    public func normedRotaryAttention(
        _ qkv: Tensor, layout: QKVLayout, headNorm: HeadNorm<Tensor>, rope: Tensor, cache: KVCache, layer: Int, batch: Batch,
        scale: Float, slidingWindow: Int?, logitSoftCap: Float?
    ) -> Tensor {
        headRMSNorm(qkv, layout: layout, qWeight: headNorm.q, kWeight: headNorm.k, eps: headNorm.eps)
        return rotaryAttention(
            qkv, layout: layout, rope: rope, cache: cache, layer: layer, batch: batch, scale: scale, slidingWindow: slidingWindow,
            logitSoftCap: logitSoftCap)
    }
}

// Weight formats: a backend of dense weights only keeps these defaults; one that multiplies
// quantized formats overrides all three.
extension Backend {
    /// Default for dense weights only: stacks the parts into one tensor. Throws `ModelLoadError.unsupportedWeightFormat` for any other
    /// format.
    public func linearWeight(_ parts: [HostLinearWeight]) throws -> LinearWeight<Tensor> {
        if let other = parts.first(where: { $0.format != .dense }) {
            throw ModelLoadError.unsupportedWeightFormat(format: other.format, backend: name)
        }
        return LinearWeight(
            format: .dense, outFeatures: parts.reduce(0) { $0 + $1.outFeatures }, inFeatures: parts[0].inFeatures,
            tensors: [try weight(parts.map { $0.tensors[0] })])
    }

    /// Default for dense weights only: the dense `linear`.
    public func linear(_ x: Tensor, _ weight: LinearWeight<Tensor>, bias: Tensor?) -> Tensor {
        switch weight.format {
        case .dense: linear(x, weight: weight.tensors[0], bias: bias)
        // The default linearWeight refuses other formats, so only an overriding backend holds them.
        case .packedInt, .fp8, .lookupTable, .ggml, .stacked:
            preconditionFailure("\(name): no \(weight.format) weights without an overriding linearWeight")
        }
    }

    /// Default for dense weights only: the dense `swiGLU`.
    public func swiGLU(_ x: Tensor, gateUp: LinearWeight<Tensor>) -> Tensor {
        switch gateUp.format {
        case .dense: swiGLU(x, gateUp: gateUp.tensors[0])
        // The default linearWeight refuses other formats, so only an overriding backend holds them.
        case .packedInt, .fp8, .lookupTable, .ggml, .stacked:
            preconditionFailure("\(name): no \(gateUp.format) weights without an overriding linearWeight")
        }
    }
}

extension Backend {
    /// Default: no device code compiles beside the weights.
    public func waitForKernels() throws {}

    /// Default: none.
    public var kernelSeconds: Double { 0 }
}

extension Backend {
    /// Default: only `.auto` (the backend's own element type).
    public var kvCacheDTypes: [KVCacheDType] { [.auto] }

    /// Throws `PlatformError.unsupported` naming `--kv-cache-dtype` unless `dtype` is one of `kvCacheDTypes`.
    public func requireKVCacheDType(_ dtype: KVCacheDType) throws {
        guard kvCacheDTypes.contains(dtype) else {
            let takes = kvCacheDTypes.map(\.rawValue).joined(separator: ", ")
            throw PlatformError.unsupported(
                field: "kv_cache_dtype",
                detail:
                    "--kv-cache-dtype \(dtype.rawValue) is not supported by the \(name) backend (it takes \(takes)); use --kv-cache-dtype auto or --device cpu"
            )
        }
    }
}

extension Backend {
    /// Default: nothing is recorded.
    public var recordsSteps: Bool { false }

    /// Default: runs `forward` every time.
    public func recorded(_ step: RecordedStep, batch: Batch, _ forward: () -> [Tensor]) -> [Tensor] { forward() }
}

extension Backend {
    /// Default: sampling happens on the host.
    public var samplesOnDevice: Bool { false }

    /// Default: copies the logits to the host and samples there (`SamplingMath.sampleRows`).
    public func sampleRows(_ x: Tensor, rows: [DeviceSamplingRow]) -> [DeviceSample] {
        SamplingMath.sampleRows(toHost(x), rows: rows)
    }

    /// Default: samples at once and returns them ready (an argmax when every row is plain greedy).
    public func launchSampling(_ x: Tensor, rows: [DeviceSamplingRow]) -> PendingSamples {
        guard rows.allSatisfy(\.isPlainGreedy) else { return PendingSamples(ready: sampleRows(x, rows: rows)) }
        return PendingSamples(ready: argmaxRows(x, rows: rows.count).map { DeviceSample(token: Int($0)) })
    }

    /// Default: copies the logits to the host and takes each row's argmax there.
    public func argmaxRows(_ x: Tensor, rows: Int) -> [Int32] {
        let values = toHost(x)
        guard rows > 0 else { return [] }
        let n = values.count / rows
        return (0..<rows).map { r in Int32(SamplingMath.argmax(Array(values[(r * n)..<((r + 1) * n)]))) }
    }
}

// MARK: - Gemma and Phi-3 families (issue 13)

/// The operations that the Gemma and Phi-3 families add to the Llama family's, by name, so that a
/// model can refuse at load, with a clear error, a backend that lacks one.
public struct FamilyOperations: OptionSet, Sendable {
    /// The set's bits, one per operation.
    public let rawValue: Int
    /// Creates a set from its bits.
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// `geluTanhAndMul` (and `geluTanhGLU`, made of it by default).
    public static let geluTanh = FamilyOperations(rawValue: 1 << 0)
    /// `softCap` and `scale`.
    public static let elementwise = FamilyOperations(rawValue: 1 << 1)
    /// `rotaryAttention(…, logitSoftCap:)` with a cap.
    public static let attentionSoftCap = FamilyOperations(rawValue: 1 << 2)
    /// `rotary` with a table narrower than the heads (partial rotary).
    public static let partialRotary = FamilyOperations(rawValue: 1 << 3)
    /// `concatColumns` and `activation`: hidden states copied out of one model and into another.
    public static let hiddenStates = FamilyOperations(rawValue: 1 << 4)

    /// The names of the operations in the set, for error messages.
    public var names: [String] {
        [
            (Self.geluTanh, "gelu-tanh-and-mul"), (.elementwise, "soft-cap/scale"), (.attentionSoftCap, "attention logit soft-capping"),
            (.partialRotary, "partial rotary"), (.hiddenStates, "hidden-state concat and upload"),
        ].filter { contains($0.0) }.map(\.1)
    }
}

/// Defaults of the family operations: a backend implements none of them until it lists them in
/// `familyOperations`; models check that list at load, so the traps below mark a model bug.
extension Backend {
    /// Default: none.
    public var familyOperations: FamilyOperations { [] }

    /// Default: traps; a model checks `familyOperations` at load.
    public func geluTanhAndMul(_ x: Tensor) -> Tensor { unsupported(.geluTanh) }

    /// Default: `rmsNorm`, then `addRMSNorm`, as two operations.
    public func normAddRMSNorm(_ x: Tensor, normWeight: Tensor, residual: Tensor, weight: Tensor, eps: Float) -> Tensor {
        addRMSNorm(rmsNorm(x, weight: normWeight, eps: eps), residual: residual, weight: weight, eps: eps)
    }

    /// Default: `linear`, then `geluTanhAndMul`, as two operations.
    public func geluTanhGLU(_ x: Tensor, gateUp: Tensor) -> Tensor { geluTanhAndMul(linear(x, weight: gateUp, bias: nil)) }

    /// Default: the dense `geluTanhGLU`; a weight in another format goes through `linear` in its
    /// format, then `geluTanhAndMul` (no backend fuses the activation into a quantized product).
    public func geluTanhGLU(_ x: Tensor, gateUp: LinearWeight<Tensor>) -> Tensor {
        gateUp.format == .dense ? geluTanhGLU(x, gateUp: gateUp.tensors[0]) : geluTanhAndMul(linear(x, gateUp, bias: nil))
    }

    /// Default: traps; a model checks `familyOperations` at load.
    public func softCap(_ x: Tensor, cap: Float) { unsupported(.elementwise) }

    /// Default: traps; a model checks `familyOperations` at load.
    public func scale(_ x: Tensor, by factor: Float) { unsupported(.elementwise) }

    /// Default: plain `rotaryAttention` when `logitSoftCap` is nil; traps otherwise, since a model checks `familyOperations` at load.
    public func rotaryAttention(
        _ qkv: Tensor, layout: QKVLayout, rope: Tensor, cache: KVCache, layer: Int, batch: Batch, scale: Float,
        slidingWindow: Int?, logitSoftCap: Float?
    ) -> Tensor {
        if logitSoftCap != nil { unsupported(.attentionSoftCap) }
        return rotaryAttention(
            qkv, layout: layout, rope: rope, cache: cache, layer: layer, batch: batch, scale: scale,
            slidingWindow: slidingWindow)
    }

    /// Default: traps; a model checks `familyOperations` at load.
    public func concatColumns(_ parts: [Tensor]) -> Tensor { unsupported(.hiddenStates) }

    /// Default: traps; a model checks `familyOperations` at load.
    public func activation(_ values: [Float], rows: Int, columns: Int) -> Tensor { unsupported(.hiddenStates) }

    private func unsupported(_ operation: FamilyOperations) -> Never {
        preconditionFailure("\(name) backend: \(operation.names) used without requireFamilyOperations at load")
    }

    /// Throws `ModelLoadError.unsupportedOperation` unless the backend implements all of `needed`.
    public func requireFamilyOperations(_ needed: FamilyOperations, model: String) throws {
        let missing = needed.subtracting(familyOperations)
        guard missing.isEmpty else {
            throw ModelLoadError.unsupportedOperation(operations: missing.names, model: model, backend: name)
        }
    }
}
