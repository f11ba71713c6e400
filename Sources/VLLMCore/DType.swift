/// The element types that model files store and backends compute with.
public enum DType: String, Sendable, CaseIterable {
    case float32
    case float16
    case bfloat16
    /// Raw bytes: the blocks of a quantized weight (`WeightFormat.ggml`), which no operation
    /// computes with directly.
    case uint8

    /// The size of one element in bytes.
    public var byteSize: Int {
        switch self {
        case .float32: 4
        case .float16, .bfloat16: 2
        case .uint8: 1
        }
    }

    /// Reads a safetensors dtype tag ("F32", "F16", "BF16"); nil for tags we do not load.
    public init?(safetensorsTag tag: String) {
        switch tag {
        case "F32": self = .float32
        case "F16": self = .float16
        case "BF16": self = .bfloat16
        default: return nil
        }
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
