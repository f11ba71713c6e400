import Foundation

/// One `.safetensors` file, memory-mapped, with its header parsed and checked against the file size.
public final class SafetensorsFile: @unchecked Sendable {
    /// Where a tensor's bytes lie in the file.
    struct Entry {
        let dtype: DType
        let shape: [Int]
        let offset: Int
    }

    /// The path of the file.
    public let path: String
    private let file: MappedFile
    private let entries: [String: Entry]

    /// The names of the tensors in the file.
    public var tensorNames: [String] { Array(entries.keys) }

    /// Opens and validates `path`. A truncated file, a bad header or an unsupported dtype is a
    /// `ModelLoadError` naming the file.
    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        entries = try Self.parseHeader(file)
    }

    private static func parseHeader(_ file: MappedFile) throws -> [String: Entry] {
        let path = file.path
        func fail(_ detail: String) -> ModelLoadError { .invalidSafetensors(path: path, detail: detail) }
        guard file.count >= 8 else { throw fail("file is \(file.count) bytes, shorter than the 8-byte header length") }
        // Compared as UInt64 first: a corrupt length past Int.max would trap in the conversion.
        let rawLength = UInt64(littleEndian: file.bytes.loadUnaligned(as: UInt64.self))
        guard rawLength > 0, rawLength <= UInt64(file.count - 8) else {
            throw fail("header length \(rawLength) does not fit in a file of \(file.count) bytes (truncated?)")
        }
        let headerLength = Int(rawLength)
        let headerData = Data(bytes: file.bytes + 8, count: headerLength)
        guard let header = (try? JSONSerialization.jsonObject(with: headerData)) as? [String: Any] else {
            throw fail("header is not a JSON object")
        }
        let dataStart = 8 + headerLength
        let dataLength = file.count - dataStart
        var entries: [String: Entry] = [:]
        for (name, value) in header where name != "__metadata__" {
            guard let info = value as? [String: Any], let tag = info["dtype"] as? String,
                let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2
            else { throw fail("bad header entry for tensor '\(name)'") }
            // Integer and boolean buffers of types no format uses are no weights: left out.
            if ["I16", "I8", "BOOL"].contains(tag) { continue }
            guard let dtype = DType(safetensorsTag: tag) else {
                throw ModelLoadError.unsupportedDType(name: name, path: path, dtype: tag)
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard let expected = Self.byteCount(shape: shape, dtype: dtype) else {
                throw fail("tensor '\(name)' has shape \(shape), which is negative or too large")
            }
            guard begin >= 0, end >= begin, end - begin == expected else {
                throw fail("tensor '\(name)' has data_offsets \(offsets) but shape \(shape) needs \(expected) bytes")
            }
            guard end <= dataLength else {
                throw fail("tensor '\(name)' ends at byte \(dataStart + end) but the file has \(file.count) bytes (truncated)")
            }
            entries[name] = Entry(dtype: dtype, shape: shape, offset: dataStart + begin)
        }
        return entries
    }

    /// The bytes a tensor of `shape` takes; nil for a negative dimension or a size past `Int.max`,
    /// which only a corrupt header claims (and which would trap if multiplied unchecked).
    private static func byteCount(shape: [Int], dtype: DType) -> Int? {
        var total = dtype.byteSize
        for size in shape {
            guard size >= 0 else { return nil }
            let (product, overflow) = total.multipliedReportingOverflow(by: size)
            guard !overflow else { return nil }
            total = product
        }
        return total
    }

    /// Whether the file holds `name`.
    public func contains(_ name: String) -> Bool { entries[name] != nil }

    /// A view of tensor `name`, pointing into the mapping.
    public func tensor(_ name: String) throws -> HostTensor {
        guard let entry = entries[name] else { throw ModelLoadError.missingTensor(name: name, path: path) }
        return HostTensor(dtype: entry.dtype, shape: entry.shape, bytes: file.bytes + entry.offset, owner: file)
    }

    /// Writes tensors to a safetensors file (used by tests and fixtures).
    public static func write(_ tensors: [(String, HostTensor)], to path: String) throws {
        var header: [String: Any] = [:]
        var offset = 0
        for (name, tensor) in tensors {
            let size = tensor.count * tensor.dtype.byteSize
            let tag = tensor.dtype.safetensorsTag
            header[name] = ["dtype": tag, "shape": tensor.shape, "data_offsets": [offset, offset + size]]
            offset += size
        }
        var headerData = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while headerData.count % 8 != 0 { headerData.append(0x20) }
        var data = Data()
        withUnsafeBytes(of: UInt64(headerData.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(headerData)
        for (_, tensor) in tensors {
            data.append(Data(bytes: tensor.bytes, count: tensor.count * tensor.dtype.byteSize))
        }
        try data.write(to: URL(fileURLWithPath: path))
    }
}
