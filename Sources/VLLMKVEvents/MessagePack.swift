/// A MessagePack value and its encoding: what KV cache event batches are written in.
enum MessagePack {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case array([MessagePack])
    /// Keys in order (msgspec writes a struct's tag first, then its fields as declared).
    case map([(String, MessagePack)])

    /// The encoded bytes, each value in its shortest form.
    var encoded: [UInt8] {
        var out: [UInt8] = []
        encode(into: &out)
        return out
    }

    private func encode(into out: inout [UInt8]) {
        func bigEndian<T: FixedWidthInteger>(_ value: T) {
            withUnsafeBytes(of: value.bigEndian) { out += $0 }
        }
        switch self {
        case .null: out.append(0xC0)
        case .bool(let b): out.append(b ? 0xC3 : 0xC2)
        case .uint(let v):
            switch v {
            case 0..<0x80: out.append(UInt8(v))
            case 0x80..<0x100: out += [0xCC, UInt8(v)]
            case 0x100..<0x1_0000: out.append(0xCD); bigEndian(UInt16(v))
            case 0x1_0000..<0x1_0000_0000: out.append(0xCE); bigEndian(UInt32(v))
            default: out.append(0xCF); bigEndian(v)
            }
        case .int(let v):
            if v >= 0 { return MessagePack.uint(UInt64(v)).encode(into: &out) }
            switch v {
            case -32..<0: out.append(UInt8(bitPattern: Int8(v)))
            case -0x80..<(-32): out.append(0xD0); bigEndian(Int8(v))
            case -0x8000..<(-0x80): out.append(0xD1); bigEndian(Int16(v))
            case -0x8000_0000..<(-0x8000): out.append(0xD2); bigEndian(Int32(v))
            default: out.append(0xD3); bigEndian(v)
            }
        case .double(let v): out.append(0xCB); bigEndian(v.bitPattern)
        case .string(let s):
            let bytes = Array(s.utf8)
            switch bytes.count {
            case 0..<32: out.append(0xA0 | UInt8(bytes.count))
            case 32..<0x100: out += [0xD9, UInt8(bytes.count)]
            case 0x100..<0x1_0000: out.append(0xDA); bigEndian(UInt16(bytes.count))
            default: out.append(0xDB); bigEndian(UInt32(bytes.count))
            }
            out += bytes
        case .array(let items):
            switch items.count {
            case 0..<16: out.append(0x90 | UInt8(items.count))
            case 16..<0x1_0000: out.append(0xDC); bigEndian(UInt16(items.count))
            default: out.append(0xDD); bigEndian(UInt32(items.count))
            }
            for item in items { item.encode(into: &out) }
        case .map(let pairs):
            switch pairs.count {
            case 0..<16: out.append(0x80 | UInt8(pairs.count))
            case 16..<0x1_0000: out.append(0xDE); bigEndian(UInt16(pairs.count))
            default: out.append(0xDF); bigEndian(UInt32(pairs.count))
            }
            for (key, value) in pairs {
                MessagePack.string(key).encode(into: &out)
                value.encode(into: &out)
            }
        }
    }
}
