#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A read-only memory mapping of a whole file. Tensors point into it, so weights are read from the
/// page cache as they are converted, never copied whole into RAM first.
public final class MappedFile: @unchecked Sendable {
    /// The path the file was opened from, for error messages.
    public let path: String
    /// The first byte of the mapping.
    public let bytes: UnsafeRawPointer
    /// The length of the file in bytes.
    public let count: Int

    /// Maps `path`; throws `ModelLoadError.missingFile` when it cannot be opened.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw ModelLoadError.missingFile(path: path) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ModelLoadError.missingFile(path: path) }
        count = Int(info.st_size)
        if count == 0 {
            bytes = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 16))
            return
        }
        guard let address = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0), address != MAP_FAILED else {
            throw ModelLoadError.invalidSafetensors(path: path, detail: "cannot memory-map the file")
        }
        bytes = UnsafeRawPointer(address)
    }

    deinit {
        if count == 0 {
            UnsafeMutableRawPointer(mutating: bytes).deallocate()
        } else {
            munmap(UnsafeMutableRawPointer(mutating: bytes), count)
        }
    }
}
