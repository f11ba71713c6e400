/// A tensor in host memory, read-only: either a view into a memory-mapped file or an owned array.
/// Backends convert it to their own layout when they take a weight.
public struct HostTensor: @unchecked Sendable {
    /// Element type of the stored bytes.
    public let dtype: DType
    /// Row-major shape.
    public let shape: [Int]
    /// The first element.
    public let bytes: UnsafeRawPointer
    /// Keeps the memory behind `bytes` alive (a `MappedFile` or an owned buffer).
    let owner: AnyObject

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }

    init(dtype: DType, shape: [Int], bytes: UnsafeRawPointer, owner: AnyObject) {
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
        self.owner = owner
    }

    /// A float32 tensor that owns a copy of `values`.
    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        let buffer = OwnedBuffer(byteCount: values.count * 4)
        values.withUnsafeBytes { buffer.pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        self.init(dtype: .float32, shape: shape, bytes: UnsafeRawPointer(buffer.pointer), owner: buffer)
    }

    /// A tensor of `dtype` that owns a copy of `byteCount` raw bytes (packed integers, FP8 codes).
    public init(shape: [Int], dtype: DType, copying raw: UnsafeRawPointer) {
        let byteCount = shape.reduce(1, *) * dtype.byteSize
        let buffer = OwnedBuffer(byteCount: byteCount)
        buffer.pointer.copyMemory(from: raw, byteCount: byteCount)
        self.init(dtype: dtype, shape: shape, bytes: UnsafeRawPointer(buffer.pointer), owner: buffer)
    }

    /// A tensor of raw 16-bit values (bfloat16 or float16 bit patterns) that owns a copy of them.
    public init(shape: [Int], dtype: DType, bits: [UInt16]) {
        precondition(dtype != .float32 && shape.reduce(1, *) == bits.count)
        let buffer = OwnedBuffer(byteCount: bits.count * 2)
        bits.withUnsafeBytes { buffer.pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        self.init(dtype: dtype, shape: shape, bytes: UnsafeRawPointer(buffer.pointer), owner: buffer)
    }

    /// Converts `count` elements starting at element `offset` to float32 into `destination`.
    public func convert(offset: Int = 0, count: Int? = nil, to destination: UnsafeMutablePointer<Float>) {
        let n = count ?? self.count - offset
        switch dtype {
        case .float32:
            destination.update(from: bytes.assumingMemoryBound(to: Float.self) + offset, count: n)
        case .bfloat16:
            let source = bytes.assumingMemoryBound(to: UInt16.self) + offset
            for i in 0..<n { destination[i] = FloatBits.bfloat16ToFloat(source[i]) }
        case .float16:
            let source = bytes.assumingMemoryBound(to: UInt16.self) + offset
            for i in 0..<n { destination[i] = FloatBits.float16ToFloat(source[i]) }
        case .float8E4M3:
            let source = bytes.assumingMemoryBound(to: UInt8.self) + offset
            for i in 0..<n { destination[i] = FloatBits.float8E4M3Table[Int(source[i])] }
        case .int32:
            let source = bytes.assumingMemoryBound(to: Int32.self) + offset
            for i in 0..<n { destination[i] = Float(source[i]) }
        case .int64:
            let source = bytes.assumingMemoryBound(to: Int64.self) + offset
            for i in 0..<n { destination[i] = Float(source[i]) }
        case .uint8:
            preconditionFailure("raw bytes (quantized blocks) have no float values; decode them with their GGMLType")
        }
    }

    /// All elements as float32.
    public func floats() -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            convert(to: buffer.baseAddress!)
            initialized = count
        }
    }
}

/// Heap memory owned by a tensor, aligned for SIMD loads.
final class OwnedBuffer {
    let pointer: UnsafeMutableRawPointer
    init(byteCount: Int) { pointer = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64) }
    deinit { pointer.deallocate() }
}

extension HostTensor {
    /// Rows `range` of the first dimension, as a view (no copy): how a rank reads its slice of a
    /// column-parallel weight straight from the mapped file.
    public func rows(_ range: Range<Int>) -> HostTensor {
        if range == 0..<shape[0] { return self }
        let rowElements = shape.dropFirst().reduce(1, *)
        return HostTensor(
            dtype: dtype, shape: [range.count] + shape.dropFirst(),
            bytes: bytes + range.lowerBound * rowElements * dtype.byteSize, owner: owner)
    }

    /// Columns `range` of a 2-D tensor, copied (the slice of a row-parallel weight is strided).
    public func columns(_ range: Range<Int>) -> HostTensor {
        precondition(shape.count == 2, "columns(_:) needs a 2-D tensor")
        if range == 0..<shape[1] { return self }
        let (rows, width, size) = (shape[0], shape[1], dtype.byteSize)
        let buffer = OwnedBuffer(byteCount: rows * range.count * size)
        for r in 0..<rows {
            (buffer.pointer + r * range.count * size).copyMemory(
                from: bytes + (r * width + range.lowerBound) * size, byteCount: range.count * size)
        }
        return HostTensor(dtype: dtype, shape: [rows, range.count], bytes: UnsafeRawPointer(buffer.pointer), owner: buffer)
    }
}
