/// A metadata value of a GGUF file.
public enum GGUFValue: Sendable, Equatable {
    /// A signed integer of any width.
    case int(Int64)
    /// An unsigned integer of any width.
    case uint(UInt64)
    /// A float32 or float64.
    case float(Double)
    /// A bool.
    case bool(Bool)
    /// A UTF-8 string.
    case string(String)
    /// An array of values of one type.
    case array([GGUFValue])

    /// The value as an integer, when it is one (of any width or signedness).
    public var int: Int? {
        switch self {
        case .int(let v): Int(exactly: v)
        case .uint(let v): Int(exactly: v)
        default: nil
        }
    }

    /// The value as a number, when it is one.
    public var double: Double? {
        switch self {
        case .float(let v): v
        case .int(let v): Double(v)
        case .uint(let v): Double(v)
        default: nil
        }
    }

    /// The value as a string, when it is one.
    public var string: String? {
        if case .string(let v) = self { return v }
        return nil
    }

    /// The value as a bool, when it is one.
    public var bool: Bool? {
        if case .bool(let v) = self { return v }
        return nil
    }

    /// The elements of an array.
    public var array: [GGUFValue]? {
        if case .array(let v) = self { return v }
        return nil
    }
}

/// Where a tensor lies in a GGUF file and how it is stored.
public struct GGUFTensorInfo: Sendable {
    /// The tensor's name in the file (llama.cpp's names: `blk.0.attn_q.weight`).
    public let name: String
    /// ggml's dimensions, innermost first: a `[out, in]` matrix has `dimensions == [in, out]`.
    public let dimensions: [Int]
    /// The element type.
    public let type: GGMLType
    /// The byte offset of the first block in the file.
    public let offset: Int

    /// Row-major shape, outermost first (the order of Hugging Face tensors).
    public var shape: [Int] { dimensions.reversed() }
    /// Number of values.
    public var count: Int { dimensions.reduce(1, *) }
    /// Bytes of the tensor's data.
    public var byteCount: Int { type.rowBytes(dimensions[0]) * (count / max(1, dimensions[0])) }
}

/// One GGUF file (version 2 or 3, little-endian), memory-mapped: its metadata and the tensors it
/// holds, checked against the file's size when it is opened. Every error names the file.
public final class GGUFFile: @unchecked Sendable {
    /// The path of the file.
    public let path: String
    /// The format version (2 or 3).
    public let version: Int
    /// Metadata key-value pairs.
    public let metadata: [String: GGUFValue]
    /// The tensors, in file order.
    public let tensors: [GGUFTensorInfo]
    let file: MappedFile

    /// Opens and validates `path`.
    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        var reader = GGUFReader(file: file)
        let magic = try reader.read(UInt32.self, "the magic number")
        guard magic == 0x4655_4747 else {  // "GGUF" read little-endian
            throw reader.error("not a GGUF file (the file does not start with 'GGUF')")
        }
        let rawVersion = try reader.read(UInt32.self, "the version")
        guard rawVersion == 2 || rawVersion == 3 else {
            let swapped = rawVersion.byteSwapped == 2 || rawVersion.byteSwapped == 3
            throw reader.error(
                swapped
                    ? "a big-endian GGUF file; only little-endian files are supported"
                    : "GGUF version \(rawVersion) is not supported (2 and 3 are)")
        }
        version = Int(rawVersion)
        let tensorCount = try reader.count("the tensor count", elementBytes: 8)
        let keyCount = try reader.count("the metadata count", elementBytes: 12)
        var metadata: [String: GGUFValue] = [:]
        for _ in 0..<keyCount {
            let key = try reader.string("a metadata key")
            let type = try reader.read(UInt32.self, "the type of metadata '\(key)'")
            metadata[key] = try reader.value(type: type, key: key)
        }
        self.metadata = metadata
        var infos: [(name: String, dimensions: [Int], type: UInt32, offset: UInt64)] = []
        for index in 0..<tensorCount {
            let name = try reader.string("the name of tensor \(index)")
            let rank = try reader.read(UInt32.self, "the rank of tensor '\(name)'")
            guard (1...4).contains(rank) else { throw reader.error("tensor '\(name)' has \(rank) dimensions (1 to 4 allowed)") }
            var dimensions: [Int] = []
            var values = 1
            for _ in 0..<rank {
                let size = try reader.read(UInt64.self, "the shape of tensor '\(name)'")
                guard size > 0, size < 1 << 40 else { throw reader.error("tensor '\(name)' has a dimension of \(size)") }
                dimensions.append(Int(size))
                // No ggml type packs a value in under a bit: a count past 8 per byte of the file is
                // corrupt, and bounding it here keeps `count` and `byteCount` from overflowing.
                let (product, overflow) = values.multipliedReportingOverflow(by: Int(size))
                values = product
                guard !overflow, values <= file.count * 8 else {
                    throw reader.error("tensor '\(name)' has dimensions \(dimensions), more values than the file can hold")
                }
            }
            let type = try reader.read(UInt32.self, "the type of tensor '\(name)'")
            let offset = try reader.read(UInt64.self, "the offset of tensor '\(name)'")
            infos.append((name, dimensions, type, offset))
        }
        // A value that `int` cannot read (a uint64 past Int.max, a string) is an error, not the default.
        var alignment = 32
        if let value = metadata["general.alignment"] {
            guard let a = value.int, a > 0, a & (a - 1) == 0 else {
                throw reader.error("general.alignment is \(value), not a power of two")
            }
            alignment = a
        }
        let dataStart = (reader.position + alignment - 1) / alignment * alignment
        tensors = try infos.map { info in
            try Self.check(info, dataStart: dataStart, alignment: alignment, reader: reader)
        }
    }

    private static func check(
        _ info: (name: String, dimensions: [Int], type: UInt32, offset: UInt64), dataStart: Int, alignment: Int,
        reader: GGUFReader
    ) throws -> GGUFTensorInfo {
        guard let type = GGMLType(rawValue: info.type) else {
            let supported = GGMLType.allCases.map(\.description).joined(separator: ", ")
            throw reader.error("tensor '\(info.name)' has type \(GGMLType.name(of: info.type)), which is not supported (\(supported))")
        }
        guard info.dimensions[0] % type.blockSize == 0 else {
            throw reader.error(
                "tensor '\(info.name)' has rows of \(info.dimensions[0]) values, not a multiple of the \(type) block size \(type.blockSize)"
            )
        }
        guard info.offset % UInt64(alignment) == 0, info.offset < UInt64(reader.file.count) else {
            throw reader.error("tensor '\(info.name)' has offset \(info.offset), not aligned to \(alignment) or past the end")
        }
        let tensor = GGUFTensorInfo(name: info.name, dimensions: info.dimensions, type: type, offset: dataStart + Int(info.offset))
        guard tensor.offset + tensor.byteCount <= reader.file.count else {
            throw reader.error(
                "tensor '\(info.name)' ends at byte \(tensor.offset + tensor.byteCount) but the file has \(reader.file.count) bytes (truncated)"
            )
        }
        return tensor
    }

    /// The bytes of `tensor` in the mapping.
    public func data(_ tensor: GGUFTensorInfo) -> UnsafeRawPointer { file.bytes + tensor.offset }

    /// The mapping, which keeps the bytes of `data(_:)` alive.
    public var owner: AnyObject { file }
}

