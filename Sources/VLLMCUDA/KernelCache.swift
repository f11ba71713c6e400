import Foundation

/// Compiled kernels kept on disk (`~/.cache/swift-vllm/kernels/<key>.cubin`, or under
/// `$VLLM_CACHE_ROOT`), keyed by a hash of the source, the target architecture and the NVRTC
/// version, so that a second start compiles nothing. Each kernel file is its own source and so its
/// own entry: a kernel change recompiles only its file.
enum KernelCache {
    static var directory: String {
        let env = ProcessInfo.processInfo.environment
        if let root = env["VLLM_CACHE_ROOT"] { return root + "/kernels" }
        let home = env["HOME"] ?? NSTemporaryDirectory()
        return home + "/.cache/swift-vllm/kernels"
    }

    /// The cubin of `source` for `arch`: read from the cache, or compiled and stored.
    /// `compiled` says whether this call ran the compiler.
    static func cubin(
        source: String, arch: String, compiler: NVRTCCompiler, includeDirectories: [String]
    ) throws -> (bytes: [UInt8], compiled: Bool) {
        let key = fnv1a(source + "\u{0}" + arch + "\u{0}" + compiler.version + "\u{0}" + includeDirectories.joined(separator: ":"))
        let path = directory + "/" + String(format: "%016llx", key) + "-" + arch + ".cubin"
        if let data = FileManager.default.contents(atPath: path), !data.isEmpty {
            return ([UInt8](data), false)
        }
        let bytes = try compiler.compile(source: source, name: "kernels.cu", arch: arch, includeDirectories: includeDirectories)
        // A cache that cannot be written (read-only home) costs a compile per start, nothing more.
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let temporary = path + ".\(getpid()).tmp"
        if FileManager.default.createFile(atPath: temporary, contents: Data(bytes)) {
            // Rename is atomic, so a concurrent start never reads half a file.
            _ = rename(temporary, path)
        }
        return (bytes, true)
    }

    /// 64-bit FNV-1a: stable across processes and platforms, enough to tell kernel sources apart.
    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        return hash
    }
}
