/// The element types that model files store and backends compute with.
public enum DType: String, Sendable, CaseIterable {
    case float32
    case float16
    case bfloat16
    /// 8-bit float, 4 exponent and 3 mantissa bits, no infinities (`float8_e4m3fn`): FP8 weights.
    case float8E4M3
    /// 32-bit integers: packed 4- and 8-bit weights, zero points and group indices.
    case int32
    /// 64-bit integers (compressed-tensors' `weight_shape`).
    case int64
    /// Raw bytes: the blocks of a quantized weight (`WeightFormat.ggml`), which no operation
    /// computes with directly.
    case uint8

    /// The size of one element in bytes.
    public var byteSize: Int {
        switch self {
        case .float32, .int32: 4
        case .float16, .bfloat16: 2
        case .float8E4M3: 1
        case .int64: 8
        case .uint8: 1
        }
    }

    /// The safetensors dtype tag.
    public var safetensorsTag: String {
        switch self {
        case .float32: "F32"
        case .float16: "F16"
        case .bfloat16: "BF16"
        case .float8E4M3: "F8_E4M3"
        case .int32: "I32"
        case .int64: "I64"
        case .uint8: "U8"
        }
    }

    /// Reads a safetensors dtype tag ("F32", "F16", "BF16", "F8_E4M3", "I32", "I64"); nil for tags we do not load.
    public init?(safetensorsTag tag: String) {
        guard let match = DType.allCases.first(where: { $0.safetensorsTag == tag }) else { return nil }
        self = match
    }

    /// Reads a `torch_dtype` / `dtype` value of config.json ("float32", "bfloat16", "float16", "half"...).
    public init?(configName name: String) {
        switch name.lowercased() {
        case "float32", "float", "fp32": self = .float32
        case "float16", "half", "fp16": self = .float16
        case "bfloat16", "bf16": self = .bfloat16
        default: return nil
        }
    }
}

/// Conversions between the 16-bit float formats and Float, done on bit patterns so that they are exact
/// and identical on every platform.
public enum FloatBits {
    /// bfloat16 is the upper half of a float32.
    @inline(__always)
    public static func bfloat16ToFloat(_ bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// Round-to-nearest-even, as PyTorch does when it casts float32 to bfloat16.
    @inline(__always)
    public static func floatToBFloat16(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(bits >> 16) | 0x40 }
        let rounding = ((bits >> 16) & 1) + 0x7FFF
        return UInt16((bits &+ rounding) >> 16)
    }

    /// IEEE half precision to float32, subnormals included.
    @inline(__always)
    public static func float16ToFloat(_ bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = Int((bits >> 10) & 0x1F)
        let mantissa = UInt32(bits & 0x3FF)
        if exponent == 0x1F {
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        }
        if exponent == 0 {
            let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
            return sign == 0 ? magnitude : -magnitude
        }
        return Float(bitPattern: sign | (UInt32(exponent + 112) << 23) | (mantissa << 13))
    }
}

extension FloatBits {
    /// float8 e4m3fn to float32: bias 7, subnormals below exponent 1, 0x7F and 0xFF are NaN.
    @inline(__always)
    public static func float8E4M3ToFloat(_ bits: UInt8) -> Float {
        let exponent = Int((bits >> 3) & 0xF)
        let mantissa = Float(bits & 0x7)
        let magnitude: Float =
            if exponent == 0xF && bits & 0x7 == 0x7 { .nan } else if exponent == 0 { mantissa * 0x1p-9 } else {
                (1 + mantissa / 8) * Float(sign: .plus, exponent: exponent - 7, significand: 1)
            }
        return bits & 0x80 == 0 ? magnitude : -magnitude
    }

    /// All 256 float8 e4m3fn values, for table lookups in kernels.
    public static let float8E4M3Table: [Float] = (0..<256).map { float8E4M3ToFloat(UInt8($0)) }

    /// float32 to float8 e4m3fn, rounding to nearest even and saturating at ±448 (PyTorch's cast
    /// after clamping to the finite range, as FP8 quantizers do).
    public static func floatToFloat8E4M3(_ value: Float) -> UInt8 {
        let sign: UInt8 = value.sign == .minus ? 0x80 : 0
        let magnitude = min(abs(value), 448)
        if magnitude.isNaN { return 0x7F }
        // The spacing of representable values: 2^(e-3) for normals, 2^-9 for subnormals.
        let exponent = max(Int(magnitude.exponent), -6)
        let step = Float(sign: .plus, exponent: exponent - 3, significand: 1)
        let rounded = (magnitude / step).rounded(.toNearestOrEven) * step
        if rounded < 0x1p-6 { return sign | UInt8(rounded * 0x1p9) }
        let mantissa = Int(rounded.significand * 8) - 8
        return sign | UInt8((Int(rounded.exponent) + 7) << 3 | mantissa)
    }
}