/// Reads the header of a GGUF file front to back, with bounds checks that name what was being read.
struct GGUFReader {
    let file: MappedFile
    var position = 0

    func error(_ detail: String) -> ModelLoadError { .invalidGGUF(path: file.path, detail: detail) }

    mutating func read<T: FixedWidthInteger>(_ type: T.Type, _ what: String) throws -> T {
        let size = MemoryLayout<T>.size
        guard position + size <= file.count else {
            throw error("the file ends at byte \(file.count) while reading \(what) (truncated)")
        }
        defer { position += size }
        return T(littleEndian: file.bytes.loadUnaligned(fromByteOffset: position, as: T.self))
    }

    /// A count of items that each take at least `elementBytes` bytes: larger than the rest of the
    /// file can hold means a corrupt file, found before any allocation.
    mutating func count(_ what: String, elementBytes: Int) throws -> Int {
        let n = try read(UInt64.self, what)
        guard n <= UInt64(file.count - position) / UInt64(elementBytes) else {
            throw error("\(what) is \(n), more than the \(file.count) bytes of the file can hold (corrupt or truncated)")
        }
        return Int(n)
    }

    mutating func string(_ what: String) throws -> String {
        let length = try count("the length of \(what)", elementBytes: 1)
        defer { position += length }
        return String(decoding: UnsafeRawBufferPointer(start: file.bytes + position, count: length), as: UTF8.self)
    }

    mutating func value(type: UInt32, key: String) throws -> GGUFValue {
        let what = "the value of '\(key)'"
        switch type {
        case 0: return .uint(UInt64(try read(UInt8.self, what)))
        case 1: return .int(Int64(try read(Int8.self, what)))
        case 2: return .uint(UInt64(try read(UInt16.self, what)))
        case 3: return .int(Int64(try read(Int16.self, what)))
        case 4: return .uint(UInt64(try read(UInt32.self, what)))
        case 5: return .int(Int64(try read(Int32.self, what)))
        case 6: return .float(Double(Float(bitPattern: try read(UInt32.self, what))))
        case 7:
            let byte = try read(UInt8.self, what)
            guard byte <= 1 else { throw error("'\(key)' is a bool stored as \(byte)") }
            return .bool(byte == 1)
        case 8: return .string(try string(what))
        case 9:
            let elementType = try read(UInt32.self, "the element type of '\(key)'")
            guard elementType != 9 else { throw error("'\(key)' is an array of arrays, which GGUF readers do not support") }
            let n = try count("the length of '\(key)'", elementBytes: Self.smallestSize(of: elementType))
            var elements: [GGUFValue] = []
            // Capped: each element is read (and bounds-checked) before it is stored, so a corrupt
            // length fails at the end of the file instead of reserving gigabytes up front.
            elements.reserveCapacity(min(n, 1 << 16))
            for _ in 0..<n { elements.append(try value(type: elementType, key: key)) }
            return .array(elements)
        case 10: return .uint(try read(UInt64.self, what))
        case 11: return .int(try read(Int64.self, what))
        case 12: return .float(Double(bitPattern: try read(UInt64.self, what)))
        default: throw error("'\(key)' has value type \(type), which is not a GGUF type (0 to 12)")
        }
    }

    /// The fewest bytes a value of GGUF type `type` takes in the file (a string: its 8-byte length).
    static func smallestSize(of type: UInt32) -> Int {
        switch type {
        case 0, 1, 7: 1
        case 2, 3: 2
        case 4, 5, 6: 4
        default: 8
        }
    }
}
