/// GPT-2's reversible mapping of the 256 byte values onto printable Unicode characters.
///
/// Byte-level BPE vocabularies are written in this alphabet; printable Latin-1 bytes map to
/// themselves and the rest to U+0100 and up, so that no token contains whitespace or controls.
enum ByteLevelAlphabet {
    /// Scalar value of the character that stands for each byte.
    static let byteToScalar: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var n: UInt32 = 0
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                table[b] = UInt32(b)
            } else {
                table[b] = 256 + n
                n += 1
            }
        }
        return table
    }()

    /// Inverse of `byteToScalar`, indexed by scalar value (all of them are below 0x144); -1 for
    /// scalars outside the alphabet.
    static let scalarToByte: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for b in 0..<256 { table[Int(byteToScalar[b])] = Int16(b) }
        return table
    }()

    /// UTF-8 encoding of the character of each byte, to map whole words without lookups.
    static let byteToUTF8: [[UInt8]] = byteToScalar.map { v in
        var out: [UInt8] = []
        UnicodeSupport.appendUTF8(v, to: &out)
        return out
    }

    static func encode(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(contentsOf: byteToUTF8[Int(b)]) }
        return out
    }

    /// Maps a token back to bytes, or nil when it contains a character outside the alphabet
    /// (added tokens such as `<|im_start|>` fall back to their own UTF-8 then).
    static func decode(_ token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.utf8.count)
        for s in token.unicodeScalars {
            let v = Int(s.value)
            guard v < scalarToByte.count, scalarToByte[v] >= 0 else { return nil }
            out.append(UInt8(scalarToByte[v]))
        }
        return out
    }
}
