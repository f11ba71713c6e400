/// Whether a CUDA device can be used on this machine (libcuda loads and reports a device).
public enum CUDAAvailability {
    /// nil when CUDA is usable, else why not (the missing library, an old driver, no device).
    /// Checked once per process; cheap afterwards.
    public static func problem() -> String? { cached }

    private static let cached: String? = {
        let driver: CUDADriver
        switch CUDADriver.shared {
        case .success(let d): driver = d
        case .failure(let error): return "\(error)"
        }
        do {
            try driver.check(driver.cuInit(0), "cuInit")
            let version = try driver.version()
            if version < 12000 {
                return "the NVIDIA driver supports CUDA \(version / 1000).\(version % 1000 / 10); CUDA 12.0 or newer is needed"
            }
            var count: Int32 = 0
            try driver.check(driver.cuDeviceGetCount(&count), "cuDeviceGetCount")
            if count == 0 { return "no CUDA device found" }
            // The backend needs these too; naming a missing one here beats failing at load time.
            _ = try DynamicLibrary(["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"], directories: cudaLibraryDirectories)
            _ = try DynamicLibrary(["libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"], directories: cudaLibraryDirectories)
        } catch {
            return "\(error)"
        }
        return nil
    }()
}
