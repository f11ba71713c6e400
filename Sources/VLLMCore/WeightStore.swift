import Foundation

/// Where a model's weights come from: the safetensors files of a folder, or random values.
public protocol WeightStore: Sendable {
    /// Tensor `name`, checked to have `shape`.
    func tensor(_ name: String, shape: [Int]) throws -> HostTensor
    /// Whether `name` exists (e.g. `lm_head.weight` in a tied model).
    func contains(_ name: String) -> Bool
    /// The weight of the linear layer `prefix` (`prefix.weight`, `[out, in]` when dense) in the
    /// format the checkpoint stores it; a store of quantized weights returns its own format.
    func linear(_ prefix: String, out: Int, in inFeatures: Int) throws -> HostLinearWeight
    /// The token embeddings `[vocabSize, hidden]` as a linear weight in the block format they are
    /// stored in, for a tied LM head that multiplies them as stored; nil where they are plain
    /// floats (the model then reuses its embedding tensor).
    func quantizedEmbeddings(vocabSize: Int, hidden: Int) throws -> HostLinearWeight?
    /// The file that holds tensor `name`, for error messages; nil where there is none to name.
    func file(of name: String) -> String?
}

extension WeightStore {
    /// Plain float embeddings: checkpoints other than GGUF files store them so.
    public func quantizedEmbeddings(vocabSize: Int, hidden: Int) throws -> HostLinearWeight? { nil }
    /// No file to name (random and derived stores).
    public func file(of name: String) -> String? { nil }
}

/// The weights of a Hugging Face folder: one `model.safetensors`, or shards listed by
/// `model.safetensors.index.json`.
public final class SafetensorsWeights: WeightStore, @unchecked Sendable {
    private let files: [SafetensorsFile]
    private let fileOfTensor: [String: SafetensorsFile]
    private let folder: String

    /// Opens the weight files of `folder`, memory-mapped.
    public init(folder: String) throws {
        self.folder = folder
        let single = folder + "/model.safetensors"
        let index = folder + "/model.safetensors.index.json"
        if FileManager.default.fileExists(atPath: index) {
            let json = try readJSONObject(path: index)
            guard let map = json["weight_map"] as? [String: String] else {
                throw ModelLoadError.invalidJSON(path: index, detail: "no 'weight_map' object")
            }
            var opened: [String: SafetensorsFile] = [:]
            for name in Set(map.values).sorted() {
                opened[name] = try SafetensorsFile(path: folder + "/" + name)
            }
            files = opened.keys.sorted().map { opened[$0]! }
            var owner: [String: SafetensorsFile] = [:]
            for (tensor, fileName) in map {
                let file = opened[fileName]!
                guard file.contains(tensor) else { throw ModelLoadError.missingTensor(name: tensor, path: file.path) }
                owner[tensor] = file
            }
            fileOfTensor = owner
        } else if FileManager.default.fileExists(atPath: single) {
            let file = try SafetensorsFile(path: single)
            files = [file]
            fileOfTensor = Dictionary(uniqueKeysWithValues: file.tensorNames.map { ($0, file) })
        } else {
            throw ModelLoadError.missingFile(path: single + " (or model.safetensors.index.json)")
        }
    }

    /// Whether any of the folder's files holds tensor `name`.
    public func contains(_ name: String) -> Bool { fileOfTensor[name] != nil }

    /// The shard that holds `name`.
    public func file(of name: String) -> String? { fileOfTensor[name]?.path }

    /// Reads tensor `name` from its file. Throws `ModelLoadError.missingTensor` when no file has it and `.wrongShape` when its shape is not
    /// `shape`.
    public func tensor(_ name: String, shape: [Int]) throws -> HostTensor {
        guard let file = fileOfTensor[name] else {
            throw ModelLoadError.missingTensor(
                name: name, path: files.count == 1 ? files[0].path : folder + "/model.safetensors.index.json")
        }
        let tensor = try file.tensor(name)
        guard tensor.shape == shape else {
            throw ModelLoadError.wrongShape(name: name, path: file.path, expected: shape, actual: tensor.shape)
        }
        return tensor
    }
}

/// Random weights made from the shapes alone (`--load-format dummy`), for benchmarks at real shapes.
/// Values are uniform in ±`scale`, like vLLM's dummy loader; norms get 1 so activations stay bounded.
public struct DummyWeights: WeightStore {
    /// The dtype of the tensors made: `.bfloat16`, or float32 for any other.
    public let dtype: DType
    /// Mixed with each tensor's name, so that every tensor gets its own values.
    public let seed: UInt64
    /// Values are drawn from [-scale, scale].
    public let scale: Float

    /// Random weights of `dtype` (default bfloat16) with values in ±`scale` (default 0.02).
    public init(dtype: DType = .bfloat16, seed: UInt64 = 0, scale: Float = 0.02) {
        self.dtype = dtype
        self.seed = seed
        self.scale = scale
    }

    /// Always true: every name gets random values.
    public func contains(_ name: String) -> Bool { true }

    /// Random values of `shape` for tensor `name`, the same for the same seed and name; 1 for norm weights. Never throws.
    public func tensor(_ name: String, shape: [Int]) throws -> HostTensor {
        let count = shape.reduce(1, *)
        var state = seed ^ UInt64(truncatingIfNeeded: name.hashValueStable)
        let isNorm = name.hasSuffix("norm.weight")
        var values = [Float](repeating: 1, count: count)
        if !isNorm {
            for i in 0..<count { values[i] = (Float(splitMix(&state) >> 40) / Float(1 << 24) * 2 - 1) * scale }
        }
        if dtype == .float32 { return HostTensor(shape: shape, values: values) }
        let bits = values.map(FloatBits.floatToBFloat16)
        return dtype == .bfloat16
            ? HostTensor(shape: shape, dtype: .bfloat16, bits: bits)
            : HostTensor(shape: shape, values: values)
    }
}

/// A 64-bit mixing step (SplitMix64): fast, seedable, good enough for random weights and tests.
@inline(__always)
public func splitMix(_ state: inout UInt64) -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    return SamplingMath.mix(state)
}

/// A small seedable random generator (SplitMix64): one per seeded request, so that its draws do
/// not depend on what else is in the batch; also used for reproducible datasets and weights.
public struct SplitMixRandom: RandomNumberGenerator, Sendable {
    /// The generator's state; the next draw advances it.
    public var state: UInt64
    /// A generator whose sequence is fixed by `seed`.
    public init(seed: UInt64) { state = seed }
    /// The next 64 random bits.
    public mutating func next() -> UInt64 { splitMix(&state) }
}

extension String {
    /// A hash that is the same in every process (Swift's `hashValue` is seeded per run).
    var hashValueStable: UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        return hash
    }
}
