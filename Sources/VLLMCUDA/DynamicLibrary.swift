#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Why the CUDA backend could not start or a CUDA call failed.
public enum CUDAError: Error, CustomStringConvertible {
    /// None of the named shared libraries could be opened.
    case libraryMissing(names: [String], detail: String)
    /// A library opened but lacks a function (usually: the driver or toolkit is too old).
    case symbolMissing(library: String, symbol: String)
    /// A driver API call returned an error.
    case driver(call: String, code: Int32, message: String)
    /// NVRTC failed; `log` is the compiler's output.
    case compile(message: String, log: String)
    /// A cuBLASLt call returned an error.
    case blas(call: String, code: Int32)
    /// No usable device.
    case noDevice(String)
    /// The compiled module lacks a kernel that `Kernels/manifest.json` lists for the dtype.
    case missingKernel(name: String, file: String, dtype: String)

    /// The message for the user: what could not be loaded and what to install or set.
    public var description: String {
        switch self {
        case .libraryMissing(let names, let detail):
            "CUDA: cannot load \(names.joined(separator: " or ")) (\(detail)); install the NVIDIA driver / CUDA toolkit libraries or put them on LD_LIBRARY_PATH"
        case .symbolMissing(let library, let symbol):
            "CUDA: \(library) has no \(symbol); the driver or toolkit is too old"
        case .driver(let call, let code, let message): "CUDA: \(call) failed with \(code) (\(message))"
        case .compile(let message, let log): "NVRTC: \(message)\n\(log)"
        case .blas(let call, let code): "cuBLASLt: \(call) failed with status \(code)"
        case .noDevice(let detail): "CUDA: \(detail)"
        case .missingKernel(let name, let file, let dtype):
            "CUDA: the compiled kernels lack \(name) (Kernels/\(file), \(dtype)); the kernel source and Kernels/manifest.json disagree"
        }
    }
}

/// A shared library opened with `dlopen`, so that nothing of CUDA is linked at build time and the
/// same binary runs on machines without a GPU.
final class DynamicLibrary: @unchecked Sendable {
    let name: String
    private let handle: UnsafeMutableRawPointer

    /// Opens the first of `names` that loads (the loader path first, then `directories`).
    init(_ names: [String], directories: [String] = []) throws {
        var errors: [String] = []
        for name in names {
            for path in [name] + directories.map({ $0 + "/" + name }) {
                if let h = dlopen(path, RTLD_NOW | RTLD_GLOBAL) {
                    self.name = name
                    handle = h
                    return
                }
                if let e = dlerror() { errors.append(String(cString: e)) }
            }
        }
        throw CUDAError.libraryMissing(names: names, detail: errors.first ?? "not found")
    }

    /// The function `symbol`, typed as `T` (a `@convention(c)` function type).
    func function<T>(_ symbol: String, as _: T.Type = T.self) throws -> T {
        guard let pointer = dlsym(handle, symbol) else { throw CUDAError.symbolMissing(library: name, symbol: symbol) }
        return unsafeBitCast(pointer, to: T.self)
    }

    /// Like `function`, nil when the symbol is absent (optional features).
    func optionalFunction<T>(_ symbol: String, as _: T.Type = T.self) -> T? {
        guard let pointer = dlsym(handle, symbol) else { return nil }
        return unsafeBitCast(pointer, to: T.self)
    }
}

/// Where the CUDA toolkit's libraries live when they are not on the loader path.
let cudaLibraryDirectories = ["/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib", "/usr/lib/x86_64-linux-gnu"]
