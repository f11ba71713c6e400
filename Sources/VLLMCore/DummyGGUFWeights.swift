/// Random weights in llama.cpp's Q4_K_M layout (`--load-format dummy --quantization gguf`), so that
/// benchmarks run the GGUF block kernels at a real model's shape without a file. Each linear layer
/// is given the block type llama.cpp's Q4_K_M recipe gives its tensor: Q6_K for the output layer
/// and for the v and down projections of the layers `usesMoreBits` picks (about half), Q4_K for
/// the rest; rows that are not whole K-quant blocks take llama.cpp's fallbacks (Q5_0 for Q4_K,
/// Q8_0 for Q6_K). Blocks are random bytes with scales that keep the values about as small as
/// `DummyWeights`'. Other tensors (norms, embeddings) come from the dense dummy store.
public struct DummyGGUFWeights: WeightStore {
    /// Norms and embeddings (a dense dummy store).
    public let base: any WeightStore
    /// Decoder layers of the model (the recipe picks layers by their place among them).
    public let layers: Int
    /// Seeds the random blocks (with each layer's name).
    public let seed: UInt64
    /// About the largest magnitude of a decoded weight.
    public let scale: Float

    /// Random Q4_K_M linear layers for a model of `layers` decoder layers; other tensors from `base`.
    public init(base: any WeightStore, layers: Int, seed: UInt64 = 0, scale: Float = 0.02) {
        self.base = base
        self.layers = layers
        self.seed = seed
        self.scale = scale
    }

    /// A tensor of the dense store (norms, embeddings).
    public func tensor(_ name: String, shape: [Int]) throws -> HostTensor { try base.tensor(name, shape: shape) }

    /// Whether the dense store holds `name`.
    public func contains(_ name: String) -> Bool { base.contains(name) }

    /// Random blocks of the Q4_K_M type of `prefix`; a dense layer where rows are not whole blocks of any fallback.
    public func linear(_ prefix: String, out: Int, in inFeatures: Int) throws -> HostLinearWeight {
        var type = Self.q4KMType(prefix, layers: layers)
        if inFeatures % type.blockSize != 0 { type = type == .q6_K ? .q8_0 : .q5_0 }
        guard inFeatures % type.blockSize == 0 else { return try base.linear(prefix, out: out, in: inFeatures) }
        var state = seed ^ UInt64(truncatingIfNeeded: prefix.hashValueStable)
        let rowBytes = type.rowBytes(inFeatures)
        let buffer = OwnedBuffer(byteCount: out * rowBytes + 8)
        let words = buffer.pointer.bindMemory(to: UInt64.self, capacity: (out * rowBytes + 7) / 8)
        for i in 0..<((out * rowBytes + 7) / 8) { words[i] = splitMix(&state) }
        // The float16 scales of every block, set so that |value| stays within about `scale`.
        let (offsets, d) = Self.scaleFields(type, scale: scale)
        let bits = Float16(d).bitPattern
        for block in 0..<(out * rowBytes / type.blockBytes) {
            for offset in offsets { (buffer.pointer + block * type.blockBytes + offset).storeBytes(of: bits, as: UInt16.self) }
        }
        let blocks = HostTensor(dtype: .uint8, shape: [out, rowBytes], bytes: UnsafeRawPointer(buffer.pointer), owner: buffer)
        return HostLinearWeight(format: .ggml(type), outFeatures: out, inFeatures: inFeatures, tensors: [blocks])
    }

    /// The block type of Q4_K_M for the linear layer `prefix` (a Hugging Face name).
    public static func q4KMType(_ prefix: String, layers: Int) -> GGMLType {
        if prefix == "lm_head" { return .q6_K }
        let parts = prefix.split(separator: ".")
        guard parts.count >= 4, let layer = Int(parts[2]) else { return .q4_K }
        let projection = parts[3...].joined(separator: ".")
        if projection == "self_attn.v_proj" || projection == "mlp.down_proj" {
            return usesMoreBits(layer, of: layers) ? .q6_K : .q4_K
        }
        return .q4_K
    }

    /// llama.cpp's choice of the layers that get more bits: the first and last eighth, and every
    /// third layer between them.
    public static func usesMoreBits(_ layer: Int, of layers: Int) -> Bool {
        layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2
    }

    /// The byte offsets of a block's float16 scales and the value they get: with random codes,
    /// decoded values stay within about ±`scale`.
    static func scaleFields(_ type: GGMLType, scale: Float) -> (offsets: [Int], value: Float) {
        switch type {
        // (d·sc)·q − dmin·m, sc and m up to 63, q up to 15: d and dmin alike.
        case .q4_K, .q5_K: ([0, 2], scale / (63 * 15))
        // (d·sc)·(q − 32), sc a signed byte.
        case .q6_K: ([208], scale / (128 * 32))
        case .q4_0: ([0], scale / 8)
        case .q4_1: ([0, 2], scale / 16)
        case .q5_0: ([0], scale / 16)
        case .q5_1: ([0, 2], scale / 32)
        case .q8_0: ([0], scale / 128)
        case .f32, .f16, .bf16: ([], 0)
        }
    }
}
