/// NVRTC, CUDA's run-time compiler (`libnvrtc.so.13` / `.12`), loaded at run time: it turns the
/// embedded kernel source into a cubin for the GPU that is present.
final class NVRTCCompiler: @unchecked Sendable {
    private let library: DynamicLibrary
    private let nvrtcVersion: @convention(c) (UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Int32>) -> Int32
    private let nvrtcCreateProgram:
        @convention(c) (
            UnsafeMutablePointer<OpaquePointer?>, UnsafePointer<CChar>, UnsafePointer<CChar>?, Int32,
            UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<UnsafePointer<CChar>?>?
        ) -> Int32
    private let nvrtcCompileProgram: @convention(c) (OpaquePointer, Int32, UnsafePointer<UnsafePointer<CChar>?>?) -> Int32
    private let nvrtcGetProgramLogSize: @convention(c) (OpaquePointer, UnsafeMutablePointer<Int>) -> Int32
    private let nvrtcGetProgramLog: @convention(c) (OpaquePointer, UnsafeMutablePointer<CChar>) -> Int32
    private let nvrtcGetCUBINSize: @convention(c) (OpaquePointer, UnsafeMutablePointer<Int>) -> Int32
    private let nvrtcGetCUBIN: @convention(c) (OpaquePointer, UnsafeMutablePointer<CChar>) -> Int32
    private let nvrtcDestroyProgram: @convention(c) (UnsafeMutablePointer<OpaquePointer?>) -> Int32
    private let nvrtcGetErrorString: @convention(c) (Int32) -> UnsafePointer<CChar>?

    init() throws {
        let lib = try DynamicLibrary(
            ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"], directories: cudaLibraryDirectories)
        library = lib
        nvrtcVersion = try lib.function("nvrtcVersion")
        nvrtcCreateProgram = try lib.function("nvrtcCreateProgram")
        nvrtcCompileProgram = try lib.function("nvrtcCompileProgram")
        nvrtcGetProgramLogSize = try lib.function("nvrtcGetProgramLogSize")
        nvrtcGetProgramLog = try lib.function("nvrtcGetProgramLog")
        nvrtcGetCUBINSize = try lib.function("nvrtcGetCUBINSize")
        nvrtcGetCUBIN = try lib.function("nvrtcGetCUBIN")
        nvrtcDestroyProgram = try lib.function("nvrtcDestroyProgram")
        nvrtcGetErrorString = try lib.function("nvrtcGetErrorString")
    }

    /// "major.minor" of the loaded NVRTC; part of the kernel cache key.
    var version: String {
        var major: Int32 = 0, minor: Int32 = 0
        _ = nvrtcVersion(&major, &minor)
        return "\(major).\(minor)"
    }

    /// Compiles `source` to a cubin for `arch` (e.g. "sm_90a").
    func compile(source: String, name: String, arch: String, includeDirectories: [String]) throws -> [UInt8] {
        var program: OpaquePointer?
        var status = nvrtcCreateProgram(&program, source, name, 0, nil, nil)
        guard status == 0, let program else { throw CUDAError.compile(message: "nvrtcCreateProgram: \(message(status))", log: "") }
        defer { var p: OpaquePointer? = program; _ = nvrtcDestroyProgram(&p) }
        let options =
            ["--gpu-architecture=\(arch)", "--std=c++17", "-default-device"]
            + includeDirectories.map { "-I" + $0 }
        let cStrings = options.map { strdup($0) }
        defer { cStrings.forEach { free($0) } }
        let pointers = cStrings.map { UnsafePointer<CChar>($0) }
        status = pointers.withUnsafeBufferPointer { nvrtcCompileProgram(program, Int32(options.count), $0.baseAddress) }
        var logSize = 0
        _ = nvrtcGetProgramLogSize(program, &logSize)
        var log = [CChar](repeating: 0, count: max(1, logSize))
        _ = nvrtcGetProgramLog(program, &log)
        guard status == 0 else {
            throw CUDAError.compile(
                message: "compiling \(name) for \(arch): \(message(status))",
                log: log.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        }
        var size = 0
        _ = nvrtcGetCUBINSize(program, &size)
        var cubin = [CChar](repeating: 0, count: size)
        status = nvrtcGetCUBIN(program, &cubin)
        guard status == 0 else { throw CUDAError.compile(message: "nvrtcGetCUBIN: \(message(status))", log: "") }
        return cubin.map { UInt8(bitPattern: $0) }
    }

    private func message(_ status: Int32) -> String {
        nvrtcGetErrorString(status).map { String(cString: $0) } ?? "status \(status)"
    }
}

#if canImport(Glibc)
    import Glibc
#endif
