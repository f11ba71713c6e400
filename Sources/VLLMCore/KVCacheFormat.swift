/// How the paged KV cache stores keys and values (vLLM's `--kv-cache-dtype`).
public enum KVCacheDType: String, Sendable, CaseIterable {
    /// The backend's own element type: float32 on the CPU, the compute dtype on CUDA.
    case auto
    /// float8 e4m3 codes, one byte per element, with one key and one value scale per layer:
    /// written as `e4m3(x / scale)` (round to nearest even, saturating at ±448), read as `code · scale`.
    case fp8

    /// Reads a `--kv-cache-dtype` value: `auto`, `fp8` or its alias `fp8_e4m3`. `fp8_e5m2` (which
    /// vLLM also takes) and anything else throw `PlatformError.unsupported` naming the flag.
    public init(flag: String) throws {
        switch flag.lowercased() {
        case "auto": self = .auto
        case "fp8", "fp8_e4m3": self = .fp8
        case "fp8_e5m2":
            throw PlatformError.unsupported(
                field: "kv_cache_dtype",
                detail: "--kv-cache-dtype fp8_e5m2 is not supported: the FP8 KV cache stores e4m3 (use fp8 or fp8_e4m3)")
        default:
            throw PlatformError.unsupported(
                field: "kv_cache_dtype", detail: "--kv-cache-dtype '\(flag)' is not one of auto, fp8, fp8_e4m3")
        }
    }
}

/// The key and value scales of one layer of an FP8 KV cache.
public struct KVCacheScales: Sendable, Equatable {
    /// Keys are stored as `key / self.key`.
    public var key: Float
    /// Values are stored as `value / self.value`.
    public var value: Float

    /// Scales of one layer.
    public init(key: Float, value: Float) {
        self.key = key
        self.value = value
    }

    /// Both scales 1, what vLLM uses when a checkpoint has none.
    public static let one = KVCacheScales(key: 1, value: 1)
}

/// The element type of a paged KV cache and, for FP8, the scales of each layer: a property of the
/// cache (`KVCacheShape.format`), which the backend's write and read paths follow.
public struct KVCacheFormat: Sendable, Equatable {
    /// The element type.
    public var dtype: KVCacheDType
    /// One entry per layer for FP8 (empty: every scale is 1).
    public var scales: [KVCacheScales]
    /// Whether `scales` came from the checkpoint (false: the default 1.0), for logs.
    public var scalesFromCheckpoint: Bool

    /// A format of `dtype` with per-layer `scales`.
    public init(dtype: KVCacheDType, scales: [KVCacheScales] = [], scalesFromCheckpoint: Bool = false) {
        self.dtype = dtype
        self.scales = scales
        self.scalesFromCheckpoint = scalesFromCheckpoint
    }

    /// The backend's own element type, no scales.
    public static let auto = KVCacheFormat(dtype: .auto)

    /// The scales of `layer` (1 and 1 when none were given).
    public func scales(layer: Int) -> KVCacheScales {
        layer < scales.count ? scales[layer] : .one
    }

    /// For logs: "auto", or "fp8 (e4m3), k/v scales from the checkpoint" / "..., scales 1.0".
    public var summary: String {
        switch dtype {
        case .auto: "auto"
        case .fp8: "fp8 (e4m3), " + (scalesFromCheckpoint ? "k/v scales from the checkpoint" : "k/v scales 1.0 (none in the checkpoint)")
        }
    }
}

extension KVCacheFormat {
    /// The format of `dtype` for a model of `numLayers` layers, with FP8 scales read from
    /// `weights` (vLLM's names, see `KVCacheScaleNames`) where the checkpoint has them, else 1.0
    /// as vLLM does. A layer with only one of the two takes it for both (vLLM duplicates it too).
    /// Errors name `path` (the model folder) and the tensor.
    public static func read(
        _ dtype: KVCacheDType, numLayers: Int, from weights: WeightStore?, path: String = "the checkpoint"
    ) throws -> KVCacheFormat {
        guard dtype == .fp8, let weights else { return KVCacheFormat(dtype: dtype) }
        func first(_ names: [String]) throws -> Float? {
            guard let name = names.first(where: weights.contains) else { return nil }
            return try readScale(name, from: weights, path: path)
        }
        var scales: [KVCacheScales] = []
        var found = false
        for layer in 0..<numLayers {
            let names = KVCacheScaleNames(layer: layer)
            let (key, value, shared) = (try first(names.keys), try first(names.values), try first(names.shared))
            found = found || key != nil || value != nil || shared != nil
            let either = key ?? value ?? shared ?? 1
            scales.append(KVCacheScales(key: key ?? shared ?? either, value: value ?? shared ?? either))
        }
        return KVCacheFormat(dtype: dtype, scales: found ? scales : [], scalesFromCheckpoint: found)
    }

    /// The scalar tensor `name` of `weights` (shape `[]` or `[1]`, a float dtype, positive and
    /// finite); anything else, per-head scales included, throws naming the tensor.
    private static func readScale(_ name: String, from weights: WeightStore, path: String) throws -> Float {
        func refuse(_ detail: String) -> ModelLoadError { .invalidConfig(path: path, field: name, detail: detail) }
        let tensor: HostTensor
        do {
            tensor = try weights.tensor(name, shape: [])
        } catch ModelLoadError.wrongShape(_, _, _, let actual) {
            guard actual.reduce(1, *) == 1 else {
                throw refuse("a KV cache scale must be one number per layer; per-head scales (shape \(actual)) are not supported")
            }
            tensor = try weights.tensor(name, shape: actual)
        }
        guard [.float32, .float16, .bfloat16].contains(tensor.dtype) else {
            throw refuse("a KV cache scale must be F32, F16 or BF16, got \(tensor.dtype.safetensorsTag)")
        }
        var value: Float = 0
        tensor.convert(count: 1, to: &value)
        guard value.isFinite, value > 0 else { throw refuse("a KV cache scale must be positive and finite, got \(value)") }
        return value
    }
}

/// The tensor names that may hold one layer's KV cache scales, in the order tried: llm-compressor's
/// current `self_attn.k_scale`, vLLM's remapped `self_attn.attn.k_scale`, compressed-tensors'
/// older `self_attn.k_proj.output_scale`, `self_attn.k_proj.k_scale`, and the deprecated single
/// `self_attn.kv_scale` for both. The layer prefix is `model.layers.N.`, or the language model's
/// of a multimodal checkpoint (`language_model.model.layers.N.`, `model.language_model.layers.N.`).
public struct KVCacheScaleNames: Sendable {
    /// Names of the key scale.
    public let keys: [String]
    /// Names of the value scale.
    public let values: [String]
    /// Names of a scale for both.
    public let shared: [String]

    /// The names of `layer`'s scales under each prefix.
    public init(layer: Int) {
        let prefixes = ["model.layers.", "language_model.model.layers.", "model.language_model.layers."]
        func names(_ suffixes: [String]) -> [String] {
            prefixes.flatMap { prefix in suffixes.map { prefix + "\(layer).self_attn." + $0 } }
        }
        keys = names(["k_scale", "attn.k_scale", "k_proj.output_scale", "k_proj.k_scale"])
        values = names(["v_scale", "attn.v_scale", "v_proj.output_scale", "v_proj.v_scale"])
        shared = names(["kv_scale", "attn.kv_scale"])
    }
}
